"""GRU-D (Che et al., 2018) on events, through PyPOTS: the grid-based baseline as an estimator.

``GRUDClassifier`` puts each stay on a regular grid (:func:`~medfuse_sk.baselines.regular_grid`:
the mean of each series per step, NaN where unobserved, static features repeated at every
step), z-scores every channel with the fitting stays' statistics and trains PyPOTS' GRU-D,
which reads the missingness itself (masks and time since the last observation). It takes the
same input as every model of the library (a long table or an :class:`EventSet`), so it sits in
a :class:`~sklearn.ensemble.VotingClassifier` beside MedFuse and XGBoost.

Needs the optional ``pypots`` package: ``pip install 'medfuse-sk[grud]'``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from ...data import as_event_set, regular_grid, static_codes

__all__ = ["GRUDClassifier", "make_grud", "infer_grid_channels"]


def _import_pypots():
    try:
        # PyPOTS prints a banner on import (and reads the stream's encoding)
        with contextlib.redirect_stdout(io.TextIOWrapper(io.BytesIO(), encoding="utf-8")):
            from pypots.classification import GRUD
            from pypots.optim import Adam
    except ImportError as error:
        raise ImportError("GRU-D needs the pypots package: pip install 'medfuse-sk[grud]'") \
            from error
    return GRUD, Adam


def infer_grid_channels(events) -> tuple[list[str], list[str], dict[str, list]]:
    """Which features become grid series and which static channels, from training events.

    A feature is static when no stay has more than one event of it and every such event is at
    the stay's first time; categorical static features get one 0/1 channel per class seen.
    Every other numerical feature is a series. A categorical feature that changes within a
    stay has no place on the grid: an error names it (list it in ``series``/``static`` to
    override, or leave it out on purpose by building the grid yourself).
    """
    events = as_event_set(events)
    c = events.columns
    names = events.feature_names.astype(str).tolist()
    is_static = static_codes(events, len(names))
    series, static, levels, changing = [], [], {}, []
    for code, feature in enumerate(names):
        rows = np.flatnonzero(c["feature"] == code)
        if not len(rows):
            continue
        categorical = bool(np.all(c["category"][rows] >= 0))
        if is_static[code]:
            static.append(feature)
            if categorical:
                levels[feature] = sorted(set(events.categories[c["category"][rows]].tolist()))
        elif categorical:
            changing.append(feature)
        else:
            series.append(feature)
    if changing:
        raise ValueError(f"GRU-D: categorical features that change within a stay cannot go on "
                         f"the grid: {changing}; pass series= and static= explicitly")
    return series, static, levels


class GRUDClassifier(ClassifierMixin, BaseEstimator):
    """GRU-D on a regular grid of each stay's events (PyPOTS), fitted with ``fit(X, y)``.

    Parameters
    ----------
    n_steps : int, default 48
        Grid steps of ``step`` hours from time 0; events later than ``n_steps * step`` are
        left out, and ``fit`` warns with how many.
    step : float, default 1.0
    series, static : list of str, optional
        Grid channels; by default :func:`infer_grid_channels` of the training events.
    categorical_levels : dict, optional
        Classes of each categorical static feature (one 0/1 channel each); inferred with
        ``static``.
    hidden_size : int, default 128
    batch_size : int, default 64
    max_epochs : int, default 20
    patience : int, default 5
        Early stopping on the validation loss of ``valid_size`` of the stays (stratified).
    lr : float, default 1e-3
        Adam's learning rate.
    valid_size : float, default 0.1
    random_state : int or None, default None
        Seeds the split and PyPOTS' draws without touching the process's global generators.

    Attributes
    ----------
    classes_, model_, series_, static_, categorical_levels_, mean_, std_
    """

    def __init__(self, n_steps: int = 48, step: float = 1.0, series: list[str] | None = None,
                 static: list[str] | None = None,
                 categorical_levels: dict[str, list] | None = None, hidden_size: int = 128,
                 batch_size: int = 64, max_epochs: int = 20, patience: int = 5,
                 lr: float = 1e-3, valid_size: float = 0.1,
                 random_state: int | None = None) -> None:
        self.n_steps = n_steps
        self.step = step
        self.series = series
        self.static = static
        self.categorical_levels = categorical_levels
        self.hidden_size = hidden_size
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.lr = lr
        self.valid_size = valid_size
        self.random_state = random_state

    def _raw_grid(self, X) -> np.ndarray:
        return regular_grid(X, series=self.series_, static=self.static_, n_steps=self.n_steps,
                            step=self.step, categorical_levels=self.categorical_levels_)

    def _grid(self, X) -> np.ndarray:
        """The grid of ``X``, z-scored with the fitting stays' statistics."""
        return ((self._raw_grid(X) - self.mean_) / self.std_).astype(np.float32)

    def fit(self, X: Any, y: Any) -> GRUDClassifier:
        import torch
        from sklearn.model_selection import train_test_split

        if not 0.0 < self.valid_size < 1.0:
            raise ValueError(f"valid_size must lie in (0, 1): GRU-D stops on it, got "
                             f"{self.valid_size!r}")
        GRUD, Adam = _import_pypots()
        X = as_event_set(X)
        y = np.asarray(y)
        if len(y) != len(X):
            raise ValueError(f"y has {len(y)} labels for {len(X)} stays")
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) != 2:
            raise ValueError(f"GRUDClassifier is binary; y holds {len(self.classes_)} classes")
        if self.series is None or self.static is None:
            series, static, levels = infer_grid_channels(X)
        self.series_ = list(series if self.series is None else self.series)
        self.static_ = list(static if self.static is None else self.static)
        self.categorical_levels_ = dict(
            (levels if self.static is None else {}) if self.categorical_levels is None
            else self.categorical_levels)
        late = int(np.sum(X.columns["time"] > self.n_steps * self.step))
        if late:
            warnings.warn(f"GRU-D: {late} events after hour {self.n_steps * self.step:g} lie "
                          f"beyond the grid and are left out (n_steps, step)", stacklevel=2)
        seed = (int(torch.randint(0, 2**31 - 1, ()).item()) if self.random_state is None
                else int(self.random_state))
        fit_idx, stop_idx = train_test_split(np.arange(len(X)), test_size=self.valid_size,
                                             stratify=codes, random_state=seed)
        X_fit, X_stop = X[fit_idx], X[stop_idx]
        raw = self._raw_grid(X_fit)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # channels never observed
            mean, std = np.nanmean(raw, axis=(0, 1)), np.nanstd(raw, axis=(0, 1))
        self.mean_ = np.nan_to_num(mean, nan=0.0)
        self.std_ = np.where(np.isfinite(std) & (std > 0), std, 1.0)
        numpy_state = np.random.get_state()  # noqa: NPY002 (restored below)
        log = logging.getLogger("PyPOTS running log")  # "saving_path not given" per fit
        level = log.level
        log.setLevel(logging.ERROR)
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                np.random.seed(seed)  # noqa: NPY002 (PyPOTS draws from the global generator)
                model = GRUD(n_steps=self.n_steps, n_features=raw.shape[2], n_classes=2,
                             rnn_hidden_size=self.hidden_size, batch_size=self.batch_size,
                             epochs=self.max_epochs,
                             # PyPOTS refuses a patience longer than the run; same meaning
                             patience=min(self.patience, self.max_epochs),
                             optimizer=Adam(lr=self.lr), device="cpu", verbose=False)
                model.fit({"X": ((raw - self.mean_) / self.std_).astype(np.float32),
                           "y": codes[fit_idx].astype(np.int64)},
                          {"X": self._grid(X_stop), "y": codes[stop_idx].astype(np.int64)})
        finally:
            np.random.set_state(numpy_state)  # noqa: NPY002
            log.setLevel(level)
        self.model_ = model
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        return np.asarray(self.model_.predict_proba({"X": self._grid(as_event_set(X))}))

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def make_grud(random_state: int = 0, **params: Any) -> GRUDClassifier:
    """:class:`GRUDClassifier` with its defaults (hidden 128, 48 hourly steps, Adam 1e-3,
    at most 20 epochs, stopping with patience 5 on 10 % of the stays); fails at once without
    pypots."""
    _import_pypots()
    return GRUDClassifier(random_state=random_state, **params)
