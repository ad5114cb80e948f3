"""Explain predictions: per-measurement attributions, and what the embedding learned per feature.

:func:`explain` attributes each stay's logit to its tokens with Captum's integrated gradients
on the token embeddings (the output of the MuFuse embedding, before the encoder). Path: from a
*baseline* token embedding to the actual one, for every token of the stay at once. Two
baselines:

- ``"center"`` (default): every numerical token keeps its feature and time but takes the
  value at its feature's scaling centre (the training median with the default robust
  scaling: a scaled value of 0); a categorical token takes the "unknown class". The baseline
  risk is then the risk of *the same pattern of measurements with every value typical*, and
  a token's attribution is how much its value (rather than a typical one) moved the logit.
  A token's presence and timing are part of the baseline, not attributed.
- ``"zero"``: all token embeddings 0 (a stay with no information in its tokens); presence,
  timing and value are all attributed.

Completeness: the attributions of a stay add up to its logit minus the baseline's logit up
to the integration error, which Captum reports as the convergence delta; stays whose
``|delta|`` exceeds ``tolerance`` are recomputed with twice the steps, up to ``max_steps``.

The explained quantity is ``logit(risk)``, where ``risk`` is the probability that
``predict_proba`` returns. For an ensemble (``n_models > 1`` or several fusions) that is the
logit of the *mean of the members' probabilities*, not the mean logit: attributions then add
up to the change of the very risk the model reports. Each member has its own embedding; a
token's attribution is the sum over the members' embeddings of that token.

Only what passes through the token embedding is attributed: a branch that reads the values
directly (``series_summary=True``, ``static_branch=True``) is held at the stay's actual
inputs along the path, so its effect sits in the baseline (a warning says so).

Values are reported as the user gave them: each token's value is recomputed with the fitted
tokenizer's windows and caps but without scaling or clipping, so a windowed token's value is
the median of the raw values of its (stay, feature, window) (the mean of the two middle ones
for an even count) and its time is the window's centre.

Which models: any fitted model on tokens with token embeddings, found by what it offers
(this module names no model class): ``check_is_fitted()``, ``transform_tokens(X)``,
``events(X)`` and ``tokenizer_`` (the base event classifier's public API), ``get_dataset``
(a dataset with ``collate``), and ``module_`` whose network (or each member of
``module_.members``) has its token embedding as ``.embedding``; or a Pipeline ending in one.
"""

from __future__ import annotations

import copy
import inspect
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..data import EventTokenizer, TokenSet
from ..utils import install_hint, unwrap

__all__ = ["explain", "stay_summary", "feature_importance", "feature_response",
           "FeatureResponse", "BASELINES"]

BASELINES = ("center", "zero")
_CAPTUM_HINT = f"explanations need Captum: {install_hint('explain')}"


def _integrated_gradients():
    try:
        from captum.attr import IntegratedGradients
    except ImportError as err:  # pragma: no cover - exercised only without captum
        raise ImportError(_CAPTUM_HINT) from err
    return IntegratedGradients


# -- model and token resolution ---------------------------------------------------------------
@dataclass
class _Prepared:
    classifier: Any
    tokens: TokenSet
    raw_values: np.ndarray | None  # per token, unscaled (NaN for categorical tokens)
    tokenizer: EventTokenizer | None


def _has_token_embeddings(model: Any) -> bool:
    """Whether ``model`` is a model on tokens with a network (what integrated gradients on
    token embeddings need; the embedding itself is checked on the fitted network)."""
    return all(hasattr(model, name) for name in ("transform_tokens", "events", "get_dataset",
                                                 "check_is_fitted"))


def _classifier_and_tokens(model: Any, X: Any) -> _Prepared:
    """The fitted model, the tokens it sees for ``X`` and the unscaled values."""
    parts = unwrap(model)
    clf = parts.final
    if not _has_token_embeddings(clf):
        if parts.steps:
            raise TypeError(f"the Pipeline must end in a classifier with token embeddings (a "
                            f"MedFuseClassifier), got {type(clf).__name__} as its last step "
                            f"{model.steps[-1][0]!r}")
        raise TypeError(f"model must be a fitted classifier with token embeddings (a "
                        f"MedFuseClassifier) or a Pipeline ending in one, "
                        f"got {type(model).__name__}")
    clf.check_is_fitted()
    if parts.steps:
        before = model[:-1]
        tokens = before.transform(X)
        if not isinstance(tokens, TokenSet):
            raise TypeError(f"the Pipeline's steps before the classifier must produce a "
                            f"TokenSet, got {type(tokens).__name__}")
        tokenizer, upstream = parts.transformer, model[:-2] if len(before) > 1 else None
        if not isinstance(tokenizer, EventTokenizer):
            return _Prepared(clf, tokens, None, None)
        events = X if upstream is None else upstream.transform(X)
        return _Prepared(clf, tokens, _unscaled_values(tokenizer, events, tokens), tokenizer)
    if isinstance(X, TokenSet) or clf.tokenizer_ is None:
        return _Prepared(clf, clf.transform_tokens(X), None, None)
    events = clf.events(X)
    tokens = clf.transform_tokens(events)
    return _Prepared(clf, tokens, _unscaled_values(clf.tokenizer_, events, tokens), clf.tokenizer_)


def _unscaled_values(tokenizer: EventTokenizer, events: Any, tokens: TokenSet) -> np.ndarray:
    """Each token's value in the user's units: the same windows and caps, no scaling.

    Scaling is an increasing affine map and is applied after windowing, so the unscaled
    tokens come out in the same order; clipping is undone too.
    """
    raw = copy.copy(tokenizer)
    raw.center_ = np.zeros_like(tokenizer.center_)
    raw.scale_ = np.ones_like(tokenizer.scale_)
    raw.clip = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the scaled pass already warned
        unscaled = raw.transform(events)
    same = (np.array_equal(unscaled.offsets, tokens.offsets)
            and np.array_equal(unscaled.columns["feature"], tokens.columns["feature"])
            and np.array_equal(unscaled.columns["time"], tokens.columns["time"]))
    if not same:  # pragma: no cover - would mean the tokenizer's order depends on values
        raise RuntimeError("unscaled tokens do not line up with the model's tokens")
    values = unscaled.columns["value"].astype(np.float64)
    values[tokens.columns["category"] >= 0] = np.nan
    return values


def _members(module: torch.nn.Module | None) -> list[torch.nn.Module]:
    if module is None:
        raise TypeError("cannot explain a model without a network: integrated gradients need "
                        "a fitted torch network as `module_` with its token embedding")
    members = list(module.members) if hasattr(module, "members") else [module]
    for m in members:
        if not hasattr(m, "embedding"):
            raise TypeError(f"cannot explain a {type(m).__name__}: integrated gradients need the "
                            "network's token embedding as `.embedding` (MedFuseModule has it)")
    return members


def _risk_logit(logits: torch.Tensor) -> torch.Tensor:
    """``logit(mean_i sigmoid(l_i))`` for an ensemble's ``(B, M)`` logits; ``l`` for ``(B,)``."""
    if logits.dim() == 1:
        return logits
    return (torch.logsumexp(torch.nn.functional.logsigmoid(logits), dim=1)
            - torch.logsumexp(torch.nn.functional.logsigmoid(-logits), dim=1))


class _Given(torch.nn.Module):
    """Stands in for a member's embedding while it is explained: returns the given tokens."""

    def __init__(self, owner: _GivenEmbeddings, i: int) -> None:
        super().__init__()
        self.owner, self.i = [owner], i  # a list: not registered as a submodule

    def forward(self, *_args: Any, **_kwargs: Any) -> torch.Tensor:
        return self.owner[0].current[self.i]


class _GivenEmbeddings:
    """Swap each member's embedding for one that returns given tensors; ``restore`` undoes it.

    Integrated gradients then differentiate the rest of the network with respect to the
    token embeddings, and the embedding itself (a third of the forward cost) is not
    recomputed for every integration step.
    """

    def __init__(self, members: list[torch.nn.Module]) -> None:
        self.current: tuple[torch.Tensor, ...] | None = None
        self.members = members
        self.originals = [m.embedding for m in members]
        for i, m in enumerate(members):
            m.embedding = _Given(self, i)

    def restore(self) -> None:
        for m, original in zip(self.members, self.originals):
            m.embedding = original


# -- integrated gradients ---------------------------------------------------------------------
_BATCH_NAMES = ("feature", "value", "category", "time", "mask", "latest")


def _embed(embedding, batch: dict[str, torch.Tensor], value: torch.Tensor,
           category: torch.Tensor) -> torch.Tensor:
    """The embedding called as the network calls it (with the padding mask if it takes one)."""
    if "mask" in inspect.signature(embedding.forward).parameters:
        return embedding(batch["feature"], value, batch["time"], category, mask=batch["mask"])
    return embedding(batch["feature"], value, batch["time"], category)


def _baseline_embeddings(embeddings, batch: dict[str, torch.Tensor], baseline: str):
    inputs, base = [], []
    with torch.no_grad():
        for embedding in embeddings:
            emb = _embed(embedding, batch, batch["value"], batch["category"])
            inputs.append(emb)
            if baseline == "zero":
                base.append(torch.zeros_like(emb))
            else:
                category = torch.where(batch["category"] >= 0, 0, batch["category"])
                base.append(_embed(embedding, batch, torch.zeros_like(batch["value"]), category))
    return tuple(inputs), tuple(base)


def _attribute_batch(module, given, batch, baseline: str, n_steps: int, method: str,
                     token_budget: int):
    """Per-token attributions ``(B, L)``, logits and baseline logits ``(B,)``, deltas."""
    n = len(given.members)

    def forward(*args):
        given.current = args[:n]
        try:
            out = module(**dict(zip(_BATCH_NAMES, args[n:])))
        finally:
            given.current = None
        return _risk_logit(out)

    inputs, baselines = _baseline_embeddings(given.originals, batch, baseline)
    extra = tuple(batch[k] for k in _BATCH_NAMES)
    width = batch["feature"].shape[1]
    ig = _integrated_gradients()(forward)
    attributions, delta = ig.attribute(
        inputs, baselines=baselines, additional_forward_args=extra, n_steps=n_steps,
        method=method, internal_batch_size=max(1, token_budget // width),
        return_convergence_delta=True)
    with torch.no_grad():
        logit, base_logit = forward(*inputs, *extra), forward(*baselines, *extra)
    per_token = sum(a.sum(-1) for a in attributions) * batch["mask"]
    return per_token.detach(), logit, base_logit, delta.detach()


def _batches(lengths: np.ndarray, stays: np.ndarray, token_budget: int) -> list[np.ndarray]:
    """Stays in order of length, cut so that each batch pads to at most ``token_budget``."""
    order = stays[np.argsort(lengths[stays], kind="stable")]
    width = np.maximum(lengths[order], 1)
    out, start = [], 0
    while start < len(order):  # one pass per batch: (count × longest) only grows
        padded = np.arange(1, len(order) - start + 1) * width[start:]
        stop = start + max(1, int(np.count_nonzero(padded <= token_budget)))
        out.append(order[start:stop])
        start = stop
    return out


def explain(
    model: Any,
    X: Any,
    *,
    baseline: str = "center",
    n_steps: int = 8,
    method: str = "gausslegendre",
    tolerance: float = 0.01,
    max_steps: int = 128,
    batch_tokens: int = 4096,
) -> pd.DataFrame:
    """Attribute each stay's predicted risk to its measurements (integrated gradients).

    Parameters
    ----------
    model : a fitted model with token embeddings (a MedFuseClassifier; see the module
        docstring for what it must offer), or a fitted Pipeline ending in one
    X : the stays to explain, as the model's ``predict_proba`` takes them (a long table, an
        ``EventSet``, or a ``TokenSet`` for a classifier fitted on tokens)
    baseline : {"center", "zero"}, default "center"
        The reference the attributions are measured from (see the module docstring).
    n_steps : int, default 8
        Integration points of the first pass (Gauss–Legendre by default).
    method : str, default "gausslegendre"
        Captum's integration rule ("gausslegendre", "riemann_trapezoid", ...).
    tolerance : float, default 0.01
        Completeness target: a stay whose attributions miss ``logit - baseline_logit`` by
        more than this (in logit units) is recomputed with twice the steps, up to
        ``max_steps``; stays still above it are named in a warning.
    max_steps : int, default 128
    batch_tokens : int, default 4096
        Padded tokens per batch of stays; each batch is expanded ``n_steps`` times in
        chunks of about ``8 * batch_tokens`` tokens.

    Returns
    -------
    DataFrame, one row per token, stays in the order of ``X`` and tokens in time order:
    stay id (named as the classifier's ``stay`` column), ``time`` (hours; a window's
    centre when windowed), ``feature``, ``value`` (as given, before scaling; NaN for a
    categorical token or when the model was fitted on tokens), ``category`` (class of a
    categorical token, else None), ``scaled_value`` (what the network saw), ``attribution``
    (to ``logit``), and per stay: ``risk``, ``baseline_risk``, ``logit``,
    ``baseline_logit``, ``delta`` (sum of the stay's attributions minus ``logit -
    baseline_logit``) and ``n_steps``. A stay without tokens gets one ``"<empty>"`` row.
    """
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {BASELINES}, got {baseline!r}")
    for name, v in (("n_steps", n_steps), ("max_steps", max_steps), ("batch_tokens", batch_tokens)):
        if int(v) != v or v < 2:
            raise ValueError(f"{name} must be an integer >= 2, got {v!r}")
    if not tolerance > 0:
        raise ValueError(f"tolerance must be positive, got {tolerance!r}")
    prepared = _classifier_and_tokens(model, X)
    clf, tokens = prepared.classifier, prepared.tokens
    module = getattr(clf, "module_", None)
    members = _members(module)
    branches = [name for name in ("series_summary", "static_branch")
                if any(getattr(m, name, None) is not None for m in members)]
    if branches:
        warnings.warn(f"the network has a {' and a '.join(branches)} branch, which reads values "
                      "outside the token embedding: its effect is held fixed (part of the "
                      "baseline), not attributed to tokens", stacklevel=2)
    dataset = clf.get_dataset(tokens)
    device = next(module.parameters()).device  # where the network is ("auto" resolved)
    lengths = tokens.lengths
    n_stays = len(tokens)
    width_of = np.maximum(lengths, 1)
    padded_rows = np.zeros(n_stays + 1, dtype=np.int64)
    np.cumsum(width_of, out=padded_rows[1:])
    attribution = np.zeros(int(padded_rows[-1]))
    logit, base_logit, delta = (np.zeros(n_stays) for _ in range(3))
    steps_used = np.zeros(n_stays, dtype=np.int64)

    was_training = module.training
    module.eval()
    given = _GivenEmbeddings(members)
    try:
        todo, steps = np.arange(n_stays), int(n_steps)
        while len(todo):
            for stays in _batches(lengths, todo, batch_tokens):
                batch, _ = dataset.collate(stays)
                batch = {k: v.to(device) for k, v in batch.items()}
                per_token, lg, blg, dl = _attribute_batch(
                    module, given, batch, baseline, steps, method, 8 * batch_tokens)
                keep = batch["mask"].cpu().numpy()
                reps = width_of[stays]
                within = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
                attribution[np.repeat(padded_rows[stays], reps) + within] = (
                    per_token.cpu().numpy()[keep].astype(np.float64))
                logit[stays], base_logit[stays] = lg.cpu().numpy(), blg.cpu().numpy()
                delta[stays], steps_used[stays] = dl.cpu().numpy(), steps
            todo = np.flatnonzero(np.abs(delta) > tolerance)
            todo = todo[steps_used[todo] == steps]
            if steps * 2 > max_steps:
                break
            steps *= 2
    finally:
        given.restore()
        module.train(was_training)

    bad = np.flatnonzero(np.abs(delta) > tolerance)
    if len(bad):
        worst = bad[np.argsort(-np.abs(delta[bad]))][:5]
        warnings.warn(
            f"{len(bad)} stay(s) miss completeness by more than tolerance={tolerance} after "
            f"{int(steps_used.max())} steps (largest |delta| {np.abs(delta[bad]).max():.3g}, stays "
            f"{tokens.stay_ids[worst].tolist()}); raise max_steps or use method='gausslegendre'",
            stacklevel=2)
    return _table(prepared, attribution, padded_rows, logit, base_logit, delta, steps_used)


def _table(prepared: _Prepared, attribution, padded_rows, logit, base_logit, delta,
           steps_used) -> pd.DataFrame:
    tokens, clf = prepared.tokens, prepared.classifier
    lengths = tokens.lengths
    empty = lengths == 0
    width = np.maximum(lengths, 1)
    owner = np.repeat(np.arange(len(tokens)), width)
    # rows of real tokens in the padded layout, and the "<empty>" row of a stay without any
    real = np.ones(len(owner), dtype=bool)
    real[padded_rows[:-1][empty]] = False
    c = tokens.columns
    n = len(owner)

    def spread(flat, fill, dtype):
        out = np.full(n, fill, dtype=dtype)
        out[real] = flat
        return out

    names = np.asarray(tokens.feature_names, dtype=object)
    feature = spread(names[c["feature"]], "<empty>", object)
    value = np.full(n, np.nan)
    if prepared.raw_values is not None:
        value[real] = prepared.raw_values
    category = np.full(n, None, dtype=object)
    is_cat = spread(c["category"] >= 0, False, bool)
    if is_cat.any():
        class_ids = spread(c["category"], -1, np.int64)[is_cat]
        if prepared.tokenizer is not None:
            classes = np.asarray(
                ["<unknown>"] + [str(p[1]) for p in prepared.tokenizer.category_pairs_],
                dtype=object)
            category[is_cat] = classes[class_ids]
        else:
            category[is_cat] = class_ids.astype(str)
    risk, base_risk = 1 / (1 + np.exp(-logit)), 1 / (1 + np.exp(-base_logit))
    return pd.DataFrame({
        getattr(clf, "stay", "stay_id"): tokens.stay_ids[owner],
        "time": spread(c["time"].astype(np.float64), 0.0, np.float64),
        "feature": feature,
        "value": value,
        "category": category,
        "scaled_value": spread(np.where(c["category"] >= 0, np.nan, c["value"]), np.nan,
                               np.float64),
        "attribution": attribution,
        "risk": risk[owner],
        "baseline_risk": base_risk[owner],
        "logit": logit[owner],
        "baseline_logit": base_logit[owner],
        "delta": delta[owner],
        "n_steps": steps_used[owner],
    })


# -- summaries --------------------------------------------------------------------------------
def _stay_column(table: pd.DataFrame) -> str:
    return table.columns[0]


def stay_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per stay of an :func:`explain` table: risk, baseline, attribution sum, delta."""
    stay = _stay_column(table)
    per_stay = table.groupby(stay, sort=False)
    out = per_stay[["risk", "baseline_risk", "logit", "baseline_logit", "delta", "n_steps"]].first()
    out["attribution_sum"] = per_stay["attribution"].sum()
    out["n_tokens"] = per_stay.size()
    return out


def feature_importance(table: pd.DataFrame) -> pd.DataFrame:
    """Per feature: the mean over stays of ``|sum of the feature's attributions in a stay|``.

    A stay without the feature counts as 0, so the column ``mean_abs`` ranks features by
    their total weight in the explained cohort; ``share`` is its fraction of the total,
    ``mean_signed`` the mean signed effect, ``stays`` how many stays have the feature.
    """
    stay = _stay_column(table)
    n_stays = table[stay].nunique()
    per = table.groupby([stay, "feature"], sort=False, observed=True)["attribution"].sum()
    by_feature = per.groupby(level="feature", observed=True)
    out = pd.DataFrame({
        "mean_abs": by_feature.apply(lambda a: a.abs().sum()) / n_stays,
        "mean_signed": by_feature.sum() / n_stays,
        "stays": by_feature.size(),
    })
    out["share"] = out["mean_abs"] / out["mean_abs"].sum()
    return out.sort_values("mean_abs", ascending=False)


# -- what the embedding learned per feature ---------------------------------------------------
@dataclass
class FeatureResponse:
    """A feature's embedding as a function of its value (one network).

    Attributes
    ----------
    feature : the feature's name
    fusion : the member's fusion
    values : (n,) raw values (the user's units)
    scaled : (n,) the values as the network sees them (scaled and clipped)
    gates : (n, d_v) MuFuse gate vectors ``gate(α[f]⊙φ(x)+β[f])``; for ``add`` the additive
        value embedding ``φ(x)`` (d_f); for ``concat``/``scane`` the fused token
    tokens : (n, d_f) fused tokens without the time encoding
    """

    feature: str
    fusion: str
    values: np.ndarray
    scaled: np.ndarray
    gates: np.ndarray
    tokens: np.ndarray

    def similarity(self) -> np.ndarray:
        """(n, n) cosine similarity of the fused tokens of every pair of values."""
        z = self.tokens / np.linalg.norm(self.tokens, axis=1, keepdims=True).clip(1e-12)
        return z @ z.T

    def distances(self, low: float, normal: float, high: float) -> dict[str, float]:
        """Cosine distances between the fused tokens at three values, and their ratio.

        ``fold = d(low, high) / mean(d(low, normal), d(normal, high))``: below 1 the
        embedding maps too-low and too-high values closer to each other than to a normal one
        (the paper's "equifinality"); an embedding that keeps moving one way as the value
        rises gives 2 or more (``1 − cos`` grows about as the square of the angle: 4 for two
        equal steps along a circle).
        """
        z = self._tokens_at(np.array([low, normal, high], dtype=np.float64))
        z = z / np.linalg.norm(z, axis=1, keepdims=True).clip(1e-12)
        d = 1.0 - z @ z.T
        out = {"low_normal": float(d[0, 1]), "normal_high": float(d[1, 2]),
               "low_high": float(d[0, 2])}
        out["fold"] = out["low_high"] / max(0.5 * (out["low_normal"] + out["normal_high"]), 1e-12)
        return out

    def _tokens_at(self, values: np.ndarray) -> np.ndarray:
        order = np.argsort(self.values)
        return np.stack([np.interp(values, self.values[order], self.tokens[order, j])
                         for j in range(self.tokens.shape[1])], axis=1)


def feature_response(model: Any, feature: str, values: Any = None, *, member: int = 0,
                     n: int = 121) -> FeatureResponse:
    """Gates and fused tokens of ``feature`` for a grid of raw values.

    Parameters
    ----------
    model : a fitted model with token embeddings (a MedFuseClassifier) fitted on events, or a
        Pipeline whose step before it is an EventTokenizer
    feature : a feature of the model's vocabulary
    values : raw values to evaluate; ``None``: ``n`` points over the range the network can
        tell apart (the tokenizer's centre ± ``clip`` scales)
    member : which network of an ensemble
    """
    parts = unwrap(model)
    clf = parts.final
    tokenizer = parts.transformer if parts.steps else getattr(clf, "tokenizer_", None)
    clf.check_is_fitted()
    if not isinstance(tokenizer, EventTokenizer):
        raise TypeError("feature_response needs the fitted EventTokenizer (fit the classifier on "
                        "events, or pass a Pipeline whose step before the classifier is one)")
    names = list(tokenizer.feature_names_)
    if feature not in names:
        raise ValueError(f"feature {feature!r} is not in the model's vocabulary "
                         f"({len(names) - 1} features, e.g. {names[1:6]})")
    if feature in tokenizer.categorical_features_:
        raise ValueError(f"feature {feature!r} is categorical: it has no value axis")
    f = names.index(feature)
    center, scale = float(tokenizer.center_[f]), float(tokenizer.scale_[f])
    clip = tokenizer.clip
    if values is None:
        reach = clip if clip is not None else 5.0
        values = np.linspace(center - reach * scale, center + reach * scale, n)
    values = np.asarray(values, dtype=np.float64)
    scaled = (values - center) / scale
    if clip is not None:
        scaled = np.clip(scaled, -clip, clip)
    members = _members(getattr(clf, "module_", None))
    if not 0 <= member < len(members):
        raise ValueError(f"member must lie in [0, {len(members)}), got {member!r}")
    emb = members[member].embedding
    dtype = emb.feature_table.weight.dtype
    device = emb.feature_table.weight.device
    x = torch.as_tensor(scaled, dtype=dtype, device=device)
    ids = torch.full((len(values),), f, dtype=torch.long, device=device)
    with torch.no_grad():
        z = emb.value_tokens(ids, x)
        if emb.fusion == "mufuse":
            u = emb.projector(x.unsqueeze(-1))
            g = emb.alpha[ids] * u + emb.beta[ids]
            gates = torch.sigmoid(g) if emb.gate == "sigmoid" else g
        elif emb.fusion == "add":
            gates = emb.projector(x.unsqueeze(-1))
        else:
            gates = z
    return FeatureResponse(feature, emb.fusion, values, scaled, gates.cpu().numpy(),
                           z.cpu().numpy())
