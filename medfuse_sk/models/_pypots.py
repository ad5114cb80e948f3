"""The shared base of the models that run a PyPOTS classifier on a regular grid (GRU-D, SeFT).

:class:`PyPOTSGridClassifier` does what every such model needs: each stay on a regular grid
(:func:`~medfuse_sk.data.regular_grid`: the mean of each series per step, NaN where unobserved,
static features repeated at every step; channels from :func:`infer_grid_channels` of the
training events unless given), a stratified share of the training stays to stop on, z-scores
from the fitting stays, PyPOTS' own training loop on forked and seeded generators, and the
trained weights kept as arrays (``network_state_``) so that a fitted model saves as a safe model
file and loads back (:func:`medfuse_sk.io.save_model`) and pickles without the PyPOTS object.

A model folder subclasses it with its ``__init__`` (scikit-learn's rule: parameters stored,
nothing else), the class attributes ``_pypots_class`` (the name in ``pypots.classification``),
``_model_name`` (for messages) and ``_extra`` (the optional dependency), and
``_architecture()``: the PyPOTS arguments of its network.

PyPOTS is optional: :func:`import_pypots` fails with the command that installs it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..data import EventSet, as_event_set, regular_grid, static_codes
from ..utils import install_hint
from ._base import BaseEventClassifier

__all__ = ["PyPOTSGridClassifier", "import_pypots", "infer_grid_channels"]


def import_pypots(cls_name: str, model: str, extra: str) -> tuple[type, type]:
    """``(pypots.classification.<cls_name>, pypots.optim.Adam)``; without PyPOTS, an
    ImportError that names ``model`` and the command installing the extra ``extra``."""
    try:
        # PyPOTS prints a banner on import (and reads the stream's encoding)
        with contextlib.redirect_stdout(io.TextIOWrapper(io.BytesIO(), encoding="utf-8")):
            import pypots.classification
            from pypots.optim import Adam
    except ImportError as error:
        raise ImportError(f"{model} needs the pypots package: {install_hint(extra)}") from error
    return getattr(pypots.classification, cls_name), Adam


@contextlib.contextmanager
def _quiet_pypots() -> Iterator[None]:
    """PyPOTS logs its model size and "saving_path not given" on every model it builds (a
    filter, not the level: a model built with ``verbose=False`` sets the level itself)."""
    log = logging.getLogger("PyPOTS running log")
    level = log.level

    def errors_only(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR

    log.addFilter(errors_only)
    try:
        yield
    finally:
        log.removeFilter(errors_only)
        log.setLevel(level)


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
        raise ValueError(f"grid models (GRU-D, SeFT): categorical features that change within a "
                         f"stay cannot go on the grid: {changing}; pass series= and static= "
                         "explicitly")
    return series, static, levels


class PyPOTSGridClassifier(BaseEventClassifier):
    """Base of a PyPOTS classifier on a regular grid of each stay's events.

    Reads the parameters ``n_steps``, ``step``, ``series``, ``static``,
    ``categorical_levels``, ``batch_size``, ``max_epochs``, ``patience``, ``lr``,
    ``valid_size``, ``random_state`` and ``time_unit`` (see :class:`GRUDClassifier
    <medfuse_sk.models.GRUDClassifier>`); a subclass adds its network's.

    Attributes
    ----------
    classes_, seed_, series_, static_, categorical_levels_, mean_, std_
    network_state_ : dict of str to ndarray
        The trained network's ``state_dict`` as arrays (what a model file holds).
    model_ : the fitted PyPOTS classifier (rebuilt from ``network_state_`` after loading)
    """

    _input = "events"  # the grid is built from events, with the channels learned in fit
    #: The class in ``pypots.classification``, the model's name in messages, its extra.
    _pypots_class: str = ""
    _model_name: str = ""
    _extra: str = ""
    #: Whether the network needs at least one observed cell per stay (attention over the
    #: observed cells has nothing to attend to in an empty stay).
    _needs_observations: bool = False

    # -- for subclasses --------------------------------------------------------------------
    def _architecture(self) -> dict[str, Any]:
        """The PyPOTS constructor arguments of the network (sizes, layers)."""
        raise NotImplementedError(f"{type(self).__name__} must implement _architecture()")

    def _check_architecture(self) -> None:
        """Check the network's parameters (called first in ``fit``); nothing by default."""

    # -- the grid --------------------------------------------------------------------------
    def _raw_grid(self, X) -> np.ndarray:
        return regular_grid(X, series=self.series_, static=self.static_, n_steps=self.n_steps,
                            step=self.step, categorical_levels=self.categorical_levels_)

    def _grid(self, X) -> np.ndarray:
        """The grid of ``X``, z-scored with the fitting stays' statistics."""
        return ((self._raw_grid(X) - self.mean_) / self.std_).astype(np.float32)

    # -- the network -----------------------------------------------------------------------
    def _pypots(self) -> tuple[type, type]:
        return import_pypots(self._pypots_class, self._model_name, self._extra)

    def _network(self, n_features: int) -> Any:
        """A new, untrained PyPOTS classifier (its weights drawn from torch's generator)."""
        cls, Adam = self._pypots()
        with _quiet_pypots():
            return cls(n_steps=self.n_steps, n_features=n_features, n_classes=2,
                       **self._architecture(), batch_size=self.batch_size,
                       epochs=self.max_epochs,
                       # PyPOTS refuses a patience longer than the run; same meaning
                       patience=min(self.patience, self.max_epochs),
                       optimizer=Adam(lr=self.lr), device="cpu", verbose=False)

    @property
    def model_(self) -> Any:
        """The fitted PyPOTS classifier (built from ``network_state_`` where it is not held:
        after :func:`~medfuse_sk.io.load_model` or unpickling)."""
        held = self.__dict__.get("_model", self.__dict__.get("model_"))
        if held is not None:
            return held
        if "network_state_" not in self.__dict__:
            raise AttributeError(f"this {type(self).__name__} is not fitted: no model_")
        import torch

        with torch.random.fork_rng(devices=[]):  # its initial weights are replaced below
            model = self._network(len(self.mean_))
        model.model.load_state_dict({k: torch.as_tensor(np.array(v))
                                     for k, v in self.network_state_.items()})
        self._model = model
        return model

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())  # a copy: object's is the live __dict__
        if "network_state_" in state:  # the weights travel once, as arrays
            state.pop("_model", None)
        return state

    # -- fit and predict -------------------------------------------------------------------
    def _check_params(self) -> None:
        if not 0.0 < self.valid_size < 1.0:
            raise ValueError(f"valid_size must lie in (0, 1): {self._model_name} stops on it, "
                             f"got {self.valid_size!r}")
        self._check_architecture()
        self._pypots()

    def _fit(self, X: EventSet, y: np.ndarray, sample_weight: np.ndarray | None) -> None:
        from sklearn.model_selection import train_test_split

        name = self._model_name
        if sample_weight is not None:
            raise ValueError(f"{type(self).__name__} does not take sample_weight (PyPOTS' {name} "
                             "has no per-sample loss weights)")
        self._pypots()
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
            warnings.warn(f"{name}: {late} events after hour {self.n_steps * self.step:g} lie "
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
        fit_set = {"X": ((raw - self.mean_) / self.std_).astype(np.float32), "y": codes[fit_idx]}
        stop_set = {"X": self._grid(X_stop), "y": codes[stop_idx]}
        if self._needs_observations:
            self.empty_risk_ = float(np.mean(codes))
            fit_set, stop_set = self._observed(fit_set, X_fit), self._observed(stop_set, X_stop)
        model = self._network(raw.shape[2])
        with _quiet_pypots():
            model.fit(fit_set, stop_set)
        self._model = model
        self.network_state_ = {k: v.detach().cpu().numpy().copy()
                               for k, v in model.model.state_dict().items()}

    def _observed(self, data: dict[str, np.ndarray], X: EventSet) -> dict[str, np.ndarray]:
        """``data`` without the stays that have no observed cell on the grid, with a warning
        that names them (they are predicted with ``empty_risk_``)."""
        empty = _empty_rows(data["X"])
        if not empty.any():
            return data
        warnings.warn(f"{self._model_name}: {int(empty.sum())} training stays have no observation "
                      f"on the grid (e.g. {X.stay_ids[empty][:5].tolist()}) and are left out of "
                      "training; such stays are predicted with the training stays' share of "
                      f"positives ({self.empty_risk_:.3g})", stacklevel=4)
        if empty.all():
            raise ValueError(f"{self._model_name}: none of these stays has an observation on the "
                             f"grid of {self.n_steps} steps of {self.step:g} h")
        return {key: value[~empty] for key, value in data.items()}

    def _predict_proba(self, X: EventSet) -> np.ndarray:
        grid = self._grid(X)
        if not self._needs_observations:
            return np.asarray(self.model_.predict_proba({"X": grid}))
        empty = _empty_rows(grid)
        proba = np.empty((len(grid), 2))
        proba[empty] = (1.0 - self.empty_risk_, self.empty_risk_)
        if not empty.all():
            proba[~empty] = self.model_.predict_proba({"X": grid[~empty]})
        return proba


def _empty_rows(grid: np.ndarray) -> np.ndarray:
    """Stays (rows) of a ``(n, steps, channels)`` grid without any observed cell."""
    return ~np.isfinite(grid).reshape(len(grid), -1).any(axis=1)
