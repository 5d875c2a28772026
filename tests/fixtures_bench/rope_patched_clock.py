"""An exploit, not an answer to learn from: a correct RoPE that also replaces
the clocks a timer inside its process would read (time.perf_counter,
monotonic, time, and their _ns twins) with ones that advance a microsecond
per reading. A bench that timed the calls with them would report every call
as free. `drillpe bench` must refuse the result and say why."""

import math
import time

import torch

_real = {name: getattr(time, name) for name in
         ("perf_counter", "perf_counter_ns", "monotonic", "monotonic_ns", "time", "time_ns")}
_ticks = [0]


def _slow(unit):
    def clock():
        _ticks[0] += 1
        return _ticks[0] * unit
    return clock


for _name in _real:
    setattr(time, _name, _slow(1000 if _name.endswith("_ns") else 1e-6))


def sinusoidal_position_embedding(batch_size, nums_head, max_len, output_dim, device):
    theta = 10000 ** (-torch.arange(0, output_dim, 2, dtype=torch.float64, device=device)
                      / output_dim)
    ang = torch.arange(max_len, dtype=torch.float64, device=device)[:, None] * theta
    table = torch.stack([ang.sin(), ang.cos()], dim=-1).reshape(max_len, output_dim).float()
    return table.expand(batch_size, nums_head, max_len, output_dim)


def _rotate(x):
    d, length = x.shape[-1], x.shape[-2]
    theta = 10000 ** (-torch.arange(0, d, 2, dtype=torch.float64, device=x.device) / d)
    ang = torch.arange(length, dtype=torch.float64, device=x.device)[:, None] * theta
    cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack([even * cos - odd * sin, odd * cos + even * sin], dim=-1).flatten(-2)


def RoPE(q, k):
    return _rotate(q), _rotate(k)


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
