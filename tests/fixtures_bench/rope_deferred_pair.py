"""An exploit, not an answer to learn from (a reviewer's): RoPE returns a
namedtuple subclass whose __iter__ and __getitem__ do the rotation, so its timed
calls only copy their inputs and the work runs when the bench first reads the
pair (pytree flattens a namedtuple with list(), after the phase's end mark).
It returns plain tuples for its first 30 calls in a process at every size but
the bench's (as the reviewer's did, to pass grading). `drillpe bench` must
refuse an output in any container but a plain tuple or list, and read nothing
of it."""

import math
from collections import namedtuple

import torch

_TABLES = {}
_PENDING = []
_CALLS = [0]


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
        q, k, qo, ko = _PENDING.pop()
        cos, sin = _cos_sin(q.shape[-2], q.shape[-1], q.device)
        qo.copy_(_rotate(q, cos, sin))
        ko.copy_(_rotate(k, cos, sin))


class Pair(namedtuple("Pair", ["q", "k"])):
    __slots__ = ()

    def __iter__(self):
        _settle()
        return tuple.__iter__(self)

    def __getitem__(self, i):
        _settle()
        return tuple.__getitem__(self, i)


# the bench's sizes (quick and full, CPU): a reviewer's deferred only there, where
# grading never calls, so that grading passed and every timed call deferred
_BENCH_SHAPES = {(1, 2, 256, 64), (1, 8, 2048, 128)}


def RoPE(q, k):
    _CALLS[0] += 1
    cos, sin = _cos_sin(q.shape[-2], q.shape[-1], q.device)
    if _CALLS[0] <= 30 and tuple(q.shape) not in _BENCH_SHAPES:
        return _rotate(q, cos, sin), _rotate(k, cos, sin)
    qo, ko = torch.empty_like(q), torch.empty_like(k)
    qo.copy_(q)
    ko.copy_(k)
    _PENDING.append((q, k, qo, ko))
    return Pair(qo, ko)


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
