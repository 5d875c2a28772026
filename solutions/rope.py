"""Model answer: rotary position embedding (RoPE, Su et al. 2021), interleaved pairs.

Pair (x[2i], x[2i+1]) at position p is rotated by p * theta_i with
theta_i = 10000 ** (-2i / d). Angles reach ~2000 rad, where float32 already
loses ~1e-4, so everything is computed in float64 and cast back to the
inputs' dtype (the seed returned float32 for bf16/fp16 inputs: a bug).
float32 angles are within the checks' tolerances too; bf16/fp16 ones are not.
"""

import math

import torch

BASE = 10000.0


def angles(positions: torch.Tensor, dim: int, base: float = BASE) -> torch.Tensor:
    """(L, dim/2) float64 angles positions[p] * base ** (-2i / dim)."""
    pos = positions.to(torch.float64)
    theta = base ** (-torch.arange(0, dim, 2, dtype=torch.float64, device=pos.device) / dim)
    return pos[:, None] * theta[None, :]


def rotate_every_two(x: torch.Tensor) -> torch.Tensor:
    """(x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...): each pair turned by 90 degrees."""
    return torch.stack([-x[..., 1::2], x[..., 0::2]], dim=-1).reshape(x.shape)


def rotate(x: torch.Tensor) -> torch.Tensor:
    """x (..., L, d) with the pairs at position p = 0 .. L-1 rotated, in float64."""
    positions = torch.arange(x.shape[-2], device=x.device)
    ang = angles(positions, x.shape[-1]).repeat_interleave(2, dim=-1)  # (L, d)
    x = x.to(torch.float64)
    return x * ang.cos() + rotate_every_two(x) * ang.sin()


def sinusoidal_position_embedding(batch_size, nums_head, max_len, output_dim, device):
    """(batch_size, nums_head, max_len, output_dim): [..., 2i] = sin, [..., 2i+1] = cos."""
    ang = angles(torch.arange(max_len, device=device), output_dim)
    table = torch.stack([ang.sin(), ang.cos()], dim=-1).reshape(max_len, output_dim)
    return table.float().expand(batch_size, nums_head, max_len, output_dim).clone()


def RoPE(q, k):
    return rotate(q).to(q.dtype), rotate(k).to(k.dtype)


def attention(q, k, v, mask=None, dropout=None, use_RoPE=True):
    if use_RoPE:
        q, k = rotate(q), rotate(k)
    q, k, v64 = (t.to(torch.float64) for t in (q, k, v))
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if dropout is not None:
        weights = dropout(weights)
    return (weights @ v64).to(v.dtype), weights.to(v.dtype)
