"""GRU-D (Che et al., 2018) on events, through PyPOTS: the grid-based baseline as an estimator.

``GRUDClassifier`` puts each stay on a regular grid (:func:`~medfuse_sk.data.regular_grid`:
the mean of each series per step, NaN where unobserved, static features repeated at every
step), z-scores every channel with the fitting stays' statistics and trains PyPOTS' GRU-D,
which reads the missingness itself (masks and time since the last observation); grid, split,
scaling and fit are the shared base's (``models/_pypots.py``, also SeFT's). It takes the
same input as every model of the library (a long table or an :class:`EventSet`), so it sits in
a :class:`~sklearn.ensemble.VotingClassifier` beside MedFuse and XGBoost.

Needs the optional ``pypots`` package: ``pip install 'medfuse-sk[grud]'`` (from a
checkout: ``pip install -e '.[grud]'``).
"""

from __future__ import annotations

from typing import Any

from .._pypots import PyPOTSGridClassifier, import_pypots, infer_grid_channels

__all__ = ["GRUDClassifier", "make_grud", "infer_grid_channels"]


class GRUDClassifier(PyPOTSGridClassifier):
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
    classes_, seed_, series_, static_, categorical_levels_, mean_, std_
    network_state_ : dict of str to ndarray
        The trained network's weights (what a model file holds).
    model_ : pypots.classification.GRUD
        The fitted PyPOTS model (rebuilt from ``network_state_`` after loading).
    """

    _pypots_class, _model_name, _extra = "GRUD", "GRU-D", "grud"

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

    def _architecture(self) -> dict[str, Any]:
        return {"rnn_hidden_size": self.hidden_size}


def make_grud(random_state: int = 0, **params: Any) -> GRUDClassifier:
    """:class:`GRUDClassifier` with its defaults (hidden 128, 48 hourly steps, Adam 1e-3,
    at most 20 epochs, stopping with patience 5 on 10 % of the stays); fails at once without
    pypots."""
    import_pypots("GRUD", "GRU-D", "grud")
    return GRUDClassifier(random_state=random_state, **params)
