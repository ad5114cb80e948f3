"""``MedFuseClassifier``: MedFuse as a scikit-learn classifier, built on skorch.

It accepts a long-format event table (pandas), an :class:`EventSet`, or the
:class:`TokenSet` an :class:`EventTokenizer` produces inside a Pipeline. Given events, it
fits its own tokenizer (``tokenizer``, default ``EventTokenizer()``) on the training stays.

Parameters, their defaults and their allowed values are one spec,
:data:`medfuse_sk.params.PARAMS`; ``fit`` checks them with scikit-learn's parameter
validation (``InvalidParameterError`` naming the parameter, the value and what is allowed).

Validation split: by default (``valid_size=0``) the network trains on every training stay
for ``max_epochs`` epochs of its cosine schedule, with averaged weights. With
``valid_size > 0`` (or a ``train_split``) that share of the training stays, stratified and
drawn with ``random_state``, is held out for early stopping on validation AUPRC, and the
weights of the best epoch are kept.

Randomness: ``fit`` runs inside ``torch.random.fork_rng`` seeded from ``random_state``, so
the process's global torch RNG is the same after ``fit`` as before, and evaluation loaders
get their own generator.
"""

from __future__ import annotations

import contextlib
import inspect
import warnings
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import Tags
from sklearn.utils._param_validation import InvalidParameterError, validate_parameter_constraints
from skorch import NeuralNet, NeuralNetBinaryClassifier
from skorch.callbacks import EarlyStopping, EpochScoring, EpochTimer, PassthroughScoring, PrintLog
from skorch.dataset import ValidSplit
from torch.utils.data import Dataset

from ...data import EventSet, EventTokenizer, TokenSet, static_feature_ids
from ...utils import examples
from .._batching import (
    LengthBucketSampler,
    TokenDataset,
    TokenDropoutCollate,
    base_dataset_and_indices,
)
from .._callbacks import WarmupCosineLR, WeightAverage
from .._losses import BinaryLoss
from . import _params as spec
from ._network import MedFuseEnsemble, MedFuseModule

__all__ = ["MedFuseClassifier"]

_MODULE_PARAMS = tuple(name for name, p in spec.PARAMS.items() if p.to == "module")
_SKORCH_PARAMS = tuple(name for name, p in spec.PARAMS.items() if p.to == "skorch")
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


class MedFuseClassifier(NeuralNetBinaryClassifier):
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
    feature_names_ : ndarray
        The feature vocabulary the network was built for.
    static_features_ : list of int
        Vocabulary ids of the static descriptors the static branch reads
        (``feature_names_[static_features_]`` names them); empty without ``static_branch``.
    module_ : MedFuseModule or MedFuseEnsemble
    history_ : skorch History (per-epoch losses, validation AUPRC/AUROC, durations; the
        learning rate of every batch as ``event_lr``)
    """.replace("{parameters}", spec.docstring())

    _parameter_constraints: dict = {**spec.constraints(),
                                    **{name: [callable] for name in _STRUCTURE}}

    def __init__(self, module: Any = MedFuseModule, *, criterion: Any = BinaryLoss,
                 optimizer: Any = torch.optim.AdamW, **kwargs: Any) -> None:
        own = {name: kwargs.pop(name, p.default) for name, p in spec.PARAMS.items()}
        for_skorch = {name: own.pop(name) for name in _SKORCH_PARAMS}
        super().__init__(module, criterion=criterion, optimizer=optimizer, **for_skorch,
                         **kwargs)
        vars(self).update(own)

    __init__.__signature__ = spec.signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
         inspect.Parameter("module", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                           default=MedFuseModule),
         *(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
           for name, default in _STRUCTURE.items() if name != "module")])

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier"
        tags.input_tags.two_d_array = False  # stays of events, not a feature matrix
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True  # NaN values are absent observations
        tags.classifier_tags.multi_class = False
        tags.target_tags.required = True
        return tags

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
        if not isinstance(self.fusion, str) and self.n_models != 1 \
                and self.n_models % len(self.fusion):
            raise _invalid(f"n_models={self.n_models} must be 1 (one network per fusion) or a "
                           f"multiple of the {len(self.fusion)} fusions {tuple(self.fusion)}")
        if not isinstance(self.train_split, str) and self.valid_size != spec.PARAMS["valid_size"].default:
            raise _invalid(f"valid_size={self.valid_size!r} has no effect with train_split="
                           f"{self.train_split!r}; set one of them")
        if "callbacks__early_stopping__patience" in vars(self):
            raise _invalid("set the early-stopping patience with patience=, not "
                           "callbacks__early_stopping__patience")

    def _n_members(self) -> int:
        """Networks in the module: ``n_models``, or one per fusion when several are given."""
        if isinstance(self.fusion, str):
            return self.n_models
        return max(self.n_models, len(self.fusion))

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
        return callbacks + [("print_log", PrintLog())]

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

    def initialize_module(self):
        kwargs = self.get_params_for("module")
        module = self.module
        if self._n_members() > 1 and module is MedFuseModule:
            module, kwargs = MedFuseEnsemble, {**kwargs, "n_models": self._n_members()}
        self.module_ = self.initialized_instance(module, kwargs)
        return self

    def infer(self, x, **fit_params):
        x = {k: v for k, v in x.items() if k != "sample_weight"}  # for the loss, not the net
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
            n = len(indices)
            sampler = [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]
            collate = base.collate
            kwargs.setdefault("generator", torch.Generator())  # no draw from the global RNG
        kwargs.setdefault("collate_fn", collate)
        iterator = self.iterator_train if training else self.iterator_valid
        return iterator(dataset, batch_sampler=sampler, **kwargs)

    @contextlib.contextmanager
    def _own_rng(self, seed: int):
        """Run the block on forked torch RNGs (CPU and this estimator's CUDA devices) seeded
        with ``seed``: whatever it draws, the global RNG states are the same afterwards."""
        cuda = torch.device(self.device).type == "cuda"
        devices = list(range(torch.cuda.device_count())) if cuda else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

    # -- data preparation ----------------------------------------------------------------
    def _events(self, X: Any) -> EventSet:
        if isinstance(X, EventSet):
            return X
        return EventSet.from_long(X, stay=self.stay, time=self.time, feature=self.feature,
                                  value=self.value, categorical=self.categorical)

    def _tokens_for_fit(self, X: Any) -> TokenSet:
        if isinstance(X, TokenSet):
            self.tokenizer_ = None
            return X
        tokenizer = EventTokenizer() if self.tokenizer is None else clone(self.tokenizer)
        events = self._events(X)
        self.tokenizer_ = tokenizer.fit(events)
        return self.tokenizer_.transform(events)

    def _tokens_for_predict(self, X: Any) -> TokenSet:
        if isinstance(X, TokenSet):
            return X
        if self.tokenizer_ is None:
            raise TypeError(
                "this classifier was fitted on tokens (a TokenSet, e.g. inside a Pipeline "
                "after an EventTokenizer); predict on tokens too, or fit on events")
        return self.tokenizer_.transform(self._events(X))

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
        tokens = self._tokens_for_fit(X)
        target = _aligned_labels(y, tokens.stay_ids)
        weight = None
        if sample_weight is not None:
            weight = _aligned_weights(sample_weight, tokens.stay_ids, target)
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
        seed = self.random_state
        if seed is None:  # follow torch's global seed, as skorch users expect
            seed = int(torch.randint(0, 2**31 - 1, (1,)).item())
        self.seed_ = seed  # weights, validation split, batch order and dropout all follow it
        with self._own_rng(seed):
            return super().fit(TokenDataset(tokens, target, weight), target, **fit_params)

    def _check_fitted(self) -> None:
        if not hasattr(self, "feature_names_") or not getattr(self, "initialized_", False):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit first")

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities ``(n_stays, 2)``, rows in the order of ``X``'s stays.

        For a table the stays are in order of first appearance; :meth:`predict_risk`
        returns the same probabilities labelled by stay id.
        """
        self._check_fitted()
        if isinstance(X, Dataset):  # skorch's own calls during fit
            return super().predict_proba(X)
        tokens = self._tokens_for_predict(X)
        return super().predict_proba(TokenDataset(tokens))

    def predict(self, X: Any) -> np.ndarray:
        """Class labels (0/1) at ``threshold``, in the order of ``X``'s stays."""
        return (self.predict_proba(X)[:, 1] > self.threshold).astype(np.int64)

    def predict_risk(self, X: Any) -> pd.Series:
        """Probability of the positive class per stay, as a Series indexed by stay id."""
        self._check_fitted()
        tokens = self._tokens_for_predict(X)
        proba = super().predict_proba(TokenDataset(tokens))[:, 1]
        return pd.Series(proba, index=pd.Index(tokens.stay_ids, name=self.stay), name="risk")

    def explain(self, X: Any, **kwargs: Any) -> pd.DataFrame:
        """Per-token attributions of each stay's risk (integrated gradients, needs Captum).

        See :func:`medfuse_sk.explain.explain` for the options and the returned table.
        """
        from ...inspection import explain

        return explain(self, X, **kwargs)


def _aligned_labels(y: Any, stay_ids: np.ndarray) -> np.ndarray:
    """Binary labels in the order of ``stay_ids``; a Series is aligned by its index."""
    if y is None:
        raise ValueError("y is required: one binary label per stay")
    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise ValueError(f"y must be one column of labels, got a DataFrame with {y.shape[1]}")
        y = y.iloc[:, 0]
    if isinstance(y, pd.Series):
        absent = pd.Index(stay_ids).difference(y.index)
        if len(absent):
            raise ValueError(
                f"y has no label for {len(absent)} stay(s): {examples(absent.tolist())}. "
                "A Series of labels is matched to stays by its index (stay ids).")
        if not y.index.is_unique:
            raise ValueError("y's index (stay ids) has duplicates")
        y = y.reindex(stay_ids)
    values = np.asarray(y)
    if values.ndim != 1 or len(values) != len(stay_ids):
        raise ValueError(f"y must hold one label per stay: {len(stay_ids)} stays, "
                         f"got shape {values.shape}")
    if pd.isna(values).any():
        raise ValueError(f"y has missing labels for stays "
                         f"{examples(np.asarray(stay_ids)[pd.isna(values)].tolist())}")
    labels = set(np.unique(values).tolist())
    if not labels <= {0, 1}:
        raise ValueError(f"y must be binary 0/1 or bool, got values {examples(sorted(labels))}")
    if len(labels) < 2:
        raise ValueError(f"y has a single class ({labels.pop()!r}); training needs both "
                         "positive and negative stays")
    return values.astype(np.float32)


def _aligned_weights(weight: Any, stay_ids: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-stay weights in the order of ``stay_ids`` (a Series is aligned by its index)."""
    if isinstance(weight, pd.Series):
        absent = pd.Index(stay_ids).difference(weight.index)
        if len(absent):
            raise ValueError(f"sample_weight has no weight for {len(absent)} stay(s): "
                             f"{examples(absent.tolist())}. A Series of weights is matched "
                             "to stays by its index (stay ids).")
        if not weight.index.is_unique:
            raise ValueError("sample_weight's index (stay ids) has duplicates")
        weight = weight.reindex(stay_ids)
    try:
        values = np.asarray(weight, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"sample_weight must hold numbers, one per stay ({exc})") from exc
    if values.ndim != 1 or len(values) != len(stay_ids):
        raise ValueError(f"sample_weight must hold one weight per stay: {len(stay_ids)} stays, "
                         f"got shape {values.shape}")
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        raise ValueError(f"sample_weight must be finite and >= 0; stays "
                         f"{examples(np.asarray(stay_ids)[bad].tolist())} have "
                         f"{examples(values[bad].tolist())}")
    for label in (0, 1):
        if not values[target == label].sum() > 0:
            raise ValueError(f"sample_weight is 0 for every stay of class {label}; training "
                             "needs weight on both classes")
    return values.astype(np.float32)
