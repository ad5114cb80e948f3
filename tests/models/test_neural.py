"""The shared base of the torch networks (models/_neural.py): the grid layout against loops,
the parameter table, randomness, weights, errors, and a tokens network plugged in by a test."""

import warnings
from numbers import Real

import numpy as np
import pandas as pd
import pytest
import torch
from network_checks import TINY_GRID, check_round_trips, task
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import Interval, InvalidParameterError
from torch import nn

from medfuse_sk.data import EventSet
from medfuse_sk.models import TokenDropoutCollate, unregister_model
from medfuse_sk.models._neural import (
    GridDataset,
    NeuralEventClassifier,
    grid_arrays,
    neural_params,
    register_network,
)
from medfuse_sk.models._spec import Param
from medfuse_sk.models.tcn import TCNClassifier

SMALL_TCN = dict(hidden_size=8, n_layers=1, kernel_size=2, **{**TINY_GRID, "max_epochs": 2})


def _loop_arrays(grid, step):
    """values, mask, delta (GRU-D's δ), forward fill and step centres, one cell at a time."""
    n, steps, channels = grid.shape
    out = {k: np.zeros_like(grid) for k in ("values", "mask", "delta", "forward")}
    for i in range(n):
        for c in range(channels):
            last_value, last_seen, seen_before = 0.0, None, False
            for s in range(steps):
                x = grid[i, s, c]
                out["delta"][i, s, c] = 0.0 if s == 0 else (
                    step if seen_before else out["delta"][i, s - 1, c] + step)
                seen_before = not np.isnan(x)
                if seen_before:
                    last_value, last_seen = x, s
                out["values"][i, s, c] = 0.0 if np.isnan(x) else x
                out["mask"][i, s, c] = float(not np.isnan(x))
                out["forward"][i, s, c] = last_value if last_seen is not None else 0.0
    return out


def test_grid_arrays_equal_the_loop():
    rng = np.random.default_rng(0)
    grid = rng.normal(size=(4, 7, 3)).astype(np.float32)
    grid[rng.random(grid.shape) < 0.6] = np.nan
    grid[0, :, 0] = np.nan  # a channel never observed
    got = grid_arrays(grid, 2.0)
    for name, want in _loop_arrays(grid, 2.0).items():
        np.testing.assert_allclose(got[name], want, err_msg=name)
    np.testing.assert_allclose(got["time"], [1, 3, 5, 7, 9, 11, 13])


def test_a_grid_batch_holds_the_stays_asked_for_with_their_labels_and_weights():
    grid = np.arange(4 * 3 * 2, dtype=np.float32).reshape(4, 3, 2)
    data = GridDataset(grid, 1.0, y=np.array([0, 1, 0, 1]), sample_weight=np.arange(4.0),
                       inputs=("values", "time"))
    batch, y = data.collate([3, 1])
    assert set(batch) == {"values", "time", "sample_weight"}
    np.testing.assert_array_equal(batch["values"].numpy(), grid[[3, 1]])
    assert batch["time"].shape == (2, 3)
    np.testing.assert_array_equal(y.numpy(), [1, 1])
    np.testing.assert_array_equal(batch["sample_weight"].numpy(), [3, 1])


def test_the_shared_table_takes_a_models_defaults_and_refuses_unknown_names():
    spec = neural_params("grid", lr=5e-4, max_epochs=23)
    assert spec["lr"].default == 5e-4 and spec["max_epochs"].default == 23
    assert "n_steps" in spec and "tokenizer" not in spec
    assert "tokenizer" in neural_params("tokens") and "n_steps" not in neural_params("tokens")
    with pytest.raises(ValueError, match="no shared parameter \\['epochs'\\]"):
        neural_params("grid", epochs=3)
    with pytest.raises(ValueError, match="layout must be one of"):
        neural_params("ragged")


def test_the_grid_is_learned_on_the_training_stays_scaled_and_clipped():
    X, y = task(60)
    outlier = pd.DataFrame({"stay_id": [1000], "time": [1.0], "feature": ["HR"], "value": [1e4]})
    model = TCNClassifier(random_state=0, **SMALL_TCN).fit(pd.concat([X, outlier]), y)
    assert sorted(model.series_) == ["HR", "K", "Na"] and model.static_ == []
    assert model.module_.head.in_features == SMALL_TCN["hidden_size"]  # to="module" arrives
    grid = model.grid(X)
    assert grid.shape == (60, 6, 3)
    np.testing.assert_allclose(np.nanmean(grid, axis=(0, 1))[1:], 0, atol=0.1)
    events = model.events(pd.concat([X, outlier]))
    stay = list(events.stay_ids).index(1000)
    assert model.grid(events)[stay, 0, model.series_.index("HR")] == 5.0  # clipped


def test_same_seed_same_model_other_seed_other_model_global_rng_untouched():
    X, y = task(80)
    state = torch.get_rng_state()
    a = TCNClassifier(random_state=1, **SMALL_TCN).fit(X, y).predict_proba(X)
    assert torch.equal(torch.get_rng_state(), state)
    b = TCNClassifier(random_state=1, **SMALL_TCN).fit(X, y).predict_proba(X)
    c = TCNClassifier(random_state=2, **SMALL_TCN).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_parameters_are_checked_at_fit_with_their_names():
    X, y = task(40)
    with pytest.raises(InvalidParameterError, match="'valid_size' parameter"):
        TCNClassifier(valid_size=1.5).fit(X, y)
    with pytest.raises(InvalidParameterError, match="'hidden_size' parameter"):
        TCNClassifier(hidden_size=0).fit(X, y)
    with pytest.raises(InvalidParameterError, match="has no effect with train_split=None"):
        TCNClassifier(train_split=None, valid_size=0.2).fit(X, y)
    with pytest.raises(NotFittedError):
        TCNClassifier().predict_proba(X)


def test_late_events_are_named_and_changing_categories_refused():
    X, y = task(40)
    with pytest.warns(UserWarning, match="events after hour 24 lie beyond the grid"):
        TCNClassifier(**{**SMALL_TCN, "n_steps": 3}).fit(X, y)
    rhythm = pd.DataFrame({"stay_id": [1000, 1000], "time": [0.0, 5.0], "feature": "Rhythm",
                           "value": ["AF", "SR"]})
    with pytest.raises(ValueError, match="TCNClassifier: categorical features that change"):
        TCNClassifier(**SMALL_TCN).fit(pd.concat([X, rhythm]), y)


def test_sample_weight_and_class_weight_reach_the_loss():
    X, y = task(80)
    model = TCNClassifier(random_state=0, class_weight="balanced", **SMALL_TCN)
    model.fit(X, y, sample_weight=np.ones(80))
    assert model.criterion_.pos_weight == pytest.approx((y == 0).sum() / (y == 1).sum())
    weights = pd.Series(np.where(np.arange(80) % 2, 5.0, 1.0), index=y.index)
    a = TCNClassifier(random_state=0, **SMALL_TCN).fit(X, y, sample_weight=weights)
    b = TCNClassifier(random_state=0, **SMALL_TCN).fit(X, y)
    assert a.history_[-1, "train_loss"] != b.history_[-1, "train_loss"]


class _MeanTokenModule(nn.Module):
    """A tokens network for the test: embeds (feature, value), averages the real tokens."""

    def __init__(self, n_features, n_categories, width=8):
        super().__init__()
        self.feature = nn.Embedding(n_features, width)
        self.value = nn.Linear(1, width)
        self.out = nn.Linear(width, 1)

    def forward(self, feature, value, mask):
        h = torch.tanh(self.feature(feature) + self.value(value.unsqueeze(-1)))
        m = mask.unsqueeze(-1).float()
        return self.out((h * m).sum(1) / m.sum(1)).squeeze(-1)


class _TokensNet(NeuralEventClassifier):
    params = neural_params("tokens", lr=1e-2, max_epochs=2)
    layout = "tokens"
    default_module = _MeanTokenModule
    inputs = ("feature", "value", "mask")


@pytest.fixture
def tokens_net():
    register_network("test_tokens_net", _TokensNet, description="a test network on tokens")
    yield _TokensNet
    unregister_model("test_tokens_net")


def test_a_tokens_network_plugs_in_with_no_code_for_saving(tokens_net, tmp_path):
    X, y = task(60)
    model = tokens_net(random_state=0, module__width=4).fit(X, y)
    assert model.module_.feature.num_embeddings == len(model.feature_names_)
    assert model.transform_tokens(X).n_features == len(model.feature_names_)
    check_round_trips(model, tmp_path)
    tokens = model.transform_tokens(X)
    np.testing.assert_array_equal(model.predict_proba(tokens), model.predict_proba(X))


def test_a_network_with_a_wrong_layout_or_input_is_refused_at_class_creation():
    with pytest.raises(TypeError, match="layout must be one of"):
        type("Bad", (NeuralEventClassifier,), {"layout": "graph"})
    with pytest.raises(TypeError, match="inputs must be among"):
        type("Bad", (NeuralEventClassifier,), {"layout": "grid", "inputs": ("feature",)})


def test_an_event_set_works_as_a_table_does():
    X, y = task(60)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = TCNClassifier(random_state=0, **SMALL_TCN).fit(X, y).predict_proba(X)
        events = EventSet.from_long(X)
        b = TCNClassifier(random_state=0, **SMALL_TCN).fit(events, y).predict_proba(events)
    np.testing.assert_array_equal(a, b)


def test_medfuse_is_the_tokens_network_over_the_shared_entries():
    """MedFuse's loss, optimisation, validation, device, seed and column parameters are the
    base's entries (its own defaults aside), not copies that could drift apart."""
    from medfuse_sk.models import PARAMS, MedFuseClassifier

    assert issubclass(MedFuseClassifier, NeuralEventClassifier)
    assert MedFuseClassifier.layout == "tokens"
    for name, shared in neural_params("tokens").items():
        own = PARAMS[name]
        if name in ("max_epochs", "lr"):  # MedFuse's extensions: "auto" besides a number
            assert own.constraints[0] is not None and "auto" in own.kind
            assert str(own.constraints[0]) == str(shared.constraints[0])
            continue
        assert (own.to, own.kind) == (shared.to, shared.kind), name
        assert list(map(str, own.constraints)) == list(map(str, shared.constraints)), name


class _AveragedTokensNet(_TokensNet):
    """A tokens network that adds the two training options the base reads from a table."""

    params = {**_TokensNet.params,
              "weight_averaging": Param(0.9, [None, Interval(Real, 0, 1, closed="neither")],
                                        "EMA decay.", kind="float or None"),
              "token_dropout": Param(0.5, [Interval(Real, 0, 1, closed="left")],
                                     "Token dropout.", kind="float")}


def test_weight_averaging_and_token_dropout_come_with_the_tables_entries():
    X, y = task(40)
    quick = dict(random_state=0, max_epochs=1, valid_size=0.0)
    model = _AveragedTokensNet(**quick).fit(X, y)
    assert "weight_averaging" in dict(model.callbacks_)
    dataset = model.get_dataset(model.transform_tokens(X))
    assert isinstance(model.get_iterator(dataset, training=True).collate_fn, TokenDropoutCollate)
    assert not isinstance(model.get_iterator(dataset).collate_fn, TokenDropoutCollate)
    plain = _TokensNet(**quick).fit(X, y)
    assert "weight_averaging" not in dict(plain.callbacks_)
    assert not isinstance(plain.get_iterator(dataset, training=True).collate_fn,
                          TokenDropoutCollate)
