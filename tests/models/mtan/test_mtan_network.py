"""mTAN's defining step, its multi-time attention, against a hand-written loop."""

import math

import numpy as np
import pytest
import torch

from medfuse_sk.models.mtan import MTANModule
from medfuse_sk.models.mtan._network import (
    LearnedTimeEmbedding,
    MultiTimeAttention,
    multi_time_attention,
)


def _tokens(seed=0, b=3, length=11, n_channels=4):
    g = torch.Generator().manual_seed(seed)
    channel = torch.randint(0, n_channels - 1, (b, length), generator=g)  # last channel never seen
    value = torch.randn(b, length, generator=g)
    time = torch.rand(b, length, generator=g)
    mask = torch.ones(b, length, dtype=torch.bool)
    mask[0, 7:] = False  # padding, with values that must not count
    mask[2, 3:] = False
    channel[2, :3] = 1  # stay 2: only channel 1 observed
    return channel, value, time, mask


def _loop(q, k, channel, value, mask, n_channels):
    """For every stay, head, reference time and channel: softmax of q·k/√d over that channel's
    observed tokens, the weighted mean of their values, and 1 if any is observed."""
    q, k = q.double().numpy(), k.double().numpy()
    b, h, length, d = k.shape
    r = q.shape[1]
    out = np.zeros((b, h, r, 2 * n_channels))
    for s in range(b):
        for head in range(h):
            for ref in range(r):
                for c in range(n_channels):
                    idx = [i for i in range(length) if mask[s, i] and channel[s, i] == c]
                    if not idx:
                        continue
                    scores = np.array([q[head, ref] @ k[s, head, i] / math.sqrt(d) for i in idx])
                    w = np.exp(scores - scores.max())
                    w /= w.sum()
                    out[s, head, ref, c] = sum(wi * float(value[s, i]) for wi, i in zip(w, idx))
                    out[s, head, ref, n_channels + c] = 1.0
    return out


@pytest.mark.parametrize("scale", [1.0, 300.0])  # 300: scores in the thousands, still stable
def test_multi_time_attention_equals_the_loop(scale):
    channel, value, time, mask = _tokens()
    g = torch.Generator().manual_seed(1)
    q = torch.randn(2, 5, 3, generator=g, dtype=torch.float64) * scale  # 2 heads, 5 ref. times
    k = torch.randn(3, 2, 11, 3, generator=g, dtype=torch.float64)
    got = multi_time_attention(q, k, channel, value.double(), mask, 4)
    want = _loop(q, k, channel, value, mask, 4)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-9)
    assert torch.all(got[..., 3] == 0) and torch.all(got[..., 7] == 0)  # channel 3: never seen


def test_the_module_projects_embeds_and_maps_the_heads_like_mtan():
    torch.manual_seed(0)
    channel, value, time, mask = _tokens()
    embed = LearnedTimeEmbedding(6)
    att = MultiTimeAttention(4, embed_time=6, n_heads=2, n_hidden=5).double()
    embed = embed.double()
    reference = torch.linspace(0, 1, 5, dtype=torch.float64)

    # the learned time embedding, written out: [w0 t + b0, sin(W t + b)]
    def phi(t):
        lin = embed.linear.weight[0, 0] * t + embed.linear.bias[0]
        per = torch.sin(t[..., None] * embed.periodic.weight[:, 0] + embed.periodic.bias)
        return torch.cat([lin[..., None], per], -1)

    np.testing.assert_allclose(embed(time.double()).detach(), phi(time.double()).detach(),
                               rtol=1e-12)
    with torch.no_grad():
        q = (phi(reference) @ att.query.weight.T + att.query.bias).view(5, 2, 3).transpose(0, 1)
        k = (phi(time.double()) @ att.key.weight.T + att.key.bias).view(3, 11, 2, 3).transpose(1, 2)
        heads = torch.from_numpy(_loop(q, k, channel, value, mask, 4))  # (B, H, R, 2C)
        want = heads.transpose(1, 2).reshape(3, 5, 16) @ att.out.weight.T + att.out.bias
        got = att(phi(reference), phi(time.double()), channel, value.double(), mask)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-9, atol=1e-12)


def test_padding_and_token_order_do_not_change_a_stay():
    torch.manual_seed(0)
    module = MTANModule(6, 0, n_ref_points=8, embed_time=8, n_hidden=8, classifier_hidden=8).eval()
    feature = torch.tensor([[1, 2, 1, 3, 5]])
    value = torch.tensor([[0.5, -1.0, 2.0, 0.1, 0.3]])
    time = torch.tensor([[1.0, 2.0, 7.0, 30.0, 47.0]])
    base = module(feature, value, time, torch.ones(1, 5, dtype=torch.bool))
    order = torch.tensor([4, 2, 0, 3, 1])
    shuffled = module(feature[:, order], value[:, order], time[:, order],
                      torch.ones(1, 5, dtype=torch.bool))
    padded = module(torch.cat([feature, torch.tensor([[2, 4]])], 1),
                    torch.cat([value, torch.tensor([[99.0, -99.0]])], 1),
                    torch.cat([time, torch.tensor([[3.0, 0.0]])], 1),
                    torch.tensor([[True] * 5 + [False] * 2]))
    torch.testing.assert_close(shuffled, base)
    torch.testing.assert_close(padded, base)


def test_a_categorical_token_is_a_channel_of_its_class():
    torch.manual_seed(0)
    module = MTANModule(3, 2, n_ref_points=4, embed_time=4, n_hidden=4, classifier_hidden=4)
    seen = {}
    module.attention.register_forward_hook(lambda m, args, out: seen.update(args=args))
    module(torch.tensor([[1, 2]]), torch.tensor([[0.7, 0.0]]), torch.tensor([[1.0, 2.0]]),
           torch.ones(1, 2, dtype=torch.bool), category=torch.tensor([[-1, 1]]))
    _, _, channel, value, _ = seen["args"]
    assert channel.tolist() == [[1, 4]] and value.tolist() == [[pytest.approx(0.7), 1.0]]
