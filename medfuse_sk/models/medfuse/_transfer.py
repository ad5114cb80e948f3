"""Transfer of learned weights between MedFuse models, by feature name (paper §4.8).

A source (a fitted :class:`~medfuse_sk.MedFuseClassifier` or
:class:`~medfuse_sk.pretrain.MedFusePretrainer`) initialises a target classifier before it
trains. Feature-indexed weights are matched by **feature name**, through a user-given
``name_map`` (target name → source name) and, unless ``same_names=False``, by identical names.

What can be copied (``parts``)
------------------------------
- ``"features"``: the rows of the feature table ``E`` of the matched features and, when both
  models use MuFuse with the same ``d_v``, their rows of the per-feature affine ``α``, ``β``.
  The paper's protocol copies ``E`` only; the affine rows belong to the same feature.
- ``"value"``: the shared value projector ``φ`` and the categorical / concat projections
  (copied whole when the shapes agree).
- ``"encoder"``: the Transformer layers and the final norm (whole, when the shapes agree).

The ``"<empty>"`` token (vocabulary entry 0 of every tokenizer, the one token of a stay without
events) is matched like any feature. Class embeddings of categorical features are not copied
(class ids are per tokenizer); the classifier's head is never copied. A part whose shapes
differ is an error naming the parameter and both shapes.

Freezing: the copied feature rows (``E``, ``α``, ``β``) are held fixed for the first
``freeze_epochs`` epochs of the target's training: their gradients are zeroed, and after each
optimizer step they are put back (so AdamW's decoupled weight decay cannot move them either).
From then on everything trains. Features of the target without a match start fresh and are
listed in a warning.

:data:`P12_FROM_P19` maps PhysioNet 2012 names to PhysioNet 2019 names;
:data:`P19_FROM_P12` the other way.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from skorch.callbacks import Callback

__all__ = ["P12_FROM_P19", "P19_FROM_P12", "PARTS", "TransferEmbeddings", "TransferResult",
           "transfer_weights"]

PARTS = ("features", "value", "encoder")

#: PhysioNet 2012 feature (target) → PhysioNet 2019 feature (source), for the features both
#: cohorts measure. 19 of the 25 shared ICU features of the paper's Appendix C are in both
#: (P19 has no Height, Weight, ALT, Albumin, Na, Urine); the last 7 entries are further labs
#: and Gender. P12 splits invasive and non-invasive blood pressure; P19 does not: both map to
#: P19's single series. P12's SaO2 (arterial blood gas) maps to P19's SaO2, not to the pulse
#: oximetry O2Sat.
P12_FROM_P19: dict[str, str] = {
    "Age": "Age", "HR": "HR", "Temp": "Temp", "RespRate": "Resp", "SaO2": "SaO2",
    "SysABP": "SBP", "NISysABP": "SBP", "DiasABP": "DBP", "NIDiasABP": "DBP",
    "MAP": "MAP", "NIMAP": "MAP", "AST": "AST", "ALP": "Alkalinephos",
    "Bilirubin": "Bilirubin_total", "Creatinine": "Creatinine", "BUN": "BUN", "WBC": "WBC",
    "Platelets": "Platelets", "Glucose": "Glucose", "Lactate": "Lactate", "pH": "pH",
    "FiO2": "FiO2",
    "K": "Potassium", "Mg": "Magnesium", "HCO3": "HCO3", "HCT": "Hct", "PaCO2": "PaCO2",
    "TroponinI": "TroponinI", "Gender": "Gender",
}  # fmt: skip
#: PhysioNet 2019 feature (target) → PhysioNet 2012 feature (source); blood pressures take
#: P12's invasive series.
P19_FROM_P12: dict[str, str] = {
    p19: p12 for p12, p19 in P12_FROM_P19.items() if not p12.startswith("NI")}


@dataclass
class TransferResult:
    """What :func:`transfer_weights` did.

    Attributes
    ----------
    matched : dict
        Target feature name → source feature name, for the features whose rows were copied.
    unmatched : list of str
        Target features without a source (they keep their fresh initialisation).
    rows : numpy.ndarray
        Target vocabulary ids of the matched features.
    copied : list of str
        Names of the target parameters written to (whole or by rows).
    """

    matched: dict[str, str] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)
    rows: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int64))
    copied: list[str] = field(default_factory=list)


def _single(module: torch.nn.Module) -> torch.nn.Module:
    members = getattr(module, "members", None)
    return members[0] if members is not None else module


def _members(module: torch.nn.Module) -> list[torch.nn.Module]:
    members = getattr(module, "members", None)
    return list(members) if members is not None else [module]


def _source_parts(source: Any) -> tuple[torch.nn.Module, np.ndarray]:
    module = getattr(source, "module_", None)
    names = getattr(source, "feature_names_", None)
    if module is None or names is None:
        raise ValueError(
            f"the transfer source {type(source).__name__} is not fitted (it has no module_ / "
            "feature_names_). Note that sklearn.clone resets an estimator passed as a "
            "parameter: pass the fitted source through TransferEmbeddings (which clone keeps "
            "as is) or sklearn.frozen.FrozenEstimator.")
    if hasattr(module, "members"):
        warnings.warn("the transfer source is an ensemble; its first member is used",
                      UserWarning, stacklevel=3)
    return _single(module), np.asarray(names, dtype=object)


def _match(target_names: np.ndarray, source_names: np.ndarray, name_map: Mapping | None,
           same_names: bool) -> tuple[dict[str, str], list[str], np.ndarray, np.ndarray]:
    source_index = {str(n): i for i, n in enumerate(source_names)}
    name_map = {str(k): str(v) for k, v in (name_map or {}).items()}
    matched, unmatched, rows, source_rows = {}, [], [], []
    for i, name in enumerate(target_names):
        name = str(name)
        source = name_map.get(name, name if same_names else None)
        if source is not None and source in source_index:
            matched[name] = source
            rows.append(i)
            source_rows.append(source_index[source])
        else:
            unmatched.append(name)
    return matched, unmatched, np.asarray(rows, dtype=np.int64), np.asarray(source_rows,
                                                                             dtype=np.int64)


def _copy_whole(target: torch.nn.Module, source: torch.nn.Module, prefix: str,
                copied: list[str]) -> None:
    source_state = dict(source.named_parameters())
    for name, param in target.named_parameters():
        if not name.startswith(prefix):
            continue
        if name not in source_state:
            raise ValueError(f"transfer: the source has no parameter {name!r} (target "
                             f"architecture differs from the source's)")
        if source_state[name].shape != param.shape:
            raise ValueError(f"transfer: parameter {name!r} has shape "
                             f"{tuple(source_state[name].shape)} in the source and "
                             f"{tuple(param.shape)} in the target")
        param.copy_(source_state[name].to(param.device, param.dtype))
        copied.append(name)


def _row_parameters(embedding: torch.nn.Module, source_embedding: torch.nn.Module
                    ) -> list[tuple[str, torch.nn.Parameter, torch.Tensor]]:
    """The per-feature parameters (name, target, source) that are copied by rows."""
    pairs = [("embedding.feature_table.weight", embedding.feature_table.weight,
              source_embedding.feature_table.weight)]
    for name in ("alpha", "beta"):
        t, s = getattr(embedding, name, None), getattr(source_embedding, name, None)
        if t is not None and s is not None and t.shape[1] == s.shape[1]:
            pairs.append((f"embedding.{name}", t, s))
    return pairs


@torch.no_grad()
def transfer_weights(source: Any, target_module: torch.nn.Module, target_feature_names: Iterable,
                     *, name_map: Mapping[str, str] | None = None, same_names: bool = True,
                     parts: Iterable[str] = ("features",)) -> TransferResult:
    """Copy weights from a fitted source model into ``target_module`` (rules in the module
    docstring).

    Parameters
    ----------
    source : fitted MedFuseClassifier or MedFusePretrainer
        Anything with ``module_`` and ``feature_names_``.
    target_module : MedFuseModule or MedFuseEnsemble
        Every member of an ensemble receives the same weights.
    target_feature_names : sequence of str
        The target's vocabulary (``feature_names_``), in vocabulary-id order.
    name_map : mapping of target name → source name, optional
    same_names : bool, default True
        Also match target features to source features of the same name.
    parts : iterable of {"features", "value", "encoder"}, default ("features",)

    Returns
    -------
    TransferResult
    """
    parts = tuple(parts)
    bad = [p for p in parts if p not in PARTS]
    if bad or not parts:
        raise ValueError(f"parts must be a non-empty subset of {PARTS}, got {parts!r}")
    src, source_names = _source_parts(source)
    target_names = np.asarray(list(target_feature_names), dtype=object)
    if src.embedding.d_model != _single(target_module).embedding.d_model:
        raise ValueError(f"transfer: d_model differs (source {src.embedding.d_model}, target "
                         f"{_single(target_module).embedding.d_model})")
    matched, unmatched, rows, source_rows = _match(target_names, source_names, name_map,
                                                   same_names)
    result = TransferResult(matched=matched, unmatched=unmatched, rows=rows)
    for member in _members(target_module):
        copied: list[str] = []
        if "features" in parts and len(rows):
            for name, t, s in _row_parameters(member.embedding, src.embedding):
                t[torch.as_tensor(rows, device=t.device)] = s[torch.as_tensor(
                    source_rows, device=s.device)].to(t.device, t.dtype)
                copied.append(name)
        if "value" in parts:
            for prefix in ("embedding.projector", "embedding.concat_proj",
                           "embedding.class_proj"):
                _copy_whole(member, src, prefix, copied)
        if "encoder" in parts:
            if len(member.layers) != len(src.layers):
                raise ValueError(f"transfer: the source has {len(src.layers)} encoder layers, "
                                 f"the target {len(member.layers)}")
            _copy_whole(member, src, "layers.", copied)
            _copy_whole(member, src, "final_norm", copied)
        result.copied = copied
    return result


class TransferEmbeddings(Callback):
    """skorch callback: initialise a classifier from a fitted source model, by feature name,
    and freeze the copied feature rows for the first ``freeze_epochs`` epochs.

    Use it as ``MedFuseClassifier(callbacks=[("transfer", TransferEmbeddings(source, ...))])``
    (or build the classifier with :meth:`MedFusePretrainer.make_classifier`). It copies at the
    start of every ``fit`` (after the network is built; a ``warm_start`` fit that continues the
    same network copies nothing and keeps counting epochs), so it works inside a Pipeline (the
    classifier's vocabulary is whatever its input holds) and in cross-validation;
    ``sklearn.clone`` keeps the fitted source shared instead of resetting it.

    Parameters
    ----------
    source : fitted MedFuseClassifier or MedFusePretrainer
    name_map : mapping of target feature name → source feature name, optional
        E.g. :data:`P12_FROM_P19` when P19 is the source of a P12 classifier.
    same_names : bool, default True
        Also match features of the same name.
    parts : iterable of {"features", "value", "encoder"}, default ("features",)
        What to copy (see the module docstring). The paper's protocol is ``("features",)``.
    freeze_epochs : int, default 0
        Epochs during which the copied feature rows stay fixed.
    warn_unmatched : bool, default True
        Warn with the list of target features that have no match.

    Attributes
    ----------
    result_ : TransferResult
        What the last ``fit`` copied.
    history_ : list of bool
        Per epoch of the last ``fit``, whether the copied rows were frozen.
    """

    def __init__(self, source: Any, name_map: Mapping[str, str] | None = None,
                 same_names: bool = True, parts: Iterable[str] = ("features",),
                 freeze_epochs: int = 0, warn_unmatched: bool = True) -> None:
        self.source = source
        self.name_map = name_map
        self.same_names = same_names
        self.parts = parts
        self.freeze_epochs = freeze_epochs
        self.warn_unmatched = warn_unmatched

    def __sklearn_clone__(self) -> TransferEmbeddings:
        # the source is read, never written: share it (cloning an estimator would reset it)
        return type(self)(self.source, name_map=copy.deepcopy(self.name_map),
                          same_names=self.same_names, parts=copy.deepcopy(self.parts),
                          freeze_epochs=self.freeze_epochs, warn_unmatched=self.warn_unmatched)

    def initialize(self):
        if int(self.freeze_epochs) != self.freeze_epochs or self.freeze_epochs < 0:
            raise ValueError(f"freeze_epochs must be an integer >= 0, got {self.freeze_epochs!r}")
        self.result_ = None
        self.target_ = None
        self.history_ = []
        self.frozen_rows_: list[tuple[torch.nn.Parameter, torch.Tensor, torch.Tensor]] = []
        self.epoch_ = 0
        return self

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        if getattr(self, "target_", None) is net.module_:
            return  # warm start / partial_fit of the same network: copied already
        self.target_ = net.module_
        self.epoch_ = 0
        self.history_ = []
        self.result_ = transfer_weights(self.source, net.module_, net.feature_names_,
                                        name_map=self.name_map, same_names=self.same_names,
                                        parts=self.parts)
        if self.warn_unmatched and self.result_.unmatched:
            unmatched = self.result_.unmatched
            shown = ", ".join(unmatched[:30]) + (" ..." if len(unmatched) > 30 else "")
            warnings.warn(f"transfer: {len(unmatched)} of {len(unmatched) + len(self.result_.matched)}"
                          f" features have no match in the source and start fresh: {shown}",
                          UserWarning, stacklevel=2)
        self.frozen_rows_ = []
        if len(self.result_.rows) and "features" in tuple(self.parts):
            src = _single(self.source.module_).embedding
            for member in _members(net.module_):
                for _, param, _ in _row_parameters(member.embedding, src):
                    rows = torch.as_tensor(self.result_.rows, device=param.device)
                    self.frozen_rows_.append((param, rows, param.detach()[rows].clone()))
        for cb in dict(net.callbacks_).values():  # a weight average starts from the copy
            if type(cb).__name__ == "WeightAverage" and getattr(cb, "shadow_", None) is not None:
                cb.on_train_begin(net)

    def _is_frozen(self) -> bool:
        return self.epoch_ <= self.freeze_epochs

    def on_epoch_begin(self, net, **kwargs):
        self.epoch_ += 1
        self.history_.append(self._is_frozen() and bool(self.frozen_rows_))

    def on_grad_computed(self, net, named_parameters, X=None, y=None, training=False, **kwargs):
        if not self._is_frozen():
            return
        for param, rows, _ in self.frozen_rows_:
            if param.grad is not None:
                param.grad[rows] = 0

    @torch.no_grad()
    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if training and self._is_frozen():
            for param, rows, value in self.frozen_rows_:
                param[rows] = value
