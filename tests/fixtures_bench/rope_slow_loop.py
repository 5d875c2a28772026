"""A correct RoPE that is slow on purpose: a Python loop over positions.

Each position's pairs are rotated one position at a time, so one call makes
a few torch calls per position (thousands at seq_len 2048). `drillpe bench`
should name it `bench.python_loop` (positions).
"""

import math

import torch


def sinusoidal_position_embedding(batch_size, nums_head, max_len, output_dim, device):
    theta = 10000 ** (-torch.arange(0, output_dim, 2, dtype=torch.float64, device=device)
                      / output_dim)
    ang = torch.arange(max_len, dtype=torch.float64, device=device)[:, None] * theta
    table = torch.stack([ang.sin(), ang.cos()], dim=-1).reshape(max_len, output_dim).float()
    return table.expand(batch_size, nums_head, max_len, output_dim)


def _rotate(x):
    d = x.shape[-1]
    theta = 10000 ** (-torch.arange(0, d, 2, dtype=torch.float64, device=x.device) / d)
    even, odd = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    for p in range(x.shape[-2]):
        ang = p * theta
        c, s = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
        out[..., p, 0::2] = even[..., p, :] * c - odd[..., p, :] * s
        out[..., p, 1::2] = odd[..., p, :] * c + even[..., p, :] * s
    return out


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
