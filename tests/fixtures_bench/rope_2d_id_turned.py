"""A reviewer's rope_2d: a rotation table built one patch at a time in Python, relative
to the first patch's position, kept per (rows, cols) objects; every call turns it by the
first patch's angles with tensor operations, no value read into Python. Right while the
positions move all alike, as the bench moved them in place: "1.15x faster" than
production for code 9x slower on positions it has not seen. Each phase's positions are
new tensors now: the table is rebuilt, on the clock, and the traced call shows the loop."""

import torch

_KEPT = {}


def _relative_table(rows, cols, half, base, device):
    theta = base ** (-torch.arange(0, half, 2, dtype=torch.float64, device=device) / half)
    first_row, first_col = rows[0], cols[0]
    turns = []
    for n in range(rows.shape[0]):
        angle = torch.cat([(rows[n] - first_row).double() * theta,
                           (cols[n] - first_col).double() * theta])
        turns.append(torch.polar(torch.ones_like(angle), angle))
    return torch.stack(turns), theta


def apply_rope_2d(x, rows, cols, base=10000.0):
    half = x.shape[-1] // 2
    key = (id(rows), id(cols), half, float(base), str(x.device))
    kept = _KEPT.get(key)
    if kept is None or kept[0] is not rows or kept[1] is not cols:
        table, theta = _relative_table(rows.to(x.device), cols.to(x.device), half, base,
                                       x.device)
        kept = _KEPT[key] = (rows, cols, table, theta)
    table, theta = kept[2], kept[3]
    first = torch.cat([rows[:1].to(x.device, torch.float64)[:, None] * theta,
                       cols[:1].to(x.device, torch.float64)[:, None] * theta], dim=-1)
    table = (table * torch.polar(torch.ones_like(first), first)).to(torch.complex64)
    work = x if x.dtype == torch.float32 else x.float()
    pairs = torch.view_as_complex(work.contiguous().unflatten(-1, (-1, 2)))
    out = torch.view_as_real(pairs * table).flatten(-2)
    return out if out.dtype == x.dtype else out.to(x.dtype)
