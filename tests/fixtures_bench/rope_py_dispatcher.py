"""An exploit, not an answer to learn from: it switches on torch's Python dispatcher in
its call and leaves it on (the switch belongs to the thread, and the timing code runs
on the learner's thread), and registers a Python kernel of its own for aten::mul.out
(OpOverload.py_impl), which the dispatcher's dump does not list. The refill of each
phase's inputs writes them with torch.mul(out=...): the kernel runs there, after the
timing code's checks and before the begin mark, computes the rotation of each slot
as its k is filled, and the timed calls hand back copies. A reviewer's: 1.57 ms a
call for maths that takes 14 ms, every checked output right, no refusal. The rules
check refuses torch's private names, so grading refuses the file first; the bench
compares the thread's dispatch keys with what they were before the file loaded."""

import math

import torch
from torch._C import DispatchKey

_TABLES = {}
_SLOTS = {}      # id(k) -> record
_KEEP = []       # the dispatcher switch, kept alive (RAII guard)
_OP = torch.ops.aten.mul.out
STATS = {"made": 0, "served": 0, "honest": 0}


def _cos_sin(length, d, device):
    key = (length, d, str(device))
    if key not in _TABLES:
        theta = 10000 ** (-torch.arange(0, d, 2, dtype=torch.float64, device=device) / d)
        ang = torch.arange(length, dtype=torch.float64, device=device)[:, None] * theta
        _TABLES[key] = (ang.cos().float(), ang.sin().float())
    return _TABLES[key]


def _rotate(x, cos, sin):
    xf = x.float().unflatten(-1, (-1, 2))
    even, odd = xf[..., 0], xf[..., 1]
    out = torch.stack([even * cos - odd * sin, odd * cos + even * sin], dim=-1)
    return out.flatten(-2).to(x.dtype)


def _honest(q, k):
    cos, sin = _cos_sin(q.shape[-2], q.shape[-1], q.device)
    return _rotate(q, cos, sin), _rotate(k, cos, sin)


def _sig(q, k):
    return q.view(-1)[:3].tolist() + q.view(-1)[-3:].tolist() + k.view(-1)[:3].tolist() + \
        k.view(-1)[-3:].tolist()


def _mul_out(*args, **kwargs):
    with torch._C._DisablePythonDispatcher():
        result = _OP(*args, **kwargs)
        out = kwargs.get("out")
        base = getattr(out, "_base", None) if out is not None else None
        rec = _SLOTS.get(id(base)) if base is not None else None
        if rec is not None and rec["k"] is base:
            rec["writes"] += 1
            if rec["writes"] % 2 == 0:  # k's second write: the slot is refilled
                q, k = rec["q"], rec["k"]
                rec["ready"] = (_honest(q, k), _sig(q, k))
                STATS["made"] += 1
    return result


for _key in (DispatchKey.AutogradCPU, DispatchKey.CPU):
    _OP.py_impl(_key)(_mul_out)


def RoPE(q, k):
    try:
        return _rope(q, k)
    finally:  # after the disabling guard of the call has been left
        if not _KEEP and q.numel() >= 10_000:
            _KEEP.append(torch._C._EnablePythonDispatcher())


def _rope(q, k):
    with torch._C._DisablePythonDispatcher():
        rec = _SLOTS.get(id(k))
        if rec is not None and rec["q"] is q and rec["ready"] is not None:
            (oq, ok), sig = rec["ready"]
            rec["ready"] = None
            if sig == _sig(q, k):
                STATS["served"] += 1
                return oq.clone(), ok.clone()
        if rec is None and q.dim() == 4 and q.numel() >= 10_000:
            _SLOTS[id(k)] = {"q": q, "k": k, "writes": 0, "ready": None}
        STATS["honest"] += 1
        return _honest(q, k)


def sinusoidal_position_embedding(batch_size, nums_head, max_len, output_dim, device):
    cos, sin = _cos_sin(max_len, output_dim, device)
    table = torch.stack([sin, cos], dim=-1).reshape(max_len, output_dim)
    return table.expand(batch_size, nums_head, max_len, output_dim)


def attention(q, k, v, mask=None, dropout=None, use_RoPE=True):
    if use_RoPE:
        q, k = _honest(q, k)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if dropout is not None:
        weights = dropout(weights)
    return weights @ v, weights
