"""GRU-D as a library estimator: same input as every model, the recipe of docs/p12-report.md."""

import contextlib
import importlib.util
import io
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from medfuse_sk import EventSet
from medfuse_sk.datasets import load_sample
from medfuse_sk.models import GRUDClassifier, infer_grid_channels, make_grud

# a mark, not importorskip: importing PyPOTS at collection would import triton before
# test_kernels.py can put it in interpreter mode
pytestmark = pytest.mark.skipif(importlib.util.find_spec("pypots") is None,
                                reason="needs pypots (the grud extra)")

SMALL = {"max_epochs": 3, "hidden_size": 32}


def _sets():
    train, held_out = load_sample("train"), load_sample("val")
    X, X_test = train.to_event_set(), held_out.to_event_set()
    return (X, train.labels.loc[X.stay_ids].to_numpy(), X_test,
            held_out.labels.loc[X_test.stay_ids].to_numpy())


def test_channels_inferred_from_the_events():
    X, _, _, _ = _sets()
    series, static, levels = infer_grid_channels(X)
    assert sorted(static) == ["Age", "Gender", "Height", "ICUType"]  # once per stay, at t = 0
    assert "Weight" in series and "HR" in series and len(series) == 37  # P12's 37 series
    assert levels == {"Gender": [0.0, 1.0], "ICUType": [1.0, 2.0, 3.0, 4.0]}
    changing = pd.DataFrame({"stay_id": [1, 1, 2], "time": [0.0, 3.0, 0.0],
                             "feature": "Rhythm", "value": ["AF", "SR", "SR"]})
    with pytest.raises(ValueError, match="Rhythm"):
        infer_grid_channels(EventSet.from_long(changing))


def test_same_as_pypots_on_the_grid_by_hand():
    """The estimator is exactly: split, grid, z-score on the fitting stays, PyPOTS' GRU-D."""
    import torch
    from pypots.classification import GRUD
    from pypots.optim import Adam
    from sklearn.model_selection import train_test_split

    from medfuse_sk.data import regular_grid

    X, y, X_test, _ = _sets()
    ours = GRUDClassifier(random_state=3, **SMALL).fit(X, y).predict_proba(X_test)

    series, static, levels = infer_grid_channels(X)
    args = {"series": series, "static": static, "n_steps": 48, "categorical_levels": levels}
    X_fit, X_stop, y_fit, y_stop = train_test_split(X, y, test_size=0.1, stratify=y,
                                                    random_state=3)
    raw = regular_grid(X_fit, **args)
    mean, std = np.nanmean(raw, axis=(0, 1)), np.nanstd(raw, axis=(0, 1))
    std = np.where(std > 0, std, 1.0)

    def grid(events):
        return ((regular_grid(events, **args) - mean) / std).astype(np.float32)

    torch.manual_seed(3)
    np.random.seed(3)  # noqa: NPY002
    with contextlib.redirect_stdout(io.TextIOWrapper(io.BytesIO(), encoding="utf-8")):
        model = GRUD(n_steps=48, n_features=raw.shape[2], n_classes=2, rnn_hidden_size=32,
                     batch_size=64, epochs=3, patience=3, optimizer=Adam(lr=1e-3),
                     device="cpu", verbose=False)
    model.fit({"X": grid(X_fit), "y": y_fit.astype(np.int64)},
              {"X": grid(X_stop), "y": y_stop.astype(np.int64)})
    np.testing.assert_allclose(ours, model.predict_proba({"X": grid(X_test)}), atol=1e-6)


def test_fits_on_events_as_every_model_does():
    X, y, X_test, y_test = _sets()
    before = np.random.get_state()[1].copy(), torch_state()  # noqa: NPY002
    model = make_grud(random_state=0).fit(X, y)
    assert np.array_equal(before[0], np.random.get_state()[1])  # noqa: NPY002 (untouched)
    assert torch_state().equal(before[1])
    proba = model.predict_proba(X_test)
    assert proba.shape == (len(X_test), 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert roc_auc_score(y_test, proba[:, 1]) > 0.7  # 0.82 measured; a constant gives 0.5
    again = clone(model).fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X_test), proba)  # random_state
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(restored.predict_proba(X_test), proba, atol=1e-6)
    assert set(model.predict(X_test)) <= {0, 1}


def test_bad_input_is_named():
    X, y, _, _ = _sets()
    with pytest.raises(ValueError, match="valid_size"):
        GRUDClassifier(valid_size=0.0).fit(X, y)
    with pytest.raises(ValueError, match="one label per stay"):
        GRUDClassifier(**SMALL).fit(X, y[:-1])
    late = pd.DataFrame({"stay_id": np.repeat(np.arange(20), 2), "feature": "HR",
                         "time": np.tile([1.0, 60.0], 20), "value": 80.0})
    with pytest.warns(UserWarning, match="20 events after hour 48"):
        GRUDClassifier(max_epochs=1, hidden_size=8).fit(late, np.arange(20) % 2)


def torch_state():
    import torch

    return torch.random.get_rng_state()
