"""The static-descriptor branch: which features are static, what the branch reads, the estimator."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone

from medfuse_sk import EventSet, EventTokenizer, MedFuseClassifier
from medfuse_sk.data import static_feature_ids
from medfuse_sk.models import TokenDataset
from medfuse_sk.models.medfuse._network import MedFuseModule, static_descriptors


def _events(seed=0, n_stays=30):
    """age (once, at 0), sex (categorical, once, at 0), rare (once at 0, some stays only),
    hr (repeated), late (once per stay, but after the start in one stay), unit (categorical,
    given twice in one stay)."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_stays):
        rows += [(s, 0.0, "age", str(rng.integers(20, 90))), (s, 0.0, "sex", rng.choice(["F", "M"]))]
        rows += [(s, 0.0, "unit", rng.choice(["cardiac", "surgical", "medical"]))]
        if s % 3 == 0:
            rows.append((s, 0.0, "rare", str(rng.normal())))
        for t in np.sort(rng.uniform(0, 40, rng.integers(2, 6))):
            rows.append((s, float(t), "hr", str(rng.normal(80, 10))))
        rows.append((s, 7.0 if s == 4 else 0.0, "late", str(rng.normal())))
    rows.append((5, 9.0, "unit", "cardiac"))
    table = pd.DataFrame(rows, columns=["stay_id", "time", "feature", "value"])
    return EventSet.from_long(table, categorical=["sex", "unit"])


@pytest.mark.parametrize("window", [None, 4.0])
def test_static_features_are_once_per_stay_at_its_start(window):
    tokens = EventTokenizer(window=window, horizon=None if window is None else 48.0).fit_transform(
        _events())
    assert set(tokens.feature_names[static_feature_ids(tokens)]) == {"age", "sex", "rare"}


def test_static_descriptors_match_a_loop_over_stays():
    events = _events(seed=1)
    tokens = EventTokenizer().fit_transform(events)
    static = static_feature_ids(tokens)
    batch, _ = TokenDataset(tokens).collate(list(range(len(tokens))))
    slot = torch.full((tokens.n_features,), -1, dtype=torch.long)
    slot[torch.as_tensor(static)] = torch.arange(len(static))
    got = static_descriptors(batch["feature"], batch["value"], batch["category"],
                             batch["latest"] & batch["mask"], slot, len(static),
                             tokens.n_categories).numpy()
    n = len(static)
    assert got.shape == (len(tokens), 2 * n + tokens.n_categories)
    c = tokens.columns
    for i in range(len(tokens)):
        rows = slice(tokens.offsets[i], tokens.offsets[i + 1])
        feature, value, category = c["feature"][rows], c["value"][rows], c["category"][rows]
        want = np.zeros(2 * n + tokens.n_categories)
        for j, f in enumerate(static):
            mine = np.flatnonzero(feature == f)
            if len(mine):
                want[n + j] = 1.0
                if category[mine[-1]] < 0:
                    want[j] = value[mine[-1]]
                else:
                    want[2 * n + category[mine[-1]]] = 1.0
        np.testing.assert_allclose(got[i], want, atol=1e-6)


def test_the_branch_joins_the_head_and_ignores_other_features():
    tokens = EventTokenizer().fit_transform(_events(seed=2))
    static = tuple(static_feature_ids(tokens).tolist())
    batch, _ = TokenDataset(tokens).collate(list(range(6)))
    torch.manual_seed(0)
    net = MedFuseModule(tokens.n_features, tokens.n_categories, d_model=16, n_heads=2,
                        static_features=static, dropout=0.0).eval()
    plain = MedFuseModule(tokens.n_features, tokens.n_categories, d_model=16, n_heads=2,
                          dropout=0.0)
    assert net.head[0].in_features == plain.head[0].in_features + 16
    assert net.static_branch[0].in_features == 2 * len(static) + tokens.n_categories
    out = net(**batch)
    with torch.no_grad():
        net.static_branch[0].weight.zero_()
        net.static_branch[0].bias.zero_()
    assert not torch.allclose(net(**batch), out)  # the branch contributed


def test_estimator_static_branch_finds_p12_descriptors_and_round_trips(tmp_path):
    from medfuse_sk.datasets import load_sample
    from medfuse_sk.io import load_model, save_model

    data = load_sample("train")
    X = data.to_event_set()[:120]
    y = data.labels.loc[X.stay_ids].to_numpy()
    clf = MedFuseClassifier(static_branch=True, max_epochs=1, d_model=16, n_heads=2,
                            verbose=0, random_state=0).fit(X, y)
    assert set(clf.feature_names_[clf.static_features_]) == {"Age", "Gender", "Height",
                                                            "ICUType"}
    assert clf.module_.static_branch is not None
    p = clf.predict_proba(X)
    np.testing.assert_allclose(clone(clf).fit(X, y).predict_proba(X), p, rtol=1e-5)
    np.testing.assert_allclose(pickle.loads(pickle.dumps(clf)).predict_proba(X), p)
    save_model(clf, tmp_path / "model")
    np.testing.assert_allclose(load_model(tmp_path / "model").predict_proba(X), p, rtol=1e-6)
    plain = MedFuseClassifier(max_epochs=1, d_model=16, n_heads=2, verbose=0,
                              random_state=0).fit(X, y)
    assert plain.static_features_ == [] and plain.module_.static_branch is None


def test_static_branch_without_static_features_warns():
    from synthetic import u_shaped_task

    events, labels = u_shaped_task(n_stays=40, seed=0)
    with pytest.warns(UserWarning, match="no feature is static"):
        clf = MedFuseClassifier(static_branch=True, max_epochs=1, d_model=16, n_heads=2,
                                verbose=0, random_state=0).fit(events, labels)
    assert clf.module_.static_branch is None
