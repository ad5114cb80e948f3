"""``TCNClassifier``: a temporal convolutional network on a regular grid of each stay's events."""

from __future__ import annotations

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval

from .._neural import NeuralEventClassifier, network_docstring, neural_params
from .._spec import Param
from ._network import TCNModule

__all__ = ["TCNClassifier", "PARAMS"]

_POSITIVE_INT = Interval(Integral, 1, None, closed="left")

#: TCNClassifier's parameters: the network's, then the shared ones with TCN's defaults.
PARAMS: dict[str, Param] = {
    "hidden_size": Param(64, [_POSITIVE_INT], "Channels of every residual block (Table 4).",
                         to="module", kind="int"),
    "n_layers": Param(4, [_POSITIVE_INT],
                      "Residual blocks; block ``i`` dilates by ``2^i`` (Table 4: 4).",
                      to="module", kind="int"),
    "kernel_size": Param(4, [Interval(Integral, 2, None, closed="left")],
                         "Convolution width (the STraTS authors' P12 TCN: 4).", to="module",
                         kind="int >= 2"),
    "dropout": Param(0.2, [Interval(Real, 0, 1, closed="left")], "Dropout after every "
                     "convolution (the TCN paper's and STraTS' 0.2).", to="module",
                     kind="float in [0, 1)"),
    **neural_params("grid", lr=5e-4, max_epochs=23),
}


class TCNClassifier(NeuralEventClassifier):
    __doc__ = network_docstring("""TCN (Bai et al., 2018) on a regular grid, one prediction per stay.

    Each stay becomes a grid of ``n_steps`` steps of ``step`` hours (2-hour steps over 48 h by
    default, the MedFuse paper's protocol); per step the network reads the scaled values, the
    observation mask and the time since each channel's last observation, runs ``n_layers``
    residual blocks of weight-normalised causal convolutions (block ``i`` dilated by
    ``2^i``: the output at a step never reads a later step) and classifies the last step's
    output. The training loop, input checks, ``random_state``, clone / pickle and safe model
    files are :class:`~medfuse_sk.models.NeuralEventClassifier`'s.

    Hyperparameters: the MedFuse paper's appendix Table 4 (its MedFuse column matches the
    authors' released P12 configuration, see ``models/_neural.py``): hidden 64, 4 layers,
    learning rate 5e-4, early stopping at 23 epochs (read as ``max_epochs``, with early
    stopping on 10 % of the stays). Where it is silent, the STraTS authors' P12 TCN (kernel 4,
    dropout 0.2, Adam), whose hidden size, depth and learning rate Table 4 repeats.
""", PARAMS)
    params = PARAMS
    layout = "grid"
    default_module = TCNModule
    inputs = ("values", "mask", "delta")
