"""An exploit, not an answer to learn from: a correct RoPE that replaces
random.Random.randrange at import (a reviewer's fixed the bench's draw of the
checked call so: "1.18x slower" for code 15x slower). `drillpe bench` must refuse
the result on its own."""

import math
import random

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


# The bench draws which call of a phase it checks with random.Random: a reviewer's
# made every draw 0 and computed only the first call of each phase. This one only
# passes the draws on.
_draw = random.Random.randrange
random.Random.randrange = lambda self, *args, **kwargs: _draw(self, *args, **kwargs)


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
