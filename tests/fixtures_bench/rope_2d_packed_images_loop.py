"""Bench fixture (rope_2d): correct for any patches, fast unless several images are packed.

Patches with more than one at (0, 0) (several images in one sequence, as NaViT and
Pixtral pack them) take a Python loop, one patch at a time; any other patches
multiply by a table computed at once. While no kind of the bench's positions put two
patches at (0, 0), a reviewer's file of this kind read "same" as production for code
17x slower on packed images. Packed grids are now one of the bench's kinds
(bench_child._packed_images).
"""

import torch


def several_images(rows, cols) -> bool:
    return rows.numel() >= 16 and int(((rows == 0) & (cols == 0)).sum()) > 1


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
    build = _table_one_by_one if several_images(rows, cols) else _table
    table = build(rows, cols, half, base).to(torch.complex64)
    pairs = torch.view_as_complex(x.to(torch.float32).contiguous().unflatten(-1, (-1, 2)))
    return torch.view_as_real(pairs * table).flatten(-2).to(x.dtype)
