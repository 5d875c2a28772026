"""An exploit's working part, not an answer: correct RoPE outputs, computed in the
call, beside work that never stops on torch's inter-op pool (a TorchScript loop forked
at import: a thread of torch's, which the count of Python threads does not see, and
which needs no GIL). Reviewers' files left each call's work running there and had it
finish after the end mark, before the outputs were read, where no phase is timed."""

import math

import torch

_TABLES = {}


@torch.jit.script
def _spin(n: int) -> int:
    x = torch.zeros(64)
    for _ in range(n):
        x = x + 1.0
    return int(x[0].item())


@torch.jit.script
def _start(n: int) -> torch.jit.Future[int]:
    return torch.jit.fork(_spin, n)  # (called from Python, fork would run it there)


_BUSY = _start(10**12)


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


def _rotate(x, cos, sin):
    xf = x.float().unflatten(-1, (-1, 2))
    even, odd = xf[..., 0], xf[..., 1]
    out = torch.stack([even * cos - odd * sin, odd * cos + even * sin], dim=-1)
    return out.flatten(-2).to(x.dtype)


def RoPE(q, k):
    cos, sin = _cos_sin(q.shape[-2], q.shape[-1], q.device)
    return _rotate(q, cos, sin), _rotate(k, cos, sin)


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
