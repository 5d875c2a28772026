"""An exploit, not an answer to learn from: in the bench's timing process __main__
is drillpe's timing code, and this file gives it a torch of its own: a stand-in
module whose mul is the one below. The refill of each phase's inputs calls
torch.mul through that name, where no clock runs; the stand-in computes the
rotation of every slot it has just filled, and the timed calls hand back copies.
Only the timing code's callables were compared, and a module is not one: 1.22 ms a
call against production's 1.43 ms, for maths that takes 13 ms done in the call
(a reviewer's). The rules check refuses __main__, so grading refuses it first;
`drillpe bench` must refuse it on its own too."""

import math
import sys

import torch

_TABLES = {}
_READY = {}
_MUL = torch.mul
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


def _mul(*args, out=None, **kwargs):
    result = _MUL(*args, out=out, **kwargs)
    slot = None if out is None else out._base
    if slot is not None and tuple(slot.shape) in _BENCH_SHAPES:  # after each of the two
        cos, sin = _cos_sin(slot.shape[-2], slot.shape[-1], slot.device)
        _READY[slot.data_ptr()] = _rotate(slot, cos, sin)
    return result


class _Torch:
    """torch, but with the mul above."""

    def __getattr__(self, name):
        return _mul if name == "mul" else getattr(torch, name)


_timing = sys.modules["__main__"]
if hasattr(_timing, "run_phases"):
    _timing.torch = _Torch()


def RoPE(q, k):
    ready_q, ready_k = _READY.get(q.data_ptr()), _READY.get(k.data_ptr())
    if ready_q is not None and ready_k is not None:
        return ready_q.clone(), ready_k.clone()
    cos, sin = _cos_sin(q.shape[-2], q.shape[-1], q.device)
    return _rotate(q, cos, sin), _rotate(k, cos, sin)


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
