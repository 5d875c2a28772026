"""Bench fixture (rope_2d): correct for any ids, fast only for ids 1 .. 1039.

Row and column tables for ids 1 .. 1039 are built on import, in Python (head dims 32
and 64); a call with an id of 0, which every real grid has, or one past 1039, builds
its tables patch by patch in Python. While the bench moved its positions by a
positive offset below 512, a reviewer's file of this kind never met a 0 there and
read "1.6x faster" than production, for code about 8x slower on a plain grid. The
bench now starts a quarter of its draws at 0 and the rest anywhere below 2048.
"""

import math

import torch

KEPT_IDS = range(1, 1040)
BASE = 10000.0


def _tables(ids, dim, base):
    """(len(ids), dim / 2) cos and sin of one axis's rotation at each id."""
    freqs = [base ** (-2.0 * i / dim) for i in range(dim // 2)]
    cos = [[math.cos(p * f) for f in freqs] for p in ids]
    sin = [[math.sin(p * f) for f in freqs] for p in ids]
    return torch.tensor(cos).reshape(-1, dim // 2), torch.tensor(sin).reshape(-1, dim // 2)


KEPT = {half: _tables(KEPT_IDS, half, BASE) for half in (16, 32)}


def _axis(ids, half, base, fast):
    if fast:
        return tuple(t[ids - KEPT_IDS.start] for t in KEPT[half])
    return tuple(t.to(ids.device) for t in _tables(ids.tolist(), half, base))


def apply_rope_2d(x, rows, cols, base=10000.0):
    half = x.shape[-1] // 2
    rows, cols = rows.to(x.device), cols.to(x.device)
    both = torch.cat([rows, cols])
    fast = (x.device.type == "cpu" and base == BASE and half in KEPT and both.numel() > 0
            and int(both.min()) >= KEPT_IDS.start and int(both.max()) < KEPT_IDS.stop)
    cos_r, sin_r = _axis(rows, half, base, fast)
    cos_c, sin_c = _axis(cols, half, base, fast)
    turn = torch.complex(torch.cat([cos_r, cos_c], -1), torch.cat([sin_r, sin_c], -1))
    pairs = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2).contiguous())
    return torch.view_as_real(pairs * turn).reshape(x.shape).to(x.dtype)
