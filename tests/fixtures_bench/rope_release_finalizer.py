"""An exploit's shape, not an answer to learn from (after a reviewer's finding): each
timed call hangs a weakref.finalize on its outputs, which is no attribute of
theirs, so that its callback runs when the bench lets go of a phase's outputs.
That once happened after the output check, before the next refill: code of the
learner's ran there on no clock. Here the callback only works (about half a
millisecond of CPU per output); `drillpe bench` lets a run's outputs go inside
its next refill's marks, on the parent's clock, and the refill, slower per byte
than the copy's beside it, is refused (bench.refill_work)."""

import math
import weakref

import torch

_TABLES = {}


def _cos_sin(length, d, device):
    key = (length, d, str(device))
    if key not in _TABLES:
        theta = 10000 ** (-torch.arange(0, d, 2, dtype=torch.float64, device=device) / d)
        ang = torch.arange(length, dtype=torch.float64, device=device)[:, None] * theta
        _TABLES[key] = (ang.cos().float(), ang.sin().float())
    return _TABLES[key]


def sinusoidal_position_embedding(batch_size, nums_head, max_len, output_dim, device):
    cos, sin = _cos_sin(max_len, output_dim, device)
    table = torch.stack([sin, cos], dim=-1).reshape(max_len, output_dim)
    return table.expand(batch_size, nums_head, max_len, output_dim)


def _work():
    total = 0
    for n in range(20000):
        total += n * n
    return total


def _rotate(x, cos, sin):
    c = cos.to(x.dtype).repeat_interleave(2, dim=-1)
    s = sin.to(x.dtype).repeat_interleave(2, dim=-1)
    turned = torch.stack([-x[..., 1::2], x[..., 0::2]], dim=-1).reshape(x.shape)
    return x * c + turned * s


def RoPE(q, k):
    cos, sin = _cos_sin(q.shape[-2], q.shape[-1], q.device)
    q_out, k_out = _rotate(q, cos, sin), _rotate(k, cos, sin)
    weakref.finalize(q_out, _work)
    weakref.finalize(k_out, _work)
    return q_out, k_out


def attention(q, k, v, mask=None, dropout=None, use_RoPE=True):
    if use_RoPE:
        q, k = RoPE(q, k)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))
    weights = scores.softmax(dim=-1)
    if dropout is not None:
        weights = dropout(weights)
    return weights @ v, weights
