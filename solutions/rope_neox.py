"""Reference: half-split RoPE with position ids (GPT-NeoX, HF Llama).

Follows HF transformers' Llama/GPT-NeoX rotary code: `rotate_half`, then
`x * cos + rotate_half(x) * sin` with cos/sin = cat(freqs, freqs), angles
`position_ids * inv_freq`, inv_freq = base ** (-2i / rotary_dim), and
GPT-NeoX's partial rotary: only x[..., :rotary_dim] is rotated, the rest is
passed through. HF casts cos/sin to the input's dtype before multiplying; here
everything is computed in float64 and only the result is cast back.

The float64 building blocks (`inv_freq`, `angles`, `rotate`) are what the
grader builds its variants from.
"""

import torch

BASE = 10000.0


def inv_freq(rotary_dim: int, base: float = BASE, device=None) -> torch.Tensor:
    """(rotary_dim/2,) float64: theta_i = base ** (-2i / rotary_dim)."""
    i2 = torch.arange(0, rotary_dim, 2, dtype=torch.float64, device=device)
    return base ** (-i2 / rotary_dim)


def angles(position_ids: torch.Tensor, rotary_dim: int, base: float = BASE) -> torch.Tensor:
    """(*position_ids.shape, rotary_dim/2) float64 angles position * theta_i."""
    pos = position_ids.to(torch.float64)
    return pos[..., None] * inv_freq(rotary_dim, base, pos.device)


def heads_axis(ang: torch.Tensor) -> torch.Tensor:
    """Angles of (batch, seq_len) positions get a heads axis: (batch, 1, seq_len, r/2).
    Angles of (seq_len,) positions broadcast over batch and heads as they are."""
    return ang[:, None] if ang.dim() == 3 else ang


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) -> (-x2, x1) for the two halves of the last axis."""
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def rotate(x: torch.Tensor, ang: torch.Tensor) -> torch.Tensor:
    """x with its first 2 * ang.shape[-1] channels rotated, in float64.

    `ang` broadcasts against x[..., :r/2] (e.g. (L, r/2) or (B, 1, L, r/2));
    channel j and j + r/2 share the angle ang[..., j].
    """
    x = x.to(torch.float64)
    r = 2 * ang.shape[-1]
    emb = torch.cat([ang, ang], dim=-1)
    x_rot, x_pass = x[..., :r], x[..., r:]
    x_rot = x_rot * emb.cos() + rotate_half(x_rot) * emb.sin()
    return torch.cat([x_rot, x_pass], dim=-1)


def rope64(x: torch.Tensor, position_ids: torch.Tensor, base: float = BASE,
           rotary_dim: int | None = None) -> torch.Tensor:
    """apply_rope in float64 (the value every learner output is compared with)."""
    r = x.shape[-1] if rotary_dim is None else rotary_dim
    ang = heads_axis(angles(position_ids.to(x.device), r, base))
    return rotate(x, ang)


def apply_rope(x, position_ids, base=10000.0, rotary_dim=None):
    return rope64(x, position_ids, base, rotary_dim).to(x.dtype)
