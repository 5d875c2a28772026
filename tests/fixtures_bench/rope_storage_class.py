"""An exploit, not an answer to learn from (a reviewer's): once it has seen an
input, RoPE only clones it and gives each clone's storage a class of its own
(`__class__` of the storage object, which torch keeps with the memory), whose
`data_ptr` and `resizable` do the rotation for every pending call before
answering. The bench's output check asks those after the phase's end mark.
`drillpe bench` must use an output only if its storage is torch's own class."""

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


_S = {"seen": {}, "pending": [], "last": None}


class _Store(torch.UntypedStorage):
    def data_ptr(self):
        _work()
        return torch.UntypedStorage.data_ptr(self)

    def resizable(self):
        _work()
        return torch.UntypedStorage.resizable(self)


def _work():
    pend = _S["pending"]
    _S["pending"] = []
    for q, k, oq, ok in pend:
        cos, sin = _cos_sin(q.shape[-2], q.shape[-1], q.device)
        oq.copy_(_rotate(q, cos, sin))
        ok.copy_(_rotate(k, cos, sin))


def RoPE(q, k):
    key = id(q)
    seen = _S["seen"]
    fresh = seen.get(key) is not q or len(seen) < 2 or _S["last"] is q
    _S["last"] = q
    if fresh:
        seen[key] = q
        cos, sin = _cos_sin(q.shape[-2], q.shape[-1], q.device)
        return _rotate(q, cos, sin), _rotate(k, cos, sin)
    oq = q.clone()
    ok = k.clone()
    oq.untyped_storage().__class__ = _Store
    ok.untyped_storage().__class__ = _Store
    _S["pending"].append((q, k, oq, ok))
    return oq, ok


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
