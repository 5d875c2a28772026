"""A reviewer's rope_2d: the rotations of each distinct row and column step, built one by
one in Python, kept per sorted pattern (the sorted positions less their least) and
looked up for each patch, then turned by the least position. Correct for any positions;
while every phase held the same positions in a new order, plus an offset, the sorted
pattern never changed and the table was never built on the clock: "same" as production
for code 15x slower on new positions. Every position moves by an amount of its own now."""

import torch

_KEPT = {}


def _turns(steps, theta, device):
    return torch.stack([torch.polar(torch.ones_like(theta), float(step) * theta)
                        for step in steps.tolist()])


def apply_rope_2d(x, rows, cols, base=10000.0):
    half = x.shape[-1] // 2
    rows, cols = rows.to(x.device), cols.to(x.device)
    least_row, least_col = rows.min(), cols.min()
    row_steps = torch.sort(rows - least_row).values
    col_steps = torch.sort(cols - least_col).values
    key = (tuple(row_steps.tolist()), tuple(col_steps.tolist()), half, float(base),
           str(x.device))
    if key not in _KEPT:
        theta = base ** (-torch.arange(0, half, 2, dtype=torch.float64, device=x.device) / half)
        _KEPT[key] = (_turns(row_steps, theta, x.device), _turns(col_steps, theta, x.device),
                      theta)
    row_turns, col_turns, theta = _KEPT[key]
    by_row = row_turns[torch.searchsorted(row_steps, (rows - least_row).contiguous())]
    by_col = col_turns[torch.searchsorted(col_steps, (cols - least_col).contiguous())]
    least = torch.cat([least_row.double() * theta, least_col.double() * theta])
    table = (torch.cat([by_row, by_col], dim=-1) *
             torch.polar(torch.ones_like(least), least)).to(torch.complex64)
    work = x if x.dtype == torch.float32 else x.float()
    pairs = torch.view_as_complex(work.contiguous().unflatten(-1, (-1, 2)))
    out = torch.view_as_real(pairs * table).flatten(-2)
    return out if out.dtype == x.dtype else out.to(x.dtype)
