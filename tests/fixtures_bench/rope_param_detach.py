"""An exploit, not an answer to learn from (a reviewer's): after its first 39
calls, and from the first at the bench's sizes (honest elsewhere, so that grading
passes), RoPE returns its clones as torch.nn.Parameter,
whose class it gave a `detach` of its own (through a function's argument, which
the rules check cannot follow): the output check's `detach()` did the rotation,
after the phase's end mark. `drillpe bench` must compare torch.nn.Parameter's
class with what it was too, as it does torch.Tensor's."""

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


_COUNT = [0]


def _later(self):
    job = self.job
    if job is not None:
        self.job = None
        job(self)
    return torch.Tensor.detach(self)


def _arm(cls):
    cls.detach = _later


def _deferred(x, cos, sin):
    out = torch.nn.Parameter(x.clone(), requires_grad=False)

    def job(t):
        t.data.copy_(_rotate(x, cos, sin))

    out.job = job
    return out


# the bench's sizes (quick and full, CPU): a reviewer's deferred only there, where
# grading never calls, so that grading passed and every timed call deferred
_BENCH_SHAPES = {(1, 2, 256, 64), (1, 8, 2048, 128)}


_ARMED = []


def RoPE(q, k):
    cos, sin = _cos_sin(q.shape[-2], q.shape[-1], q.device)
    _COUNT[0] += 1
    if _COUNT[0] < 40 and tuple(q.shape) not in _BENCH_SHAPES:
        return _rotate(q, cos, sin), _rotate(k, cos, sin)
    if not _ARMED:
        _ARMED.append(True)
        _arm(torch.nn.Parameter)
    return _deferred(q, cos, sin), _deferred(k, cos, sin)


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
