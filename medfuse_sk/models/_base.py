"""The base of every model on stays: inputs, labels and weights by stay, tokens, the RNG fork.

:class:`EventModelMixin` holds what every estimator on stays shares (a classifier or not):
reading a long table or an :class:`~medfuse_sk.data.EventSet` with the model's column
parameters, the tokens it fits and predicts on, the seeded RNG fork, scikit-learn's tags and
the public :meth:`~EventModelMixin.check_is_fitted`. :class:`EventClassifierMixin` adds
``predict_risk`` and the classifier tags. A plain scikit-learn model subclasses
:class:`BaseEventClassifier`; a skorch network takes the mixin
(``class MedFuseClassifier(EventClassifierMixin, NeuralNetBinaryClassifier)``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import Tags

from ..data import ColumnError, EventSet, EventTokenizer, TokenSet
from ..utils import examples
from ._threads import chosen_threads

__all__ = ["EventModelMixin", "EventClassifierMixin", "BaseEventClassifier", "aligned_labels",
           "aligned_weights"]

#: A long table's column parameters and their defaults (those of ``EventSet.from_long``).
_COLUMNS = {"stay": "stay_id", "time": "time", "feature": "feature", "value": "value",
            "time_unit": "h", "categorical": None}


class EventModelMixin:
    """What every estimator on stays shares.

    Reads, when the estimator has them, the parameters ``stay``, ``time``, ``feature``,
    ``value``, ``time_unit``, ``categorical`` (a long table's columns and the unit of its
    numeric times, see :meth:`EventSet.from_long <medfuse_sk.data.EventSet.from_long>`),
    ``tokenizer`` (default ``EventTokenizer(**tokenizer_defaults)``), ``random_state`` and ``device``. A long
    table's times are converted to hours, so ``window``, ``horizon`` and ``step`` are hours
    whatever ``time_unit`` is; an EventSet holds hours already. Sets ``tokenizer_`` in ``fit``
    (None when fitted on a TokenSet). ``_input = "events"`` in a subclass hands its fit and
    predict code the :class:`EventSet` instead of tokens (for a model that builds its own
    input, such as a regular grid).

    Public: :meth:`events`, :meth:`transform_tokens`, :meth:`check_is_fitted`. For subclasses:
    ``_fit_input(X)`` / ``_predict_input(X)`` (the TokenSet or EventSet to work on),
    ``_fit_seed()`` and ``with self._own_rng(seed):``.
    """

    _input: str = "tokens"
    #: The tokenizer's parameters when ``tokenizer`` is None: ``EventTokenizer(**...)``.
    tokenizer_defaults: dict[str, Any] = {}

    # -- inputs ------------------------------------------------------------------------------
    def events(self, X: Any) -> EventSet:
        """``X`` as an :class:`EventSet`: as is, or a long table read with this model's column
        parameters (the defaults where it has none). Needs no fit; a fitted model reads a
        table that lacks some of its ``categorical`` features (a few new stays) without
        complaint, an unfitted one names the closest features of a name that matches none.

        Raises
        ------
        ColumnError
            A column is missing or the time column's name says another unit than
            ``time_unit``; the message names the constructor arguments that fix it.
        """
        return self._events(X, fitting=not self.__sklearn_is_fitted__())

    def _events(self, X: Any, fitting: bool) -> EventSet:
        if isinstance(X, EventSet):
            return X
        if isinstance(X, TokenSet):
            raise TypeError(f"{type(self).__name__}: got a TokenSet, which is already "
                            "tokenized; pass events (a long table or an EventSet)")
        columns = {name: getattr(self, name, default) for name, default in _COLUMNS.items()}
        try:
            return EventSet.from_long(X, **columns,
                                      absent_categorical="raise" if fitting else "ignore")
        except ColumnError as exc:
            raise exc.rephrased(self._column_hint(exc)) from None

    def _column_hint(self, exc: ColumnError) -> str:
        """How to fix a column error: the constructor's arguments, where it takes them all;
        else an EventSet built with the right ones."""
        name = type(self).__name__
        if all(hasattr(self, key) for key in exc.fix):
            return exc.hint(f"Pass to the constructor (fit takes no column arguments): "
                            f"{name}({{}}, ...)")
        return exc.hint(f"{name} reads the default column names; build an EventSet with "
                        f"EventSet.from_long(table, {{}}) and give {name} that EventSet")

    def transform_tokens(self, X: Any) -> TokenSet:
        """The tokens the fitted model reads for the stays ``X`` (a TokenSet as is; events
        through the fitted ``tokenizer_``), stays in the order of ``X``."""
        self.check_is_fitted()
        if self._input != "tokens":
            raise TypeError(f"{type(self).__name__} reads events, not tokens")
        return self._predict_input(X)

    def _fit_input(self, X: Any) -> TokenSet | EventSet:
        """What ``fit`` works on: events, or tokens (fitting ``tokenizer_`` on events)."""
        if self._input == "events":
            return self._events(X, fitting=True)
        if isinstance(X, TokenSet):
            self.tokenizer_ = None
            return X
        tokenizer = getattr(self, "tokenizer", None)
        events = self._events(X, fitting=True)
        self.tokenizer_ = (EventTokenizer(**self.tokenizer_defaults) if tokenizer is None
                           else clone(tokenizer)).fit(events)
        return self.tokenizer_.transform(events)

    def _predict_input(self, X: Any) -> TokenSet | EventSet:
        """What prediction works on, for a fitted model."""
        if self._input == "events":
            return self._events(X, fitting=False)
        if isinstance(X, TokenSet):
            return X
        if self.tokenizer_ is None:
            raise TypeError(f"this {type(self).__name__} was fitted on tokens (a TokenSet, e.g. "
                            "inside a Pipeline after an EventTokenizer); pass tokens too, or "
                            "fit on events")
        return self.tokenizer_.transform(self._events(X, fitting=False))

    # -- fitted or not -----------------------------------------------------------------------
    def __sklearn_is_fitted__(self) -> bool:
        # scikit-learn's rule: fit sets attributes ending in "_"
        return any(k.endswith("_") and not k.startswith("__") for k in vars(self))

    def check_is_fitted(self, *_args: Any, **_kwargs: Any) -> None:
        """Raise ``NotFittedError`` unless ``fit`` has run (arguments are ignored: skorch's
        own calls pass some)."""
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit first")

    def check_params(self) -> None:
        """Check every parameter's value now, before any data are read (``fit`` checks them
        too); the error names the parameter, the value and what is allowed."""
        hook = getattr(self, "_check_params", None)
        if hook is not None:
            hook()

    # -- randomness --------------------------------------------------------------------------
    def _fit_seed(self) -> int:
        """``random_state``; without one, a seed drawn from torch's global generator (so that
        ``torch.manual_seed`` makes the fit reproducible, as skorch users expect)."""
        seed = getattr(self, "random_state", None)
        if seed is None:
            return int(torch.randint(0, 2**31 - 1, (1,)).item())
        return int(seed)

    @contextlib.contextmanager
    def _own_rng(self, seed: int) -> Iterator[None]:
        """Run the block as a fit runs: torch's generators (CPU, and CUDA when the model runs
        on a GPU) and numpy's global one seeded with ``seed``, and torch's threads as many as
        the idle cores allow (:func:`~medfuse_sk.models.choose_threads`, kept in
        ``n_threads_``); afterwards all are as they were."""
        device = getattr(self, "device_", None) or getattr(self, "device", "cpu")
        cuda = device != "auto" and torch.device(device).type == "cuda"
        devices = list(range(torch.cuda.device_count())) if cuda else []
        numpy_state = np.random.get_state()  # noqa: NPY002 (restored below)
        try:
            with torch.random.fork_rng(devices=devices), chosen_threads() as threads:
                self.n_threads_ = threads
                torch.manual_seed(seed)
                np.random.seed(seed)  # noqa: NPY002 (for libraries that draw from it)
                yield
        finally:
            np.random.set_state(numpy_state)  # noqa: NPY002

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # stays of events, not a feature matrix
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True  # NaN values are absent observations
        return tags


class EventClassifierMixin(EventModelMixin):
    """:class:`EventModelMixin` for a binary classifier: ``predict_risk`` and its tags. The
    class also needs ``predict_proba(X)`` (``(n_stays, 2)``, rows in the order of ``X``)."""

    def predict_risk(self, X: Any) -> pd.Series:
        """Probability of the positive class per stay, as a Series indexed by stay id."""
        self.check_is_fitted()
        data = self._predict_input(X)
        proba = self.predict_proba(data)[:, 1]
        index = pd.Index(data.stay_ids, name=getattr(self, "stay", _COLUMNS["stay"]))
        return pd.Series(proba, index=index, name="risk")

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier"
        if tags.classifier_tags is not None:
            tags.classifier_tags.multi_class = False
        tags.target_tags.required = True
        return tags


class BaseEventClassifier(EventClassifierMixin, ClassifierMixin, BaseEstimator):
    """Base of a binary classifier on stays: ``fit(X, y, sample_weight=None)``,
    ``predict_proba``, ``predict``, ``predict_risk`` over a long table, an ``EventSet`` or
    (for token models) a ``TokenSet``.

    A subclass implements:

    - ``__init__`` storing its parameters, nothing else (scikit-learn's rule); column
      parameters, ``tokenizer``, ``random_state`` and ``device`` are read when present;
    - ``_fit(self, X, y, sample_weight)``: learn from ``X``, a :class:`TokenSet` (or an
      :class:`EventSet` when the class sets ``_input = "events"``); ``y`` is float32 0/1 and
      ``sample_weight`` float32 or None, both in the order of ``X.stay_ids``. Store what is
      learned in attributes ending in ``_`` (numpy arrays, lists, numbers, strings: what a
      safe model file holds). It runs with torch's and numpy's global generators seeded
      from ``random_state`` and restored afterwards;
    - ``_predict_proba(self, X)``: ``(n_stays, 2)`` probabilities for ``X`` (the same kind
      as in ``_fit``), rows in the order of ``X.stay_ids``;
    - optionally ``_check_params(self)``, called first in ``fit``.

    ``fit`` sets ``classes_ = [0, 1]``, ``tokenizer_`` and ``seed_`` (the seed the fit ran
    with) before ``_fit``; labels and weights given as a pandas Series are aligned to the
    stays by index (stay id).
    """

    def _check_params(self) -> None:
        """Validate the parameters (called first in ``fit``); nothing by default."""

    def _fit(self, X: TokenSet | EventSet, y: np.ndarray, sample_weight: np.ndarray | None) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _fit(X, y, sample_weight)")

    def _predict_proba(self, X: TokenSet | EventSet) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must implement _predict_proba(X)")

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> BaseEventClassifier:
        """Train on the stays ``X`` with one binary label per stay.

        Parameters
        ----------
        X : long-format DataFrame, EventSet or TokenSet
        y : array-like or pandas Series of 0/1 (or bool)
            A Series is aligned to the stays by its index (stay ids); an array is taken in
            the order of ``X``'s stays.
        sample_weight : array-like or pandas Series of floats >= 0, optional
            Per-stay weights, aligned like ``y``.

        Returns
        -------
        self
        """
        self._check_params()
        data = self._fit_input(X)
        target = aligned_labels(y, data.stay_ids)
        weight = (None if sample_weight is None
                  else aligned_weights(sample_weight, data.stay_ids, target))
        self.classes_ = np.array([0, 1])
        self.seed_ = self._fit_seed()
        with self._own_rng(self.seed_):
            self._fit(data, target, weight)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities ``(n_stays, 2)``, rows in the order of ``X``'s stays."""
        self.check_is_fitted()
        with chosen_threads():
            return np.asarray(self._predict_proba(self._predict_input(X)))

    def predict(self, X: Any) -> np.ndarray:
        """The more probable class (0/1) per stay, in the order of ``X``'s stays."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def aligned_labels(y: Any, stay_ids: np.ndarray) -> np.ndarray:
    """Binary labels (float32) in the order of ``stay_ids``; a Series is aligned by its index."""
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


def aligned_weights(weight: Any, stay_ids: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-stay weights (float32) in the order of ``stay_ids`` (a Series is aligned by its
    index); finite, >= 0 and not all 0 within a class of ``target``."""
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
