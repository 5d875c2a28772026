"""A reviewer's rope_2d: its (N, head_dim/2) rotation table, built one patch at a time
in Python (10x slower than production), kept per (rows, cols) objects. While the bench
held the positions fixed it read "1.57x faster", and the traced call hit the table, so
no loop was named. Every phase's positions are new tensors now: it builds its table
again, on the clock, and the traced call shows the loop."""

import torch

_KEPT = {}


def _table(rows, cols, head_dim, base, device):
    key = (id(rows), id(cols), head_dim, base, str(device))
    hit = _KEPT.get(key)
    if hit is not None and hit[0] is rows and hit[1] is cols:
        return hit[2]
    half = head_dim // 2
    theta = [base ** (-i / half) for i in range(0, half, 2)]
    angles = torch.empty(rows.shape[0], half, dtype=torch.float64)
    for n, (r, c) in enumerate(zip(rows.tolist(), cols.tolist())):
        angles[n] = torch.tensor([r * t for t in theta] + [c * t for t in theta],
                                 dtype=torch.float64)
    table = torch.polar(torch.ones_like(angles), angles).to(torch.complex64).to(device)
    _KEPT[key] = (rows, cols, table)
    return table


def apply_rope_2d(x, rows, cols, base=10000.0):
    table = _table(rows, cols, x.shape[-1], base, x.device)
    work = x if x.dtype == torch.float32 else x.float()
    pairs = torch.view_as_complex(work.contiguous().unflatten(-1, (-1, 2)))
    out = torch.view_as_real(pairs * table).flatten(-2)
    return out if out.dtype == x.dtype else out.to(x.dtype)
