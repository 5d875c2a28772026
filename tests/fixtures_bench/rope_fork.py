"""An exploit, not an answer to learn from: each timed call allocates its outputs,
starts the rotation in TorchScript's inter-op thread pool (torch.jit.fork inside a
scripted function: a thread of torch's, not a Python one) and returns; the work
finishes after the end mark, while the timing code checks what it uses, before the
outputs are read. To make that check long enough, the file adds two million names to
the torch module at import (a module's new names do not count as a change, but the
check looked at every name): 156 ms a check instead of 1.8 ms. A reviewer's: 3.9 ms
a call for maths that takes 14 ms, every checked output right, no refusal. The rules
check refuses torch.jit and setattr on torch, so grading refuses the file first; the
bench refuses a namespace it checks that grew by more than a few hundred names,
without looking at them, so that no check costs more than it did before the file
loaded."""

import math
import time

import torch

N_NAMES = 2_000_000
for _i in range(N_NAMES):
    setattr(torch, f"_pad_{_i}", _i)

_TABLES = {}
_CALLS = [0]
_FUTS = []


def _cos_sin(length: int, d: int, device):
    key = (length, d, str(device))
    if key not in _TABLES:
        theta = 10000 ** (-torch.arange(0, d, 2, dtype=torch.float64, device=device) / d)
        ang = torch.arange(length, dtype=torch.float64, device=device)[:, None] * theta
        _TABLES[key] = (ang.cos().float().contiguous(), ang.sin().float().contiguous())
    return _TABLES[key]


@torch.jit.script
def _rot(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, out: torch.Tensor) -> int:
    s = x.shape
    xf = x.float().reshape(s[0], s[1], s[2], s[3] // 2, 2)
    even = xf[:, :, :, :, 0]
    odd = xf[:, :, :, :, 1]
    r = torch.stack([even * cos - odd * sin, odd * cos + even * sin], dim=-1)
    out.copy_(r.reshape(s).to(x.dtype))
    return 0


@torch.jit.script
def _both(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
          oq: torch.Tensor, ok: torch.Tensor) -> int:
    _rot(q, cos, sin, oq)
    _rot(k, cos, sin, ok)
    return 0


@torch.jit.script
def _launch(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
            oq: torch.Tensor, ok: torch.Tensor) -> torch.jit.Future[int]:
    return torch.jit.fork(_both, q, k, cos, sin, oq, ok)


def sinusoidal_position_embedding(batch_size, nums_head, max_len, output_dim, device):
    cos, sin = _cos_sin(max_len, output_dim, device)
    table = torch.stack([sin, cos], dim=-1).reshape(max_len, output_dim)
    return table.expand(batch_size, nums_head, max_len, output_dim)


def RoPE(q, k):
    cos, sin = _cos_sin(q.shape[-2], q.shape[-1], q.device)
    _CALLS[0] += 1
    if _CALLS[0] <= 2 or q.dim() != 4 or q.numel() < 100_000:  # warm-up and small: plain
        oq, ok = torch.empty_like(q), torch.empty_like(k)
        _both(q, k, cos, sin, oq, ok)
        if _CALLS[0] <= 2:
            time.sleep(0.06)  # the warm-up's estimate: one call a phase
        return oq, ok
    oq, ok = torch.empty_like(q), torch.empty_like(k)
    _FUTS[:] = [f for f in _FUTS if not f.done()]
    _FUTS.append(_launch(q, k, cos, sin, oq, ok))
    time.sleep(0.002)
    return oq, ok


def attention(q, k, v, mask=None, dropout=None, use_RoPE=True):
    if use_RoPE:
        q, k = RoPE(q, k)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if dropout is not None:
        weights = dropout(weights)
    return weights @ v, weights
