"""Bench fixture (rope_2d): correct for any ids, fast only where they are no grid.

Ids with few distinct rows for their number of patches (any real grid: in order,
shuffled or cropped) take a Python loop over the patches; other ids multiply by a
table gathered from one built once for ids below 8192. While the bench's timed ids
were each moved by an amount of their own (no grid), a reviewer's file of this kind
read "1.53x faster" than production for code 12x slower on any real grid. Each phase
now makes calls of three kinds, two of them grids (bench_child.POSITION_KINDS).
"""

import torch

LIMIT = 8192
KEPT = {}


def grid_like(rows) -> bool:
    return rows.numel() >= 16 and torch.unique(rows).numel() * 4 <= rows.numel()


def _turns(ids, half, base):
    """(N, half / 2) complex rotations of one axis at each id, from a kept table."""
    key = (half, float(base))
    if key not in KEPT:
        freqs = base ** (-torch.arange(0, half, 2, dtype=torch.float64) / half)
        angles = torch.arange(LIMIT, dtype=torch.float64)[:, None] * freqs
        KEPT[key] = torch.polar(torch.ones_like(angles), angles).to(torch.complex64)
    return KEPT[key].index_select(0, ids.cpu())


def _turns_one_by_one(ids, half, base):
    freqs = base ** (-torch.arange(0, half, 2, dtype=torch.float64) / half)
    rows = [torch.polar(torch.ones_like(freqs), p * freqs) for p in ids.tolist()]
    return torch.stack(rows).to(torch.complex64).reshape(-1, half // 2)


def apply_rope_2d(x, rows, cols, base=10000.0):
    half = x.shape[-1] // 2
    rows, cols = rows.to(x.device), cols.to(x.device)
    both = torch.cat([rows, cols])
    fast = not grid_like(rows) and both.numel() > 0 and int(both.min()) >= 0 \
        and int(both.max()) < LIMIT
    turns = _turns if fast else _turns_one_by_one
    turn = torch.cat([turns(rows, half, base), turns(cols, half, base)], -1).to(x.device)
    pairs = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2).contiguous())
    return torch.view_as_real(pairs * turn).reshape(x.shape).to(x.dtype)
