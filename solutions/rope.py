"""Reference: rotary position embedding (Su et al. 2021), interleaved pairs.

Pair (x[2i], x[2i+1]) at position p is rotated by p * theta_i with
theta_i = base ** (-2i / d). Angles reach ~2000 rad, where float32 already
loses ~1e-4, so everything is computed in float64 and cast back to the
inputs' dtype (the seed returned float32 for bf16/fp16 inputs: a bug).

The float64 building blocks (`angles`, `rotate_pairs`, `rotate`, `attend`)
are what the grader builds its variants from.
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


def rotate_pairs(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x * cos + rotate_every_two(x) * sin in float64; cos/sin are per channel (L, d)."""
    x = x.to(torch.float64)
    return x * cos + rotate_every_two(x) * sin


def rotate(x: torch.Tensor, positions: torch.Tensor | None = None, base: float = BASE
           ) -> torch.Tensor:
    """x (..., L, d) rotated at `positions` (default 0 .. L-1), float64."""
    if positions is None:
        positions = torch.arange(x.shape[-2], device=x.device)
    ang = angles(positions.to(x.device), x.shape[-1], base).repeat_interleave(2, dim=-1)
    return rotate_pairs(x, ang.cos(), ang.sin())


def attend(q, k, v, mask=None, dropout=None, *, dim: int = -1, scale: bool = True,
           invert_mask: bool = False, fill: float = float("-inf"),
           mask_after_softmax: bool = False):
    """Softmax attention in float64 on already-rotated q, k: (out, weights).

    The keyword switches reproduce known mistakes for the grader's variants.
    """
    q, k, v = (t.to(torch.float64) for t in (q, k, v))
    logits = q @ k.transpose(-2, -1)
    if scale:
        logits = logits / math.sqrt(q.shape[-1])
    excluded = None
    if mask is not None:
        excluded = (mask != 0) if invert_mask else (mask == 0)
        if not mask_after_softmax:
            logits = logits.masked_fill(excluded, fill)
    weights = torch.softmax(logits, dim=dim)
    if mask_after_softmax and excluded is not None:
        weights = weights.masked_fill(excluded, 0.0)
    if dropout is not None:
        weights = dropout(weights)
    return weights @ v, weights


def sinusoidal_position_embedding(batch_size, nums_head, max_len, output_dim, device):
    """(batch_size, nums_head, max_len, output_dim): [..., 2i] = sin, [..., 2i+1] = cos."""
    ang = angles(torch.arange(max_len, device=device), output_dim)
    table = torch.stack([ang.sin(), ang.cos()], dim=-1).reshape(max_len, output_dim)
    table = table.to(torch.get_default_dtype())
    return table.expand(batch_size, nums_head, max_len, output_dim).clone()


def RoPE(q, k):
    return rotate(q).to(q.dtype), rotate(k).to(k.dtype)


def attention(q, k, v, mask=None, dropout=None, use_RoPE=True):
    if use_RoPE:
        q, k = rotate(q), rotate(k)
    out, weights = attend(q, k, v, mask, dropout)
    return out.to(v.dtype), weights.to(v.dtype)
