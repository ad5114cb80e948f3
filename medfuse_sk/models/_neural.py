"""The shared base of the library's torch networks (MedFuse, and the peers Transformer, TCN,
SAnD, mTAN, STraTS, SUMMIT, Raindrop): one skorch training loop, two input layouts, one
parameter table per model. ``MedFuseClassifier`` is the tokens network whose parameters, kept
in ``medfuse/_params.py``, take the shared entries from :func:`neural_params`.

How a network plugs in
----------------------
A model folder (``models/<name>/``) holds a torch module, a parameter table and a subclass of
:class:`NeuralEventClassifier`; its ``__init__.py`` registers it with :func:`register_network`.
Nothing else in the library is edited::

    # models/tcn/_network.py
    class TCNModule(nn.Module):
        def __init__(self, n_channels, n_steps, hidden_size=64, n_layers=4, ...):
            ...
        def forward(self, values, mask):          # the keys of ``inputs``, as keywords
            return logits                          # (B,): one logit per stay

    # models/tcn/_estimator.py
    PARAMS = {
        "hidden_size": Param(64, [Interval(Integral, 1, None, closed="left")],
                             "Channels of every convolution.", to="module", kind="int"),
        **neural_params("grid", lr=5e-4, max_epochs=23),   # the shared parameters
    }

    class TCNClassifier(NeuralEventClassifier):
        __doc__ = network_docstring("TCN on a regular grid ...", PARAMS)
        params = PARAMS            # signature, constraints, docstring and defaults
        layout = "grid"            # or "tokens"
        default_module = TCNModule
        inputs = ("values", "mask")

        def _check_network(self):  # optional: rules tying two parameters together
            ...

    # models/tcn/__init__.py
    register_network("tcn", TCNClassifier, description="TCN (causal dilated convolutions)")

The subclass gets a keyword-only ``__init__`` whose signature is the table's, scikit-learn's
``_parameter_constraints`` from the table (checked first in ``fit``; ``InvalidParameterError``
names the parameter, the value and what is allowed), ``clone`` / ``get_params`` /
``set_params`` / ``GridSearchCV``, pickling, ``random_state`` reproducibility (the base
classifier's RNG fork: weights, validation split, batch order and dropout follow
``random_state``; the process's global generators are untouched) and safe model files
(:func:`medfuse_sk.io.save_model`: the module's ``state_dict`` in safetensors, parameters and
the fitted attributes of the layout in JSON; ``load_model`` rebuilds the module from those
attributes and loads the weights) without code of its own.

Parameters with ``to="module"`` go to the module's constructor, together with the sizes the
layout learns in ``fit``: ``n_channels`` and ``n_steps`` on the grid; ``n_features`` (the
vocabulary size, entry 0 ``"<empty>"``) and ``n_categories`` on tokens. ``module__*``
arguments reach the module too and win. The shared parameters (:func:`neural_params`) go to
the estimator, skorch or the loss; a model changes their defaults through the keywords of
:func:`neural_params`.

A model may add two training options to its table, which the base then reads:
``weight_averaging`` (the decay of :class:`~medfuse_sk.models.WeightAverage`; ``None``: off)
and, on tokens, ``token_dropout`` (:class:`~medfuse_sk.models.TokenDropoutCollate`: each
training token left out with that probability). A module whose output holds several members'
logits ``(B, n_members)`` (a deep ensemble) says so through ``_n_members()``; the loss then
averages the members' and probabilities are averaged.

The two layouts
---------------
``layout = "grid"`` (``_input = "events"``): each stay on a regular grid of ``n_steps`` steps
of ``step`` hours (:func:`medfuse_sk.data.regular_grid`, as GRU-D: the mean of each series per
step, static features repeated at every step; channels learned in ``fit`` with
:func:`~medfuse_sk.models.infer_grid_channels` unless ``series`` / ``static`` are given),
z-scored with the training stays' mean and standard deviation and clipped to ``±clip``. The
batch holds, for the names in ``inputs`` (:data:`GRID_INPUTS`):

- ``values`` (B, T, C) float32: the scaled value, 0 (the training mean) where unobserved;
- ``mask`` (B, T, C) float32: 1 where observed;
- ``delta`` (B, T, C) float32: hours since the channel's previous observation (GRU-D's δ:
  0 at the first step, ``step`` after an observed step, growing by ``step`` per empty step);
- ``forward`` (B, T, C) float32: the last observed scaled value carried forward (0 before the
  first observation);
- ``time`` (B, T) float32: the centre of each step in hours.

``layout = "tokens"`` (``_input = "tokens"``): raw observations, one token per event, through
the fitted ``tokenizer`` (default :class:`~medfuse_sk.data.EventTokenizer`: vocabulary and
per-feature robust scaling learned in ``fit``; ``window`` summarises, ``max_tokens`` caps).
The batch is :class:`~medfuse_sk.models.TokenDataset`'s, padded to the batch's longest stay,
for the names in ``inputs`` (:data:`TOKEN_INPUTS`): ``feature`` (B, L) int64 vocabulary ids,
``value`` (B, L) float32 scaled values (0 for categorical tokens), ``category`` (B, L) int64
class ids (-1 for numerical tokens), ``time`` (B, L) float32 hours, ``mask`` (B, L) bool
(True for real tokens; a stay without events gets one ``"<empty>"`` token), ``latest``
(B, L) bool (each feature's latest token).

Training
--------
skorch's loop with the project's parts: :class:`~medfuse_sk.models.BinaryLoss` (``loss``,
``class_weight``, per-stay ``sample_weight``), the optimizer (Adam by default, the peers'
papers' choice; ``weight_decay``), :class:`~medfuse_sk.models.WarmupCosineLR`
(``lr_schedule``, ``warmup_epochs``; constant by default), length-bucketed shuffled training
batches (:class:`~medfuse_sk.models.LengthBucketSampler`) and in-order evaluation batches,
:class:`~medfuse_sk.models.PlainPrintLog`. With ``valid_size > 0`` (default 0.1) that share
of the training stays (stratified, drawn with the fit's seed) is held out: the epoch table
shows its loss, AUPRC and AUROC, training stops after ``patience`` epochs without a better
validation AUPRC and the best epoch's weights are kept. ``device="auto"`` trains on CUDA when
torch sees a GPU (:func:`~medfuse_sk.models.resolve_device`; the fitted ``device_`` says
which).

Hyperparameters of the Table 1 networks
---------------------------------------
The MedFuse paper's appendix has three hyperparameter tables (4, 5, 6) without dataset names
(their labels were lost in the text). The first, Table 4, is the one whose MedFuse column
matches the authors' released P12 configuration (both widths 144: ``d_f = d_v = 144``; Table
5 has 80 for the second) with a one-layer SUMMIT (Table 6 has eight): TCN hidden 64, 4 layers,
lr 5e-4, 23 epochs; SAnD hidden 64, 4 layers, lr 5e-4, 30 epochs; mTAN 256 / 20, hidden 64,
1 layer, lr 5e-4, 250 epochs; STraTS hidden 64, 2 layers, lr 5e-4, 50 epochs; SUMMIT 144,
1 layer, lr 3e-5, 350 epochs. Where it is silent, the models take the original papers'
values; each model's docstring says which.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import warnings
from collections.abc import Hashable, Mapping, Sequence
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    StrOptions,
    validate_parameter_constraints,
)
from skorch import NeuralNet, NeuralNetBinaryClassifier
from skorch.callbacks import EarlyStopping, EpochScoring, EpochTimer, PassthroughScoring
from skorch.dataset import ValidSplit
from torch.utils.data import Dataset

from ..data import EventSet, TokenSet, regular_grid
from ._base import EventClassifierMixin, aligned_labels, aligned_weights
from ._batching import (
    LengthBucketSampler,
    TokenDataset,
    TokenDropoutCollate,
    base_dataset_and_indices,
    ordered_batches,
)
from ._callbacks import SCHEDULES, PlainPrintLog, WarmupCosineLR, WeightAverage
from ._device import AUTO_DEVICE, on_resolved_device, resolve_device
from ._losses import LOSSES, BinaryLoss
from ._registry import register_model
from ._spec import Param, Satisfies, constraints, docstring, signature
from ._threads import chosen_threads

__all__ = ["NeuralEventClassifier", "GridDataset", "neural_params", "network_docstring",
           "register_network", "grid_arrays", "GRID_INPUTS", "TOKEN_INPUTS", "LAYOUTS"]

#: Input layouts a network chooses from.
LAYOUTS = ("grid", "tokens")
#: Batch entries of the grid layout (see the module docstring).
GRID_INPUTS = ("values", "mask", "delta", "forward", "time")
#: Batch entries of the tokens layout (those of :class:`TokenDataset`).
TOKEN_INPUTS = ("feature", "value", "category", "time", "mask", "latest")
#: DataLoader arguments the estimator sets itself.
_OWN_LOADER_ARGS = ("sampler", "batch_sampler", "shuffle", "drop_last")


# -- the parameter table -------------------------------------------------------------------------
def _positive_int() -> Interval:
    return Interval(Integral, 1, None, closed="left")


def _torch_device(value: Any) -> bool:
    torch.device(value)
    return isinstance(value, (str, torch.device))


_SHARE = Interval(Real, 0, 1, closed="left")
_POSITIVE = Interval(Real, 0, None, closed="neither")


def _training_params() -> dict[str, Param]:
    return {
        "loss": Param("bce", [StrOptions(set(LOSSES))],
                      "Binary cross-entropy, or the focal loss of the MedFuse authors' code "
                      "(α 0.5, γ 2).", kind="{'bce', 'focal'}"),
        "class_weight": Param(
            None, [StrOptions({"balanced"}), _POSITIVE, None],
            "Weight of positive stays: \"balanced\" uses ``n_negative / n_positive`` of the "
            "training stays; a float is used as is.", kind="'balanced', float > 0 or None"),
        "lr": Param(1e-3, [_POSITIVE],
                    "The optimizer's learning rate (the peak, when a schedule is used).",
                    to="skorch", kind="float > 0"),
        "lr_schedule": Param("constant", [StrOptions(set(SCHEDULES))],
                             "``\"cosine\"`` decays the learning rate per batch to 0 at "
                             "``max_epochs``.", kind="{'constant', 'cosine'}"),
        "warmup_epochs": Param(0.0, [Interval(Real, 0, None, closed="left")],
                               "Linear warm-up of the learning rate over this many epochs.",
                               kind="float >= 0"),
        "weight_decay": Param(0.0, [Interval(Real, 0, None, closed="left")],
                              "The optimizer's weight decay.", kind="float >= 0"),
        "max_epochs": Param(20, [_positive_int()], "Most epochs to train.", to="skorch",
                            kind="int"),
        "batch_size": Param(64, [_positive_int()],
                            "Stays per batch; batches group stays of similar length.",
                            to="skorch", kind="int"),
        "patience": Param(
            10, [_positive_int(), None],
            "Early stopping: epochs without a better validation AUPRC (with ``valid_size`` > 0 "
            "or a ``train_split``). ``None``: no stopping; the best epoch's weights are still "
            "kept. The one way to set it (``callbacks__early_stopping__patience`` is "
            "refused).", kind="int or None"),
        "valid_size": Param(
            0.1, [_SHARE],
            "Share of the training stays held out (stratified, drawn with the fit's seed) for "
            "early stopping when ``train_split`` is ``\"auto\"``; 0 trains on every stay for "
            "``max_epochs`` epochs. Setting it together with a ``train_split`` is an error.",
            kind="float in [0, 1)"),
        "train_split": Param(
            "auto", [StrOptions({"auto"}), callable, None],
            "``\"auto\"``: the ``valid_size`` split; else any skorch split (e.g. "
            "``skorch.helper.predefined_split``), or None for no validation.", to="skorch",
            kind="'auto', callable or None"),
        "device": Param(
            "auto", [StrOptions({AUTO_DEVICE}),
                     Satisfies(_torch_device, "a torch device name or torch.device")],
            "Where the network runs. ``\"auto\"``: CUDA when torch sees a GPU, else the CPU, "
            "decided at ``fit`` (the fitted ``device_`` says which).", to="skorch",
            kind="'auto', str or torch.device"),
        "random_state": Param(
            None, [Interval(Integral, 0, 2**32 - 1, closed="both"), None],
            "Seeds the weights, the validation split, the batch order and dropout without "
            "touching the process's global generators. ``None``: a seed drawn from torch's "
            "global generator (so ``torch.manual_seed`` makes the fit reproducible).",
            kind="int or None"),
        "verbose": Param(0, ["verbose"], "1 prints skorch's epoch table; 0 is silent.",
                         to="skorch", kind="int"),
    }


def _grid_params() -> dict[str, Param]:
    return {
        "n_steps": Param(24, [_positive_int()],
                         "Grid steps from time 0; events after ``n_steps * step`` hours are "
                         "left out (``fit`` warns with how many).", kind="int"),
        "step": Param(2.0, [_POSITIVE],
                      "Hours per grid step (the paper's protocol: 2-hour windows over 48 h).",
                      kind="float > 0"),
        "series": Param(None, ["array-like", None],
                        "Features that become grid series; ``None``: inferred from the training "
                        "events (``infer_grid_channels``).", kind="list of str or None"),
        "static": Param(None, ["array-like", None],
                        "Static features (repeated at every step); ``None``: inferred with "
                        "``series``.", kind="list of str or None"),
        "categorical_levels": Param(None, [dict, None],
                                    "Classes of each categorical static feature (one 0/1 "
                                    "channel each); ``None``: inferred.", kind="dict or None"),
        "clip": Param(5.0, [_POSITIVE, None],
                      "Scaled grid values are clipped to ``[-clip, clip]``; ``None``: no clip.",
                      kind="float > 0 or None"),
    }


def _column_params(layout: str) -> dict[str, Param]:
    out = {}
    if layout == "tokens":
        out["tokenizer"] = Param(None, [HasMethods(["fit", "transform"]), None],
                                 "Turns events into tokens when ``fit`` receives events; "
                                 "``None`` means ``EventTokenizer()``.",
                                 kind="EventTokenizer or None")
    out.update({
        "stay": Param("stay_id", [Hashable], "Stay column of a long table.", kind="str"),
        "time": Param("time", [Hashable], "Time column of a long table.", kind="str"),
        "time_unit": Param(
            "h", [StrOptions({"h", "min", "s", "d"})],  # medfuse_sk.data.TIME_UNITS
            "Unit of a long table's numeric times: hours, minutes, seconds or days (timedeltas "
            "and datetimes need none). Times are converted to hours, so a grid's ``step`` and "
            "a tokenizer's ``window`` and ``horizon`` are hours whatever the unit; a time "
            "column whose name says another unit (``minute``, ``time_s`` ...) is an error. "
            "Saved with the model and applied at prediction.", kind="{'h', 'min', 's', 'd'}"),
        "feature": Param("feature", [Hashable], "Feature column of a long table.", kind="str"),
        "value": Param("value", [Hashable], "Value column of a long table.", kind="str"),
        "categorical": Param(None, ["array-like", None],
                             "Categorical features of a long table (otherwise inferred, see "
                             "``EventSet``).", kind="sequence of feature names or None"),
    })
    return out


def neural_params(layout: str, **defaults: Any) -> dict[str, Param]:
    """The parameters every network shares, for ``layout`` (``"grid"`` or ``"tokens"``), with
    the model's own ``defaults`` (e.g. ``lr=5e-4, max_epochs=23``).

    Training (``loss``, ``class_weight``, ``lr``, ``lr_schedule``, ``warmup_epochs``,
    ``weight_decay``, ``max_epochs``, ``batch_size``, ``patience``, ``valid_size``,
    ``train_split``, ``device``, ``random_state``, ``verbose``), the grid (``n_steps``,
    ``step``, ``series``, ``static``, ``categorical_levels``, ``clip``) or the ``tokenizer``,
    and a long table's columns (``stay``, ``time``, ``time_unit``, ``feature``, ``value``,
    ``categorical``).

    Raises
    ------
    ValueError
        An unknown layout, or a default for a parameter the table does not have.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    spec = {**_training_params(), **(_grid_params() if layout == "grid" else {}),
            **_column_params(layout)}
    unknown = sorted(set(defaults) - set(spec))
    if unknown:
        raise ValueError(f"neural_params: no shared parameter {unknown}; the shared ones are "
                         f"{sorted(spec)}")
    for name, value in defaults.items():
        spec[name] = dataclasses.replace(spec[name], default=value)
    return spec


def network_docstring(summary: str, params: Mapping[str, Param], attributes: str = "") -> str:
    """A classifier's numpydoc docstring: ``summary``, then ``Parameters`` from ``params``
    (with the structural ``module``, ``criterion``, ``optimizer``), then ``Attributes``."""
    return (f"{summary.rstrip()}\n\n    Parameters\n    ----------\n"
            "    module : nn.Module class or None, default None\n"
            "        The network; ``None`` means the model's own.\n"
            "    criterion : nn.Module class, default BinaryLoss\n"
            "    optimizer : torch optimizer class, default torch.optim.Adam\n"
            f"{docstring(params)}\n"
            "    **kwargs\n"
            "        Any other skorch ``NeuralNet`` argument (``callbacks``, ``module__*``,\n"
            "        ``optimizer__*``, ``iterator_train__num_workers``, ...).\n\n"
            "    Attributes\n    ----------\n"
            "    classes_, seed_, device_, class_balance_\n"
            "        ``[0, 1]``; the seed the fit ran with; the resolved device;\n"
            "        ``n_negative / n_positive`` of the training stays.\n"
            "    series_, static_, categorical_levels_, mean_, std_ (grid layout)\n"
            "        The grid's channels and their scaling statistics.\n"
            "    tokenizer_, feature_names_, n_categories_ (tokens layout)\n"
            "        The fitted tokenizer (None when fitted on a TokenSet) and its vocabulary.\n"
            "    module_, history_\n"
            "        The trained network; skorch's per-epoch history.\n"
            f"{attributes}")


# -- the grid layout -----------------------------------------------------------------------------
def grid_arrays(grid: np.ndarray, step: float) -> dict[str, np.ndarray]:
    """The grid layout's arrays of a scaled grid ``(n, T, C)`` with NaN where unobserved:
    ``values``, ``mask``, ``delta``, ``forward`` (``(n, T, C)`` float32) and ``time``
    (``(T,)``), as defined in the module docstring. Vectorised over stays and channels."""
    grid = np.asarray(grid, dtype=np.float32)
    n, steps, _ = grid.shape
    observed = ~np.isnan(grid)
    position = np.arange(steps)[None, :, None]
    last = np.maximum.accumulate(np.where(observed, position, -1), axis=1)  # incl. this step
    before = np.concatenate([np.full_like(last[:, :1], -1), last[:, :-1]], axis=1)
    delta = np.where(before >= 0, position - before, position) * step
    filled = np.nan_to_num(grid, nan=0.0)
    forward = np.take_along_axis(filled, np.maximum(last, 0), axis=1)
    forward[last < 0] = 0.0
    return {"values": filled, "mask": observed.astype(np.float32),
            "delta": delta.astype(np.float32), "forward": forward.astype(np.float32),
            "time": ((np.arange(steps) + 0.5) * step).astype(np.float32)}


class GridDataset(Dataset):
    """Stays on a scaled regular grid (and labels, and per-stay weights) for a DataLoader.

    Like :class:`TokenDataset`, ``dataset[i]`` is ``i`` and :meth:`collate` builds a whole
    batch at once; ``inputs`` says which of :data:`GRID_INPUTS` the batch holds.
    """

    def __init__(self, grid: np.ndarray, step: float, y: np.ndarray | None = None,
                 sample_weight: np.ndarray | None = None,
                 inputs: Sequence[str] = GRID_INPUTS) -> None:
        arrays = grid_arrays(grid, step)
        self.inputs = tuple(inputs)
        self.arrays = {name: torch.from_numpy(np.ascontiguousarray(arrays[name]))
                       for name in self.inputs}
        self.n = len(grid)
        self.y = None if y is None else torch.from_numpy(np.asarray(y, dtype=np.float32))
        self.sample_weight = (None if sample_weight is None
                              else torch.from_numpy(np.asarray(sample_weight, dtype=np.float32)))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i

    @property
    def lengths(self) -> np.ndarray:
        """Every stay has the grid's length (batches are plain shuffles)."""
        return np.ones(self.n)

    def collate(self, indices: Sequence[int]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        stays = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        batch = {}
        for name, array in self.arrays.items():
            batch[name] = (array.expand(len(stays), -1) if name == "time"
                           else array.index_select(0, stays))
        if self.sample_weight is not None:
            batch["sample_weight"] = self.sample_weight[stays]
        y = torch.zeros(len(stays)) if self.y is None else self.y[stays]
        return batch, y


def _probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Logits (B,) or an ensemble's (B, n_members) → class probabilities (B, 2)."""
    positive = torch.sigmoid(logits)
    if positive.dim() == 2:
        positive = positive.mean(dim=1)
    return torch.stack([1.0 - positive, positive], dim=1)


def _silent(*_: Any) -> None:
    """Early stopping's message sink: the epoch table already shows the stop."""


# -- the estimator -------------------------------------------------------------------------------
class NeuralEventClassifier(EventClassifierMixin, NeuralNetBinaryClassifier):
    """Base of a torch network on stays, trained by skorch (see the module docstring).

    A subclass sets the class attributes ``params`` (its table: the network's parameters with
    ``to="module"`` plus :func:`neural_params`), ``layout`` (``"grid"`` or ``"tokens"``),
    ``default_module`` (the ``nn.Module`` class) and optionally ``inputs`` (the batch entries
    its module's ``forward`` takes as keywords; default all of the layout's), ``structure``
    (the defaults of skorch's ``module``, ``criterion`` and ``optimizer`` in its signature)
    and ``_check_network()``. Hooks for more: ``_learn_input`` / ``_shape_params`` (fitted
    attributes and the sizes the module is built for), ``_n_members`` (an ensemble's
    members), ``initialize_module``.
    """

    params: ClassVar[dict[str, Param]] = {}
    layout: ClassVar[str] = "grid"
    default_module: ClassVar[type | None] = None
    inputs: ClassVar[tuple[str, ...] | None] = None
    #: ``max_epochs="auto"`` (where the model's table allows it): ``(stays, least, most)`` —
    #: enough epochs for a fit to see about ``stays`` training stays, within ``[least, most]``.
    auto_epochs: ClassVar[tuple[int, int, int] | None] = None
    #: ``lr="auto"`` (where the model's table allows it): ``(peak, product)`` — the learning rate
    #: ``min(peak, product / epochs)`` of the fit's epoch count.
    auto_lr: ClassVar[tuple[float, float] | None] = None
    #: Defaults of skorch's structural arguments; ``module=None`` means ``default_module``.
    structure: ClassVar[dict[str, Any]] = {"module": None, "criterion": BinaryLoss,
                                           "optimizer": torch.optim.Adam}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.layout not in LAYOUTS:
            raise TypeError(f"{cls.__name__}.layout must be one of {LAYOUTS}, got {cls.layout!r}")
        cls._input = "events" if cls.layout == "grid" else "tokens"
        allowed = GRID_INPUTS if cls.layout == "grid" else TOKEN_INPUTS
        if cls.inputs is not None and not set(cls.inputs) <= set(allowed):
            raise TypeError(f"{cls.__name__}.inputs must be among {allowed}, got {cls.inputs}")
        if "params" not in vars(cls):
            return
        default = dict(cls.structure)

        def __init__(self, module: Any = default["module"], *,
                     criterion: Any = default["criterion"], optimizer: Any = default["optimizer"],
                     **kwargs: Any) -> None:
            NeuralEventClassifier.__init__(self, module, criterion=criterion,
                                           optimizer=optimizer, **kwargs)

        __init__.__signature__ = signature(cls.params, [
            inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            inspect.Parameter("module", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                              default=default["module"]),
            *(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default[name])
              for name in ("criterion", "optimizer"))])
        __init__.__qualname__ = f"{cls.__qualname__}.__init__"
        cls.__init__ = __init__
        cls._parameter_constraints = {
            **constraints(cls.params), "criterion": [callable], "optimizer": [callable],
            "module": [callable] if default["module"] is not None else [callable, None]}

    def __init__(self, module: Any = None, *, criterion: Any = BinaryLoss,
                 optimizer: Any = torch.optim.Adam, **kwargs: Any) -> None:
        spec = type(self).params
        own = {name: kwargs.pop(name, p.default) for name, p in spec.items()}
        for_skorch = {name: own.pop(name) for name, p in spec.items() if p.to == "skorch"}
        super().__init__(module, criterion=criterion, optimizer=optimizer, **for_skorch,
                         **kwargs)
        vars(self).update(own)

    # -- parameters ------------------------------------------------------------------------------
    def _invalid(self, message: str) -> InvalidParameterError:
        return InvalidParameterError(f"{type(self).__name__}: {message}")

    def _check_params(self) -> None:
        """scikit-learn's validation of every table parameter, the shared rules, then the
        model's :meth:`_check_network`."""
        validate_parameter_constraints(self._parameter_constraints, self.get_params(deep=False),
                                       caller_name=type(self).__name__)
        if not isinstance(self.train_split, str) and self.valid_size != self.params["valid_size"].default:
            raise self._invalid(f"valid_size={self.valid_size!r} has no effect with train_split="
                                f"{self.train_split!r}; set one of them")
        if "callbacks__early_stopping__patience" in vars(self):
            raise self._invalid("set the early-stopping patience with patience=, not "
                                "callbacks__early_stopping__patience")
        self._check_network()

    def _check_network(self) -> None:
        """Rules that tie a network's parameters together (raise ``self._invalid(...)``)."""

    def _module_params(self) -> tuple[str, ...]:
        return tuple(name for name, p in self.params.items() if p.to == "module")

    def _inputs(self) -> tuple[str, ...]:
        if self.inputs is not None:
            return tuple(self.inputs)
        return GRID_INPUTS if self.layout == "grid" else TOKEN_INPUTS

    def _n_members(self) -> int:
        """Networks in the module: 1, or an ensemble's members (its logits ``(B, n)``)."""
        return 1

    # -- the input layouts -----------------------------------------------------------------------
    def _learn_input(self, data: EventSet | TokenSet) -> None:
        """Fitted attributes of the layout: the grid's channels and scaling, or the tokens'
        vocabulary."""
        if self.layout == "tokens":
            self.feature_names_ = np.asarray(data.feature_names, dtype=object)
            self.n_categories_ = int(data.n_categories)
            return
        from .grud import infer_grid_channels

        if self.series is None or self.static is None:
            try:
                series, static, levels = infer_grid_channels(data)
            except ValueError as exc:  # its message opens with the grid models' names
                reason = str(exc).split(": ", 1)[-1]
                raise ValueError(f"{type(self).__name__}: {reason}") from None
        self.series_ = [str(s) for s in (series if self.series is None else self.series)]
        self.static_ = [str(s) for s in (static if self.static is None else self.static)]
        levels = ((levels if self.static is None else {}) if self.categorical_levels is None
                  else self.categorical_levels)
        self.categorical_levels_ = {str(k): list(v) for k, v in levels.items()}
        if not self.series_ and not self.static_:
            raise ValueError(f"{type(self).__name__}: no grid channel (series= and static= are "
                             "both empty)")
        late = int(np.sum(data.columns["time"] > self.n_steps * self.step))
        if late:
            warnings.warn(f"{type(self).__name__}: {late} events after hour "
                          f"{self.n_steps * self.step:g} lie beyond the grid and are left out "
                          f"(n_steps, step)", stacklevel=4)
        raw = self._raw_grid(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # channels never observed
            mean, std = np.nanmean(raw, axis=(0, 1)), np.nanstd(raw, axis=(0, 1))
        self.mean_ = np.nan_to_num(mean, nan=0.0)
        self.std_ = np.where(np.isfinite(std) & (std > 0), std, 1.0)

    def _raw_grid(self, X: EventSet) -> np.ndarray:
        return regular_grid(X, series=self.series_, static=self.static_, n_steps=self.n_steps,
                            step=self.step, categorical_levels=self.categorical_levels_)

    def grid(self, X: Any) -> np.ndarray:
        """The scaled grid ``(n_stays, n_steps, n_channels)`` the fitted network reads for the
        stays ``X`` (NaN where unobserved), stays in the order of ``X``."""
        self.check_is_fitted()
        if self.layout != "grid":
            raise TypeError(f"{type(self).__name__} reads tokens, not a grid")
        return self._scaled_grid(self._predict_input(X))

    def _scaled_grid(self, events: EventSet) -> np.ndarray:
        scaled = (self._raw_grid(events) - self.mean_) / self.std_
        if self.clip is not None:
            scaled = np.clip(scaled, -self.clip, self.clip)
        return scaled.astype(np.float32)

    def _dataset(self, data: EventSet | TokenSet, y: np.ndarray | None = None,
                 sample_weight: np.ndarray | None = None) -> Dataset:
        if self.layout == "tokens":
            return TokenDataset(data, y, sample_weight)
        return GridDataset(self._scaled_grid(data), self.step, y, sample_weight,
                           inputs=self._inputs())

    def _shape_params(self) -> dict[str, Any]:
        """The sizes the module is built for, learned in ``fit``."""
        if self.layout == "tokens":
            return {"n_features": len(self.feature_names_), "n_categories": self.n_categories_}
        return {"n_channels": len(self.mean_), "n_steps": self.n_steps}

    # -- fitting and predicting ------------------------------------------------------------------
    def fit(self, X: Any, y: Any, sample_weight: Any = None, **fit_params: Any):
        """Train on stays ``X`` with one binary label per stay.

        Parameters
        ----------
        X : long-format DataFrame, EventSet (or, for a tokens network, a TokenSet)
        y : array-like or pandas Series of 0/1 (or bool)
            A Series is aligned to the stays by its index (stay ids); an array is taken
            in the order of ``X``'s stays (``X.stay_ids``; for a table, order of first
            appearance).
        sample_weight : array-like or pandas Series of floats >= 0, optional
            Per-stay weights, aligned like ``y``. The training and validation losses are
            ``Σ w_i l_i / Σ w_i`` over a batch, so an integer weight counts a stay that
            many times and 0 leaves it out of the loss (validation AUPRC/AUROC stay
            unweighted). Meta-estimators pass it through metadata routing:
            ``clf.set_fit_request(sample_weight=True)`` with
            ``sklearn.set_config(enable_metadata_routing=True)``.
        **fit_params
            Passed on to skorch's ``fit``.

        Returns
        -------
        self
        """
        self._check_params()
        device = resolve_device(self.device)
        data = self._fit_input(X)
        target = aligned_labels(y, data.stay_ids)
        weight = (None if sample_weight is None
                  else aligned_weights(sample_weight, data.stay_ids, target))
        counts = np.bincount(target.astype(np.int64), minlength=2)
        self.class_balance_ = float(counts[0] / counts[1])
        self._learn_input(data)
        self.device_ = device
        self.seed_ = self._fit_seed()
        # the optimizer is built before the fit loop: the epochs and the rate are known here
        self.n_epochs_ = self.epochs_for(len(target))
        self.lr_ = self.lr_for(self.n_epochs_)
        with on_resolved_device(self), self._own_rng(self.seed_):
            return super().fit(self._dataset(data, target, weight), target, **fit_params)

    def fit_loop(self, X: Any, y: Any = None, epochs: int | None = None, **fit_params: Any):
        """skorch's loop for ``epochs`` epochs, by default :meth:`epochs_for` the stays of
        ``X``; the number is kept as ``n_epochs_`` (the learning-rate schedule's length)."""
        self.n_epochs_ = int(epochs) if epochs is not None else self.epochs_for(len(X))
        return super().fit_loop(X, y, epochs=self.n_epochs_, **fit_params)

    def lr_for(self, epochs: int | None) -> float:
        """The learning rate of a fit of ``epochs`` epochs: ``lr``, or for ``"auto"``
        :attr:`auto_lr`'s rule (its peak where the epochs are not known yet)."""
        if not isinstance(self.lr, str):
            return float(self.lr)
        if self.auto_lr is None:
            raise self._invalid(f"lr={self.lr!r}: this model has no automatic learning rate; "
                                "give a number")
        peak, product = self.auto_lr
        return peak if not epochs else min(peak, product / epochs)

    def epochs_for(self, n_stays: int) -> int:
        """The epochs a fit on ``n_stays`` stays trains: ``max_epochs``, or for ``"auto"``
        enough for the fit to see :attr:`auto_epochs`' number of training stays (those left
        after the ``valid_size`` share), within its bounds."""
        if not isinstance(self.max_epochs, str):
            return int(self.max_epochs)
        if self.auto_epochs is None:
            raise self._invalid(f"max_epochs={self.max_epochs!r}: this model has no automatic "
                                "epoch count; give a number")
        seen, least, most = self.auto_epochs
        held = (math.ceil(self.valid_size * n_stays)
                if isinstance(self.train_split, str) and self._has_validation() else 0)
        return min(most, max(least, math.ceil(seen / max(n_stays - held, 1))))

    def __sklearn_is_fitted__(self) -> bool:
        # skorch sets history_ and initialized_ in __init__: fitted means fit built the network
        return hasattr(self, "seed_") and getattr(self, "initialized_", False)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities ``(n_stays, 2)``, rows in the order of ``X``'s stays.

        For a table the stays are in order of first appearance; :meth:`predict_risk`
        returns the same probabilities labelled by stay id.
        """
        self.check_is_fitted()
        if isinstance(X, Dataset):  # skorch's own calls during fit
            return super().predict_proba(X)
        with chosen_threads():
            return super().predict_proba(self._dataset(self._predict_input(X)))

    def predict(self, X: Any) -> np.ndarray:
        """Class labels (0/1) at ``threshold``, in the order of ``X``'s stays."""
        return (self.predict_proba(X)[:, 1] > self.threshold).astype(np.int64)

    # -- skorch plumbing -------------------------------------------------------------------------
    @property
    def _default_callbacks(self):
        callbacks = [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("lr_schedule", WarmupCosineLR(self.lr_schedule, self.warmup_epochs)),
        ]
        averaging = getattr(self, "weight_averaging", None)  # an option of the model's table
        if averaging is not None:
            callbacks.append(("weight_averaging", WeightAverage(averaging)))
        if self._has_validation():
            callbacks += [
                ("valid_loss", PassthroughScoring(name="valid_loss")),
                ("valid_auprc", EpochScoring("average_precision", name="valid_auprc",
                                             lower_is_better=False)),
                ("valid_auroc", EpochScoring("roc_auc", name="valid_auroc",
                                             lower_is_better=False)),
                ("early_stopping", EarlyStopping(
                    monitor="valid_auprc", lower_is_better=False, load_best=True,
                    patience=self.patience if self.patience is not None else 10**9,
                    sink=_silent)),
            ]
        return callbacks + [("print_log", PlainPrintLog())]

    def _has_validation(self) -> bool:
        if isinstance(self.train_split, str):  # "auto"; other strings fail validation at fit
            return not (isinstance(self.valid_size, Real) and self.valid_size == 0)
        return self.train_split is not None and self.train_split is not False

    def _get_param_names(self):
        # skorch lists every public attribute; its private bookkeeping is no parameter
        return [name for name in super()._get_param_names() if not name.startswith("_")]

    def _get_predict_nonlinearity(self):
        if self.predict_nonlinearity == "auto":  # the criterion works on logits
            return _probabilities
        return super()._get_predict_nonlinearity()

    def initialize(self):
        """skorch's ``initialize`` on the resolved device (see ``device_``)."""
        self.device_ = resolve_device(self.device)
        with on_resolved_device(self):
            return super().initialize()

    def load_params(self, *args, **kwargs):
        with on_resolved_device(self):
            return super().load_params(*args, **kwargs)

    def __setstate__(self, state):
        # skorch maps the pickled tensors onto state["device"], which must be a real device
        requested = state.get("device")
        if isinstance(requested, str) and requested == AUTO_DEVICE:
            state["device"] = resolve_device(requested)
            super().__setstate__(state)
            if "device_" in state:
                self.device_ = state["device"]
            self.device = requested
        else:
            super().__setstate__(state)

    def initialize_module(self):
        """The module (``module``, else ``default_module``) built with
        ``get_params_for("module")``."""
        module = self.module if self.module is not None else self.default_module
        if module is None:
            raise TypeError(f"{type(self).__name__} has no default_module; pass module=")
        self.module_ = self.initialized_instance(module, self.get_params_for("module"))
        return self

    def get_params_for(self, prefix: str) -> dict:
        params = super().get_params_for(prefix)
        if prefix == "module":
            own = {name: getattr(self, name) for name in self._module_params()}
            return {**self._shape_params(), **own, **params}
        if prefix == "criterion":
            return {"loss": self.loss, "pos_weight": self._pos_weight(), **params}
        return params

    def get_params_for_optimizer(self, prefix, named_parameters):
        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        if prefix == "optimizer":
            kwargs.setdefault("weight_decay", self.weight_decay)
            if isinstance(kwargs.get("lr"), str):  # "auto": the rate of this fit's epochs
                kwargs["lr"] = self.lr_for(getattr(self, "n_epochs_", None))
        return args, kwargs

    def _pos_weight(self) -> float | None:
        if self.class_weight is None:
            return None
        if self.class_weight == "balanced":
            return float(self.class_balance_)
        return float(self.class_weight)

    def infer(self, x, **fit_params):
        wanted = self._inputs()
        x = {k: v for k, v in x.items() if k in wanted}  # sample_weight is for the loss
        with on_resolved_device(self):
            if self._n_members() > 1:  # (B, n_members) logits, which the binary classifier refuses
                return NeuralNet.infer(self, x, **fit_params)
            return super().infer(x, **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        weight = X.get("sample_weight") if isinstance(X, dict) else None
        y_true = y_true.to(y_pred.device)
        if weight is None:
            return self.criterion_(y_pred, y_true)
        return self.criterion_(y_pred, y_true, sample_weight=weight.to(y_pred.device))

    def get_dataset(self, X, y=None):
        """``X`` as is when it is a dataset; the layout's dataset of a TokenSet (tokens) or
        an EventSet (grid) the fitted model reads."""
        if isinstance(X, Dataset):
            return X
        if isinstance(X, TokenSet if self.layout == "tokens" else EventSet):
            return self._dataset(X, y)
        raise TypeError(f"{type(self).__name__}: expected a dataset built by fit or a "
                        f"{'TokenSet' if self.layout == 'tokens' else 'EventSet'}, got "
                        f"{type(X).__name__}")

    def get_split_datasets(self, X, y=None, **fit_params):
        if not isinstance(self.train_split, str):
            return super().get_split_datasets(X, y, **fit_params)
        dataset = self.get_dataset(X, y)
        if not self.valid_size:
            return dataset, None
        split = ValidSplit(self.valid_size, stratified=True, random_state=self.seed_)
        return split(dataset, y)

    def get_iterator(self, dataset, training: bool = False):
        """A DataLoader of shuffled (length-bucketed, for tokens) training batches, with
        ``token_dropout`` when the model has it, or of in-order evaluation batches.

        ``iterator_train__*`` / ``iterator_valid__*`` reach the DataLoader (``num_workers``,
        ``pin_memory``, ``collate_fn``, ``batch_size``, ...), except the batch arguments the
        estimator owns (``sampler``, ``batch_sampler``, ``shuffle``, ``drop_last``).
        """
        prefix = "iterator_train" if training else "iterator_valid"
        kwargs = self.get_params_for(prefix)
        refused = [name for name in _OWN_LOADER_ARGS if name in kwargs]
        if refused:
            raise self._invalid(f"{', '.join(prefix + '__' + n for n in refused)}: the "
                                "estimator makes the batches itself (length-bucketed and "
                                "shuffled in training, in input order for evaluation)")
        batch_size = kwargs.pop("batch_size", self.batch_size)
        base, indices = base_dataset_and_indices(dataset)
        if batch_size == -1:
            batch_size = max(len(indices), 1)
        collate = base.collate
        if training:
            seed = int(torch.randint(0, 2**31 - 1, (1,)).item())  # follows the forked seed
            sampler = LengthBucketSampler(base.lengths[indices], batch_size, seed)
            dropout = getattr(self, "token_dropout", 0.0)  # an option of a tokens model's table
            if dropout and isinstance(base, TokenDataset):
                collate = TokenDropoutCollate(base, dropout, seed)
        else:  # keep the input order: predictions come back aligned with the stays
            sampler = ordered_batches(len(indices), batch_size)
            kwargs.setdefault("generator", torch.Generator())  # no draw from the global RNG
        kwargs.setdefault("collate_fn", collate)
        iterator = self.iterator_train if training else self.iterator_valid
        return iterator(dataset, batch_sampler=sampler, **kwargs)


def register_network(name: str, cls: type[NeuralEventClassifier], *, description: str,
                     extras: Sequence[str] = ()) -> None:
    """Register the network classifier ``cls`` under ``name``: the class is its own factory
    (``create_model(name, random_state=0, **params)``), and its module class and the loss may
    appear in its safe model files."""
    module = (cls.default_module,) if cls.default_module is not None else ()
    register_model(name, cls, parameter_classes=(*module, BinaryLoss), description=description,
                   extras=tuple(extras))
