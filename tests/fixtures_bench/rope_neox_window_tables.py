"""Bench fixture (rope_neox): correct for any positions, fast only inside one window.

Tables of cos and sin for positions 4096 .. 6911 (the window the bench's positions
fell in while they moved by less than 512 from 4096 + i) are built on import, in
Python, for head dims 64 and 128; any call with a position outside the window builds
its angles position by position in Python. A reviewer's file of this kind read "1.3x
faster" than production, for code 27x slower on a prefill from position 0.
The bench now starts a quarter of its draws at 0 and the rest anywhere below the
target's limit, so the loop runs in most timed calls and the time says so.
"""

import math

import torch

WINDOW = range(4096, 6912)
BASE = 10000.0


def _tables(positions, dim, base):
    freqs = [base ** (-2.0 * i / dim) for i in range(dim // 2)]
    cos, sin = [], []
    for p in positions:
        c = [math.cos(p * f) for f in freqs]
        s = [math.sin(p * f) for f in freqs]
        cos.append(c + c)
        sin.append(s + s)
    return torch.tensor(cos), torch.tensor(sin)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


KEPT = {dim: _tables(WINDOW, dim, BASE) for dim in (64, 128)}


def apply_rope(x, position_ids, base=10000.0, rotary_dim=None):
    dim = x.shape[-1] if rotary_dim is None else rotary_dim
    ids = position_ids.to(x.device)
    inside = ids.numel() and int(ids.min()) >= WINDOW.start and int(ids.max()) < WINDOW.stop
    if inside and base == BASE and dim in KEPT and x.device.type == "cpu":
        cos, sin = (t[ids - WINDOW.start] for t in KEPT[dim])
    else:
        cos, sin = _tables(ids.reshape(-1).tolist(), dim, base)
        cos, sin = (t.to(x.device).reshape(*ids.shape, dim) for t in (cos, sin))
    if cos.dim() == 3:  # (batch, seq) ids: broadcast over heads
        cos, sin = cos[:, None], sin[:, None]
    rot = x[..., :dim].float()
    out = x.float().clone()
    out[..., :dim] = rot * cos + rotate_half(rot) * sin
    return out.to(x.dtype)
