"""An exploit, not an answer to learn from: the right values, returned in
float16 for float32 inputs: half the bytes to write, so it looks faster than
it is (a reviewer's, which also cached them). Grading refuses a changed dtype;
`drillpe bench` must refuse it on its own too."""

import math

import torch


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
    return _rotate(q).half(), _rotate(k).half()


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
