"""Model answer: axial 2-D RoPE for image patches (lucidrains rotary-embedding-torch,
`RotaryEmbedding(dim=head_dim // 2).get_axial_freqs(H, W)` with its interleaved
`rotate_half`; the layout EVA-02 and other ViTs use).

head_dim is split in two halves of h = head_dim / 2 channels. The first half is
the 1-D interleaved RoPE of the patch's row index, the second half that of its
column index, both with theta_i = base ** (-2i / h), i = 0 .. h/2 - 1:

    y[..., :h] = rope(x[..., :h], rows)      y[..., h:] = rope(x[..., h:], cols)

where rope turns each pair (z[2i], z[2i+1]) by p * theta_i. Everything is
computed in float64 on the input's device and cast back to the input's dtype.
"""

import torch

BASE = 10000.0


def angles(positions: torch.Tensor, dim: int, base: float = BASE) -> torch.Tensor:
    """(N, dim/2) float64 angles positions[n] * base ** (-2i / dim)."""
    pos = positions.to(torch.float64)
    theta = base ** (-torch.arange(0, dim, 2, dtype=torch.float64, device=pos.device) / dim)
    return pos[:, None] * theta[None, :]


def rotate_every_two(x: torch.Tensor) -> torch.Tensor:
    """(x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...): each pair turned by 90 degrees."""
    return torch.stack([-x[..., 1::2], x[..., 0::2]], dim=-1).reshape(x.shape)


def rotate_pairs(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x * cos + rotate_every_two(x) * sin in float64; cos/sin are per channel (N, dim)."""
    x = x.to(torch.float64)
    return x * cos + rotate_every_two(x) * sin


def rotate_1d(x: torch.Tensor, positions: torch.Tensor, base: float = BASE) -> torch.Tensor:
    """The 1-D interleaved RoPE of x (..., N, dim) at `positions` (N,), over dim = x.shape[-1]."""
    ang = angles(positions.to(x.device), x.shape[-1], base).repeat_interleave(2, dim=-1)
    return rotate_pairs(x, ang.cos(), ang.sin())


def rotate_2d(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, base: float = BASE
              ) -> torch.Tensor:
    """x (..., N, head_dim) with the row half and the column half rotated, float64."""
    half = x.shape[-1] // 2
    return torch.cat([rotate_1d(x[..., :half], rows, base),
                      rotate_1d(x[..., half:], cols, base)], dim=-1)


def apply_rope_2d(x, rows, cols, base=10000.0):
    return rotate_2d(x, rows, cols, base).to(x.dtype)
