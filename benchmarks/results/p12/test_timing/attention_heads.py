"""Fused CPU attention, forward + backward, B 64, L 300, width 64: 4 / 2 / 1 heads (fp32, bf16)."""

import time

import torch
import torch.nn.functional as F

torch.set_num_threads(2)
B, L, D = 64, 300, 64
mask = torch.ones(B, 1, 1, L, dtype=torch.bool)
mask[:, :, :, 280:] = False
for heads in (4, 2, 1):
    for dtype in (torch.float32, torch.bfloat16):
        q, k, v = (torch.randn(B, heads, L, D // heads, dtype=dtype, requires_grad=True)
                   for _ in range(3))
        times = []
        for _ in range(6):
            started = time.perf_counter()
            F.scaled_dot_product_attention(q, k, v, attn_mask=mask).sum().backward()
            times.append(time.perf_counter() - started)
        print(heads, dtype, f"median {sorted(times)[3] * 1e3:.1f} ms")
