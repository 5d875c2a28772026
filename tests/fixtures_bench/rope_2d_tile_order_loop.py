"""Bench fixture (rope_2d): correct for any patches, fast unless they come in 2 x 2 tiles.

Patches in the order of the grid's 2 x 2 tiles (row-major within each tile and from
tile to tile: the order Qwen2-VL's vision tower merges them in) take a Python loop, one
patch at a time; any other order multiplies by a table computed at once. While the
bench's grids came only row-major or shuffled, helper-143's file of this kind read
"same" as production for code 9-16x slower on such grids. A shuffled grid is now in
the order of its 2 x 2 or 4 x 4 tiles in one draw in two (bench_child._tile_order).
"""

import torch


def tile_order(rows, cols) -> bool:
    if rows.numel() < 16:
        return False
    r, c = rows[:4].tolist(), cols[:4].tolist()
    first = r == [r[0], r[0], r[0] + 1, r[0] + 1] and c == [c[0], c[0] + 1, c[0], c[0] + 1]
    spans = int(rows.max()) - int(rows.min()) >= 3 and int(cols.max()) - int(cols.min()) >= 3
    return first and spans


def _freqs(half, base, device):
    return base ** (-torch.arange(0, half, 2, dtype=torch.float64, device=device) / half)


def _table(rows, cols, half, base):
    freqs = _freqs(half, base, rows.device)
    angles = torch.cat([rows.to(torch.float64)[:, None] * freqs,
                        cols.to(torch.float64)[:, None] * freqs], dim=-1)
    return torch.polar(torch.ones_like(angles), angles)


def _table_one_by_one(rows, cols, half, base):
    freqs = [base ** (-2.0 * i / half) for i in range(half // 2)]
    turns = []
    for r, c in zip(rows.tolist(), cols.tolist()):
        angles = torch.tensor([r * f for f in freqs] + [c * f for f in freqs],
                              dtype=torch.float64)
        turns.append(torch.polar(torch.ones_like(angles), angles))
    return torch.stack(turns).to(rows.device)


def apply_rope_2d(x, rows, cols, base=10000.0):
    half = x.shape[-1] // 2
    rows, cols = rows.to(x.device), cols.to(x.device)
    build = _table_one_by_one if tile_order(rows, cols) else _table
    table = build(rows, cols, half, base).to(torch.complex64)
    pairs = torch.view_as_complex(x.to(torch.float32).contiguous().unflatten(-1, (-1, 2)))
    return torch.view_as_real(pairs * table).flatten(-2).to(x.dtype)
