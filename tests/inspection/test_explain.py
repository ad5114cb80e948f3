"""Explanations: completeness on real sample stays, the causal feature wins, values as given."""

import pickle
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from synthetic import u_shaped_task

from medfuse_sk import EventSet, EventTokenizer, MedFuseClassifier
from medfuse_sk.data import TokenSet
from medfuse_sk.datasets import load_sample
from medfuse_sk.inspection import explain, feature_importance, feature_response, stay_summary
from medfuse_sk.models import mufuse_reference

SMALL = dict(d_model=16, n_heads=2, verbose=0, random_state=0)
N_STAYS = 40


def _logit(p):
    p = np.asarray(p, dtype=np.float64)
    return np.log(p) - np.log1p(-p)


@pytest.fixture(scope="module")
def sample():
    train, test = load_sample("train"), load_sample("test")
    X_train = EventSet.from_long(train.events, categorical=train.categorical, stays=train.stay_ids)
    X_test = EventSet.from_long(test.events, categorical=test.categorical, stays=test.stay_ids)
    return X_train, train.labels.loc[X_train.stay_ids], X_test.take(np.arange(N_STAYS))


@pytest.fixture(scope="module")
def fitted(sample):
    X, y, _ = sample
    X, y = X.take(np.arange(400)), y.iloc[:400]
    # without the summary branch: the "center" check below rebuilds the baseline as tokens,
    # while explain holds the branch at the stay's own inputs (the ensemble test below runs
    # with the branch on, the default)
    clf = MedFuseClassifier(max_epochs=2, tokenizer=EventTokenizer(window=2.0, horizon=48.0),
                            series_summary=False, **SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return clf.fit(X, y)


def _baseline_tokens(tokens: TokenSet) -> TokenSet:
    """The "center" baseline built independently: scaled value 0, categories unknown (0)."""
    c = dict(tokens.columns)
    c["value"] = np.zeros_like(c["value"])
    c["category"] = np.where(c["category"] >= 0, 0, c["category"]).astype(np.int32)
    return TokenSet(tokens.stay_ids, tokens.offsets, c, tokens.feature_names, tokens.n_categories)


@pytest.mark.parametrize("baseline", ["center", "zero"])
def test_attributions_add_up_to_logit_minus_baseline_on_sample_stays(fitted, sample, baseline):
    X = sample[2]
    table = explain(fitted, X, baseline=baseline, tolerance=1e-3)
    stays = stay_summary(table)
    assert list(stays.index) == list(X.stay_ids)
    # the explained risk is the model's own prediction, computed independently
    proba = fitted.predict_proba(X)[:, 1]
    np.testing.assert_allclose(stays["risk"], proba, rtol=1e-5, atol=1e-6)
    gap = stays["logit"] - stays["baseline_logit"]
    assert np.abs(gap).max() > 1e-3  # not a trivial zero
    np.testing.assert_allclose(stays["attribution_sum"], gap, atol=1e-3)
    np.testing.assert_allclose(stays["delta"], stays["attribution_sum"] - gap, atol=1e-5)
    if baseline == "center":
        tokens = fitted.tokenizer_.transform(X)
        base = fitted.predict_proba(_baseline_tokens(tokens))[:, 1]
        np.testing.assert_allclose(stays["baseline_risk"], base, rtol=1e-5, atol=1e-6)
    # one row per token, in the tokenizer's order
    assert len(table) == fitted.tokenizer_.transform(X).n_rows


def test_a_pipeline_gives_the_same_table(fitted, sample):
    X = sample[2].take(np.arange(8))
    pipe = Pipeline([("tokens", fitted.tokenizer_), ("clf", fitted)])
    a, b = explain(fitted, X), explain(pipe, X)
    pd.testing.assert_frame_equal(a, b)
    assert np.isfinite(a["value"][a["category"].isna()]).all()


def test_values_are_as_given_window_medians_and_unclipped(fitted, sample):
    X = sample[2].take(np.arange(10))
    table = explain(fitted, X)
    long = X.to_long()
    numeric = long[pd.to_numeric(long["value"], errors="coerce").notna()].copy()
    numeric["value"] = numeric["value"].astype(float)
    numeric["time"] = (np.floor(numeric["time"].clip(upper=47.999) / 2.0) + 0.5) * 2.0
    expected = numeric.groupby(["stay_id", "time", "feature"], observed=True)["value"].median()
    got = table[table["category"].isna()].set_index(["stay_id", "time", "feature"])["value"]
    np.testing.assert_allclose(got.to_numpy(), expected.loc[got.index].to_numpy(), rtol=1e-6)
    # clipped tokens still report the measured value
    clipped = table[np.abs(table["scaled_value"]) >= fitted.tokenizer_.clip - 1e-6]
    assert len(clipped) and (clipped["value"].notna()).all()
    # categorical tokens carry their class
    cats = table[table["category"].notna()]
    assert set(cats["feature"]) <= {"Gender", "ICUType"} and len(cats)


def test_a_stay_without_events_gets_one_empty_row_that_carries_its_attribution(fitted, sample):
    X = sample[2].take(np.arange(2))
    long = X.to_long()
    with_empty = EventSet.from_long(long, categorical=["Gender", "ICUType"],
                                    stays=[*X.stay_ids, -7])
    table = explain(fitted, with_empty, baseline="zero")
    empty = table[table["stay_id"] == -7]
    assert empty["feature"].tolist() == ["<empty>"] and np.isnan(empty["value"]).all()
    stays = stay_summary(table)
    assert stays.loc[-7, "risk"] == pytest.approx(fitted.predict_proba(with_empty)[2, 1], rel=1e-5)
    np.testing.assert_allclose(stays["attribution_sum"], stays["logit"] - stays["baseline_logit"],
                               atol=0.01)


def test_ensemble_explains_the_logit_of_its_mean_probability(sample):
    X, y, X_test = sample
    clf = MedFuseClassifier(max_epochs=1, n_models=2,
                            tokenizer=EventTokenizer(window=2.0, horizon=48.0), **SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X.take(np.arange(300)), y.iloc[:300])
    X_test = X_test.take(np.arange(12))
    stays = stay_summary(explain(clf, X_test, baseline="zero"))
    np.testing.assert_allclose(stays["logit"], _logit(clf.predict_proba(X_test)[:, 1]),
                               atol=1e-4)
    np.testing.assert_allclose(stays["attribution_sum"],
                               stays["logit"] - stays["baseline_logit"], atol=0.01)


def test_the_feature_that_causes_the_label_gets_the_largest_share():
    events, labels = u_shaped_task(n_stays=400, seed=0)
    clf = MedFuseClassifier(max_epochs=12, valid_size=0, batch_size=32, lr=3e-3,
                            **{**SMALL, "d_model": 32})
    clf.fit(events, labels)
    risk = clf.predict_risk(events)
    assert roc_auc_score(labels.loc[risk.index], risk) > 0.85  # it learned the task
    table = explain(clf, events)
    share = feature_importance(table)["share"]
    assert share.idxmax() == "K", share
    assert share["K"] > 0.5, share
    # the U: too-low and too-high K tokens both raise the risk, far more than normal ones
    k = table[table["feature"] == "K"]
    low, high = k[k["value"] < -1.6]["attribution"], k[k["value"] > 1.6]["attribution"]
    normal = k[k["value"].abs() < 0.5]["attribution"]
    assert min(low.mean(), high.mean()) > 0.1 > 3 * abs(normal.mean())


def test_feature_response_matches_the_reference_embedding(fitted):
    resp = feature_response(fitted, "K", np.array([2.5, 4.0, 6.5]))
    tok = fitted.tokenizer_
    f = list(tok.feature_names_).index("K")
    emb = fitted.module_.embedding
    x = torch.tensor(np.clip((resp.values - tok.center_[f]) / tok.scale_[f], -5, 5),
                     dtype=torch.float32)
    lin1, lin2 = emb.projector[0], emb.projector[2]
    with torch.no_grad():
        z = mufuse_reference(torch.full((3,), f), x, None, emb.feature_table.weight,
                             lin1.weight.reshape(-1), lin1.bias, lin2.weight, lin2.bias,
                             emb.alpha, emb.beta, emb.gate, emb.activation)
    np.testing.assert_allclose(resp.tokens, z.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(resp.tokens, emb.feature_table.weight[f].detach().numpy()
                               * resp.gates, rtol=1e-5, atol=1e-6)  # k = 1: z = E[f] ⊙ g
    d = resp.distances(2.5, 4.0, 6.5)
    assert d["fold"] == pytest.approx(d["low_high"] / (0.5 * (d["low_normal"] + d["normal_high"])))
    with pytest.raises(ValueError, match="'Kalium' is not in the model's vocabulary"):
        feature_response(fitted, "Kalium")
    with pytest.raises(ValueError, match="categorical"):
        feature_response(fitted, "Gender")


def test_bad_input_is_named(fitted, sample):
    X = sample[2].take(np.arange(2))
    with pytest.raises(ValueError, match="baseline must be one of .*'mean'"):
        explain(fitted, X, baseline="mean")
    with pytest.raises(ValueError, match="n_steps must be an integer >= 2, got 1"):
        explain(fitted, X, n_steps=1)
    with pytest.raises(NotFittedError):
        explain(MedFuseClassifier(), X)
    with pytest.raises(TypeError, match=r"token embeddings .* got EventTokenizer"):
        explain(EventTokenizer(), X)


def test_missing_captum_names_the_extra(fitted, sample, monkeypatch):
    monkeypatch.setitem(sys.modules, "captum.attr", None)
    with pytest.raises(ImportError, match=r"medfuse-sk\[explain\]"):
        explain(fitted, sample[2].take(np.arange(2)))


def test_figures_are_written(fitted, sample, tmp_path):
    from medfuse_sk.inspection import (
        plot_attribution_vs_value,
        plot_feature_responses,
        plot_importance,
        plot_stay,
    )

    table = explain(fitted, sample[2].take(np.arange(6)))
    stay = table.iloc[0, 0]
    plot_stay(table, stay, tmp_path / "stay.png")
    plot_importance(table, tmp_path / "importance.png")
    plot_attribution_vs_value(table, ["K", "Na"], tmp_path / "values.png")
    plot_feature_responses({"K": [feature_response(fitted, "K")]}, {"K": (3.0, 4.2, 6.0)},
                           tmp_path / "response.png")
    for name in ("stay", "importance", "values", "response"):
        assert (tmp_path / f"{name}.png").stat().st_size > 5_000
    with pytest.raises(ValueError, match="stay -1 is not in the explanation table"):
        plot_stay(table, -1)


def test_cli_explains_a_saved_model_and_an_events_file(fitted, sample, tmp_path):
    from medfuse_sk.cli._main import main

    model = tmp_path / "model.pkl"
    model.write_bytes(pickle.dumps(fitted))
    events = tmp_path / "events.csv"
    sample[2].take(np.arange(5)).to_long().to_csv(events, index=False)
    out = tmp_path / "out"
    assert main(["explain", "--model", str(model), "--events", str(events), "--out", str(out),
                 "--plot", "1", "--stay", str(sample[2].stay_ids[3]), "--features", "K"]) == 0
    table = pd.read_csv(out / "attributions.csv")
    assert table["stay_id"].nunique() == 5
    stays = pd.read_csv(out / "stays.csv", index_col=0)
    np.testing.assert_allclose(stays["attribution_sum"], stays["logit"] - stays["baseline_logit"],
                               atol=0.01)
    for name in ("importance.png", "feature_response.png", "attribution_vs_value.png",
                 "summary.json"):
        assert (out / name).exists(), name
    drawn = {p.name for p in out.glob("stay_*.png")}
    assert drawn == {f"stay_{stays['risk'].idxmax()}.png", f"stay_{sample[2].stay_ids[3]}.png"}


def test_cli_reads_a_model_folder_written_by_save_model(fitted, sample, tmp_path):
    from medfuse_sk.cli._main import main
    from medfuse_sk.io import save_model

    folder = save_model(fitted, tmp_path / "model")
    events = tmp_path / "events.csv"
    X = sample[2].take(np.arange(3))
    X.to_long().to_csv(events, index=False)
    out = tmp_path / "out"
    assert main(["explain", "--model", str(folder), "--events", str(events), "--out", str(out),
                 "--plot", "0", "--features"]) == 0
    stays = pd.read_csv(out / "stays.csv", index_col=0)
    np.testing.assert_allclose(stays["risk"], fitted.predict_proba(X)[:, 1], rtol=1e-5)


@pytest.mark.slow
def test_cli_with_nothing_given_runs_on_the_sample(tmp_path):
    from medfuse_sk.cli._main import main

    out = tmp_path / "out"
    assert main(["explain", "--out", str(out), "--epochs", "1", "--max-stays", "30"]) == 0
    assert pd.read_csv(out / "stays.csv").shape[0] == 30
