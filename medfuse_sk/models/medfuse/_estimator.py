"""``MedFuseClassifier``: MedFuse as a scikit-learn classifier, built on skorch.

It accepts a long-format event table (pandas), an :class:`EventSet`, or the
:class:`TokenSet` an :class:`EventTokenizer` produces inside a Pipeline. Given events, it
fits its own tokenizer (``tokenizer``, default ``EventTokenizer(window=2.0)``) on the training
stays.

Parameters, their defaults and their allowed values are one spec,
:data:`medfuse_sk.models.PARAMS`; ``fit`` checks them with scikit-learn's parameter
validation (``InvalidParameterError`` naming the parameter, the value and what is allowed).

Validation split: by default (``valid_size=0``) the network trains on every training stay
for ``max_epochs`` epochs of its cosine schedule (``"auto"``: 8 to 20, by the number of
stays), with averaged weights. With
``valid_size > 0`` (or a ``train_split``) that share of the training stays, stratified and
drawn with ``random_state``, is held out for early stopping on validation AUPRC, and the
weights of the best epoch are kept.

Device: ``device="auto"`` (the default) trains on CUDA when torch sees a GPU, else on the
CPU; ``fit`` resolves it once into ``device_``, which skorch uses, while the parameter stays
``"auto"`` for ``clone`` and ``get_params``. A saved or pickled ``"auto"`` model comes back on
the loading machine's device.

Randomness: ``fit`` runs on forked generators seeded from ``random_state`` (the base
classifier's RNG fork), so the process's global torch and numpy RNGs are the same after
``fit`` as before, and evaluation loaders get their own generator.

What every model on stays shares (reading tables, tokens, labels and weights by stay, the RNG
fork, ``predict_risk``, ``check_is_fitted``) comes from
:class:`~medfuse_sk.models.EventClassifierMixin`; what every torch network shares (skorch's
training with the library's loss, schedule, weight averaging, token dropout, batches,
validation split, ``device="auto"``, fit and prediction) from
:class:`~medfuse_sk.models.NeuralEventClassifier`, whose tokens layout this is. This module
adds MedFuse's network: the ensemble of ``n_models`` or several fusions, the static branch,
the kernel, the rules that tie its parameters together, and ``explain``.
"""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd
import torch

from ...data import TokenSet, static_feature_ids
from .._device import resolve_device
from .._losses import BinaryLoss
from .._neural import NeuralEventClassifier
from .._spec import docstring
from ._embedding import resolve_kernel
from ._network import MedFuseEnsemble, MedFuseModule
from ._params import AUTO_EPOCHS, AUTO_LR, PARAMS, TOKENIZER_DEFAULTS, check_fusion

__all__ = ["MedFuseClassifier"]


class MedFuseClassifier(NeuralEventClassifier):
    __doc__ = """MedFuse classifier for irregular clinical time series, one prediction per stay.

    Parameters
    ----------
    module : nn.Module class, default MedFuseModule
        The network; with ``n_models > 1`` (or several fusions) a ``MedFuseEnsemble``.
    criterion : nn.Module class, default BinaryLoss
    optimizer : torch optimizer class, default torch.optim.AdamW
{parameters}
    **kwargs
        Any other skorch ``NeuralNet`` argument (``callbacks``, ``optimizer__*``,
        ``iterator_train__num_workers``, ...).

    Attributes
    ----------
    tokenizer_ : EventTokenizer or None
        The fitted tokenizer when ``fit`` received events, else None.
    device_ : str
        The device the network runs on (``"cpu"``, ``"cuda"``, ...): ``device`` as resolved
        by ``fit`` (``"auto"`` → CUDA when torch sees a GPU, else the CPU), or by
        ``load_model`` on the loading machine.
    feature_names_ : ndarray
        The feature vocabulary the network was built for.
    static_features_ : list of int
        Vocabulary ids of the static descriptors the static branch reads
        (``feature_names_[static_features_]`` names them); empty without ``static_branch``.
    module_ : MedFuseModule or MedFuseEnsemble
    n_epochs_ : int
        The epochs the fit trained (``max_epochs``, or the number ``"auto"`` chose).
    lr_ : float
        The peak learning rate the fit used (``lr``, or the rate ``"auto"`` chose).
    history_ : skorch History (per-epoch losses, validation AUPRC/AUROC, durations; the
        learning rate of every batch as ``event_lr``)
    """.replace("{parameters}", docstring(PARAMS))

    params = PARAMS
    auto_epochs = AUTO_EPOCHS
    auto_lr = AUTO_LR
    tokenizer_defaults = TOKENIZER_DEFAULTS
    layout = "tokens"
    default_module = MedFuseModule
    structure = {"module": MedFuseModule, "criterion": BinaryLoss, "optimizer": torch.optim.AdamW}

    # -- parameters ----------------------------------------------------------------------
    def _check_network(self) -> None:
        """The rules that tie MedFuse's parameters together; ``kernel="triton"`` without
        triton or a GPU fails here too."""
        if self.d_model % self.n_heads:
            raise self._invalid(f"d_model={self.d_model} must be a multiple of "
                                f"n_heads={self.n_heads}")
        if self.d_model % self.partition_factor:
            raise self._invalid(f"d_model={self.d_model} must be a multiple of partition_factor="
                                f"{self.partition_factor} (each gate scales a whole block of k "
                                "entries)")
        fusions = check_fusion(self.fusion)
        if self.n_models != 1 and self.n_models % len(fusions):
            raise self._invalid(f"n_models={self.n_models} must be 1 (one network per fusion) or "
                                f"a multiple of the {len(fusions)} fusions {fusions}")
        resolve_kernel(self.kernel, resolve_device(self.device))

    def _n_members(self) -> int:
        """Networks in the module: ``n_models``, or one per fusion when several are given."""
        return max(self.n_models, len(check_fusion(self.fusion)))

    # -- the network ---------------------------------------------------------------------
    def _learn_input(self, data: TokenSet) -> None:
        super()._learn_input(data)
        self.static_features_ = (static_feature_ids(data).tolist() if self.static_branch
                                 else [])
        if self.static_branch and not self.static_features_:
            warnings.warn("static_branch=True, but no feature is static in these stays (at "
                          "most one token per stay, at its first token): the network has no "
                          "static branch", stacklevel=3)

    def _shape_params(self) -> dict[str, Any]:
        return {**super()._shape_params(),
                "static_features": tuple(getattr(self, "static_features_", ()))}

    def initialize_module(self):
        """``MedFuseModule``, or a ``MedFuseEnsemble`` of ``_n_members()`` of them."""
        if self._n_members() > 1 and self.module is MedFuseModule:
            kwargs = {**self.get_params_for("module"), "n_models": self._n_members()}
            self.module_ = self.initialized_instance(MedFuseEnsemble, kwargs)
            return self
        return super().initialize_module()

    def explain(self, X: Any, **kwargs: Any) -> pd.DataFrame:
        """Per-token attributions of each stay's risk (integrated gradients, needs Captum).

        See :func:`medfuse_sk.inspection.explain` for the options and the returned table.
        """
        from ...inspection import explain

        return explain(self, X, **kwargs)
