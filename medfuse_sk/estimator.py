"""``MedFuseClassifier``: MedFuse as a scikit-learn classifier, built on skorch.

It accepts a long-format event table (pandas), an :class:`EventSet`, or the
:class:`TokenSet` an :class:`EventTokenizer` produces inside a Pipeline. Given events, it
fits its own tokenizer (``tokenizer``, default ``EventTokenizer()``) on the training stays.

Validation split: unless ``train_split`` is given, ``valid_size`` (default 10 %) of the
training stays, stratified and drawn with ``random_state``, is held out for early stopping
on validation AUPRC; the weights of the best epoch are kept. ``valid_size=0`` trains on
everything for ``max_epochs`` epochs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from skorch import NeuralNet, NeuralNetBinaryClassifier
from skorch.callbacks import EarlyStopping, EpochScoring, EpochTimer, PassthroughScoring, PrintLog
from skorch.dataset import ValidSplit
from torch.utils.data import DataLoader, Dataset

from .batching import LengthBucketSampler, TokenDataset, base_dataset_and_indices
from .callbacks import WarmupCosine, WeightAverage
from .events import EventSet, _examples
from .losses import BinaryLoss
from .model import MedFuseEnsemble, MedFuseModule
from .tokenize import EventTokenizer, TokenSet

__all__ = ["MedFuseClassifier"]

_MODULE_PARAMS = ("d_model", "partition_factor", "fusion", "gate", "value_hidden", "activation",
                  "projector_gain", "beta_init",
                  "time_encoding", "kernel", "n_layers", "n_heads", "dim_feedforward", "dropout",
                  "norm_first", "pooling")


def _silent(*_: Any) -> None:
    """Early stopping's message sink: the epoch table already shows the stop."""


def _probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Logits (B,) or an ensemble's (B, n_models) → class probabilities (B, 2)."""
    positive = torch.sigmoid(logits)
    if positive.dim() == 2:
        positive = positive.mean(dim=1)
    return torch.stack([1.0 - positive, positive], dim=1)


class MedFuseClassifier(NeuralNetBinaryClassifier):
    """MedFuse classifier for irregular clinical time series, one prediction per stay.

    Parameters
    ----------
    fusion : {"mufuse", "add", "concat", "scane"}, default "mufuse"
        How a value meets its feature embedding (SPEC.md fusion variants).
    d_model : int, default 64
        Token width ``d_f`` and encoder width.
    partition_factor : int, default 1
        MuFuse block size ``k``: ``d_v = d_model / k`` gates, each scaling ``k`` entries.
    gate : {"sigmoid", "none"}, default "none"
        Raw affine gates as in the authors' released code, or the paper's sigmoid gate
        (``"sigmoid"``, with ``beta_init=0.0`` for the paper's initialisation). The defaults
        of this estimator are the configuration that trained best on P12
        (docs/p12-report.md), not the paper's; the paper's sigmoid gate was the worst option
        there.
    value_hidden : int, default 16
        Hidden width of the value projector.
    activation : {"tanh", "relu"}, default "tanh"
        Non-linearity of the value projector.
    projector_gain : float, default 1.0
        Scale of the value projector's initial output weights (see ``MuFuseEmbedding``).
    beta_init : float, default 1.0
        Initial per-feature gate shift ``β`` (see ``MuFuseEmbedding``; SPEC: 0). With raw
        gates, 1 starts every token as its feature embedding.
    time_encoding : bool, default True
        Add the sinusoidal time encoding to every token.
    n_layers, n_heads, dim_feedforward, dropout, norm_first, pooling
        Transformer encoder and pooling (see :class:`~medfuse_sk.model.MedFuseModule`);
        defaults 1 layer, 4 heads, feed-forward `2·d_model`, dropout 0.1, post-norm,
        pooling "mean+latest".
    loss : {"bce", "focal"}, default "bce"
    class_weight : {"balanced", None} or float, default None
        Weight of positive stays: "balanced" uses ``n_negative / n_positive`` of the
        training stays; a float is used as is.
    lr : float, default 1e-3
        AdamW learning rate (the peak, when a schedule is used).
    lr_schedule : {"constant", "cosine"}, default "cosine"
        ``"cosine"`` decays the learning rate per batch to 0 at ``max_epochs``.
    warmup_epochs : float, default 1.0
        Linear warm-up of the learning rate over this many epochs.
    weight_decay : float, default 1e-2
    max_epochs : int, default 20
    batch_size : int, default 64
        Stays per batch; batches group stays of similar length (length bucketing).
    patience : int or None, default 5
        Early stopping: epochs without a better validation AUPRC. ``None``: no stopping
        (the best epoch's weights are still kept when there is a validation split).
    n_models : int, default 1
        Train this many independently initialised networks side by side (a deep ensemble:
        the loss averages theirs, probabilities are averaged). Costs ``n_models`` times the
        compute; reduces the variance of the predictions.
    weight_averaging : float or None, default None
        Decay of an exponential moving average of the weights (e.g. 0.99); validation,
        early stopping and the final model use the averaged weights.
    token_dropout : float, default 0.1
        Training augmentation: each epoch, every token is left out with this probability
        (a stay keeps at least its last token).
    valid_size : float, default 0.1
        Share of the training stays held out (stratified) for early stopping.
    kernel : {"auto", "torch", "triton"}, default "auto"
        Implementation of the MuFuse embedding: Triton on CUDA when available.
    device : str, default "cpu"
    random_state : int or None, default None
        Seeds weights, the validation split, batch order and dropout.
    verbose : int, default 1
        1 prints skorch's epoch table; 0 is silent.
    tokenizer : EventTokenizer or None
        Used when ``fit`` receives events; ``None`` means ``EventTokenizer()``.
    stay, time, feature, value : str
        Column names when ``fit``/``predict_proba`` receive a long table.
    categorical : sequence of feature names, optional
        Categorical features of a long table (otherwise inferred, see ``EventSet``).
    **kwargs
        Any other skorch ``NeuralNet`` argument (``callbacks``, ``optimizer__*``, ...).

    Attributes
    ----------
    tokenizer_ : EventTokenizer or None
        The fitted tokenizer when ``fit`` received events, else None.
    feature_names_ : ndarray
        The feature vocabulary the network was built for.
    module_ : MedFuseModule
    history_ : skorch History (per-epoch losses, validation AUPRC/AUROC, durations)
    """

    def __init__(
        self,
        module: Any = MedFuseModule,
        *,
        fusion: str = "mufuse",
        d_model: int = 64,
        partition_factor: int = 1,
        gate: str = "none",
        value_hidden: int = 16,
        activation: str = "tanh",
        projector_gain: float = 1.0,
        beta_init: float = 1.0,
        time_encoding: bool = True,
        n_layers: int = 1,
        n_heads: int = 4,
        dim_feedforward: int | None = None,
        dropout: float = 0.1,
        norm_first: bool = False,
        pooling: str = "mean+latest",
        loss: str = "bce",
        class_weight: str | float | None = None,
        lr: float = 1e-3,
        lr_schedule: str = "cosine",
        warmup_epochs: float = 1.0,
        weight_decay: float = 1e-2,
        max_epochs: int = 20,
        batch_size: int = 64,
        patience: int | None = 5,
        n_models: int = 1,
        weight_averaging: float | None = None,
        token_dropout: float = 0.1,
        valid_size: float = 0.1,
        kernel: str = "auto",
        device: str = "cpu",
        random_state: int | None = None,
        verbose: int = 1,
        tokenizer: EventTokenizer | None = None,
        stay: str = "stay_id",
        time: str = "time",
        feature: str = "feature",
        value: str = "value",
        categorical: Sequence[Any] | None = None,
        criterion: Any = BinaryLoss,
        optimizer: Any = torch.optim.AdamW,
        train_split: Any = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(module, criterion=criterion, optimizer=optimizer, lr=lr,
                         max_epochs=max_epochs, batch_size=batch_size, device=device,
                         train_split=train_split, verbose=verbose, **kwargs)
        self.fusion = fusion
        self.d_model = d_model
        self.partition_factor = partition_factor
        self.gate = gate
        self.value_hidden = value_hidden
        self.activation = activation
        self.projector_gain = projector_gain
        self.beta_init = beta_init
        self.time_encoding = time_encoding
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.dim_feedforward = dim_feedforward
        self.dropout = dropout
        self.norm_first = norm_first
        self.pooling = pooling
        self.loss = loss
        self.class_weight = class_weight
        self.lr_schedule = lr_schedule
        self.warmup_epochs = warmup_epochs
        self.weight_decay = weight_decay
        self.patience = patience
        self.n_models = n_models
        self.weight_averaging = weight_averaging
        self.token_dropout = token_dropout
        self.valid_size = valid_size
        self.kernel = kernel
        self.random_state = random_state
        self.tokenizer = tokenizer
        self.stay = stay
        self.time = time
        self.feature = feature
        self.value = value
        self.categorical = categorical

    # -- skorch plumbing -----------------------------------------------------------------
    @property
    def _default_callbacks(self):
        callbacks = [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("lr_schedule", WarmupCosine(self.lr_schedule, self.warmup_epochs)),
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

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        if not training and self.weight_averaging is not None:
            dict(self.callbacks_)["weight_averaging"].swap_in(self)
        return super().run_single_epoch(iterator, training, prefix, step_fn, **fit_params)

    def _has_validation(self) -> bool:
        if self.train_split == "auto":
            return bool(self.valid_size)
        return bool(self.train_split)

    def _get_predict_nonlinearity(self):
        if self.predict_nonlinearity == "auto":  # our criterion works on logits
            return _probabilities
        return super()._get_predict_nonlinearity()

    def initialize_module(self):
        kwargs = self.get_params_for("module")
        module = self.module
        if self.n_models > 1 and module is MedFuseModule:
            module, kwargs = MedFuseEnsemble, {**kwargs, "n_models": self.n_models}
        self.module_ = self.initialized_instance(module, kwargs)
        return self

    def infer(self, x, **fit_params):
        if self.n_models > 1:  # (B, n_models) logits, which the binary classifier refuses
            return NeuralNet.infer(self, x, **fit_params)
        return super().infer(x, **fit_params)

    def get_params_for(self, prefix: str) -> dict:
        params = super().get_params_for(prefix)
        if prefix == "module":
            own = {name: getattr(self, name) for name in _MODULE_PARAMS}
            own.update(n_features=len(self.feature_names_), n_categories=self.n_categories_)
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
        if isinstance(self.class_weight, str):
            raise ValueError(f"class_weight must be 'balanced', a float or None, "
                             f"got {self.class_weight!r}")
        return float(self.class_weight)

    def get_dataset(self, X, y=None):
        if isinstance(X, Dataset):
            return X
        return TokenDataset(X, y)

    def get_split_datasets(self, X, y=None, **fit_params):
        if self.train_split != "auto":
            return super().get_split_datasets(X, y, **fit_params)
        dataset = self.get_dataset(X, y)
        if not self.valid_size:
            return dataset, None
        split = ValidSplit(self.valid_size, stratified=True, random_state=self.random_state)
        return split(dataset, y)

    def get_iterator(self, dataset, training: bool = False):
        base, indices = base_dataset_and_indices(dataset)
        if training:
            seed = int(torch.randint(0, 2**31 - 1, (1,)).item())  # follows the torch seed
            sampler = LengthBucketSampler(base.lengths[indices], self.batch_size, seed)
        else:  # keep the input order: predictions come back aligned with the stays
            n = len(indices)
            sampler = [list(range(i, min(i + self.batch_size, n)))
                       for i in range(0, n, self.batch_size)]
        collate = base.collate
        if training and self.token_dropout:
            rng = np.random.default_rng(seed)

            def collate(indices):
                return base.collate(indices, self.token_dropout, int(rng.integers(2**63)))
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate)

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

    def fit(self, X: Any, y: Any, **fit_params) -> MedFuseClassifier:
        """Train on stays ``X`` with one binary label per stay.

        Parameters
        ----------
        X : long-format DataFrame, EventSet or TokenSet
        y : array-like or pandas Series of 0/1 (or bool)
            A Series is aligned to the stays by its index (stay ids); an array is taken
            in the order of ``X``'s stays (``X.stay_ids``; for a table, order of first
            appearance).
        """
        if self.random_state is not None:
            torch.manual_seed(self.random_state)
        tokens = self._tokens_for_fit(X)
        target = _aligned_labels(y, tokens.stay_ids)
        counts = np.bincount(target.astype(np.int64), minlength=2)
        self.class_balance_ = counts[0] / counts[1]
        self.feature_names_ = tokens.feature_names
        self.n_categories_ = tokens.n_categories
        return super().fit(tokens, target, **fit_params)

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
                f"y has no label for {len(absent)} stay(s): {_examples(absent.tolist())}. "
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
                         f"{_examples(np.asarray(stay_ids)[pd.isna(values)].tolist())}")
    labels = set(np.unique(values).tolist())
    if not labels <= {0, 1}:
        raise ValueError(f"y must be binary 0/1 or bool, got values {_examples(sorted(labels))}")
    if len(labels) < 2:
        raise ValueError(f"y has a single class ({labels.pop()!r}); training needs both "
                         "positive and negative stays")
    return values.astype(np.float32)
