"""An exploit, not an answer to learn from: a correct RoPE that replaces a function
of drillpe's timing code at import (a reviewer's, through a way to evaluate text that
is closed now, timed a copy instead of its calls: "2.03x faster than production" for
code 13x slower). The rules check refuses sys.modules; `drillpe bench` must refuse
the result on its own too."""

import math
import sys

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


# In the bench's timing process __main__ is drillpe's timing code: a reviewer's
# replaced its run_phases so that the timed calls did a copy's work and the checked
# outputs were computed after the clock stopped. This one only passes the calls on.
_timing = sys.modules["__main__"]
if hasattr(_timing, "run_phases"):
    _original = _timing.run_phases
    _timing.run_phases = lambda *args, **kwargs: _original(*args, **kwargs)


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
