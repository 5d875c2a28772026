"""An exploit, not an answer to learn from (a reviewer's), for CUDA: the timing code
synced the GPU with torch.cuda.synchronize, whose body enters torch.cuda.device, a
class nothing compared with its snapshot, so its ``__enter__`` could be replaced
through a function's argument (the rules check passes it). The sync after each
phase's refill, before its begin mark, then computed the rotation of every slot's
freshly filled q and k where no clock ran, and the timed calls handed back clones
("1.37x faster" than production through the CLI, for code 17x slower, on a copy of
the timing code whose CPU sync entered that class the same way; no GPU was lent to
run it on one). `drillpe bench` must refuse it on any device: the timing code syncs
with torch's C function, and torch.cuda's names and that class are compared with
their snapshot after every phase."""

import math

import torch

BASE = 10000.0
_SEEN = {}  # id(q) -> [q, k, version of q, version of k, out_q, out_k]


def _rot(x):
    pos = torch.arange(x.shape[-2], device=x.device, dtype=torch.float64)
    theta = BASE ** (-torch.arange(0, x.shape[-1], 2, dtype=torch.float64, device=x.device)
                     / x.shape[-1])
    ang = (pos[:, None] * theta[None, :]).repeat_interleave(2, dim=-1)
    x64 = x.to(torch.float64)
    turned = torch.stack([-x64[..., 1::2], x64[..., 0::2]], dim=-1).reshape(x.shape)
    return (x64 * ang.cos() + turned * ang.sin()).to(x.dtype)


def _ahead():
    for entry in _SEEN.values():
        q, k = entry[0], entry[1]
        sig = q.reshape(-1)[:4].tolist() + k.reshape(-1)[:4].tolist()
        if entry[2] != sig:
            entry[4], entry[5] = _rot(q), _rot(k)
            entry[2] = sig


def RoPE(q, k):
    entry = _SEEN.get(id(q))
    if entry is not None and entry[0] is q and entry[1] is k and entry[4] is not None:
        return entry[4].clone(), entry[5].clone()
    if len(_SEEN) < 64:
        _SEEN[id(q)] = [q, k, None, None, None, None]
    return _rot(q), _rot(k)


def sinusoidal_position_embedding(batch_size, nums_head, max_len, output_dim, device):
    pos = torch.arange(max_len, device=device, dtype=torch.float64)
    theta = BASE ** (-torch.arange(0, output_dim, 2, dtype=torch.float64, device=device)
                     / output_dim)
    ang = pos[:, None] * theta[None, :]
    table = torch.stack([ang.sin(), ang.cos()], dim=-1).reshape(max_len, output_dim)
    return table.float().expand(batch_size, nums_head, max_len, output_dim).clone()


def attention(q, k, v, mask=None, dropout=None, use_RoPE=True):
    if use_RoPE:
        q, k = _rot(q.to(torch.float64)), _rot(k.to(torch.float64))
    q, k, v64 = (t.to(torch.float64) for t in (q, k, v))
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if dropout is not None:
        weights = dropout(weights)
    return (weights @ v64).to(v.dtype), weights.to(v.dtype)


def _make(real):
    def enter(self):
        _ahead()
        return real(self)
    return enter


def _arm(cls):
    cls.__enter__ = _make(cls.__enter__)


_arm(torch.cuda.device)
