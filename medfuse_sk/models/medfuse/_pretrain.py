"""Self-supervised pre-training of MedFuse's embedding and encoder on stays without labels.

:class:`MedFusePretrainer` trains the network of a :class:`~medfuse_sk.MedFuseClassifier`
(same embedding and encoder) on one or both of two objectives, then hands its weights to a
classifier (:meth:`MedFusePretrainer.make_classifier`, or the
:class:`~medfuse_sk.models.TransferEmbeddings` callback for another cohort).

Objectives
----------
``"masked"`` — masked value reconstruction (as DuETT's value masking): in every training
batch each numerical token is chosen with probability ``mask_rate``; a chosen token keeps its
feature and time but loses its value (its embedding becomes ``E[f] + m + PE(t)``, ``m`` a
learned mask vector); a small head reads the encoder's output at that position and predicts
the (scaled) value. Loss: mean squared error over the chosen tokens.

``"forecast"`` — forecasting (as STraTS): per stay a cut time ``τ`` is drawn uniformly between
30 % and 80 % of the stay's time span; the encoder sees the tokens before ``τ``; a linear head
on the mean of its outputs predicts, for every feature, the mean scaled value of its tokens in
``[τ, τ + forecast_window)``. Loss: mean squared error over the (stay, feature) pairs observed
there.

``"both"`` adds the two losses.

Values are scaled by the pretrainer's tokenizer (robust per-feature scaling by default), so
losses are in units of a feature's spread. Validation (``valid_size`` of the stays) uses the
same masks and cuts every epoch; the epoch with the lowest validation loss is kept.
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from torch import nn

from ...data import EventTokenizer, TokenSet
from .._base import EventModelMixin
from .._batching import LengthBucketSampler, TokenDataset, ordered_batches
from .._device import resolve_device
from ._embedding import time_encoding
from ._network import MedFuseModule
from ._params import DEFAULTS, PARAMS, check_fusion

__all__ = ["MedFusePretrainer", "OBJECTIVES", "ARCHITECTURE"]

OBJECTIVES = ("masked", "forecast", "both")
#: Parameters shared with MedFuseClassifier that fix the network's shape and arithmetic.
ARCHITECTURE = ("d_model", "partition_factor", "fusion", "gate", "value_hidden", "activation",
                "projector_gain", "beta_init", "time_encoding", "kernel", "n_layers", "n_heads",
                "dim_feedforward", "dropout", "norm_first")


class _Heads(nn.Module):
    """The pre-training heads: mask vector, value reconstruction head, forecast head."""

    def __init__(self, d_model: int, n_features: int) -> None:
        super().__init__()
        self.mask_token = nn.Parameter(torch.zeros(d_model))
        self.value = nn.Sequential(nn.Linear(d_model, d_model), nn.GELU(), nn.Linear(d_model, 1))
        self.forecast = nn.Linear(d_model, n_features)


def _encode(module: MedFuseModule, batch: Mapping[str, torch.Tensor], mask: torch.Tensor,
            hidden_value: torch.Tensor | None = None,
            mask_token: torch.Tensor | None = None) -> torch.Tensor:
    """Encoder outputs ``(B, L, d)``; tokens where ``hidden_value`` is True lose their value."""
    emb = module.embedding
    x = emb(batch["feature"], batch["value"], batch["time"], batch["category"])
    if hidden_value is not None and bool(hidden_value.any()):
        plain = emb.feature_table(batch["feature"]) + mask_token
        if emb.use_time:
            plain = plain + time_encoding(batch["time"], emb.d_model).to(plain.dtype)
        x = torch.where(hidden_value.unsqueeze(-1), plain, x)
    attn = mask[:, None, None, :]
    for layer in module.layers:
        x = layer(x, attn)
    return module.final_norm(x)


class MedFusePretrainer(EventModelMixin, BaseEstimator):
    """Self-supervised pre-training of a MedFuse network (objectives in the module docstring).

    Parameters
    ----------
    objective : {"masked", "forecast", "both"}, default "masked"
    mask_rate : float in (0, 1), default 0.15
        Share of numerical tokens whose value is hidden (``"masked"``).
    forecast_window : float > 0, default 4.0
        Hours after the cut whose values are forecast (``"forecast"``).
    d_model, partition_factor, fusion, gate, value_hidden, activation, projector_gain,
    beta_init, time_encoding, kernel, n_layers, n_heads, dim_feedforward, dropout, norm_first
        The network, as in :class:`~medfuse_sk.MedFuseClassifier` (its defaults, read from
        the parameter spec); a classifier must share them to receive the encoder.
    lr : float, default 1e-3
        AdamW learning rate (linear warm-up over the first epoch, then constant).
    weight_decay : float, default 1e-2
    max_epochs : int, default 10
    batch_size : int, default 64
    valid_size : float in [0, 1), default 0.1
        Share of the stays held out to pick the best epoch; 0 keeps the last.
    device : "auto", str or torch.device, default "auto"
        Where the network trains: ``"auto"`` is CUDA when torch sees a GPU, else the CPU
        (the fitted ``device_`` says which).
    random_state : int or None, default None
        Seeds weights, masks, cuts, batch order and the validation split; the global torch
        RNG is left as it was.
    verbose : int, default 1
        1 prints one line per epoch to stderr.
    tokenizer : EventTokenizer or None
        Used when ``fit`` receives events; ``None`` means ``EventTokenizer()``.
    stay, time, feature, value, time_unit, categorical
        Column names, the unit of numeric times (converted to hours; ``forecast_window`` is
        hours whatever it is) and categorical features of a long table (as the
        classifier's).

    Attributes
    ----------
    device_ : str
        The device ``fit`` trained on (``device`` resolved).
    module_ : MedFuseModule
        The pre-trained network (its classification head is untrained and never copied).
    heads_ : torch.nn.Module
        The pre-training heads.
    tokenizer_ : EventTokenizer or None
        The fitted tokenizer when ``fit`` received events.
    feature_names_ : ndarray
        The vocabulary the network was built for.
    history_ : list of dict
        Per epoch: ``epoch``, ``train_loss``, ``valid_loss`` (None without validation), ``dur``.
    best_epoch_ : int
    """

    def __init__(
        self,
        objective: str = "masked",
        mask_rate: float = 0.15,
        forecast_window: float = 4.0,
        *,
        d_model: int = DEFAULTS["d_model"],
        partition_factor: int = DEFAULTS["partition_factor"],
        fusion: str = DEFAULTS["fusion"],
        gate: str = DEFAULTS["gate"],
        value_hidden: int = DEFAULTS["value_hidden"],
        activation: str = DEFAULTS["activation"],
        projector_gain: float = DEFAULTS["projector_gain"],
        beta_init: float = DEFAULTS["beta_init"],
        time_encoding: bool = DEFAULTS["time_encoding"],
        kernel: str = DEFAULTS["kernel"],
        n_layers: int = DEFAULTS["n_layers"],
        n_heads: int = DEFAULTS["n_heads"],
        dim_feedforward: int | None = DEFAULTS["dim_feedforward"],
        dropout: float = DEFAULTS["dropout"],
        norm_first: bool = DEFAULTS["norm_first"],
        lr: float = 1e-3,
        weight_decay: float = PARAMS["weight_decay"].default,
        max_epochs: int = 10,
        batch_size: int = PARAMS["batch_size"].default,
        valid_size: float = 0.1,
        device: str = PARAMS["device"].default,
        random_state: int | None = PARAMS["random_state"].default,
        verbose: int = PARAMS["verbose"].default,
        tokenizer: EventTokenizer | None = PARAMS["tokenizer"].default,
        stay: str = PARAMS["stay"].default,
        time: str = PARAMS["time"].default,
        time_unit: str = PARAMS["time_unit"].default,
        feature: str = PARAMS["feature"].default,
        value: str = PARAMS["value"].default,
        categorical: Sequence[Any] | None = PARAMS["categorical"].default,
    ) -> None:
        self.objective = objective
        self.mask_rate = mask_rate
        self.forecast_window = forecast_window
        self.d_model = d_model
        self.partition_factor = partition_factor
        self.fusion = fusion
        self.gate = gate
        self.value_hidden = value_hidden
        self.activation = activation
        self.projector_gain = projector_gain
        self.beta_init = beta_init
        self.time_encoding = time_encoding
        self.kernel = kernel
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.dim_feedforward = dim_feedforward
        self.dropout = dropout
        self.norm_first = norm_first
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.valid_size = valid_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.tokenizer = tokenizer
        self.stay = stay
        self.time = time
        self.time_unit = time_unit
        self.feature = feature
        self.value = value
        self.categorical = categorical

    # -- checks and data -----------------------------------------------------------------
    def _check_params(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if not 0 < self.mask_rate < 1:
            raise ValueError(f"mask_rate must lie in (0, 1), got {self.mask_rate!r}")
        if not self.forecast_window > 0:
            raise ValueError(f"forecast_window must be > 0, got {self.forecast_window!r}")
        check_fusion(self.fusion, several=False)
        if not 0 <= self.valid_size < 1:
            raise ValueError(f"valid_size must lie in [0, 1), got {self.valid_size!r}")
        for name in ("max_epochs", "batch_size"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "module_")

    def architecture(self) -> dict[str, Any]:
        """The network parameters a classifier needs to receive the whole encoder."""
        return {name: getattr(self, name) for name in ARCHITECTURE}

    # -- the objectives ------------------------------------------------------------------
    def _loss(self, batch: dict[str, torch.Tensor], generator: torch.Generator) -> torch.Tensor:
        module, heads = self.module_, self.heads_
        mask = batch["mask"]
        numeric = mask & (batch["category"] < 0) & (batch["feature"] > 0)
        total = batch["value"].new_zeros(())
        if self.objective in ("masked", "both"):
            draw = torch.rand(mask.shape, generator=generator, device=mask.device)
            hidden = numeric & (draw < self.mask_rate)
            out = _encode(module, batch, mask, hidden, heads.mask_token)
            if hidden.any():
                predicted = heads.value(out[hidden]).squeeze(-1)
                total = total + torch.mean((predicted - batch["value"][hidden]) ** 2)
        if self.objective in ("forecast", "both"):
            total = total + self._forecast_loss(batch, numeric, generator)
        return total

    def _forecast_loss(self, batch: dict[str, torch.Tensor], numeric: torch.Tensor,
                       generator: torch.Generator) -> torch.Tensor:
        module, heads = self.module_, self.heads_
        mask, t = batch["mask"], batch["time"]
        big = torch.finfo(t.dtype).max
        t_min = torch.where(mask, t, big).amin(1)
        t_max = torch.where(mask, t, -big).amax(1)
        u = 0.3 + 0.5 * torch.rand(t.shape[0], generator=generator, device=t.device)
        cut = (t_min + u * (t_max - t_min)).unsqueeze(1)
        seen = mask & (t < cut)
        seen[:, 0] |= ~seen.any(1)  # a stay keeps at least its first token
        target_tokens = numeric & (t >= cut) & (t < cut + self.forecast_window)
        out = _encode(module, batch, seen)
        weights = seen.unsqueeze(-1).to(out.dtype)
        pooled = (out * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        predicted = heads.forecast(pooled)  # (B, F)
        n_features = predicted.shape[1]
        b, f = torch.nonzero(target_tokens, as_tuple=True)
        key = b * n_features + batch["feature"][b, f]
        sums = torch.zeros(t.shape[0] * n_features, device=t.device).index_add_(
            0, key, batch["value"][b, f])
        counts = torch.zeros_like(sums).index_add_(0, key, torch.ones_like(key, dtype=sums.dtype))
        observed = counts > 0
        if not observed.any():
            return predicted.new_zeros(())
        target = sums[observed] / counts[observed]
        return torch.mean((predicted.reshape(-1)[observed] - target) ** 2)

    # -- training ------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> MedFusePretrainer:
        """Pre-train on the stays of ``X`` (long table, EventSet or TokenSet); ``y`` is ignored.

        Returns
        -------
        self
        """
        self._check_params()
        device = resolve_device(self.device)
        tokens = self._fit_input(X)
        seed = self._fit_seed()
        self.device_ = device
        with self._own_rng(seed):
            self._fit(tokens, seed)
        return self

    def _fit(self, tokens: TokenSet, seed: int) -> None:
        rng = np.random.default_rng(seed)
        device = torch.device(self.device_)
        self.feature_names_ = tokens.feature_names
        self.n_categories_ = tokens.n_categories
        self.module_ = MedFuseModule(n_features=len(tokens.feature_names),
                                     n_categories=tokens.n_categories,
                                     **self.architecture()).to(device)
        self.heads_ = _Heads(self.d_model, len(tokens.feature_names)).to(device)
        params = [p for name, p in self.module_.named_parameters() if not name.startswith("head")]
        params += list(self.heads_.parameters())
        optimizer = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)

        order = rng.permutation(len(tokens))
        n_valid = int(round(self.valid_size * len(tokens)))
        valid_idx, train_idx = np.sort(order[:n_valid]), np.sort(order[n_valid:])
        dataset = TokenDataset(tokens)
        lengths = tokens.lengths
        steps_per_epoch = -(-len(train_idx) // self.batch_size)
        self.history_: list[dict[str, Any]] = []
        best, best_state, step = np.inf, None, 0
        for epoch in range(1, int(self.max_epochs) + 1):
            began = time.perf_counter()
            self.module_.train()
            self.heads_.train()
            generator = torch.Generator(device=device).manual_seed(int(rng.integers(2**62)))
            sampler = LengthBucketSampler(lengths[train_idx], self.batch_size,
                                          int(rng.integers(2**31)))
            losses, sizes = [], []
            for positions in sampler:
                batch = self._batch(dataset, train_idx[positions], device)
                for group in optimizer.param_groups:
                    group["lr"] = self.lr * min(1.0, (step + 1) / steps_per_epoch)
                loss = self._loss(batch, generator)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
                step += 1
                losses.append(float(loss.detach()))
                sizes.append(len(positions))
            train_loss = float(np.average(losses, weights=sizes))
            valid_loss = self._evaluate(dataset, valid_idx, device) if n_valid else None
            self.history_.append({"epoch": epoch, "train_loss": train_loss,
                                  "valid_loss": valid_loss,
                                  "dur": time.perf_counter() - began})
            judged = valid_loss if valid_loss is not None else train_loss
            if valid_loss is None or judged < best:
                best, self.best_epoch_ = judged, epoch
                best_state = (copy.deepcopy(self.module_.state_dict()),
                              copy.deepcopy(self.heads_.state_dict()))
            if self.verbose:
                shown = "-" if valid_loss is None else f"{valid_loss:.4f}"
                print(f"pretrain epoch {epoch:3d}  train_loss {train_loss:.4f}  valid_loss "
                      f"{shown}  {self.history_[-1]['dur']:.1f} s", file=sys.stderr)
        self.module_.load_state_dict(best_state[0])
        self.heads_.load_state_dict(best_state[1])
        self.module_.eval()
        self.heads_.eval()

    def _batch(self, dataset: TokenDataset, stays: np.ndarray,
               device: torch.device) -> dict[str, torch.Tensor]:
        batch, _ = dataset.collate(stays)
        return {k: v.to(device) for k, v in batch.items()}

    @torch.no_grad()
    def _evaluate(self, dataset: TokenDataset, stays: np.ndarray, device: torch.device,
                  seed: int = 0) -> float:
        """Mean loss over ``stays`` with masks and cuts fixed by ``seed``."""
        self.module_.eval()
        self.heads_.eval()
        generator = torch.Generator(device=device).manual_seed(seed)
        total, n = 0.0, 0
        for batch in ordered_batches(len(stays), self.batch_size):
            chunk = stays[batch]
            total += float(self._loss(self._batch(dataset, chunk, device), generator)) * len(chunk)
            n += len(chunk)
        return total / max(n, 1)

    def score(self, X: Any, y: Any = None) -> float:
        """Minus the pre-training loss on ``X`` (fixed masks and cuts): higher is better, so
        model selection tools can compare pre-training settings."""
        tokens = self.transform_tokens(X)
        stays = np.arange(len(tokens))
        device = next(self.module_.parameters()).device
        return -self._evaluate(TokenDataset(tokens), stays, device)

    # -- hand-over -----------------------------------------------------------------------
    def make_classifier(self, *, parts: Iterable[str] = ("features", "value", "encoder"),
                        freeze_epochs: int = 0, name_map: Mapping[str, str] | None = None,
                        **params: Any):
        """A :class:`~medfuse_sk.MedFuseClassifier` initialised from this pre-trained network.

        The classifier gets this pretrainer's architecture (and, unless ``tokenizer`` is given,
        a copy of its tokenizer settings) and a
        :class:`~medfuse_sk.models.TransferEmbeddings` callback named ``"pretrained"``
        that copies ``parts`` at the start of every ``fit``.

        Parameters
        ----------
        parts : iterable of {"features", "value", "encoder"}, default all three
        freeze_epochs : int, default 0
            Epochs during which the copied feature rows stay fixed.
        name_map : mapping of target feature name → source feature name, optional
        **params
            Any other classifier parameter (``max_epochs``, ``lr``, ``callbacks``, ...).
        """
        from ._estimator import MedFuseClassifier
        from ._transfer import TransferEmbeddings

        self.check_is_fitted()
        arguments = {**self.architecture(), "random_state": self.random_state,
                     "device": self.device}
        if self.tokenizer is not None:
            arguments["tokenizer"] = clone(self.tokenizer)
        arguments.update(params)
        callback = TransferEmbeddings(self, name_map=name_map, parts=tuple(parts),
                                      freeze_epochs=freeze_epochs)
        arguments["callbacks"] = [*list(arguments.get("callbacks") or []),
                                  ("pretrained", callback)]
        return MedFuseClassifier(**arguments)
