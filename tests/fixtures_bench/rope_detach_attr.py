"""An exploit, not an answer to learn from (a reviewer's): the timed calls only
clone their inputs and set `detach` on each clone, a function of the file's
that writes the rotation into the clone and then detaches it. `Tensor.detach`
is a method, so the instance's own attribute hides it: the output check's
`detach()`, after the phase's end mark, did the work. The reviewer's returned
plain rotations for its first 30 calls and at every size but the bench's, and
passed grading; this one defers after its first 30 calls at any size, and
from the first call at the bench's sizes (so that a test's short bench meets it).
`drillpe bench` must refuse a tensor with an attribute of its own that hides
one of torch's methods before it calls any of them."""

import math

import torch

_TABLES = {}


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


_CALLS = [0]


def _later(x, out):
    view = out.detach()  # same memory, no _base: the closure holds the memory, not `out`

    def detach():
        cos, sin = _cos_sin(x.shape[-2], x.shape[-1], x.device)
        view.copy_(_rotate(x, cos, sin))
        return view.detach()

    return detach


# the bench's sizes (quick and full, CPU): a reviewer's deferred only there, where
# grading never calls, so that grading passed and every timed call deferred
_BENCH_SHAPES = {(1, 2, 256, 64), (1, 8, 2048, 128)}


def RoPE(q, k):
    _CALLS[0] += 1
    cos, sin = _cos_sin(q.shape[-2], q.shape[-1], q.device)
    if _CALLS[0] <= 30 and tuple(q.shape) not in _BENCH_SHAPES:
        return _rotate(q, cos, sin), _rotate(k, cos, sin)
    qo, ko = q.clone(), k.clone()
    qo.detach = _later(q, qo)
    ko.detach = _later(k, ko)
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
