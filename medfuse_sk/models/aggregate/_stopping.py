"""The shared part of the boosted-tree classifiers that choose their number of trees on a
stratified share of their own training rows (XGBoost, LightGBM)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

__all__ = ["EarlyStoppedBooster", "import_booster"]


def import_booster(package: str, model: str, extra: str) -> Any:
    """The boosting package, or an ImportError that says which extra installs it."""
    import importlib

    from ...utils import install_hint

    try:
        return importlib.import_module(package)
    except ImportError as error:
        raise ImportError(f"the {model} model needs the {package} package: "
                          f"{install_hint(extra)}") from error


class EarlyStoppedBooster(ClassifierMixin, BaseEstimator):
    """Base of the early-stopped boosters: input checks, the stopping split, pickling.

    Subclasses define ``fit`` (with :meth:`_fit_inputs` and :meth:`_stopping_split`) and
    ``predict_proba``; the fitted trees are held as text in ``booster_model_`` and the live
    library object under the attribute named by ``_live``, which is rebuilt on demand and never
    pickled.
    """

    _live = "_model"

    def _fit_inputs(self, X: Any, y: Any, sample_weight: Any
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, bool]:
        """``X`` and ``y`` as arrays, ``classes_`` set, the weights, and whether to stop early."""
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must lie in [0, 1), got "
                             f"{self.validation_fraction!r}")
        X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
        self.classes_ = np.unique(y)
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        stop = bool(self.validation_fraction) and self.early_stopping_rounds is not None
        return X, y, weights, stop

    def _stopping_split(self, X: np.ndarray, y: np.ndarray, weights: np.ndarray | None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                   np.ndarray | None]:
        """``X_fit, X_stop, y_fit, y_stop, fit_weights``: a stratified ``validation_fraction``
        of the rows held out, drawn with ``random_state``."""
        from sklearn.model_selection import train_test_split

        parts = train_test_split(X, y, *([] if weights is None else [weights]),
                                 test_size=self.validation_fraction, stratify=y,
                                 random_state=self.random_state)
        return (*parts[:4], None if weights is None else parts[4])

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())  # a copy: object's is the live __dict__
        state.pop(self._live, None)  # the trees travel once, as booster_model_
        return state

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
