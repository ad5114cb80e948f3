import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import cross_val_score
from synthetic import u_shaped_task

from medfuse_sk import EventSet
from medfuse_sk.data import StayAggregates
from medfuse_sk.models import make_random_forest


def test_aggregates_match_a_loop():
    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame({"stay_id": rng.integers(0, 25, n), "time": rng.uniform(0, 48, n),
                       "feature": rng.choice(["HR", "Na", "K"], n), "value": rng.normal(size=n)})
    df = pd.concat([df, pd.DataFrame({"stay_id": [0, 0, 3], "time": [0.0, 5.0, 0.0],
                                      "feature": "Sex", "value": ["F", "M", "F"]})])
    X = EventSet.from_long(df)
    agg = StayAggregates().fit(X)
    got = pd.DataFrame(agg.transform(X), columns=agg.get_feature_names_out(), index=X.stay_ids)
    for stay in X.stay_ids:
        rows = df[df.stay_id == stay].sort_values("time", kind="stable")
        for feature in ("HR", "Na", "K"):
            v = rows.loc[rows.feature == feature, "value"].astype(float).to_numpy()
            assert got.loc[stay, f"{feature}_count"] == len(v)
            if len(v):
                assert got.loc[stay, f"{feature}_last"] == pytest.approx(v[-1])
                assert got.loc[stay, f"{feature}_mean"] == pytest.approx(v.mean())
                assert got.loc[stay, f"{feature}_min"] == pytest.approx(v.min())
                assert got.loc[stay, f"{feature}_max"] == pytest.approx(v.max())
            else:
                assert np.isnan(got.loc[stay, f"{feature}_last"])
    classes = agg.classes_by_feature_["Sex"]
    assert got.loc[0, "Sex_last"] == classes.index("M")
    assert got.loc[3, "Sex_last"] == classes.index("F")
    no_sex = [s for s in X.stay_ids if s not in (0, 3)]
    assert np.isnan(got.loc[no_sex, "Sex_last"]).all()


def test_random_forest_pipeline_cross_validates():
    events, labels = u_shaped_task(n_stays=120)
    X = EventSet.from_long(events)
    scores = cross_val_score(make_random_forest(n_estimators=50), X, labels.loc[X.stay_ids],
                             cv=3, scoring="roc_auc")
    assert scores.mean() > 0.8


def test_regular_grid_against_a_loop():
    from medfuse_sk.data import regular_grid

    rng = np.random.default_rng(1)
    n = 400
    df = pd.DataFrame({"stay_id": rng.integers(0, 12, n), "time": rng.uniform(0, 6, n).round(1),
                       "feature": rng.choice(["HR", "Na"], n), "value": rng.normal(size=n)})
    static = pd.DataFrame({"stay_id": [0, 1, 2], "time": 0.0, "feature": "Age",
                           "value": [60.0, 70.0, 80.0]})
    sex = pd.DataFrame({"stay_id": [0, 2], "time": 0.0, "feature": "Sex", "value": ["F", "M"]})
    edge = pd.DataFrame({"stay_id": [5], "time": [6.0], "feature": ["HR"], "value": [9.0]})
    df = pd.concat([df, static, sex, edge], ignore_index=True)
    X = EventSet.from_long(df, duplicates="keep")
    grid = regular_grid(X, ["HR", "Na"], ["Age", "Sex"], n_steps=6,
                        categorical_levels={"Sex": ["F", "M"]})
    assert grid.shape == (len(X), 6, 2 + 1 + 2)
    for i, stay in enumerate(X.stay_ids):
        rows = df[df.stay_id == stay]
        for j, feature in enumerate(["HR", "Na"]):
            for s in range(6):
                t = rows.time.astype(float)
                in_step = (t >= s) & ((t < s + 1) | ((s == 5) & (t == 6.0)))
                v = rows.loc[(rows.feature == feature) & in_step, "value"].astype(float)
                if len(v):
                    assert grid[i, s, j] == pytest.approx(v.mean())
                else:
                    assert np.isnan(grid[i, s, j])
        age = rows.loc[rows.feature == "Age", "value"]
        assert (np.isnan(grid[i, :, 2]).all() if age.empty
                else (grid[i, :, 2] == float(age.iloc[0])).all())
        sex_value = rows.loc[rows.feature == "Sex", "value"]
        if sex_value.empty:
            assert np.isnan(grid[i, :, 3:]).all()
        else:
            assert grid[i, 0, 3] == (sex_value.iloc[0] == "F")
            assert grid[i, 0, 4] == (sex_value.iloc[0] == "M")


def _sample_sets():
    from medfuse_sk.datasets import load_sample

    train, held_out = load_sample("train"), load_sample("val")
    X, X_test = train.to_event_set(), held_out.to_event_set()
    return X, train.labels.loc[X.stay_ids], X_test, held_out.labels.loc[X_test.stay_ids]


@pytest.mark.parametrize("factory", ["make_xgboost", "make_random_forest"])
def test_tree_baselines_fit_on_events_as_the_readme_says(factory):
    """``make_*().fit(X, y)`` on an EventSet and on the long table, no extra arguments."""
    pytest.importorskip("xgboost")
    from sklearn.metrics import roc_auc_score

    from medfuse_sk.datasets import load_sample
    from medfuse_sk.models import aggregate as baselines

    X, y, X_test, y_test = _sample_sets()
    model = getattr(baselines, factory)().fit(X, y)
    auroc = roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])
    assert auroc > 0.7, auroc  # a constant predictor has 0.5; MedFuse reaches 0.84 here
    train = load_sample("train")
    on_table = getattr(baselines, factory)().fit(train.events, train.labels.loc[X.stay_ids])
    assert on_table.predict_proba(X_test).shape == (len(X_test), 2)


def test_xgboost_stops_early_on_its_own_split():
    pytest.importorskip("xgboost")
    from medfuse_sk.models import make_xgboost

    X, y, _, _ = _sample_sets()
    stopped = make_xgboost(n_estimators=3000).fit(X, y)[-1]
    assert stopped.best_iteration_ < 2000  # the held-out AUPRC stopped improving long before
    assert stopped.model_.n_features_in_ == len(stopped.model_.feature_importances_)
    full = make_xgboost(n_estimators=30, validation_fraction=0.0).fit(X, y)[-1]
    assert full.best_iteration_ == 29 and full.model_.get_booster().num_boosted_rounds() == 30


def test_aggregate_class_codes_do_not_depend_on_stay_order():
    events, _ = u_shaped_task(n_stays=40)
    sex = pd.DataFrame({"stay_id": events.stay_id.unique()[:6], "time": 0.0, "feature": "Sex",
                        "value": ["M", "F", "M", "X", "F", "M"]})
    X = EventSet.from_long(pd.concat([events, sex], ignore_index=True))
    forward = StayAggregates().fit(X)
    backward = StayAggregates().fit(X[np.arange(len(X))[::-1]])
    assert forward.classes_by_feature_ == backward.classes_by_feature_ == {"Sex": ["F", "M", "X"]}
