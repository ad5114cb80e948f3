"""``TransformerClassifier``: a Transformer encoder on a regular grid of each stay's events."""

from __future__ import annotations

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval

from .._neural import NeuralEventClassifier, network_docstring, neural_params
from .._spec import Param
from ._network import GridTransformerModule

__all__ = ["TransformerClassifier", "PARAMS"]

_POSITIVE_INT = Interval(Integral, 1, None, closed="left")
_SHARE = Interval(Real, 0, 1, closed="left")

#: TransformerClassifier's parameters: the network's, then the shared ones.
PARAMS: dict[str, Param] = {
    "d_model": Param(144, [_POSITIVE_INT], "Token and encoder width.", to="module", kind="int"),
    "n_layers": Param(1, [_POSITIVE_INT], "Encoder layers.", to="module", kind="int"),
    "n_heads": Param(1, [_POSITIVE_INT], "Attention heads; ``d_model`` must be a multiple of it.",
                     to="module", kind="int"),
    "dim_feedforward": Param(144, [_POSITIVE_INT], "Feed-forward width.", to="module",
                             kind="int"),
    "dropout": Param(0.1, [_SHARE], "Dropout in the encoder layers.", to="module",
                     kind="float in [0, 1)"),
    "head_dropout": Param(0.45, [_SHARE], "Dropout in the head.", to="module",
                          kind="float in [0, 1)"),
    "norm_first": Param(False, ["boolean"], "Pre-LayerNorm layers instead of post-LayerNorm.",
                        to="module", kind="bool"),
    **neural_params("grid", lr=1e-4, max_epochs=30),
}


class TransformerClassifier(NeuralEventClassifier):
    __doc__ = network_docstring("""A Transformer encoder on a regular grid, one prediction per stay.

    The MedFuse paper's "Transformer encoder" row. Each stay becomes a grid of ``n_steps``
    steps of ``step`` hours (2-hour steps over 48 h by default, the paper's protocol); each
    step is one token (its scaled values, observation mask and time since each channel's
    last observation, mapped linearly to ``d_model``, plus the sinusoidal encoding of the
    step); the encoder's outputs are averaged over the steps and classified.

    Hyperparameters: the appendix tables have no Transformer column. The encoder is the one
    the MedFuse authors released for P12 (d 144, one post-LayerNorm layer, one head,
    feed-forward 144, GELU, head 144 → 72 → 1 with dropout 0.45, Adam 1e-4), so that this row
    differs from MedFuse in its input (a grid instead of MuFuse tokens); 30 epochs, MedFuse's
    early-stopping figure in Table 4, read as ``max_epochs`` with early stopping on 10 % of
    the stays.
""", PARAMS)
    params = PARAMS
    layout = "grid"
    default_module = GridTransformerModule
    inputs = ("values", "mask", "delta")

    def _check_network(self) -> None:
        if self.d_model % self.n_heads:
            raise self._invalid(f"d_model={self.d_model} must be a multiple of "
                                f"n_heads={self.n_heads}")
