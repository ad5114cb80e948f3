"""Logistic regression and LightGBM on per-stay aggregates: their features against a pandas
groupby, LightGBM against LightGBM fitted by hand, learning, the estimator contract, safe files
and the command line."""

import pickle
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from synthetic import u_shaped_task

from medfuse_sk import EventSet
from medfuse_sk.cli import main
from medfuse_sk.data import StayAggregates
from medfuse_sk.io import load_model, read_events, read_labels, save_model
from medfuse_sk.models import create_model, get_model
from medfuse_sk.models.aggregate import (
    AggregateLogisticRegression,
    AggregateRandomForest,
    AggregateSimpleImputer,
    EarlyStoppedLGBMClassifier,
    EarlyStoppedXGBClassifier,
    MedianImputeScaler,
    make_lightgbm,
    make_logistic_regression,
    make_random_forest,
    make_xgboost,
)

STATS = ("last", "mean", "min", "max", "count")


def linear_task(n_stays=300, seed=0):
    """Risk logistic in the level of lab ``K`` and in whether ``Lactate`` was measured at all;
    ``HR`` is noise and ``Sex`` a categorical static feature. Returns ``(events, labels)``."""
    rng = np.random.default_rng(seed)
    ids = np.arange(500, 500 + n_stays)
    level = rng.normal(size=n_stays)
    measured = rng.random(n_stays) < 0.4
    risk = 1 / (1 + np.exp(-(2.5 * level + 2.0 * measured - 1.5)))
    labels = pd.Series((rng.random(n_stays) < risk).astype(int), index=ids, name="label")
    parts = []
    for feature, n, who, base in (("K", 4, ids, np.repeat(level, 4)),
                                  ("HR", 3, ids, rng.normal(size=3 * n_stays)),
                                  ("Lactate", 2, ids[measured], rng.normal(2, 1, 2 * measured.sum()))):
        stay = np.repeat(who, n)
        parts.append(pd.DataFrame({"stay_id": stay, "time": rng.uniform(0, 48, len(stay)),
                                   "feature": feature, "value": base + rng.normal(0, 0.2, len(stay))}))
    sex = pd.DataFrame({"stay_id": ids, "time": 0.0, "feature": "Sex",
                        "value": rng.choice(["F", "M"], n_stays)})
    events = pd.concat([*parts, sex], ignore_index=True).sample(frac=1.0, random_state=seed)
    return events.reset_index(drop=True), labels


@pytest.fixture(scope="module")
def linear():
    events, labels = linear_task(300, seed=0)
    test_events, test_labels = linear_task(300, seed=1)
    X, X_test = EventSet.from_long(events), EventSet.from_long(test_events)
    return (X, labels.loc[X.stay_ids].to_numpy(), X_test,
            test_labels.loc[X_test.stay_ids].to_numpy(), events)


@pytest.fixture(scope="module")
def u_shaped_sets():
    events, labels = u_shaped_task(n_stays=300, seed=0)
    test_events, test_labels = u_shaped_task(n_stays=200, seed=1)
    X, X_test = EventSet.from_long(events), EventSet.from_long(test_events)
    return X, labels.loc[X.stay_ids].to_numpy(), X_test, test_labels.loc[X_test.stay_ids].to_numpy()


def _groupby_aggregates(events: pd.DataFrame, stays) -> pd.DataFrame:
    """The aggregates by a plain pandas groupby: numerical features' last/mean/min/max/count,
    the categorical feature's last class as its index among the sorted classes."""
    ordered = events.sort_values(["stay_id", "time"], kind="stable")
    numeric = ordered[ordered.feature != "Sex"].astype({"value": float})
    stats = numeric.groupby(["stay_id", "feature"])["value"].agg(list(STATS)).unstack("feature")
    stats = stats.reindex(stays)
    stats["count"] = stats["count"].fillna(0)
    features = sorted(numeric.feature.unique())
    table = pd.DataFrame({f"{f}_{s}": stats[s][f] for f in features for s in STATS})
    sex = ordered[ordered.feature == "Sex"].groupby("stay_id")["value"].last()
    table["Sex_last"] = sex.map(sorted(sex.unique()).index).reindex(stays).astype(float)
    return table


def test_lr_features_match_a_pandas_groupby_with_imputation_scaling_and_indicators(linear):
    X, y, _, _, events = linear
    pipe = make_logistic_regression().fit(X, y)
    aggregates = pipe[0].transform(X)
    expected = _groupby_aggregates(events, X.stay_ids)
    assert list(pipe[0].get_feature_names_out()) == list(expected.columns)
    np.testing.assert_allclose(aggregates, expected.to_numpy(), rtol=1e-12, equal_nan=True)

    # what the logistic regression reads, by hand: median imputation, z-scores (ddof 0),
    # clipped at 5, then one indicator per variable that was ever missing (Lactate only)
    imputed = expected.fillna(expected.median())
    std = imputed.std(ddof=0)
    z = ((imputed - imputed.mean()) / std.where(std > 0, 1.0)).clip(-5, 5)  # K_count is constant
    missing = expected["Lactate_count"].eq(0).astype(float).rename("Lactate_last_missing")
    want = pd.concat([z, missing], axis=1)
    got = pipe[:-1].transform(X)
    assert list(pipe[:-1].get_feature_names_out()) == list(want.columns)
    np.testing.assert_allclose(got, want.to_numpy(), rtol=1e-10, atol=1e-12)
    assert 0 < missing.mean() < 1  # the task has stays with and without Lactate


def test_imputer_keeps_unseen_missingness_imputed_and_names_wrong_shapes():
    train = np.array([[1.0, np.nan, 5.0], [3.0, 2.0, np.nan], [2.0, 4.0, np.nan]])
    scaler = MedianImputeScaler(clip=None).fit(train)
    np.testing.assert_array_equal(scaler.median_, [2.0, 3.0, 5.0])
    np.testing.assert_array_equal(scaler.indicator_columns_, [1, 2])  # two patterns
    out = scaler.transform(np.array([[np.nan, np.nan, 5.0]]))
    np.testing.assert_allclose(out[0, :3], (np.array([2.0, 3.0, 5.0]) - scaler.mean_) / scaler.scale_)
    np.testing.assert_array_equal(out[0, 3:], [1.0, 0.0])  # column 0 has no indicator
    with pytest.raises(ValueError, match="fitted on 3 columns"):
        scaler.transform(np.ones((2, 4)))
    with pytest.raises(ValueError, match="clip"):
        MedianImputeScaler(clip=0).fit(train)
    assert MedianImputeScaler(add_indicator=False).fit(train).transform(train).shape == (3, 3)


def test_logistic_regression_learns_a_linear_task(linear):
    X, y, X_test, y_test, _ = linear
    proba = make_logistic_regression().fit(X, y).predict_proba(X_test)
    assert proba.shape == (len(X_test), 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert roc_auc_score(y_test, proba[:, 1]) > 0.8  # 0.87 measured; chance is 0.5


def test_lightgbm_learns_the_u_shaped_task(u_shaped_sets):
    X, y, X_test, y_test = u_shaped_sets
    proba = make_lightgbm(n_jobs=1).fit(X, y).predict_proba(X_test)
    assert roc_auc_score(y_test, proba[:, 1]) > 0.9  # 1.00 measured; logistic regression 0.45


def test_lightgbm_is_lightgbm_fitted_by_hand_on_the_aggregates(u_shaped_sets):
    import lightgbm

    X, y, X_test, _ = u_shaped_sets
    pipe = make_lightgbm(random_state=3, n_jobs=1).fit(X, y)
    ours = pipe.predict_proba(X_test)[:, 1]

    aggregates = StayAggregates().fit(X)
    A, A_test = aggregates.transform(X), aggregates.transform(X_test)
    A_fit, A_stop, y_fit, y_stop = train_test_split(A, y, test_size=0.1, stratify=y,
                                                    random_state=3)
    ref = lightgbm.LGBMClassifier(
        n_estimators=2000, learning_rate=0.02, num_leaves=31, max_depth=5, min_child_samples=20,
        subsample=0.8, subsample_freq=1, colsample_bytree=0.6, reg_lambda=0.0, n_jobs=1,
        random_state=3, metric="average_precision", deterministic=True, force_col_wise=True,
        verbose=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # eval_set is deprecated from lightgbm 4.7
        ref.fit(A_fit, y_fit, eval_set=[(A_stop, y_stop)],
                callbacks=[lightgbm.early_stopping(100, first_metric_only=True, verbose=False)])
    np.testing.assert_allclose(ours, ref.predict_proba(A_test, num_iteration=ref.best_iteration_)[:, 1],
                               rtol=1e-12)
    booster = pipe[-1]
    assert booster.best_iteration_ == ref.best_iteration_ - 1 < 1999  # it stopped early

    everything = make_lightgbm(n_estimators=40, validation_fraction=0, n_jobs=1).fit(X, y)
    assert everything[-1].best_iteration_ == 39  # no stopping share: every tree
    with pytest.raises(ValueError, match="validation_fraction"):
        make_lightgbm(validation_fraction=1.0).fit(X, y)


#: Small settings of each model for the tests below (the forest on its default two threads).
SMALL = {"logistic_regression": {}, "lightgbm": {"n_jobs": 1},
         "xgboost": {"n_estimators": 60, "n_jobs": 1}, "random_forest": {"n_estimators": 40}}
#: A parameter of each model's last step, and a value that changes its predictions.
CHANGE = {"lightgbm": ("num_leaves", 4), "logistic_regression": ("C", 1e-3),
          "xgboost": ("max_depth", 1), "random_forest": ("min_samples_leaf", 40)}


@pytest.mark.parametrize("name", list(SMALL))
def test_clone_pickle_params_seeds_and_safe_files(name, linear, tmp_path):
    X, y, X_test, _, _ = linear
    model = create_model(name, random_state=1, **SMALL[name])
    proba = model.fit(X, y).predict_proba(X_test)
    np.testing.assert_array_equal(clone(model).fit(X, y).predict_proba(X_test), proba)  # seed
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict_proba(X_test), proba)
    save_model(model, tmp_path / name)
    loaded = load_model(tmp_path / name)
    assert [type(s) for _, s in loaded.steps] == [type(s) for _, s in model.steps]
    np.testing.assert_array_equal(loaded.predict_proba(X_test), proba)
    assert "pickle" not in (tmp_path / name / "model.json").read_text()

    last = model.steps[-1][0]
    key, value = CHANGE[name]
    changed = clone(model).set_params(**{f"{last}__{key}": value})
    assert changed.get_params()[f"{last}__{key}"] == value
    assert not np.allclose(changed.fit(X, y).predict_proba(X_test), proba)
    if name != "logistic_regression":  # bagging draws follow random_state
        other = create_model(name, random_state=2, **SMALL[name]).fit(X, y).predict_proba(X_test)
        assert not np.array_equal(other, proba)


def test_xgboost_is_xgboost_fitted_by_hand_and_keeps_its_trees_as_json(linear):
    import json

    import xgboost

    X, y, X_test, _, _ = linear  # a task where the held-out share improves for ~90 rounds
    pipe = make_xgboost(random_state=3, n_estimators=300, n_jobs=1).fit(X, y)
    aggregates = StayAggregates().fit(X)
    A, A_test = aggregates.transform(X), aggregates.transform(X_test)
    A_fit, A_stop, y_fit, y_stop = train_test_split(A, y, test_size=0.1, stratify=y,
                                                    random_state=3)
    ref = xgboost.XGBClassifier(
        n_estimators=300, learning_rate=0.02, max_depth=5, subsample=0.8, colsample_bytree=0.6,
        tree_method="hist", eval_metric="aucpr", early_stopping_rounds=100, n_jobs=1,
        random_state=3).fit(A_fit, y_fit, eval_set=[(A_stop, y_stop)], verbose=False)
    # the model as it predicted before its trees were kept as text: XGBClassifier's own
    np.testing.assert_array_equal(pipe.predict_proba(X_test), ref.predict_proba(A_test))
    booster = pipe[-1]
    assert 10 < booster.best_iteration_ == ref.best_iteration < 200  # stopped early
    assert json.loads(booster.booster_model_)["learner"]["gradient_booster"]["model"]["trees"]
    # a fresh estimator given only the text predicts the same (as after load_model)
    bare = EarlyStoppedXGBClassifier(n_jobs=1)
    for key in ("classes_", "best_iteration_", "booster_model_", "n_features_in_"):
        setattr(bare, key, getattr(booster, key))
    np.testing.assert_array_equal(bare.predict_proba(A_test), ref.predict_proba(A_test))
    assert "_model" not in bare.__getstate__() or bare.__getstate__()["_model"] is None
    with pytest.raises(AttributeError, match="not fitted"):
        EarlyStoppedXGBClassifier().model_  # noqa: B018


def test_random_forest_is_sklearns_and_its_trees_come_back_from_arrays(u_shaped_sets):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer

    X, y, X_test, _ = u_shaped_sets
    pipe = make_random_forest(random_state=4, n_estimators=30).fit(X, y)  # two threads
    assert [name for name, _ in pipe.steps] == ["stayaggregates", "simpleimputer",
                                                "randomforestclassifier"]
    aggregates = StayAggregates().fit(X)
    imputer = SimpleImputer(strategy="median", keep_empty_features=True)
    A = imputer.fit_transform(aggregates.transform(X))
    A_test = imputer.transform(aggregates.transform(X_test))
    ref = RandomForestClassifier(n_estimators=30, min_samples_leaf=2, n_jobs=1,
                                 class_weight="balanced_subsample", random_state=4).fit(A, y)
    # sklearn's own forest (one thread: the trees added in their order, as ours on any number)
    np.testing.assert_array_equal(pipe.predict_proba(X_test), ref.predict_proba(A_test))
    np.testing.assert_array_equal(pipe.set_params(randomforestclassifier__n_jobs=3)
                                  .predict_proba(X_test), ref.predict_proba(A_test))
    forest = pipe[-1]
    nodes = sum(tree.tree_.node_count for tree in ref.estimators_)
    assert len(forest.trees_["threshold"]) == len(forest.trees_["value"]) == nodes
    assert forest.trees_["node_count"].tolist() == [t.tree_.node_count for t in ref.estimators_]
    # a fresh forest given its parameters and the plain arrays rebuilds every tree bit for bit
    bare = clone(forest)
    for key, value in vars(forest).items():
        if key.endswith("_") and not key.startswith("_"):
            setattr(bare, key, value)
    for mine, theirs in zip(bare.estimators_, ref.estimators_):
        a, b = mine.tree_.__getstate__(), theirs.tree_.__getstate__()
        assert a["node_count"] == b["node_count"] and a["max_depth"] == b["max_depth"]
        assert a["nodes"].dtype == b["nodes"].dtype
        for field in b["nodes"].dtype.names:  # field by field: the records have padding bytes
            np.testing.assert_array_equal(a["nodes"][field], b["nodes"][field])
        np.testing.assert_array_equal(a["values"], b["values"])
        assert mine.get_params() == theirs.get_params()
    np.testing.assert_array_equal(bare.predict_proba(A_test), ref.predict_proba(A_test))
    np.testing.assert_array_equal(bare.feature_importances_, ref.feature_importances_)
    assert "_estimators" not in forest.__getstate__()  # the trees are pickled once, as arrays
    assert isinstance(pipe[1], AggregateSimpleImputer) and pipe[1].fit_dtype_ == "<f8"
    del bare.__dict__["_estimators"]
    del bare.trees_["threshold"]
    with pytest.raises(ValueError, match="lacks the node fields.*threshold.*refit"):
        bare.estimators_  # noqa: B018


def test_registered_with_their_extras_and_an_install_hint(monkeypatch):
    assert get_model("lightgbm").extras == ("lightgbm",)
    assert get_model("logistic_regression").extras == ()
    assert EarlyStoppedLGBMClassifier in get_model("lightgbm").classes
    assert {MedianImputeScaler, AggregateLogisticRegression} <= set(get_model("logistic_regression").classes)
    assert EarlyStoppedXGBClassifier in get_model("xgboost").classes
    assert {AggregateSimpleImputer, AggregateRandomForest} <= set(get_model("random_forest").classes)
    monkeypatch.setitem(sys.modules, "lightgbm", None)  # as if not installed
    with pytest.raises(ImportError, match=r"medfuse-sk\[lightgbm\]"):
        create_model("lightgbm")


def test_the_command_line_fits_saves_and_predicts_them(tmp_path):
    events, labels = linear_task(120, seed=2)
    events.to_csv(tmp_path / "events.csv", index=False)
    labels.rename_axis("stay_id").reset_index().to_csv(tmp_path / "labels.csv", index=False)
    # the stays in the order the command reads them (the label file's): the stopping share
    # of LightGBM is drawn by row
    labels = read_labels(tmp_path / "labels.csv", "stay_id", None)
    X = read_events(tmp_path / "events.csv", {"stay": "stay_id", "time": "time",
                                               "feature": "feature", "value": "value"},
                    time_unit="h", categorical=None, stays=labels.index)
    for name in ("logistic_regression", "lightgbm"):
        main(["fit", str(tmp_path / "events.csv"), str(tmp_path / "labels.csv"), "--model", name,
              "--out", str(tmp_path / name), "--quiet"])
        main(["predict", str(tmp_path / name), str(tmp_path / "events.csv"), "--out",
              str(tmp_path / f"{name}.csv"), "--quiet"])
        risk = pd.read_csv(tmp_path / f"{name}.csv", index_col="stay_id")["risk"]
        expected = create_model(name, random_state=0).fit(X, labels.loc[X.stay_ids])
        np.testing.assert_allclose(risk.loc[X.stay_ids].to_numpy(),
                                   expected.predict_proba(X)[:, 1], rtol=1e-12)


@pytest.mark.slow
def test_real_data_sanity_on_the_p12_sample():
    """Bundled P12 sample (1,000 train / 500 val stays): both clearly above chance."""
    from sklearn.metrics import average_precision_score

    from medfuse_sk.datasets import load_sample

    train, val = load_sample("train"), load_sample("val")
    X, X_val = train.to_event_set(), val.to_event_set()
    y, y_val = train.labels.loc[X.stay_ids].to_numpy(), val.labels.loc[X_val.stay_ids].to_numpy()
    for name in ("logistic_regression", "lightgbm"):
        risk = create_model(name, random_state=0).fit(X, y).predict_proba(X_val)[:, 1]
        auroc, auprc = roc_auc_score(y_val, risk), average_precision_score(y_val, risk)
        print(f"{name}: val AUROC {auroc:.3f}, AUPRC {auprc:.3f}")
        assert auroc > 0.75 and auprc > 2 * y_val.mean(), (name, auroc, auprc)
