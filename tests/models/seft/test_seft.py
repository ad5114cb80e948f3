"""SeFT through PyPOTS as a library estimator: PyPOTS on a grid built by hand, learning, the
estimator contract, safe files, empty stays and bad input."""

import contextlib
import importlib.util
import io
import pickle
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from synthetic import u_shaped_task

from medfuse_sk import EventSet
from medfuse_sk.io import load_model, save_model
from medfuse_sk.models import create_model, get_model, infer_grid_channels
from medfuse_sk.models.seft import SeFTClassifier, make_seft

# a mark, not importorskip: importing PyPOTS at collection would import triton before
# test_kernels.py can put it in interpreter mode
pytestmark = pytest.mark.skipif(importlib.util.find_spec("pypots") is None,
                                reason="needs pypots (the seft extra)")

SMALL = {"d_model": 16, "n_heads": 2, "d_ffn": 32, "n_seeds": 2}


def _u_shaped(n, seed):
    events, labels = u_shaped_task(n_stays=n, seed=seed)
    X = EventSet.from_long(events)
    return X, labels.loc[X.stay_ids].to_numpy()


@pytest.fixture(scope="module")
def fitted():
    """SeFT fitted on the U-shaped task (300 stays), and 200 new stays with their labels."""
    X, y = _u_shaped(300, 0)
    X_test, y_test = _u_shaped(200, 1)
    model = make_seft(random_state=0, max_epochs=8, lr=3e-3, **SMALL).fit(X, y)
    return model, X, y, X_test, y_test


def test_same_as_pypots_seft_on_the_grid_by_hand():
    """The estimator is exactly: split, grid, z-score on the fitting stays, PyPOTS' SeFT."""
    import torch
    from pypots.classification import SeFT
    from pypots.optim import Adam
    from sklearn.model_selection import train_test_split

    from medfuse_sk.data import regular_grid
    from medfuse_sk.datasets import load_sample

    train, held_out = load_sample("train"), load_sample("val")
    X, X_test = train.to_event_set()[np.arange(100)], held_out.to_event_set()[np.arange(40)]
    y = train.labels.loc[X.stay_ids].to_numpy()
    ours = SeFTClassifier(random_state=3, max_epochs=2, n_steps=6, step=8.0, **SMALL).fit(X, y)

    series, static, levels = infer_grid_channels(X)
    args = {"series": series, "static": static, "n_steps": 6, "step": 8.0,
            "categorical_levels": levels}
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
        model = SeFT(n_steps=6, n_features=raw.shape[2], n_classes=2, n_layers=1, n_heads=2,
                     d_model=16, d_ffn=32, n_seeds=2, dropout=0.0, max_timescale=100.0,
                     batch_size=32, epochs=2, patience=2, optimizer=Adam(lr=1e-3),
                     device="cpu", verbose=False)
    model.fit({"X": grid(X_fit), "y": y_fit.astype(np.int64)},
              {"X": grid(X_stop), "y": y_stop.astype(np.int64)})
    np.testing.assert_allclose(ours.predict_proba(X_test), model.predict_proba({"X": grid(X_test)}),
                               atol=1e-6)


def test_learns_the_u_shaped_task(fitted):
    model, _, _, X_test, y_test = fitted
    proba = model.predict_proba(X_test)
    assert proba.shape == (len(X_test), 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert roc_auc_score(y_test, proba[:, 1]) > 0.85  # 0.98 measured; chance is 0.5
    assert set(model.predict(X_test)) <= {0, 1}


def test_clone_pickle_params_seed_and_safe_files(fitted, tmp_path):
    model, X, y, X_test, _ = fitted
    proba = model.predict_proba(X_test)
    before = np.random.get_state()[1].copy(), _torch_state()  # noqa: NPY002
    again = clone(model).fit(X, y)
    assert np.array_equal(before[0], np.random.get_state()[1])  # noqa: NPY002 (untouched)
    assert _torch_state().equal(before[1])
    np.testing.assert_array_equal(again.predict_proba(X_test), proba)  # random_state

    restored = pickle.loads(pickle.dumps(model))
    assert "_model" not in vars(restored)  # the weights travel once, as network_state_
    np.testing.assert_array_equal(restored.predict_proba(X_test), proba)
    save_model(model, tmp_path / "seft")
    loaded = load_model(tmp_path / "seft")
    assert type(loaded) is SeFTClassifier and loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.predict_proba(X_test), proba)

    assert model.get_params()["d_model"] == 16
    other = clone(model).set_params(random_state=1, max_epochs=1)
    assert other.get_params()["random_state"] == 1 and "network_state_" not in vars(other)
    assert not np.allclose(other.fit(X, y).predict_proba(X_test), proba)


def test_a_stay_with_nothing_on_the_grid_gets_the_training_share_of_positives():
    events, labels = u_shaped_task(n_stays=80, seed=2)
    late = pd.DataFrame({"stay_id": [1, 1, 2, 3], "time": [50.0, 60.0, 70.0, 49.0],
                         "feature": "K", "value": [3.0, 3.0, 0.0, 0.0]})  # after hour 48 only
    X = EventSet.from_long(pd.concat([events, late], ignore_index=True))
    labels = pd.concat([labels, pd.Series([1, 0, 1], index=[1, 2, 3])])
    with pytest.warns(UserWarning, match="no observation on the grid") as record:
        model = SeFTClassifier(random_state=0, max_epochs=1, **SMALL).fit(X, labels)
    assert any("4 events after hour 48" in str(w.message) for w in record)
    risk = model.predict_risk(X)
    assert model.empty_risk_ == pytest.approx(labels.mean())
    np.testing.assert_allclose(risk.loc[[1, 2, 3]], labels.mean())
    assert np.isfinite(risk.to_numpy()).all() and risk.drop([1, 2, 3]).nunique() > 10

    nothing = pd.DataFrame({"stay_id": np.repeat(np.arange(20), 2), "time": np.tile([50.0, 60.0], 20),
                            "feature": "K", "value": 1.0})
    with pytest.raises(ValueError, match="none of these stays has an observation"), \
            pytest.warns(UserWarning):
        SeFTClassifier(max_epochs=1, **SMALL).fit(nothing, np.arange(20) % 2)


def test_bad_input_is_named(monkeypatch):
    X, y = _u_shaped(40, 3)
    with pytest.raises(ValueError, match=r"d_model \(10\) must be a multiple of n_heads \(4\)"):
        SeFTClassifier(d_model=10, n_heads=4).fit(X, y)
    with pytest.raises(ValueError, match="valid_size"):
        SeFTClassifier(valid_size=1.0).fit(X, y)
    with pytest.raises(ValueError, match="n_layers must be a positive integer"):
        SeFTClassifier(n_layers=0).fit(X, y)
    with pytest.raises(ValueError, match="sample_weight"):
        SeFTClassifier(**SMALL).fit(X, y, sample_weight=np.ones(len(y)))
    assert get_model("seft").extras == ("seft",) and SeFTClassifier in get_model("seft").classes
    monkeypatch.setitem(sys.modules, "pypots.classification", None)  # as if not installed
    with pytest.raises(ImportError, match=r"SeFT needs the pypots package.*medfuse-sk\[seft\]"):
        create_model("seft")


@pytest.mark.slow
def test_real_data_sanity_on_the_p12_sample():
    """Bundled P12 sample (1,000 train / 500 val stays), SeFT's defaults: clearly above chance."""
    from sklearn.metrics import average_precision_score

    from medfuse_sk.datasets import load_sample

    train, val = load_sample("train"), load_sample("val")
    X, X_val = train.to_event_set(), val.to_event_set()
    y, y_val = train.labels.loc[X.stay_ids].to_numpy(), val.labels.loc[X_val.stay_ids].to_numpy()
    risk = make_seft(random_state=0).fit(X, y).predict_proba(X_val)[:, 1]
    auroc, auprc = roc_auc_score(y_val, risk), average_precision_score(y_val, risk)
    print(f"seft: val AUROC {auroc:.3f}, AUPRC {auprc:.3f}")
    assert auroc > 0.7 and auprc > 1.5 * y_val.mean(), (auroc, auprc)


def _torch_state():
    import torch

    return torch.random.get_rng_state()
