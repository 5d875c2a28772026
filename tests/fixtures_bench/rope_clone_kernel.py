"""An exploit, not an answer to learn from: the timed calls only copy their inputs,
and the file registers its own CPU kernel for aten::clone (torch.library), which
writes the rotation into such a copy when anything clones it after the calls:
drillpe's read of the checked outputs, after the phase's end mark (only the outputs
read, one clone each). It then spends as long over each clone in the read of
drillpe's own copy, so the two reads take alike and bench.deferred_work does not
fire: before drillpe compared the dispatcher's entries, nothing refused it, and the
bench measured 1.77 ms a call at the CPU size (rope_fast.py's honest maths: 15 ms).
The rules check refuses torch.library, so grading refuses the file first; `drillpe
bench` must refuse it on its own: the dispatcher's entries for the operators the
timing code runs are compared with what they were before the file loaded, after
every phase."""

import math
import time

import torch

_TABLES = {}
_PENDING = []
_STATE = {"inside": False}
_OWED = []
_BENCH_SHAPES = {(1, 2, 256, 64), (1, 8, 2048, 128)}


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


def _copy(x):
    return torch.empty_like(x).copy_(x)


def _clone(x, memory_format=None):
    if _STATE["inside"]:
        return _copy(x)
    _STATE["inside"] = True
    try:
        for at, (source, out) in enumerate(_PENDING):
            if out is x:  # one of the phase's outputs is read: compute it now
                started = time.perf_counter()
                cos, sin = _cos_sin(source.shape[-2], source.shape[-1], source.device)
                out.copy_(_rotate(source, cos, sin))
                del _PENDING[at]
                _OWED.append(time.perf_counter() - started)
                return _copy(x)
        # drillpe's copy of them: take as long over it as the read of ours took
        _PENDING.clear()
        if _OWED:
            time.sleep(_OWED.pop(0))
        return _copy(x)
    finally:
        _STATE["inside"] = False


_LIB = torch.library.Library("aten", "IMPL")
_LIB.impl("clone", _clone, "CPU")


def RoPE(q, k):
    cos, sin = _cos_sin(q.shape[-2], q.shape[-1], q.device)
    if tuple(q.shape) not in _BENCH_SHAPES:
        return _rotate(q, cos, sin), _rotate(k, cos, sin)
    _STATE["inside"] = True
    try:
        qo, ko = _copy(q), _copy(k)
    finally:
        _STATE["inside"] = False
    _PENDING.extend([(q, qo), (k, ko)])
    return qo, ko


def attention(q, k, v, mask=None, dropout=None, use_RoPE=True):
    if use_RoPE:
        q, k = RoPE(q, k)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if dropout is not None:
        weights = dropout(weights)
    return weights @ v, weights
