"""``RaindropClassifier``: Raindrop (graph message passing between sensors) on a regular grid."""

from __future__ import annotations

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval

from .._neural import NeuralEventClassifier, network_docstring, neural_params
from .._spec import Param
from ._network import RaindropModule

__all__ = ["RaindropClassifier", "PARAMS"]

_POSITIVE_INT = Interval(Integral, 1, None, closed="left")
_SHARE = Interval(Real, 0, 1, closed="left")

#: RaindropClassifier's parameters: the network's, then the shared ones with Raindrop's.
PARAMS: dict[str, Param] = {
    "d_ob": Param(4, [_POSITIVE_INT], "Width of each observation's embedding (Raindrop: 4).",
                  to="module", kind="int"),
    "d_sensor": Param(16, [_POSITIVE_INT], "Width of the sensor embeddings ``r_v`` that the "
                      "attention between sensors reads.", to="module", kind="int"),
    "d_pe": Param(16, [Interval(Integral, 2, None, closed="left")],
                  "Width of the time encoding (Raindrop: 16); even.", to="module",
                  kind="even int"),
    "n_propagation": Param(2, [_POSITIVE_INT], "Message-passing layers (Raindrop: 2).",
                           to="module", kind="int"),
    "n_layers": Param(2, [_POSITIVE_INT], "Transformer layers over time (Raindrop: 2).",
                      to="module", kind="int"),
    "n_heads": Param(2, [_POSITIVE_INT],
                     "Heads of the Transformer over time (Raindrop: 2); must divide the token "
                     "width ``n_channels · d_ob + d_pe``.", to="module", kind="int"),
    "dim_feedforward": Param(None, [_POSITIVE_INT, None],
                             "Feed-forward width over time; ``None``: ``2 · n_channels · d_ob`` "
                             "(Raindrop's ``2 · d_model``).", to="module", kind="int or None"),
    "dropout": Param(0.2, [_SHARE], "Dropout (Raindrop: 0.2).", to="module",
                     kind="float in [0, 1)"),
    "edge_prune": Param(0.5, [_SHARE],
                        "Share of each stay's weakest sensor-graph edges removed between "
                        "message-passing layers (Raindrop: 50 %).", to="module",
                        kind="float in [0, 1)"),
    **neural_params("grid", lr=1e-4, max_epochs=20, batch_size=128),
}


class RaindropClassifier(NeuralEventClassifier):
    __doc__ = network_docstring("""Raindrop (Zhang et al., ICLR 2022) on a regular grid, in plain torch.

    Each stay becomes a grid of ``n_steps`` steps of ``step`` hours (2-hour steps over 48 h
    by default; PyPOTS' Raindrop reads the same kind of grid). Every channel is a sensor, a
    node of a graph: at each step, the observed sensors' embeddings pass messages to all
    sensors with attention that depends on the target sensor and the time; the stay's graph
    loses its weakest edges between layers; a Transformer over the steps and a mean over the
    observed steps give one logit. The message passing is plain torch: each stay's sensor
    graph is a dense adjacency and a layer is a few batched matrix products over every
    (source, target) pair at every step, with masks; no ``torch_scatter`` /
    ``torch_sparse``, which PyPOTS' Raindrop needs and which have no wheels here.

    Hyperparameters: the MedFuse paper has no Raindrop column; those of Raindrop's paper and
    released P12 code: observation width 4, time encoding 16, 2 message-passing layers, a
    2-layer, 2-head Transformer with feed-forward ``2 · d_model``, dropout 0.2, Adam 1e-4,
    batch 128, 20 epochs, 50 % edge pruning. Approximations, where the paper and its code
    differ or are silent: each graph layer's messages are added to the embeddings it reads
    (``h ← h + messages``; with the messages alone the embeddings shrank about a hundredfold
    per layer at initialisation and the network stayed at the base rate on P12); the
    attention between sensors is normalised over each sensor's incoming edges (the code; the
    paper writes a sigmoid); the paper's regulariser that pulls the stays' graphs together
    is left out; the static descriptors are grid channels (nodes) rather than a separate
    embedding; the positive class is not oversampled (use ``class_weight``).
""", PARAMS)
    params = PARAMS
    layout = "grid"
    default_module = RaindropModule
    inputs = ("values", "mask", "time")

    def _check_network(self) -> None:
        if self.d_pe % 2:
            raise self._invalid(f"d_pe={self.d_pe} must be even (sin and cos pairs)")
