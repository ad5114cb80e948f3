"""GRU-D (Che et al., 2018) on events, through PyPOTS: the grid-based baseline as an estimator.

``GRUDClassifier`` puts each stay on a regular grid (:func:`~medfuse_sk.data.regular_grid`:
the mean of each series per step, NaN where unobserved, static features repeated at every
step), z-scores every channel with the fitting stays' statistics and trains PyPOTS' GRU-D,
which reads the missingness itself (masks and time since the last observation). It takes the
same input as every model of the library (a long table or an :class:`EventSet`), so it sits in
a :class:`~sklearn.ensemble.VotingClassifier` beside MedFuse and XGBoost.

Needs the optional ``pypots`` package: ``pip install 'medfuse-sk[grud]'`` (from a
checkout: ``pip install -e '.[grud]'``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from typing import Any

import numpy as np

from ...data import EventSet, as_event_set, regular_grid, static_codes
from ...utils import install_hint
from .._base import BaseEventClassifier

__all__ = ["GRUDClassifier", "make_grud", "infer_grid_channels"]


def _import_pypots():
    try:
        # PyPOTS prints a banner on import (and reads the stream's encoding)
        with contextlib.redirect_stdout(io.TextIOWrapper(io.BytesIO(), encoding="utf-8")):
            from pypots.classification import GRUD
            from pypots.optim import Adam
    except ImportError as error:
        raise ImportError(f"GRU-D needs the pypots package: {install_hint('grud')}") \
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


class GRUDClassifier(BaseEventClassifier):
    """GRU-D on a regular grid of each stay's events (PyPOTS), fitted with ``fit(X, y)``.

    A :class:`~medfuse_sk.models.BaseEventClassifier` on events (a long table with the
    default column names, or an :class:`EventSet`): labels given as a Series are aligned by
    stay id, and the fit runs on forked, seeded torch and numpy generators.

    Parameters
    ----------
    n_steps : int, default 48
        Grid steps of ``step`` hours from time 0; events later than ``n_steps * step`` are
        left out, and ``fit`` warns with how many.
    step : float, default 1.0
        Hours per grid step.
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
        Seeds the split and PyPOTS' draws without touching the process's global generators;
        ``None``: a seed drawn from torch's global generator.
    time_unit : {"h", "min", "s", "d"}, default "h"
        Unit of a long table's numeric times (its columns must be ``stay_id``, ``time``,
        ``feature``, ``value``; or pass an :class:`EventSet`). Times are converted to hours:
        ``step`` is hours whatever the unit.

    Attributes
    ----------
    classes_, seed_, model_, series_, static_, categorical_levels_, mean_, std_
    """

    _input = "events"  # the grid is built from events, with the channels learned in fit

    def __init__(self, n_steps: int = 48, step: float = 1.0, series: list[str] | None = None,
                 static: list[str] | None = None,
                 categorical_levels: dict[str, list] | None = None, hidden_size: int = 128,
                 batch_size: int = 64, max_epochs: int = 20, patience: int = 5,
                 lr: float = 1e-3, valid_size: float = 0.1,
                 random_state: int | None = None, time_unit: str = "h") -> None:
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
        self.time_unit = time_unit

    def _raw_grid(self, X) -> np.ndarray:
        return regular_grid(X, series=self.series_, static=self.static_, n_steps=self.n_steps,
                            step=self.step, categorical_levels=self.categorical_levels_)

    def _grid(self, X) -> np.ndarray:
        """The grid of ``X``, z-scored with the fitting stays' statistics."""
        return ((self._raw_grid(X) - self.mean_) / self.std_).astype(np.float32)

    def _check_params(self) -> None:
        if not 0.0 < self.valid_size < 1.0:
            raise ValueError(f"valid_size must lie in (0, 1): GRU-D stops on it, got "
                             f"{self.valid_size!r}")
        _import_pypots()

    def _fit(self, X: EventSet, y: np.ndarray, sample_weight: np.ndarray | None) -> None:
        from sklearn.model_selection import train_test_split

        if sample_weight is not None:
            raise ValueError("GRUDClassifier does not take sample_weight (PyPOTS' GRU-D has no "
                             "per-sample loss weights)")
        GRUD, Adam = _import_pypots()
        codes = y.astype(np.int64)
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
                          f"beyond the grid and are left out (n_steps, step)", stacklevel=3)
        # PyPOTS draws from torch's and numpy's global generators, which the base has forked
        # and seeded with seed_; the split takes the same seed
        fit_idx, stop_idx = train_test_split(np.arange(len(X)), test_size=self.valid_size,
                                             stratify=codes, random_state=self.seed_)
        X_fit, X_stop = X[fit_idx], X[stop_idx]
        raw = self._raw_grid(X_fit)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # channels never observed
            mean, std = np.nanmean(raw, axis=(0, 1)), np.nanstd(raw, axis=(0, 1))
        self.mean_ = np.nan_to_num(mean, nan=0.0)
        self.std_ = np.where(np.isfinite(std) & (std > 0), std, 1.0)
        log = logging.getLogger("PyPOTS running log")  # "saving_path not given" per fit
        level = log.level
        log.setLevel(logging.ERROR)
        try:
            model = GRUD(n_steps=self.n_steps, n_features=raw.shape[2], n_classes=2,
                         rnn_hidden_size=self.hidden_size, batch_size=self.batch_size,
                         epochs=self.max_epochs,
                         # PyPOTS refuses a patience longer than the run; same meaning
                         patience=min(self.patience, self.max_epochs),
                         optimizer=Adam(lr=self.lr), device="cpu", verbose=False)
            model.fit({"X": ((raw - self.mean_) / self.std_).astype(np.float32),
                       "y": codes[fit_idx]},
                      {"X": self._grid(X_stop), "y": codes[stop_idx]})
        finally:
            log.setLevel(level)
        self.model_ = model

    def _predict_proba(self, X: EventSet) -> np.ndarray:
        return np.asarray(self.model_.predict_proba({"X": self._grid(X)}))


def make_grud(random_state: int = 0, **params: Any) -> GRUDClassifier:
    """:class:`GRUDClassifier` with its defaults (hidden 128, 48 hourly steps, Adam 1e-3,
    at most 20 epochs, stopping with patience 5 on 10 % of the stays); fails at once without
    pypots."""
    _import_pypots()
    return GRUDClassifier(random_state=random_state, **params)
