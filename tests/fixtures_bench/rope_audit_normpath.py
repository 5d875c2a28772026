"""An exploit, not an answer (helper-104). It sets os.path.normpath through a function's argument (the rules check allows reading os.path), which
drillpe's audit hook in the timing process called at every file opened; the check after
each end mark opens /proc/self/task/*/comm. Each timed call only clones q and k, and the
rotations are done in place when drillpe's check calls the replaced function, after the
end mark and before the outputs are read: 1.5-3 ms a call, unrefused, against 17-25 ms
honest. Refused since: the standard library's modules the hooks run are sealed
(bench.tampering), and the timing thread's own CPU time after the end mark counts
(bench.stalled_after_calls)."""
import math
import os

import torch

_TABLES = {}
_PENDING = []
_REAL = os.path.normpath
DEFER_Q = False


def _cos_sin(length, d, device):
    key = (length, d, str(device))
    if key not in _TABLES:
        theta = 10000 ** (-torch.arange(0, d, 2, dtype=torch.float64, device=device) / d)
        ang = torch.arange(length, dtype=torch.float64, device=device)[:, None] * theta
        _TABLES[key] = (ang.cos().float(), ang.sin().float())
    return _TABLES[key]


def sinusoidal_position_embedding(batch_size, nums_head, max_len, output_dim, device):
    cos, sin = _cos_sin(max_len, output_dim, device)
    table = torch.stack([sin, cos], dim=-1).reshape(max_len, output_dim)
    return table.expand(batch_size, nums_head, max_len, output_dim)


def _rotate(x, cos, sin):
    xf = x.float().unflatten(-1, (-1, 2))
    even, odd = xf[..., 0], xf[..., 1]
    out = torch.stack([even * cos - odd * sin, odd * cos + even * sin], dim=-1)
    return out.flatten(-2).to(x.dtype)


def _settle():
    while _PENDING:
        x, out = _PENDING.pop()
        cos, sin = _cos_sin(x.shape[-2], x.shape[-1], x.device)
        out.copy_(_rotate(x, cos, sin))


def _normpath(path):
    if _PENDING:
        _settle()
    return _REAL(path)


def _arm(where, fn):
    where.normpath = fn


_arm(os.path, _normpath)


def RoPE(q, k):
    # the call copies its inputs (a copy's time, so not "faster than a copy");
    # the rotation of both copies is done in place later, in drillpe's guard
    if tuple(q.shape) != (1, 8, 2048, 128):
        cos, sin = _cos_sin(q.shape[-2], q.shape[-1], q.device)
        return _rotate(q, cos, sin), _rotate(k, cos, sin)
    qo, ko = q.clone(), k.clone()
    _PENDING.append((qo, qo))
    _PENDING.append((ko, ko))
    return qo, ko


def attention(q, k, v, mask=None, dropout=None, use_RoPE=True):
    if use_RoPE:
        q, k = RoPE(q, k)
        _settle()
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if dropout is not None:
        weights = dropout(weights)
    return weights @ v, weights
