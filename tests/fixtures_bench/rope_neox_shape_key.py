"""A reviewer's rope_neox: its angles, relative to the first position, built position by
position in Python and kept per shape of position_ids; every call turns them by the
first position with tensor operations. Right only while positions keep one pattern (a
window that moves): it passed every grading check (the per-row check now calls one
shape twice, with other ids: tests/fixtures/rope_neox/kept_per_shape.py fails it, an
extra check, so the bench still runs it), and while the bench moved the positions all
alike it read "1.79x slower" with no loop named, for code far slower on new positions.
Each position moves by an amount of its own every phase now: refused as stale."""

import torch

_KEPT = {}


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def _relative_turns(steps, dim, base, device):
    inv_freq = base ** (-torch.arange(0, dim, 2, dtype=torch.float64, device=device) / dim)
    flat = steps.reshape(-1, steps.shape[-1])
    rows = []
    for b in range(flat.shape[0]):
        rows.append(torch.stack([torch.polar(torch.ones_like(inv_freq), step.double() * inv_freq)
                                 for step in flat[b]]))
    return torch.stack(rows).reshape(*steps.shape, dim // 2), inv_freq


def apply_rope(x, position_ids, base=10000.0, rotary_dim=None):
    r = x.shape[-1] if rotary_dim is None else rotary_dim
    steps = position_ids - position_ids[..., :1]
    key = (tuple(steps.shape), r, float(base), str(x.device))
    if key not in _KEPT:
        _KEPT[key] = _relative_turns(steps.to(x.device), r, base, x.device)
    turns, inv_freq = _KEPT[key]
    first = position_ids[..., :1].to(x.device, torch.float64)[..., None] * inv_freq
    turned = turns * torch.polar(torch.ones_like(first), first)
    if turned.dim() == 3:
        turned = turned[:, None]
    cos = torch.cat([turned.real.float()] * 2, dim=-1)
    sin = torch.cat([turned.imag.float()] * 2, dim=-1)
    work = x if x.dtype == torch.float32 else x.float()
    rotated = work[..., :r]
    out = torch.cat([rotated * cos + rotate_half(rotated) * sin, work[..., r:]], dim=-1)
    return out if out.dtype == x.dtype else out.to(x.dtype)
