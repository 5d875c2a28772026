"""An honest rope_2d that keeps its last rotation table with a copy of the positions it
was built for (compared by value, so never stale), but builds it one patch at a time in
Python. With the positions fixed, the traced call found the table kept and no loop was
named; the traced call now gets positions the warm-up call did not."""

import torch

_LAST = {}


def _table(rows, cols, head_dim, base, device):
    key = (head_dim, base, str(device), rows.shape[0])
    hit = _LAST.get(key)
    if hit is not None and torch.equal(hit[0], rows) and torch.equal(hit[1], cols):
        return hit[2]
    half = head_dim // 2
    theta = [base ** (-i / half) for i in range(0, half, 2)]
    angles = torch.empty(rows.shape[0], half, dtype=torch.float64)
    for n, (r, c) in enumerate(zip(rows.tolist(), cols.tolist())):
        angles[n] = torch.tensor([r * t for t in theta] + [c * t for t in theta],
                                 dtype=torch.float64)
    table = torch.polar(torch.ones_like(angles), angles).to(torch.complex64).to(device)
    _LAST[key] = (rows.clone(), cols.clone(), table)
    return table


def apply_rope_2d(x, rows, cols, base=10000.0):
    table = _table(rows, cols, x.shape[-1], base, x.device)
    work = x if x.dtype == torch.float32 else x.float()
    pairs = torch.view_as_complex(work.contiguous().unflatten(-1, (-1, 2)))
    out = torch.view_as_real(pairs * table).flatten(-2)
    return out if out.dtype == x.dtype else out.to(x.dtype)
