"""Bench fixture (rope_neox): correct for any positions, fast only for ids out of order.

Ids out of order take cos and sin from a table built once for every position below
8192 (a gather per call); ids in order (every prompt's prefill, every window of a
cache) take a Python loop, one position at a time. While the bench's timed ids were
always shuffled, a reviewer's file of this kind read "same" as production for code
8-10x slower on every real prompt. Each phase now makes calls of three kinds, two of
them in order (bench_child.POSITION_KINDS).
"""

import torch

LIMIT = 8192
KEPT = {}


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def in_order(ids) -> bool:
    flat = ids.reshape(-1)
    return flat.numel() < 2 or bool((flat[1:] >= flat[:-1]).all())


def _table(dim, base, device):
    key = (dim, float(base), str(device))
    if key not in KEPT:
        freqs = base ** (-torch.arange(0, dim, 2, dtype=torch.float64, device=device) / dim)
        angles = torch.arange(LIMIT, dtype=torch.float64, device=device)[:, None] * freqs
        angles = torch.cat([angles, angles], dim=-1)
        KEPT[key] = (angles.cos().float(), angles.sin().float())
    return KEPT[key]


def _one_by_one(ids, dim, base):
    freqs = [base ** (-2.0 * i / dim) for i in range(dim // 2)]
    cos, sin = [], []
    for p in ids.reshape(-1).tolist():
        angles = torch.tensor([p * f for f in freqs], dtype=torch.float64)
        angles = torch.cat([angles, angles])
        cos.append(angles.cos().float())
        sin.append(angles.sin().float())
    return torch.stack(cos), torch.stack(sin)


def apply_rope(x, position_ids, base=10000.0, rotary_dim=None):
    dim = x.shape[-1] if rotary_dim is None else rotary_dim
    ids = position_ids.to(x.device)
    flat = ids.reshape(-1)
    if not in_order(ids) and int(flat.min()) >= 0 and int(flat.max()) < LIMIT:
        cos, sin = (t.index_select(0, flat) for t in _table(dim, base, x.device))
    else:
        cos, sin = _one_by_one(ids, dim, base)
    cos, sin = (t.to(x.device).reshape(*ids.shape, dim) for t in (cos, sin))
    if cos.dim() == 3:  # (batch, seq) ids: broadcast over heads
        cos, sin = cos[:, None], sin[:, None]
    rot = x[..., :dim].float()
    out = x.float().clone()
    out[..., :dim] = rot * cos + rotate_half(rot) * sin
    return out.to(x.dtype)
