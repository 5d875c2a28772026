"""A reviewer's rope_neox: the production algorithm, with cos and sin kept per
position_ids object. While the bench held the positions fixed it read "same" as
production; every phase's positions are new tensors now, as a decode step's are, and
it builds its tables again, on the clock."""

import torch

_KEPT = {}


def _cos_sin(position_ids, dim, base, device):
    key = (id(position_ids), dim, base, str(device))
    hit = _KEPT.get(key)
    if hit is not None and hit[0] is position_ids:
        return hit[1], hit[2]
    inv_freq = base ** (-torch.arange(0, dim, 2, dtype=torch.float64, device=device) / dim)
    angles = position_ids.to(device, torch.float64)[..., None] * inv_freq
    if angles.dim() == 3:
        angles = angles[:, None]
    cos, sin = angles.cos().float(), angles.sin().float()
    _KEPT[key] = (position_ids, cos, sin)
    return cos, sin


def apply_rope(x, position_ids, base=10000.0, rotary_dim=None):
    r = x.shape[-1] if rotary_dim is None else rotary_dim
    half = r // 2
    cos, sin = _cos_sin(position_ids, r, base, x.device)
    work = x if x.dtype == torch.float32 else x.float()
    x1, x2 = work[..., :half], work[..., half:r]
    out = torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin, work[..., r:]], dim=-1)
    return out if out.dtype == x.dtype else out.to(x.dtype)
