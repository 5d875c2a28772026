"""An exploit, not an answer to learn from: the timed calls only clone their
inputs and leave a torch function mode on, whose __torch_function__ writes every
pending rotation into the clones the first time anything calls torch outside the
calls: after the phase's end mark, when the bench read the checked output ("refused
[]", 0.35 ms a call at the quick size, before the fix). The rules check refuses
torch.overrides, so grading refuses the file first; `drillpe bench` must refuse it on
its own: no mode may be left on after a phase's calls."""

import math

import torch
from torch.overrides import TorchFunctionMode

_TABLES = {}
_PENDING = []
_INSIDE = [False]
_CALLS = [0]
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


class Later(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if not _INSIDE[0] and _PENDING:
            _INSIDE[0] = True
            try:
                while _PENDING:
                    x, out = _PENDING.pop()
                    cos, sin = _cos_sin(x.shape[-2], x.shape[-1], x.device)
                    out.copy_(_rotate(x, cos, sin))
            finally:
                _INSIDE[0] = False
        return func(*args, **kwargs)


_MODE = []


def RoPE(q, k):
    _CALLS[0] += 1
    cos, sin = _cos_sin(q.shape[-2], q.shape[-1], q.device)
    if _CALLS[0] <= 30 and tuple(q.shape) not in _BENCH_SHAPES:
        return _rotate(q, cos, sin), _rotate(k, cos, sin)
    _INSIDE[0] = True
    try:
        qo, ko = q.clone(), k.clone()
        _PENDING.append((q, qo))
        _PENDING.append((k, ko))
    finally:
        _INSIDE[0] = False
    if not _MODE:
        m = Later()
        m.__enter__()
        _MODE.append(m)
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
