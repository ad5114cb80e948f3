"""``SummitClassifier``: SUMMIT (SCANE tokens and a Transformer encoder) as an estimator."""

from __future__ import annotations

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval

from ...data import EventTokenizer
from .._neural import NeuralEventClassifier, network_docstring, neural_params
from .._spec import Param
from ._network import SummitModule

__all__ = ["SummitClassifier", "PARAMS"]

_POSITIVE_INT = Interval(Integral, 1, None, closed="left")
_SHARE = Interval(Real, 0, 1, closed="left")

#: SummitClassifier's parameters: the network's, then the shared ones with SUMMIT's recipe.
PARAMS: dict[str, Param] = {
    "d_model": Param(144, [_POSITIVE_INT], "Token and encoder width (Table 4: 144).",
                     to="module", kind="int"),
    "n_layers": Param(1, [_POSITIVE_INT], "Encoder layers (Table 4: 1).", to="module",
                      kind="int"),
    "n_heads": Param(1, [_POSITIVE_INT], "Attention heads; ``d_model`` must be a multiple of "
                     "it (the authors' code base: 1).", to="module", kind="int"),
    "dim_feedforward": Param(144, [_POSITIVE_INT], "Feed-forward width (Table 4's second 144; "
                             "the authors' code base: as wide as the model).", to="module",
                             kind="int"),
    "dropout": Param(0.1, [_SHARE], "Dropout in the encoder (the authors' code base: 0.1).",
                     to="module", kind="float in [0, 1)"),
    "head_dropout": Param(0.45, [_SHARE], "Dropout in the head (the authors' code base: "
                          "0.45).", to="module", kind="float in [0, 1)"),
    "time_encoding": Param(True, ["boolean"], "Add the sinusoidal encoding of each token's "
                           "time.", to="module", kind="bool"),
    **neural_params("tokens", tokenizer=EventTokenizer(window=2.0), lr=3e-5, max_epochs=350,
                    batch_size=256, loss="focal", patience=50),
}


class SummitClassifier(NeuralEventClassifier):
    __doc__ = network_docstring("""SUMMIT (Huang et al., 2024) on events, one prediction per stay.

    SCANE tokens: every observed numerical value makes one token, its feature's learned
    embedding scaled by the (standardised) value, ``z = x · E[f]``, plus the sinusoidal
    encoding of its time; a categorical value joins its feature's embedding with a class
    embedding. Missing values make no token. A post-LayerNorm Transformer encoder, a mean
    over the observed tokens and a head ``d → d/2 → 1`` give the logit. The embedding is the
    library's :class:`~medfuse_sk.models.MuFuseEmbedding` with ``fusion="scane"`` (the
    MedFuse paper's App. E: SCANE is MuFuse with ``d_v = 1`` and no projector or gate) — but
    this is SUMMIT's network and recipe, not MedFuse with another fusion. The training loop,
    input checks, ``random_state``, clone / pickle and safe model files are
    :class:`~medfuse_sk.models.NeuralEventClassifier`'s.

    Hyperparameters: the MedFuse paper's appendix Table 4 (its MedFuse column matches the
    authors' released P12 configuration, see ``models/_neural.py``): 144 / 144, one layer,
    learning rate 3e-5, early stopping at 350 epochs (read as ``max_epochs``, with early
    stopping on 10 % of the stays, patience 50: at 3e-5 an epoch moves the network little).
    Approximations, where the SUMMIT paper and Table 4 are silent: the shapes of the code
    base the SUMMIT and MedFuse authors share (``dragonriderjjj/MedFuse``, whose ``TESNE``
    model is SUMMIT): one head, feed-forward 144, dropout 0.1 in the encoder and 0.45 in the
    head, focal loss (α 0.5, γ 2), Adam, batch 256; SUMMIT's summarisation into windows as
    2-hour windows (the default ``tokenizer``, ``EventTokenizer(window=2.0)``: the median of
    each feature per window, timed at its centre); the time encoding on hours rather than the
    window index; no dropout on the attention weights (PyTorch's fast attention path); the
    mean pools observed tokens only (the authors' code averages padding too).
""", PARAMS)
    params = PARAMS
    layout = "tokens"
    default_module = SummitModule
    inputs = ("feature", "value", "category", "time", "mask")

    def _check_network(self) -> None:
        if self.d_model % self.n_heads:
            raise self._invalid(f"d_model={self.d_model} must be a multiple of "
                                f"n_heads={self.n_heads}")
