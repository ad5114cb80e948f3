"""MedFuse's parameter spec: one :class:`~medfuse_sk.models._spec.Param` per parameter of
:class:`MedFuseClassifier`, and the choice tuples its parameters take.

Each entry holds the parameter's default, its scikit-learn constraints (checked at ``fit``),
where it goes (``"module"``: the network, :class:`MedFuseModule` and :class:`MuFuseEmbedding`;
``"skorch"``: skorch's own ``NeuralNet`` argument; ``"estimator"``: used by the estimator) and
its documentation. The estimator's signature, docstring and ``_parameter_constraints``, the
defaults of the network's building blocks (:data:`DEFAULTS`) and the pre-trainer's network
defaults are all read from :data:`PARAMS` (the machinery is ``models/_spec.py``), so adding
a parameter is adding one entry here. The parameters every torch network shares (loss,
optimisation, validation, device, seed, verbosity, tokenizer and a table's columns) are the
entries of :func:`~medfuse_sk.models.neural_params` with MedFuse's defaults; this module
writes out only MedFuse's own.

The choice tuples (:data:`FUSIONS`, :data:`POOLINGS`, ...) live here too, so that the modules
which validate them on their own (for direct use) and the spec name the same options;
:func:`check_fusion` is the one check of a ``fusion`` value.
"""

from __future__ import annotations

import dataclasses
from numbers import Integral, Real
from typing import Any

from sklearn.utils._param_validation import Interval, StrOptions

from .._callbacks import SCHEDULES
from .._losses import LOSSES
from .._neural import neural_params
from .._spec import Param, Satisfies

__all__ = ["PARAMS", "DEFAULTS", "AUTO_EPOCHS", "AUTO_LR", "TOKENIZER_DEFAULTS", "FUSIONS", "GATES",
           "ACTIVATIONS", "KERNELS", "POOLINGS", "LOSSES", "SCHEDULES", "check_fusion"]

FUSIONS = ("mufuse", "add", "concat", "scane")
GATES = ("sigmoid", "none")
ACTIVATIONS = ("tanh", "relu")
KERNELS = ("auto", "torch", "triton")
POOLINGS = ("mean", "cls", "attention", "mean+attention", "latest", "mean+latest")


def check_fusion(fusion: Any, *, several: bool = True) -> tuple[str, ...]:
    """The fusions ``fusion`` names, as a tuple: one of :data:`FUSIONS` or (``several``) a
    non-empty list or tuple of them. The one check of a ``fusion`` value.

    Raises
    ------
    ValueError
        Naming the value and the allowed fusions.
    """
    if isinstance(fusion, str):
        fusions = (fusion,)
    elif several and isinstance(fusion, (list, tuple)) and len(fusion) > 0:
        fusions = tuple(fusion)
    else:
        fusions = ()
    if not fusions or not all(isinstance(f, str) and f in FUSIONS for f in fusions):
        raise ValueError(f"fusion must be one of {FUSIONS}"
                         f"{' or a non-empty list or tuple of them' if several else ''}, "
                         f"got {fusion!r}")
    return fusions


def _fusion_sequence(value: Any) -> bool:
    return not isinstance(value, str) and bool(check_fusion(value))


def _positive_int() -> Interval:
    return Interval(Integral, 1, None, closed="left")


_SHARE = Interval(Real, 0, 1, closed="left")
_REAL = Interval(Real, None, None, closed="neither")

#: The shared parameters with MedFuse's defaults (a cosine schedule with warm-up, AdamW's
#: weight decay, no validation split, the epoch table printed).
_SHARED: dict[str, Param] = neural_params(
    "tokens", lr_schedule="cosine", warmup_epochs=1.0, weight_decay=1e-2, patience=5,
    valid_size=0.0, verbose=1)
#: ``max_epochs="auto"``: epochs enough for a fit to see about 75,000 training stays, at least
#: 8 and at most 20 (10 on P12's 7,680 training stays, 8 on P19's 10,301).
AUTO_EPOCHS = (75_000, 8, 20)
#: ``lr="auto"``: ``min(2e-3, 0.02 / epochs)`` — 2e-3 up to 10 epochs (P12, P19), then the
#: rate that keeps ``lr × epochs`` at 0.02, down to the old 1e-3 at 20 epochs (small cohorts).
AUTO_LR = (2e-3, 0.02)
#: The tokenizer of ``tokenizer=None``: 2-hour windows.
TOKENIZER_DEFAULTS = {"window": 2.0}
def _or_auto(param: Param, number: Interval, kind: str, doc: str) -> Param:
    """The shared ``param`` with ``"auto"`` as its default, besides a ``number``."""
    return dataclasses.replace(param, default="auto", constraints=[number, StrOptions({"auto"})],
                               kind=f"{kind} or 'auto'", doc=doc)


_SHARED["lr"] = _or_auto(
    _SHARED["lr"], Interval(Real, 0, None, closed="neither"), "float > 0",
    "The optimizer's peak learning rate. ``\"auto\"``: "
    f"``min({AUTO_LR[0]:g}, {AUTO_LR[1]:g} / epochs)`` of the fit's epochs: {AUTO_LR[0]:g} up to "
    "10 epochs (P12, P19), 1e-3 at 20 (cohorts below 3,750 training stays), so that a small "
    "cohort trains as with the defaults before 2026-12-06 (docs/performance.md, \"Small "
    "cohorts\"). The rate a fit used is ``lr_``.")
_SHARED["max_epochs"] = _or_auto(
    _SHARED["max_epochs"], Interval(Integral, 1, None, closed="left"), "int",
    "Epochs to train. ``\"auto\"``: enough for the fit to see about "
    f"{AUTO_EPOCHS[0]:,} training stays (``ceil({AUTO_EPOCHS[0]} / stays)``), at least "
    f"{AUTO_EPOCHS[1]} and at most {AUTO_EPOCHS[2]}: 10 epochs on P12's 7,680 training stays, "
    "8 on P19's 10,301 (docs/performance.md, \"The cost of a default fit\"). The number a fit "
    "trained is ``n_epochs_``.")
_SHARED["tokenizer"] = dataclasses.replace(
    _SHARED["tokenizer"],
    doc="Turns events into tokens when ``fit`` receives events; ``None`` means "
        "``EventTokenizer(window=2.0)``: per feature and 2-hour window one token, the median "
        "value or the most frequent class.")
_SHARED["valid_size"] = dataclasses.replace(
    _SHARED["valid_size"],
    doc="Share of the training stays held out (stratified) for early stopping when "
        "``train_split`` is ``\"auto\"``. The default, 0, trains on every stay for "
        "``max_epochs`` epochs of the schedule (stopping on a small share was noisy: "
        "docs/p12-report.md, \"Defaults on two cohorts\"). Setting it together with a "
        "``train_split`` is an error.")
#: The shared parameters written ahead of MedFuse's training options.
_NETWORK_FIRST = ("loss", "class_weight", "lr", "lr_schedule", "warmup_epochs", "weight_decay",
                  "max_epochs", "batch_size", "patience")

#: Every parameter of ``MedFuseClassifier`` besides ``module`` and skorch's prefixed ones.
PARAMS: dict[str, Param] = {
    # -- the network --------------------------------------------------------------------
    "fusion": Param(
        "mufuse", [StrOptions(set(FUSIONS)),
                   Satisfies(_fusion_sequence, f"a non-empty list or tuple of {FUSIONS}")],
        "How a value meets its feature embedding (SPEC.md fusion variants). A sequence, e.g. "
        "``(\"mufuse\", \"concat\", \"scane\")``, trains a heterogeneous ensemble in one "
        "module: one network per fusion (with ``n_models`` left at 1), or ``n_models`` "
        "networks cycling through them (``n_models`` a multiple of its length).",
        to="module", kind="{'mufuse', 'add', 'concat', 'scane'} or a sequence of them"),
    "d_model": Param(64, [_positive_int()], "Token width ``d_f`` and encoder width.",
                     to="module", kind="int"),
    "partition_factor": Param(
        1, [_positive_int()],
        "MuFuse block size ``k``: ``d_v = d_model / k`` gates, each scaling ``k`` entries; "
        "``d_model`` must be a multiple of it.", to="module", kind="int"),
    "gate": Param(
        "none", [StrOptions(set(GATES))],
        "Raw affine gates as in the authors' released code, or the paper's sigmoid gate "
        "(``\"sigmoid\"``, with ``beta_init=0.0`` for the paper's initialisation). These "
        "defaults are the configuration that trained best on P12 (docs/p12-report.md), not "
        "the paper's (:data:`medfuse_sk.recipes.PAPER`).", to="module", kind="{'none', 'sigmoid'}"),
    "value_hidden": Param(16, [_positive_int()], "Hidden width of the value projector.",
                          to="module", kind="int"),
    "activation": Param("tanh", [StrOptions(set(ACTIVATIONS))],
                        "Non-linearity of the value projector.", to="module",
                        kind="{'tanh', 'relu'}"),
    "projector_gain": Param(
        1.0, [Interval(Real, 0, None, closed="neither")],
        "Scale of the value projector's initial output weights (see ``MuFuseEmbedding``).",
        to="module", kind="float > 0"),
    "beta_init": Param(
        1.0, [_REAL],
        "Initial per-feature gate shift ``β`` (SPEC: 0). With raw gates, 1 starts every "
        "token as its feature embedding.", to="module", kind="float"),
    "time_encoding": Param(True, ["boolean"], "Add the sinusoidal time encoding to every token.",
                           to="module", kind="bool"),
    "kernel": Param("auto", [StrOptions(set(KERNELS))],
                    "Implementation of the MuFuse embedding: Triton on CUDA when available.",
                    to="module", kind="{'auto', 'torch', 'triton'}"),
    "n_layers": Param(1, [_positive_int()], "Transformer encoder layers.", to="module",
                      kind="int"),
    "n_heads": Param(4, [_positive_int()],
                     "Attention heads; ``d_model`` must be a multiple of it.", to="module",
                     kind="int"),
    "dim_feedforward": Param(None, [_positive_int(), None],
                             "Feed-forward width; ``None`` means ``2 · d_model``.", to="module",
                             kind="int or None"),
    "dropout": Param(0.1, [_SHARE], "Dropout in the encoder and the head.", to="module",
                     kind="float in [0, 1)"),
    "norm_first": Param(False, ["boolean"], "Pre-LayerNorm layers instead of post-LayerNorm.",
                        to="module", kind="bool"),
    "pooling": Param(
        "mean+latest", [StrOptions(set(POOLINGS))],
        "Summary of a stay's tokens (see :class:`~medfuse_sk.models.MedFuseModule`): mean of "
        "all observed tokens ⊕ mean of each feature's latest token by default.",
        to="module", kind="{" + ", ".join(repr(p) for p in POOLINGS) + "}"),
    "series_summary": Param(
        True, ["boolean"],
        "Add the per-feature count / latest value / recency branch "
        "(see :class:`~medfuse_sk.models.MedFuseModule`).", to="module", kind="bool"),
    "static_branch": Param(
        False, ["boolean"],
        "Add a branch for the static descriptors: features that ``fit`` finds at most once "
        "per stay, always at its first token (age, sex, unit type ...); their values, class "
        "indicators and whether they were given join the pooled vector (see "
        ":class:`~medfuse_sk.models.MedFuseModule`). Their tokens stay in the sequence too.",
        kind="bool"),
    # -- loss and optimisation (shared) --------------------------------------------------
    **{name: _SHARED[name] for name in _NETWORK_FIRST},
    # -- MedFuse's training options (the base reads weight_averaging and token_dropout) ---
    "n_models": Param(
        1, [_positive_int()],
        "Train this many independently initialised networks side by side (a deep ensemble: "
        "the loss averages theirs, probabilities are averaged).", kind="int"),
    "weight_averaging": Param(
        0.99, [Interval(Real, 0, 1, closed="neither"), None],
        "Decay of an exponential moving average of the weights (e.g. 0.99); validation, "
        "early stopping and the final model use the averaged weights.",
        kind="float in (0, 1) or None"),
    "token_dropout": Param(
        0.1, [_SHARE],
        "Training augmentation: each epoch, every token is left out with this probability "
        "(a stay keeps at least its last token).", kind="float in [0, 1)"),
    # -- validation, machinery, input (shared) --------------------------------------------
    **{name: p for name, p in _SHARED.items() if name not in _NETWORK_FIRST},
}

#: Defaults of the network's building blocks (``MedFuseModule``, ``MuFuseEmbedding``).
DEFAULTS: dict[str, Any] = {name: p.default for name, p in PARAMS.items() if p.to == "module"}
