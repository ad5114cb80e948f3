"""Explanations: completeness on real sample stays, the causal feature wins, values as given."""

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
    train, test = load_sample("train"), load_sample("val")
    X_train, X_test = train.to_event_set(), test.to_event_set()
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


def _panels(fig):
    """The figure's plotting axes, colour bars left out."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


@pytest.fixture(scope="module")
def explained(fitted, sample):
    return explain(fitted, sample[2].take(np.arange(6)))


def test_stay_figure_draws_each_features_measurements_coloured_by_attribution(explained, tmp_path):
    from medfuse_sk.inspection import plot_stay

    table = explained
    stay = table.iloc[0, 0]
    rows = table[table["stay_id"] == stay]
    fig = plot_stay(table, stay, tmp_path / "stay.png", max_features=5)
    assert (tmp_path / "stay.png").stat().st_size > 5_000
    per_feature = rows.groupby("feature")["attribution"]
    ranked = per_feature.apply(lambda a: a.abs().sum()).sort_values(ascending=False)
    panels = _panels(fig)
    assert len(panels) == min(5, len(ranked))
    for ax, feature in zip(panels, ranked.index):
        assert ax.get_ylabel() == f"{feature}\n{per_feature.sum()[feature]:+.3f}"
        r = rows[rows["feature"] == feature].sort_values("time")
        dots = ax.collections[0]
        np.testing.assert_allclose(dots.get_array(), r["attribution"])
        drawn_y = r["value"] if r["value"].notna().all() else np.zeros(len(r))
        np.testing.assert_allclose(dots.get_offsets(), np.column_stack([r["time"], drawn_y]))
    assert panels[-1].get_xlabel() == "hours since the stay's start"
    assert f"predicted risk {rows['risk'].iloc[0]:.1%}" in fig._suptitle.get_text()
    assert f"{len(ranked) - 5} more features not shown" in fig._suptitle.get_text()
    with pytest.raises(ValueError, match="stay -1 is not in the explanation table"):
        plot_stay(table, -1)


def test_importance_figure_draws_the_ranking(explained, tmp_path):
    from medfuse_sk.inspection import plot_importance

    fig = plot_importance(explained, tmp_path / "importance.png", top=4)
    assert (tmp_path / "importance.png").stat().st_size > 5_000
    want = feature_importance(explained).head(4)[::-1]  # the largest at the top
    (ax,) = _panels(fig)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(want.index)
    np.testing.assert_allclose([bar.get_width() for bar in ax.patches], want["mean_abs"])
    np.testing.assert_allclose(ax.collections[0].get_offsets(),
                               np.column_stack([want["mean_signed"], np.arange(4)]))
    assert ax.get_title() == f"What drove the risk: {explained['stay_id'].nunique()} stays"


def test_attribution_vs_value_figure_draws_every_token_of_the_features(explained, tmp_path):
    from medfuse_sk.inspection import plot_attribution_vs_value

    fig = plot_attribution_vs_value(explained, ["K", "Na", "not a feature"],
                                    tmp_path / "values.png")
    assert (tmp_path / "values.png").stat().st_size > 5_000
    panels = _panels(fig)
    assert len(panels) == 2
    for ax, feature in zip(panels, ("K", "Na")):
        r = explained[explained["feature"] == feature]
        assert ax.get_xlabel() == f"{feature} (as measured)" and len(r) > 0
        np.testing.assert_allclose(ax.collections[0].get_offsets(),
                                   np.column_stack([r["value"], r["attribution"]]))
    assert panels[0].get_ylabel() == "attribution to the logit"


def test_feature_response_figure_draws_gates_and_token_similarity(fitted, tmp_path):
    from medfuse_sk.inspection import plot_feature_responses

    response = feature_response(fitted, "K", n=31)
    levels = (3.0, 4.2, 6.0)
    fig = plot_feature_responses({"K": [response]}, {"K": levels}, tmp_path / "response.png")
    assert (tmp_path / "response.png").stat().st_size > 5_000
    gates_ax, similarity_ax = _panels(fig)
    assert gates_ax.get_title() == "K, mufuse: gate g(x) − at normal"
    gates = np.asarray(gates_ax.images[0].get_array())
    assert gates.shape == (response.gates.shape[1], 31)  # one row per gate entry
    centred = response.gates - np.array([np.interp(levels[1], response.values, g)
                                         for g in response.gates.T])
    np.testing.assert_allclose(np.sort(gates, axis=0), np.sort(centred.T, axis=0), atol=1e-6)
    np.testing.assert_allclose(gates_ax.images[0].get_extent()[:2],
                               [response.values.min(), response.values.max()])
    np.testing.assert_allclose(np.asarray(similarity_ax.images[0].get_array()),
                               response.similarity(), atol=1e-6)
    fold = response.distances(*levels)["fold"]
    assert f"fold {fold:.2f}" in similarity_ax.get_title()
    marked = sorted(line.get_xdata()[0] for line in gates_ax.lines)
    assert marked == sorted(levels)
