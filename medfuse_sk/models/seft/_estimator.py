"""SeFT (Horn et al., 2020) on events, through PyPOTS: a set-function baseline as an estimator.

``SeFTClassifier`` puts each stay on a regular grid exactly as GRU-D does (the shared
:class:`~medfuse_sk.models._pypots.PyPOTSGridClassifier`: the mean of each series per step,
NaN where unobserved, static features repeated at every step, z-scored with the fitting stays'
statistics) and trains PyPOTS' SeFT, which treats the observed cells as a set of (time,
channel, value) elements, encodes them with self-attention blocks and pools them by attention
to seed vectors.

Cost: PyPOTS' SeFT attends over every cell of the grid (``n_steps`` × channels, unobserved
ones masked), so time and memory grow with the square of the grid's size. On P12's 44
channels a 48 × 1 h grid (2,112 cells) took about 20× longer per epoch than the default 12 ×
4 h grid (528 cells) on one CPU core (measured: 59 s against 2.7 s for 200 stays, d_model 32);
the defaults keep the 48 hours at 4-hour resolution.

A stay with no observation on the grid gives attention nothing to attend to (PyPOTS returns
NaN for it): such stays are left out of training with a warning and predicted with the
training stays' share of positives (``empty_risk_``).

Needs the optional ``pypots`` package: ``pip install 'medfuse-sk[seft]'`` (from a
checkout: ``pip install -e '.[seft]'``).
"""

from __future__ import annotations

from typing import Any

from .._pypots import PyPOTSGridClassifier, import_pypots

__all__ = ["SeFTClassifier", "make_seft"]


class SeFTClassifier(PyPOTSGridClassifier):
    """SeFT on a regular grid of each stay's events (PyPOTS), fitted with ``fit(X, y)``.

    A :class:`~medfuse_sk.models.BaseEventClassifier` on events (a long table with the
    default column names, or an :class:`EventSet`): labels given as a Series are aligned by
    stay id, and the fit runs on forked, seeded torch and numpy generators.

    Parameters
    ----------
    n_steps : int, default 12
        Grid steps of ``step`` hours from time 0; events later than ``n_steps * step`` are
        left out, and ``fit`` warns with how many.
    step : float, default 4.0
        Hours per grid step (see the module's note on cost before making the grid finer).
    series, static : list of str, optional
        Grid channels; by default :func:`~medfuse_sk.models.infer_grid_channels` of the
        training events.
    categorical_levels : dict, optional
        Classes of each categorical static feature (one 0/1 channel each); inferred with
        ``static``.
    d_model : int, default 64
        Width of the set encoder; a multiple of ``n_heads``.
    n_layers : int, default 1
        Set attention blocks.
    n_heads : int, default 2
        Attention heads of each block and of the pooling.
    d_ffn : int, default 128
        Hidden width of the feed-forward networks.
    n_seeds : int, default 4
        Seed vectors of the attention pooling.
    dropout : float, default 0.0
        Dropout inside the blocks (on the attention weights too, which slows CPU attention).
    max_timescale : float, default 100.0
        Largest timescale of the sinusoidal encoding of the (0–1 normalised) step position.
    batch_size : int, default 32
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
    empty_risk_ : float
        Share of positives among the training stays: the risk of a stay with no observation
        on the grid.
    network_state_ : dict of str to ndarray
        The trained network's weights (what a model file holds).
    model_ : pypots.classification.SeFT
        The fitted PyPOTS model (rebuilt from ``network_state_`` after loading).
    """

    _pypots_class, _model_name, _extra = "SeFT", "SeFT", "seft"
    _needs_observations = True

    def __init__(self, n_steps: int = 12, step: float = 4.0, series: list[str] | None = None,
                 static: list[str] | None = None,
                 categorical_levels: dict[str, list] | None = None, d_model: int = 64,
                 n_layers: int = 1, n_heads: int = 2, d_ffn: int = 128, n_seeds: int = 4,
                 dropout: float = 0.0, max_timescale: float = 100.0, batch_size: int = 32,
                 max_epochs: int = 20, patience: int = 5, lr: float = 1e-3,
                 valid_size: float = 0.1, random_state: int | None = None,
                 time_unit: str = "h") -> None:
        self.n_steps = n_steps
        self.step = step
        self.series = series
        self.static = static
        self.categorical_levels = categorical_levels
        self.d_model = d_model
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.d_ffn = d_ffn
        self.n_seeds = n_seeds
        self.dropout = dropout
        self.max_timescale = max_timescale
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.lr = lr
        self.valid_size = valid_size
        self.random_state = random_state
        self.time_unit = time_unit

    def _check_architecture(self) -> None:
        for name in ("d_model", "n_layers", "n_heads", "d_ffn", "n_seeds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_heads "
                             f"({self.n_heads}): each head takes d_model / n_heads dimensions")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout!r}")

    def _architecture(self) -> dict[str, Any]:
        return {"n_layers": self.n_layers, "n_heads": self.n_heads, "d_model": self.d_model,
                "d_ffn": self.d_ffn, "n_seeds": self.n_seeds, "dropout": self.dropout,
                "max_timescale": self.max_timescale}


def make_seft(random_state: int = 0, **params: Any) -> SeFTClassifier:
    """:class:`SeFTClassifier` with its defaults (12 steps of 4 h, d_model 64, one set
    attention block with 2 heads, 4 pooling seeds, Adam 1e-3, at most 20 epochs, stopping with
    patience 5 on 10 % of the stays); fails at once without pypots."""
    import_pypots("SeFT", "SeFT", "seft")
    return SeFTClassifier(random_state=random_state, **params)
