"""``SAnDClassifier``: SAnD (masked self-attention and dense interpolation) on a regular grid."""

from __future__ import annotations

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval

from .._neural import NeuralEventClassifier, network_docstring, neural_params
from .._spec import Param
from ._network import SAnDModule

__all__ = ["SAnDClassifier", "PARAMS"]

_POSITIVE_INT = Interval(Integral, 1, None, closed="left")

#: SAnDClassifier's parameters: the network's, then the shared ones with SAnD's defaults.
PARAMS: dict[str, Param] = {
    "hidden_size": Param(64, [_POSITIVE_INT], "Width of the attention blocks (Table 4).",
                         to="module", kind="int"),
    "n_layers": Param(4, [_POSITIVE_INT], "Self-attention blocks (Table 4: 4).", to="module",
                      kind="int"),
    "n_heads": Param(4, [_POSITIVE_INT],
                     "Attention heads; ``hidden_size`` must be a multiple of it (STraTS' "
                     "SAnD baseline: 4).", to="module", kind="int"),
    "window": Param(24, [Interval(Integral, 0, None, closed="left")],
                    "Steps each step attends back to (``r``; STraTS' P12 SAnD: 24).",
                    to="module", kind="int >= 0"),
    "factor": Param(12, [_POSITIVE_INT],
                    "Dense interpolation factor ``M`` (STraTS' P12 SAnD: 12).", to="module",
                    kind="int"),
    "dropout": Param(0.2, [Interval(Real, 0, 1, closed="left")],
                     "Dropout of the input, the attention weights and every block.",
                     to="module", kind="float in [0, 1)"),
    **neural_params("grid", lr=5e-4, max_epochs=30),
}


class SAnDClassifier(NeuralEventClassifier):
    __doc__ = network_docstring("""SAnD (Song et al., 2018) on a regular grid, one prediction per stay.

    Each stay becomes a grid of ``n_steps`` steps of ``step`` hours (2-hour steps over 48 h by
    default, the MedFuse paper's protocol). Per step the scaled values, the observation mask
    and the time since each channel's last observation are embedded (a 1×1 convolution), the
    sinusoidal positional encoding is added, ``n_layers`` blocks of self-attention restricted
    to the last ``window`` steps (causal) and a feed-forward transform the sequence, and the
    paper's dense interpolation condenses the ``T`` outputs into ``factor`` vectors
    (``u_m = Σ_t (1 − |M t / T − m| / M)² s_t``), whose concatenation is classified.

    Hyperparameters: the MedFuse paper's appendix Table 4 (see ``models/_neural.py`` for why
    that table): hidden 64, 4 layers, learning rate 5e-4, early stopping at 30 epochs (read
    as ``max_epochs``, with early stopping on 10 % of the stays). Where it is silent, the
    STraTS authors' P12 SAnD (4 heads, ``r`` 24, ``M`` 12, dropout 0.2), whose hidden size,
    depth and learning rate Table 4 repeats; the positional encoding is the SAnD paper's
    fixed sinusoid (STraTS' port learns one).
""", PARAMS)
    params = PARAMS
    layout = "grid"
    default_module = SAnDModule
    inputs = ("values", "mask", "delta")

    def _check_network(self) -> None:
        if self.hidden_size % self.n_heads:
            raise self._invalid(f"hidden_size={self.hidden_size} must be a multiple of "
                                f"n_heads={self.n_heads}")
