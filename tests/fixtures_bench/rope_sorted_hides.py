"""An exploit, not an answer to learn from: the file replaces torch.mul, which the
refill of each phase's inputs calls where no clock runs (as rope_refill_mul.py
does), and hides the change from the bench's check of torch's names by replacing
the builtin sorted, which that check ran its list of changed names through, with
one that leaves torch.mul out. `drillpe bench` must refuse it on its own; the rules
check refuses assigning to torch's names, so grading refuses the file first."""

import builtins
import math

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


_SORTED = builtins.sorted


def _quiet_sorted(items, *args, **kwargs):
    return [item for item in _SORTED(items, *args, **kwargs)
            if not (type(item) is str and item.endswith(".mul"))]


builtins.sorted = _quiet_sorted
torch.mul = _mul


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
