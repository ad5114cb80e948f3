"""STraTS as an estimator: learning, round trips, a grid search, the static branch, and its
self-supervised forecasting pre-training (the loss falls; fine-tuning starts from its weights)."""

import numpy as np
import pandas as pd
import pytest
import torch
from network_checks import check_grid_search, check_round_trips, held_out_auroc, task
from skorch.callbacks import Callback

from medfuse_sk.data import EventSet, EventTokenizer
from medfuse_sk.models import create_model
from medfuse_sk.models.strats import StratsClassifier, forecast_loss, forecast_task

SMALL = dict(d_model=16, n_heads=2, attention_dropout=0.0, lr=1e-2, max_epochs=10,
             batch_size=32, valid_size=0.0, verbose=0)


def test_learns_the_u_shaped_task():
    model = StratsClassifier(random_state=0, **SMALL).fit(*task(300))
    assert held_out_auroc(model) > 0.85
    assert model.pretrain_history_ == [] and model.module_.forecast_head is None


def test_clone_pickle_and_safe_files(tmp_path):
    model = create_model("strats", random_state=0, **{**SMALL, "max_epochs": 2}).fit(*task(120))
    check_round_trips(model, tmp_path)


def test_grid_search():
    check_grid_search(StratsClassifier(random_state=0, **SMALL), {"n_layers": [1, 2]})


def test_the_recipe_is_table_4_and_the_authors_reimplementation():
    model = create_model("strats")
    assert (model.d_model, model.n_layers, model.lr, model.max_epochs) == (64, 2, 5e-4, 50)
    assert (model.n_heads, model.dropout, model.batch_size, model.class_weight) == (16, 0.2, 16, "balanced")
    assert model.pretrain_epochs == 0


def _static_stays(n=120, seed=0):
    """Stays with a static descriptor (Age, once at t = 0) that carries the label alone."""
    rng = np.random.default_rng(seed)
    ids = np.arange(n)
    age = rng.normal(60, 15, n)
    rows = [pd.DataFrame({"stay_id": ids, "time": 0.0, "feature": "Age", "value": age})]
    for _ in range(4):
        rows.append(pd.DataFrame({"stay_id": ids, "time": rng.uniform(0, 48, n), "feature": "HR",
                                  "value": rng.normal(80, 10, n)}))
    return pd.concat(rows, ignore_index=True), pd.Series((age > 60).astype(int), index=ids)


@pytest.mark.filterwarnings("ignore:ignored .* not seen in fit")  # round trips read u_shaped stays
def test_static_descriptors_go_through_their_own_branch(tmp_path):
    events, labels = _static_stays()
    model = StratsClassifier(random_state=0, **{**SMALL, "max_epochs": 2}).fit(events, labels)
    assert model.feature_names_[model.static_features_].tolist() == ["Age"]
    assert model.module_.static_branch is not None
    check_round_trips(model, tmp_path)  # the static ids survive the safe file
    off = StratsClassifier(random_state=0, static_branch=False, **{**SMALL, "max_epochs": 2})
    assert off.fit(events, labels).module_.static_branch is None


def _forecastable(n=150, seed=0):
    """Hourly measurements of two labs around a per-stay level: the next window's values are
    predictable from the past ones."""
    rng = np.random.default_rng(seed)
    level = rng.normal(0, 1, (n, 2))
    rows = []
    for f, name in enumerate(("A", "B")):
        for hour in range(0, 48, 2):
            rows.append(pd.DataFrame({"stay_id": np.arange(n), "time": hour + rng.uniform(0, 1, n),
                                      "feature": name, "value": level[:, f] + rng.normal(0, 0.1, n)}))
    labels = pd.Series((level[:, 0] > 0).astype(int))
    return pd.concat(rows, ignore_index=True), labels


def test_forecast_task_cuts_at_a_time_and_targets_the_first_value_of_the_next_window():
    events = pd.DataFrame({"stay_id": 1, "time": [0.0, 12.0, 12.0, 13.0, 13.5, 15.0],
                           "feature": ["A", "A", "B", "B", "A", "A"],
                           "value": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    tokens = EventTokenizer(scaling="none", clip=None).fit_transform(EventSet.from_long(events))
    inputs, targets, observed, stays = forecast_task(tokens, np.random.default_rng(0), window=2.0,
                                                     min_time=12.0)
    # the distinct times at or after hour 12, less the last: 12, 13, 13.5; seed 0 draws one
    cut = inputs.columns["time"].max()
    assert cut in (12.0, 13.0, 13.5) and stays.tolist() == [0]
    names = list(tokens.feature_names)
    later = events[(events.time > cut) & (events.time <= cut + 2.0)].sort_values("time")
    for name in ("A", "B"):
        first = later[later.feature == name]["value"]
        assert observed[0, names.index(name)] == (len(first) > 0)
        if len(first):
            assert targets[0, names.index(name)] == first.iloc[0]
    assert np.all(inputs.columns["time"] <= cut)


class _StartingWeights(Callback):
    """Keeps the network's weights when the classifier's training begins."""

    def on_train_begin(self, net, **kwargs):
        self.state = {k: v.clone() for k, v in net.module_.state_dict().items()}


def _forecast_error(model, state, events):
    """The forecasting loss of the weights ``state`` on one draw of the task."""
    module = type(model.module_)(**model.get_params_for("module"))
    module.load_state_dict(state)
    module.eval()
    tokens = model.transform_tokens(events)
    inputs, targets, observed, _ = forecast_task(tokens, np.random.default_rng(5), 2.0, 12.0)
    from medfuse_sk.models import TokenDataset

    x, _ = TokenDataset(inputs).collate(range(len(inputs)))
    with torch.no_grad():
        names = ("feature", "value", "category", "time", "mask")
        prediction = module.forecast(**{k: x[k] for k in names})
    return float(forecast_loss(prediction, torch.from_numpy(targets), torch.from_numpy(observed)))


def test_pretraining_loss_falls_and_fine_tuning_starts_from_its_weights():
    events, labels = _forecastable()
    settings = {**SMALL, "max_epochs": 1, "pretrain_lr": 1e-2, "dropout": 0.0}
    start = _StartingWeights()
    model = StratsClassifier(random_state=0, pretrain_epochs=8, callbacks=[("start", start)],
                             **settings).fit(events, labels)
    history = model.pretrain_history_
    assert len(history) == 8 and history[-1] < 0.5 * history[0]
    assert model.module_.forecast_head is not None  # the classifier reads the forecast

    fresh = _StartingWeights()
    StratsClassifier(random_state=0, pretrain_epochs=0, callbacks=[("start", fresh)],
                     **settings).fit(events, labels)
    # the same seed builds the same network; pre-training moved it before fine-tuning began
    shared = [k for k in fresh.state if k in start.state and fresh.state[k].shape == start.state[k].shape]
    assert any(not torch.equal(start.state[k], fresh.state[k]) for k in shared)
    # the weights fine-tuning started from forecast as well as pre-training ended
    pretrained = _forecast_error(model, start.state, events)
    assert pretrained < 0.5 * history[0]
    initial = {**start.state, **{k: fresh.state[k] for k in shared}}  # untrained encoder
    assert _forecast_error(model, initial, events) > 2 * pretrained


@pytest.mark.filterwarnings("ignore:ignored .* not seen in fit")  # round trips read u_shaped stays
def test_a_pretrained_model_round_trips_and_an_impossible_cut_off_is_refused(tmp_path):
    events, labels = _forecastable(60)
    model = StratsClassifier(random_state=0, pretrain_epochs=1, **{**SMALL, "max_epochs": 1})
    model.fit(events, labels)
    assert len(model.pretrain_history_) == 1
    check_round_trips(model, tmp_path)  # the forecasting head is rebuilt from pretrain_epochs
    late = StratsClassifier(pretrain_epochs=1, pretrain_min_time=100.0, **SMALL)
    with pytest.raises(ValueError, match="no stay has an observation at or after hour 100"):
        late.fit(events, labels)
