"""``MedFuseClassifier``: MedFuse as a scikit-learn classifier, built on skorch.

It accepts a long-format event table (pandas), an :class:`EventSet`, or the
:class:`TokenSet` an :class:`EventTokenizer` produces inside a Pipeline. Given events, it
fits its own tokenizer (``tokenizer``, default ``EventTokenizer()``) on the training stays.

Parameters, their defaults and their allowed values are one spec,
:data:`medfuse_sk.models.PARAMS`; ``fit`` checks them with scikit-learn's parameter
validation (``InvalidParameterError`` naming the parameter, the value and what is allowed).

Validation split: by default (``valid_size=0``) the network trains on every training stay
for ``max_epochs`` epochs of its cosine schedule, with averaged weights. With
``valid_size > 0`` (or a ``train_split``) that share of the training stays, stratified and
drawn with ``random_state``, is held out for early stopping on validation AUPRC, and the
weights of the best epoch are kept.

Device: ``device="auto"`` (the default) trains on CUDA when torch sees a GPU, else on the
CPU; ``fit`` resolves it once into ``device_``, which skorch uses, while the parameter stays
``"auto"`` for ``clone`` and ``get_params``. A saved or pickled ``"auto"`` model comes back on
the loading machine's device.

Randomness: ``fit`` runs on forked generators seeded from ``random_state`` (the base
classifier's RNG fork), so the process's global torch and numpy RNGs are the same after
``fit`` as before, and evaluation loaders get their own generator.

What every model on stays shares (reading tables, tokens, labels and weights by stay, the RNG
fork, ``predict_risk``, ``check_is_fitted``) comes from
:class:`~medfuse_sk.models.EventClassifierMixin`; this module adds skorch's training.
"""

from __future__ import annotations

import inspect
import warnings
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.utils._param_validation import InvalidParameterError, validate_parameter_constraints
from skorch import NeuralNet, NeuralNetBinaryClassifier
from skorch.callbacks import EarlyStopping, EpochScoring, EpochTimer, PassthroughScoring
from skorch.dataset import ValidSplit
from torch.utils.data import Dataset

from ...data import static_feature_ids
from .._base import EventClassifierMixin, aligned_labels, aligned_weights
from .._batching import (
    LengthBucketSampler,
    TokenDataset,
    TokenDropoutCollate,
    base_dataset_and_indices,
    ordered_batches,
)
from .._callbacks import PlainPrintLog, WarmupCosineLR, WeightAverage
from .._device import AUTO_DEVICE, on_resolved_device, resolve_device
from .._losses import BinaryLoss
from .._spec import constraints, docstring, signature
from .._threads import chosen_threads
from ._embedding import resolve_kernel
from ._network import MedFuseEnsemble, MedFuseModule
from ._params import PARAMS, check_fusion

__all__ = ["MedFuseClassifier"]

_MODULE_PARAMS = tuple(name for name, p in PARAMS.items() if p.to == "module")
_SKORCH_PARAMS = tuple(name for name, p in PARAMS.items() if p.to == "skorch")
#: skorch's structural arguments, ahead of the spec in the signature.
_STRUCTURE = {"module": MedFuseModule, "criterion": BinaryLoss, "optimizer": torch.optim.AdamW}
#: DataLoader arguments the estimator sets itself (length-bucketed batches, in-order evaluation)
_OWN_LOADER_ARGS = ("sampler", "batch_sampler", "shuffle", "drop_last")


def _silent(*_: Any) -> None:
    """Early stopping's message sink: the epoch table already shows the stop."""


def _probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Logits (B,) or an ensemble's (B, n_models) → class probabilities (B, 2)."""
    positive = torch.sigmoid(logits)
    if positive.dim() == 2:
        positive = positive.mean(dim=1)
    return torch.stack([1.0 - positive, positive], dim=1)


def _invalid(message: str) -> InvalidParameterError:
    return InvalidParameterError(f"MedFuseClassifier: {message}")


class MedFuseClassifier(EventClassifierMixin, NeuralNetBinaryClassifier):
    __doc__ = """MedFuse classifier for irregular clinical time series, one prediction per stay.

    Parameters
    ----------
    module : nn.Module class, default MedFuseModule
        The network; with ``n_models > 1`` (or several fusions) a ``MedFuseEnsemble``.
    criterion : nn.Module class, default BinaryLoss
    optimizer : torch optimizer class, default torch.optim.AdamW
{parameters}
    **kwargs
        Any other skorch ``NeuralNet`` argument (``callbacks``, ``optimizer__*``,
        ``iterator_train__num_workers``, ...).

    Attributes
    ----------
    tokenizer_ : EventTokenizer or None
        The fitted tokenizer when ``fit`` received events, else None.
    device_ : str
        The device the network runs on (``"cpu"``, ``"cuda"``, ...): ``device`` as resolved
        by ``fit`` (``"auto"`` → CUDA when torch sees a GPU, else the CPU), or by
        ``load_model`` on the loading machine.
    feature_names_ : ndarray
        The feature vocabulary the network was built for.
    static_features_ : list of int
        Vocabulary ids of the static descriptors the static branch reads
        (``feature_names_[static_features_]`` names them); empty without ``static_branch``.
    module_ : MedFuseModule or MedFuseEnsemble
    history_ : skorch History (per-epoch losses, validation AUPRC/AUROC, durations; the
        learning rate of every batch as ``event_lr``)
    """.replace("{parameters}", docstring(PARAMS))

    _parameter_constraints: dict = {**constraints(PARAMS),
                                    **{name: [callable] for name in _STRUCTURE}}

    def __init__(self, module: Any = MedFuseModule, *, criterion: Any = BinaryLoss,
                 optimizer: Any = torch.optim.AdamW, **kwargs: Any) -> None:
        own = {name: kwargs.pop(name, p.default) for name, p in PARAMS.items()}
        for_skorch = {name: own.pop(name) for name in _SKORCH_PARAMS}
        super().__init__(module, criterion=criterion, optimizer=optimizer, **for_skorch,
                         **kwargs)
        vars(self).update(own)

    __init__.__signature__ = signature(PARAMS, [
        inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter("module", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=MedFuseModule),
        *(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
          for name, default in _STRUCTURE.items() if name != "module")])

    # -- parameters ----------------------------------------------------------------------
    def _check_params(self) -> None:
        """scikit-learn's validation of every spec parameter, then the rules that tie two
        parameters together."""
        validate_parameter_constraints(self._parameter_constraints, self.get_params(deep=False),
                                       caller_name=type(self).__name__)
        if self.d_model % self.n_heads:
            raise _invalid(f"d_model={self.d_model} must be a multiple of n_heads={self.n_heads}")
        if self.d_model % self.partition_factor:
            raise _invalid(f"d_model={self.d_model} must be a multiple of partition_factor="
                           f"{self.partition_factor} (each gate scales a whole block of k entries)")
        fusions = check_fusion(self.fusion)
        if self.n_models != 1 and self.n_models % len(fusions):
            raise _invalid(f"n_models={self.n_models} must be 1 (one network per fusion) or a "
                           f"multiple of the {len(fusions)} fusions {fusions}")
        if not isinstance(self.train_split, str) and self.valid_size != PARAMS["valid_size"].default:
            raise _invalid(f"valid_size={self.valid_size!r} has no effect with train_split="
                           f"{self.train_split!r}; set one of them")
        if "callbacks__early_stopping__patience" in vars(self):
            raise _invalid("set the early-stopping patience with patience=, not "
                           "callbacks__early_stopping__patience")

    def _n_members(self) -> int:
        """Networks in the module: ``n_models``, or one per fusion when several are given."""
        return max(self.n_models, len(check_fusion(self.fusion)))

    # -- skorch plumbing -----------------------------------------------------------------
    @property
    def _default_callbacks(self):
        callbacks = [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("lr_schedule", WarmupCosineLR(self.lr_schedule, self.warmup_epochs)),
        ]
        if self.weight_averaging is not None:
            callbacks.append(("weight_averaging", WeightAverage(self.weight_averaging)))
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
        if self.predict_nonlinearity == "auto":  # our criterion works on logits
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
        kwargs = self.get_params_for("module")
        module = self.module
        if self._n_members() > 1 and module is MedFuseModule:
            module, kwargs = MedFuseEnsemble, {**kwargs, "n_models": self._n_members()}
        self.module_ = self.initialized_instance(module, kwargs)
        return self

    def infer(self, x, **fit_params):
        x = {k: v for k, v in x.items() if k != "sample_weight"}  # for the loss, not the net
        with on_resolved_device(self):
            if self._n_members() > 1:  # (B, n_models) logits, which the binary classifier refuses
                return NeuralNet.infer(self, x, **fit_params)
            return super().infer(x, **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        weight = X.get("sample_weight") if isinstance(X, dict) else None
        y_true = y_true.to(y_pred.device)
        if weight is None:
            return self.criterion_(y_pred, y_true)
        return self.criterion_(y_pred, y_true, sample_weight=weight.to(y_pred.device))

    def get_params_for(self, prefix: str) -> dict:
        params = super().get_params_for(prefix)
        if prefix == "module":
            own = {name: getattr(self, name) for name in _MODULE_PARAMS}
            own.update(n_features=len(self.feature_names_), n_categories=self.n_categories_,
                       static_features=tuple(getattr(self, "static_features_", ())))
            return {**own, **params}
        if prefix == "criterion":
            return {"loss": self.loss, "pos_weight": self._pos_weight(), **params}
        return params

    def get_params_for_optimizer(self, prefix, named_parameters):
        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        if prefix == "optimizer":
            kwargs.setdefault("weight_decay", self.weight_decay)
        return args, kwargs

    def _pos_weight(self) -> float | None:
        if self.class_weight is None:
            return None
        if self.class_weight == "balanced":
            return float(self.class_balance_)
        return float(self.class_weight)

    def get_dataset(self, X, y=None):
        if isinstance(X, Dataset):
            return X
        return TokenDataset(X, y)

    def get_split_datasets(self, X, y=None, **fit_params):
        if not isinstance(self.train_split, str):
            return super().get_split_datasets(X, y, **fit_params)
        dataset = self.get_dataset(X, y)
        if not self.valid_size:
            return dataset, None
        split = ValidSplit(self.valid_size, stratified=True, random_state=self.seed_)
        return split(dataset, y)

    def get_iterator(self, dataset, training: bool = False):
        """A DataLoader of length-bucketed batches (training) or in-order batches.

        ``iterator_train__*`` / ``iterator_valid__*`` reach the DataLoader (``num_workers``,
        ``pin_memory``, ``collate_fn``, ``batch_size``, ...), except the batch arguments the
        estimator owns (``sampler``, ``batch_sampler``, ``shuffle``, ``drop_last``).
        """
        prefix = "iterator_train" if training else "iterator_valid"
        kwargs = self.get_params_for(prefix)
        refused = [name for name in _OWN_LOADER_ARGS if name in kwargs]
        if refused:
            raise _invalid(f"{', '.join(prefix + '__' + n for n in refused)}: the estimator "
                           "makes the batches itself (length-bucketed and shuffled in "
                           "training, in input order for evaluation)")
        batch_size = kwargs.pop("batch_size", self.batch_size)
        base, indices = base_dataset_and_indices(dataset)
        if batch_size == -1:
            batch_size = len(indices)
        if training:
            seed = int(torch.randint(0, 2**31 - 1, (1,)).item())  # follows the forked seed
            sampler = LengthBucketSampler(base.lengths[indices], batch_size, seed)
            collate = (TokenDropoutCollate(base, self.token_dropout, seed)
                       if self.token_dropout else base.collate)
        else:  # keep the input order: predictions come back aligned with the stays
            sampler = ordered_batches(len(indices), batch_size)
            collate = base.collate
            kwargs.setdefault("generator", torch.Generator())  # no draw from the global RNG
        kwargs.setdefault("collate_fn", collate)
        iterator = self.iterator_train if training else self.iterator_valid
        return iterator(dataset, batch_sampler=sampler, **kwargs)

    def fit(self, X: Any, y: Any, sample_weight: Any = None, **fit_params) -> MedFuseClassifier:
        """Train on stays ``X`` with one binary label per stay.

        Parameters
        ----------
        X : long-format DataFrame, EventSet or TokenSet
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
        resolve_kernel(self.kernel, device)  # kernel="triton" without triton or a GPU fails here
        tokens = self._fit_input(X)
        target = aligned_labels(y, tokens.stay_ids)
        weight = None
        if sample_weight is not None:
            weight = aligned_weights(sample_weight, tokens.stay_ids, target)
        counts = np.bincount(target.astype(np.int64), minlength=2)
        self.class_balance_ = counts[0] / counts[1]
        self.feature_names_ = tokens.feature_names
        self.n_categories_ = tokens.n_categories
        self.static_features_ = (static_feature_ids(tokens).tolist() if self.static_branch
                                 else [])
        if self.static_branch and not self.static_features_:
            warnings.warn("static_branch=True, but no feature is static in these stays (at "
                          "most one token per stay, at its first token): the network has no "
                          "static branch", stacklevel=2)
        self.device_ = device
        seed = self._fit_seed()
        self.seed_ = seed  # weights, validation split, batch order and dropout all follow it
        with on_resolved_device(self), self._own_rng(seed):
            return super().fit(TokenDataset(tokens, target, weight), target, **fit_params)

    def __sklearn_is_fitted__(self) -> bool:
        # skorch sets history_ and initialized_ in __init__: fitted means fit built the network
        return hasattr(self, "feature_names_") and getattr(self, "initialized_", False)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities ``(n_stays, 2)``, rows in the order of ``X``'s stays.

        For a table the stays are in order of first appearance; :meth:`predict_risk`
        returns the same probabilities labelled by stay id.
        """
        self.check_is_fitted()
        if isinstance(X, Dataset):  # skorch's own calls during fit
            return super().predict_proba(X)
        with chosen_threads():
            return super().predict_proba(TokenDataset(self._predict_input(X)))

    def predict(self, X: Any) -> np.ndarray:
        """Class labels (0/1) at ``threshold``, in the order of ``X``'s stays."""
        return (self.predict_proba(X)[:, 1] > self.threshold).astype(np.int64)

    def explain(self, X: Any, **kwargs: Any) -> pd.DataFrame:
        """Per-token attributions of each stay's risk (integrated gradients, needs Captum).

        See :func:`medfuse_sk.inspection.explain` for the options and the returned table.
        """
        from ...inspection import explain

        return explain(self, X, **kwargs)
