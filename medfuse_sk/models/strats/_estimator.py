"""``StratsClassifier``: STraTS on each stay's (feature, value, time) triplets, with its
self-supervised forecasting pre-training as an option."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.utils._param_validation import Interval

from ...data import TokenSet, static_feature_ids
from .._neural import NeuralEventClassifier, network_docstring, neural_params
from .._spec import Param
from ._network import StratsModule
from ._pretrain import pretrain_forecaster

__all__ = ["StratsClassifier", "PARAMS"]

_POSITIVE_INT = Interval(Integral, 1, None, closed="left")
_SHARE = Interval(Real, 0, 1, closed="left")
_POSITIVE = Interval(Real, 0, None, closed="neither")

#: StratsClassifier's parameters: the network's, pre-training, then the shared ones.
PARAMS: dict[str, Param] = {
    "d_model": Param(64, [_POSITIVE_INT], "Width of the triplet embeddings and the Transformer "
                     "(Table 4: hidden 64).", to="module", kind="int"),
    "n_layers": Param(2, [_POSITIVE_INT], "Transformer blocks (Table 4: 2).", to="module",
                      kind="int"),
    "n_heads": Param(16, [_POSITIVE_INT], "Attention heads; ``d_model`` must be a multiple of "
                     "it (the authors' P12 run: 16).", to="module", kind="int"),
    "dropout": Param(0.2, [_SHARE], "Dropout of the triplet embeddings and in every block, and "
                     "the probability of dropping each feature of a stay in training (the "
                     "authors': 0.2).", to="module", kind="float in [0, 1)"),
    "attention_dropout": Param(0.2, [_SHARE], "Dropout of the attention weights (the "
                               "authors': 0.2; any value above 0 takes PyTorch's slower "
                               "attention path on CPU).", to="module", kind="float in [0, 1)"),
    "static_branch": Param(True, ["boolean"], "Read the static descriptors (the features that "
                           "occur at most once per stay, at its first time: age, sex, unit "
                           "type...) through STraTS' demographics network instead of the "
                           "sequence.", kind="bool"),
    "pretrain_epochs": Param(0, [Interval(Integral, 0, None, closed="left")],
                             "Epochs of self-supervised forecasting pre-training on the "
                             "training stays before the classifier is trained (0: none; the "
                             "authors: up to 100 with early stopping).", kind="int >= 0"),
    "pretrain_lr": Param(5e-4, [_POSITIVE], "Adam's learning rate in pre-training (the "
                         "authors': 5e-4).", kind="float > 0"),
    "forecast_window": Param(2.0, [_POSITIVE], "Hours after the cut-off whose values are "
                             "forecast in pre-training (the authors': 2).", kind="float > 0"),
    "pretrain_min_time": Param(12.0, [Interval(Real, 0, None, closed="left")],
                               "Earliest cut-off time in pre-training, in hours (the "
                               "authors': 12).", kind="float >= 0"),
    **neural_params("tokens", lr=5e-4, max_epochs=50, batch_size=16,
                    class_weight="balanced"),
}


class StratsClassifier(NeuralEventClassifier):
    __doc__ = network_docstring("""STraTS (Tipirneni & Reddy, 2022) on raw observations, one risk per stay.

    Every observation (one token per event through the fitted ``tokenizer``, values scaled per
    feature) is a triplet embedded as ``E[f] + CVE(x) + CVE(t)``: a learned feature embedding
    plus continuous value embeddings of the value and of the time (``1 → ⌊√d⌋ → d``, tanh;
    times scaled to ``[-1, 1]`` by ``time_scale_``, the latest training time). A Transformer
    (the authors' re-implementation: no LayerNorm, averaged residuals, GELU) contextualises
    the triplets, fusion self-attention pools them, and the static descriptors go through
    their own network (``static_branch``); both meet in the head. Categorical tokens are
    variables of their own, one per class, with value 1. In training each feature of a stay
    is dropped whole with probability ``dropout``.

    ``pretrain_epochs > 0`` first trains the network, with a forecasting head and no labels,
    to predict every feature's next value in the ``forecast_window`` hours after a random
    cut-off (STraTS' self-supervision); the classifier is then trained from those weights,
    reading the forecast (``logit = w · forecast + b``), as the authors fine-tune. The
    authors fine-tune at a learning rate of 5e-5 (``lr=5e-5``) after pre-training.

    Hyperparameters: the MedFuse paper's appendix Table 4 (its MedFuse column matches the
    authors' released P12 configuration, see ``models/_neural.py``): hidden 64, 2 layers,
    learning rate 5e-4, early stopping at 50 epochs (read as ``max_epochs``, with early
    stopping on 10 % of the stays). The table repeats the authors' PyTorch re-implementation
    (``sindhura97/STraTS``, ``run_main.sh``), which gives the rest: 16 heads, dropout and
    attention dropout 0.2, batch 16, positive stays weighted by ``n_negative / n_positive``
    (``class_weight="balanced"``), pre-training on 2-hour windows from hour 12 at 5e-4.
    Approximations: the attention dropout drops attention weights (PyTorch's); the authors'
    code masks attention logits at random. The authors keep each stay's 880 observations at
    random, the tokenizer the last ``max_tokens`` (1,000).
""", PARAMS, attributes="""    time_scale_ : float
        Hours that map to 1 (the latest token time of the training stays).
    static_features_ : list of int
        Vocabulary ids of the static descriptors the static branch reads.
    pretrain_history_ : list of float
        Mean forecasting loss of each pre-training epoch (empty without pre-training).
""")
    params = PARAMS
    layout = "tokens"
    default_module = StratsModule
    inputs = ("feature", "value", "category", "time", "mask")

    def _check_network(self) -> None:
        if self.d_model % self.n_heads:
            raise self._invalid(f"d_model={self.d_model} must be a multiple of "
                                f"n_heads={self.n_heads}")

    def _learn_input(self, data: TokenSet) -> None:
        super()._learn_input(data)
        latest = float(np.max(data.columns["time"], initial=0.0))
        self.time_scale_ = latest if latest > 0 else 1.0
        self.static_features_ = (static_feature_ids(data).tolist() if self.static_branch
                                 else [])
        self.pretrain_history_ = []

    def _shape_params(self) -> dict:
        return {**super()._shape_params(), "time_scale": self.time_scale_,
                "static_features": tuple(self.static_features_),
                "forecast": self.pretrain_epochs > 0}

    def fit(self, X: Any, y: Any, sample_weight: Any = None, **fit_params: Any):
        self._pretrain_pending = True
        try:
            return super().fit(X, y, sample_weight=sample_weight, **fit_params)
        finally:
            vars(self).pop("_pretrain_pending", None)

    fit.__doc__ = NeuralEventClassifier.fit.__doc__

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        # skorch's fit: initialize() (a new network), then partial_fit; pre-train once per fit
        if vars(self).pop("_pretrain_pending", False) and self.pretrain_epochs:
            if not self.initialized_:
                self.initialize()
            self._pretrain(X)
        return super().partial_fit(X, y, classes=classes, **fit_params)

    def _pretrain(self, dataset) -> None:
        while isinstance(dataset, torch.utils.data.Subset):
            dataset = dataset.dataset
        seed = int(torch.randint(0, 2**31 - 1, (1,)).item())  # follows the fit's seed
        self.pretrain_history_ = pretrain_forecaster(
            self.module_, dataset.tokens, epochs=self.pretrain_epochs, lr=self.pretrain_lr,
            batch_size=self.batch_size, window=self.forecast_window,
            min_time=self.pretrain_min_time, device=self.device_, seed=seed)
