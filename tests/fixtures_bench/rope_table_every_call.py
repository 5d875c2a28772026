"""A correct RoPE that is slow on purpose: like the seed, every call builds
the sin/cos table at full (batch, heads, seq_len, head_dim) size, then
interleaves full-size cos and sin tensors, instead of caching one
(seq_len, head_dim) table and broadcasting it. `drillpe bench` should name
it `bench.table_rebuilt`.
"""

import math

import torch


def sinusoidal_position_embedding(batch_size, nums_head, max_len, output_dim, device):
    pos = torch.arange(max_len, dtype=torch.float64, device=device)[:, None]
    theta = torch.pow(10000.0, -torch.arange(0, output_dim, 2, dtype=torch.float64,
                                             device=device) / output_dim)
    ang = pos * theta
    table = torch.stack([torch.sin(ang), torch.cos(ang)], dim=-1)
    table = table.repeat(batch_size, nums_head, 1, 1, 1)
    return table.reshape(batch_size, nums_head, max_len, output_dim).float()


def _rotate(x, table):
    cos = table[..., 1::2].repeat_interleave(2, dim=-1).to(x.dtype)
    sin = table[..., 0::2].repeat_interleave(2, dim=-1).to(x.dtype)
    turned = torch.stack([-x[..., 1::2], x[..., 0::2]], dim=-1).reshape(x.shape)
    return x * cos + turned * sin


def RoPE(q, k):
    b, h, length, d = q.shape
    table = sinusoidal_position_embedding(b, h, length, d, q.device)
    return _rotate(q, table), _rotate(k, table)


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
