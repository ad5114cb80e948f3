"""Raindrop in plain torch: its message passing between sensors against a computation written
as loops (also with logits that overflow a naive softmax, and targets without a source), its
edge pruning, learning, round trips, a grid search."""

import math

import numpy as np
import pytest
import torch
from network_checks import TINY_GRID, check_grid_search, check_round_trips, held_out_auroc, task

from medfuse_sk.models import create_model
from medfuse_sk.models.raindrop import (
    RaindropClassifier,
    RaindropModule,
    SensorPropagation,
)

SMALL = dict(d_sensor=4, d_pe=4, n_layers=1, batch_size=64, **{**TINY_GRID, "lr": 1e-2})


def _dense_propagation(layer, h, observed, pe, keep):
    """For every stay b, step t and target sensor v: softmax over the observed sources u with a
    kept edge u→v of (h_u D)·[r_v ‖ p_t] / √(d_r + d_pe); h'_v = ReLU(Σ_u α_uv h_u w_u w_vᵀ);
    and each edge's attention averaged over the steps at which it carried a message."""
    h, pe = h.double().numpy(), pe.double().numpy()
    D, r, w = (p.detach().double().numpy() for p in (layer.D, layer.sensor, layer.w))
    B, T, F, d = h.shape
    keep = keep.numpy().reshape(B, F, F)  # edge index u·F + v
    new = np.zeros((B, T, F, d))
    alpha_sum, used = np.zeros((B, F, F)), np.zeros((B, F, F))
    for b in range(B):
        for t in range(T):
            for v in range(F):
                sources = [u for u in range(F) if observed[b, t, u] and keep[b, u, v]]
                if not sources:
                    continue
                key = np.concatenate([r[v], pe[b, t]])
                scores = np.array([h[b, t, u] @ D @ key / math.sqrt(len(key)) for u in sources])
                a = np.exp(scores - scores.max())
                a /= a.sum()
                total = np.zeros(d)
                for weight, u in zip(a, sources):
                    total += weight * (h[b, t, u] @ np.outer(w[u], w[v]))
                    alpha_sum[b, u, v] += weight
                    used[b, u, v] += 1
                new[b, t, v] = np.maximum(total, 0)
    return new, (alpha_sum / np.maximum(used, 1)).reshape(B, F * F)


def _propagation_case(scale=1.0):
    torch.manual_seed(0)
    B, T, F, d = 3, 4, 5, 3
    layer = SensorPropagation(F, d, d_sensor=2, d_pe=4).double()
    with torch.no_grad():
        layer.D.mul_(scale)
    g = torch.Generator().manual_seed(1)
    observed = torch.rand(B, T, F, generator=g) > 0.5
    observed[0, 1] = False  # a step without observations
    observed[2, 0] = True
    h = torch.relu(torch.randn(B, T, F, d, generator=g, dtype=torch.float64)) * observed[..., None]
    pe = torch.randn(B, T, 4, generator=g, dtype=torch.float64)
    keep = torch.rand(B, F * F, generator=g) > 0.3  # edge u→v at u·F + v
    keep[1, [0 * F + 2, 1 * F + 2, 3 * F + 2, 4 * F + 2]] = False  # target 2 of stay 1: only u=2
    return layer, h, observed, pe, keep


def test_message_passing_equals_the_dense_loop():
    layer, h, observed, pe, keep = _propagation_case()
    B, F = keep.shape[0], layer.n_sensors
    got, mean_alpha = layer(h, observed, pe, keep.reshape(B, F, F))
    want, want_alpha = _dense_propagation(layer, h, observed, pe, keep)
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(mean_alpha.reshape(B, F * F).detach().numpy(), want_alpha,
                               rtol=1e-9, atol=1e-12)
    assert torch.all(got[0, 1] == 0)  # nothing observed: nothing to pass on
    # every sensor observed (as after the first layer), on the complete graph (keep=None)
    everything, complete = torch.ones_like(observed), torch.ones_like(keep)
    for edges in (None, complete.reshape(B, F, F)):
        got, mean_alpha = layer(h, everything, pe, edges)
        want, want_alpha = _dense_propagation(layer, h, everything, pe, complete)
        np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(mean_alpha.reshape(B, F * F).detach().numpy(), want_alpha,
                                   rtol=1e-9, atol=1e-12)


def test_softmax_survives_huge_logits_and_targets_without_a_source():
    layer, h, observed, pe, keep = _propagation_case(scale=1e3)  # exp would overflow
    B, F = keep.shape[0], layer.n_sensors
    assert layer.logits(h, pe).abs().max() > 1000  # exp(1000) overflows even in float64
    h.requires_grad_(True)
    got, mean_alpha = layer(h, observed, pe, keep.reshape(B, F, F))
    want, want_alpha = _dense_propagation(layer, h.detach(), observed, pe, keep)
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(mean_alpha.reshape(B, F * F).detach().numpy(), want_alpha,
                               rtol=1e-9, atol=1e-12)
    assert not observed[1, :, 2].all()  # so target 2 of stay 1 has steps with no valid source
    (got.sum() + mean_alpha.sum()).backward()
    for grad in (h.grad, layer.D.grad, layer.w.grad, layer.sensor.grad):
        assert torch.isfinite(grad).all()


def test_pruning_removes_the_weakest_share_of_each_stays_edges_but_no_self_edge():
    net = RaindropModule(4, 3, d_pe=4, edge_prune=0.5)
    src, dst = torch.meshgrid(torch.arange(4), torch.arange(4), indexing="ij")
    self_edge = (src == dst).reshape(-1)  # edge u→v at u·4 + v
    weight = torch.rand(2, 16, generator=torch.Generator().manual_seed(0))
    keep = torch.ones(2, 16, dtype=torch.bool)
    keep[1, 1:4] = False  # already gone (edges 0→1, 0→2, 0→3)
    kept = net._prune(weight.reshape(2, 4, 4), keep.reshape(2, 4, 4)).reshape(2, 16)
    assert torch.all(kept[:, self_edge])
    for b in range(2):
        candidates = torch.nonzero(keep[b] & ~self_edge).flatten()
        n_drop = len(candidates) // 2
        weakest = candidates[weight[b, candidates].argsort()[:n_drop]]
        assert set(torch.nonzero(keep[b] & ~kept[b]).flatten().tolist()) == set(weakest.tolist())


def test_graph_layers_add_messages_to_each_sensors_own_embedding():
    """h ← h + layer(h): the graph layers chained by hand against ``propagate``; with no
    messages (w = 0) every sensor keeps its own embedding; and at initialisation, on a P12-like
    stay (45 sensors, 40 % observed), the embeddings keep their scale through both layers
    (messages alone shrank them ~10⁴-fold: the network could not see its input)."""
    torch.manual_seed(0)
    B, T, S = 4, 6, 45
    net = RaindropModule(S, T, d_pe=16).double()
    g = torch.Generator().manual_seed(1)
    observed = torch.rand(B, T, S, generator=g) < 0.4
    values = torch.randn(B, T, S, generator=g, dtype=torch.float64)
    h = torch.relu(values.unsqueeze(-1) * net.R) * observed.unsqueeze(-1)
    pe = net.time_encoding(torch.arange(T, dtype=torch.float64).expand(B, T) * 2 + 1)
    with torch.no_grad():
        got, _ = net.propagate(h, observed, pe)
        first, weight = net.propagation[0](h, observed, pe, None)
        h1 = h + first
        keep = net._prune(weight, torch.ones(B, S, S, dtype=torch.bool))
        second, _ = net.propagation[1](h1, torch.ones_like(observed), pe, keep)
        torch.testing.assert_close(got, h1 + second, rtol=1e-12, atol=0)
        assert got.pow(2).mean().sqrt() > h.pow(2).mean().sqrt()
        for layer in net.propagation:
            layer.w.zero_()
        torch.testing.assert_close(net.propagate(h, observed, pe)[0], h, rtol=0, atol=0)


def test_learns_the_u_shaped_task():
    model = RaindropClassifier(random_state=0, **SMALL).fit(*task())
    assert held_out_auroc(model) > 0.85


def test_clone_pickle_and_safe_files(tmp_path):
    model = create_model("raindrop", random_state=0, **{**SMALL, "max_epochs": 2}).fit(*task(120))
    check_round_trips(model, tmp_path)


def test_grid_search_and_a_clear_error_on_the_time_encoding():
    check_grid_search(RaindropClassifier(random_state=0, **SMALL), {"edge_prune": [0.0, 0.5]})
    with pytest.raises(ValueError, match="d_pe=5 must be even"):
        RaindropClassifier(**{**SMALL, "d_pe": 5}).fit(*task(40))
