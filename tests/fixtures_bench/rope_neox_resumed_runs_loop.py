"""Bench fixture (rope_neox): correct for any positions, fast unless runs resume at a start
of their own.

Ids that mostly count up by one and break off into another run that starts anywhere
but 0 (a continuous batch of requests, each from its cached length, as vLLM and SGLang
flatten them; a context-parallel shard's chunks) take a Python loop, one position at a
time; any other ids gather cos and sin from tables built once. While the bench's packed
runs all started at 0, helper-143's file of this kind read "same" as production for
code 7-8x slower on such batches. Packed runs now start each from a start of their own
in one draw in two (bench_child._packed_ids).
"""

import torch


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def resumed_runs(ids) -> bool:
    flat = ids.reshape(-1)
    if flat.numel() < 16:
        return False
    step = flat[1:] - flat[:-1]
    counting = int((step == 1).sum())
    resumed = int(((flat[1:] != 0) & (step != 1) & (step != 0)).sum())
    return counting * 10 >= 9 * flat.numel() and resumed > 0


LIMIT = 8192
KEPT = {}


def _angles(ids, dim, base):
    """cos and sin of every position below LIMIT, built once; gathered per call."""
    key = (dim, float(base), str(ids.device))
    if key not in KEPT:
        freqs = base ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)
        angles = torch.arange(LIMIT, dtype=torch.float64)[:, None] * freqs
        KEPT[key] = (angles.cos().float().to(ids.device), angles.sin().float().to(ids.device))
    cos, sin = KEPT[key]
    return cos[ids], sin[ids]


def _angles_one_by_one(ids, dim, base):
    freqs = [base ** (-2.0 * i / dim) for i in range(dim // 2)]
    rows = [torch.tensor([p * f for f in freqs], dtype=torch.float64)
            for p in ids.reshape(-1).tolist()]
    angles = torch.stack(rows).reshape(*ids.shape, dim // 2).to(ids.device)
    return angles.cos().float(), angles.sin().float()


def apply_rope(x, position_ids, base=10000.0, rotary_dim=None):
    dim = x.shape[-1] if rotary_dim is None else rotary_dim
    half = dim // 2
    ids = position_ids.to(x.device)
    slow = (ids.dim() == 1 or ids.shape[0] == 1) and resumed_runs(ids)
    cos, sin = (_angles_one_by_one if slow else _angles)(ids, dim, base)
    if cos.dim() == 3:  # (B, L, d/2): one table per row, shared by the heads
        cos, sin = cos[:, None], sin[:, None]
    work = x.to(torch.float32)
    out = torch.empty_like(work)
    halves, out_halves = work[..., :dim].unflatten(-1, (2, half)), \
        out[..., :dim].unflatten(-1, (2, half))
    torch.mul(halves, cos.unsqueeze(-2), out=out_halves)
    out_halves[..., 0, :].addcmul_(halves[..., 1, :], sin, value=-1.0)
    out_halves[..., 1, :].addcmul_(halves[..., 0, :], sin)
    out[..., dim:] = work[..., dim:]
    return out.to(x.dtype)
