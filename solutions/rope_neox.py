"""Model answer: half-split RoPE with position ids (GPT-NeoX, HF Llama).

Follows HF transformers' Llama/GPT-NeoX rotary code: `rotate_half`, then
`x * cos + rotate_half(x) * sin` with cos/sin = cat(freqs, freqs), angles
`position_ids * inv_freq`, inv_freq = base ** (-2i / rotary_dim), and
GPT-NeoX's partial rotary: only x[..., :rotary_dim] is rotated, the rest is
passed through. HF casts cos/sin to the input's dtype before multiplying; here
everything is computed in float64 and only the result is cast back.
"""

import torch


def inv_freq(rotary_dim: int, base: float = 10000.0, device=None) -> torch.Tensor:
    """(rotary_dim/2,) float64: theta_i = base ** (-2i / rotary_dim)."""
    i2 = torch.arange(0, rotary_dim, 2, dtype=torch.float64, device=device)
    return base ** (-i2 / rotary_dim)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) -> (-x2, x1) for the two halves of the last axis."""
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def rotate(x: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """x with its first r = 2 * freqs.shape[-1] channels rotated, in float64.

    `freqs` (the angles) broadcasts against x[..., :r/2], e.g. (L, r/2) or
    (B, 1, L, r/2); channels j and j + r/2 share the angle freqs[..., j].
    """
    x = x.to(torch.float64)
    r = 2 * freqs.shape[-1]
    emb = torch.cat([freqs, freqs], dim=-1)
    x_rot, x_pass = x[..., :r], x[..., r:]
    x_rot = x_rot * emb.cos() + rotate_half(x_rot) * emb.sin()
    return torch.cat([x_rot, x_pass], dim=-1)


def apply_rope(x, position_ids, base=10000.0, rotary_dim=None):
    r = x.shape[-1] if rotary_dim is None else rotary_dim
    freqs = position_ids.to(x.device, torch.float64)[..., None] * inv_freq(r, base, x.device)
    if freqs.dim() == 3:  # position_ids (batch, seq_len): broadcast over the heads
        freqs = freqs[:, None]
    return rotate(x, freqs).to(x.dtype)
