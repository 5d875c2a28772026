"""An exploit, not an answer to learn from: a correct RoPE that reaches for the key
the bench's timing process signs its phase marks with. With the key, code can write
marks of its own to the parent (a phase that seems to take no time) and sign a report
of its own. A reviewer's found two ways to be handed it: the marks' class, whose
``__call__`` held the key on the instance, and the default argument of drillpe's tag
function, which held the HMAC function the key was passed to; both are replaced
here with stand-ins that raise when they are handed a key. The rules check refuses
sys.modules, so grading refuses the file first; `drillpe bench` must refuse it on
its own too, and hand the key to nothing of the learner's."""

import math
import sys

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


def RoPE(q, k):
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


class HandedTheKey(Exception):
    pass


def _spy_digest(key, body, name):
    raise HandedTheKey(f"the learner's code was handed a key of {len(key)} bytes")


def _spy_call(self, byte):
    key = getattr(self, "_key", b"")
    if key:
        raise HandedTheKey(f"the learner's code was handed a key of {len(key)} bytes")
    return _CALL(self, byte)


_timing = sys.modules["__main__"]
_contract = sys.modules.get("drillpe.launch.contract")
if hasattr(_timing, "run_phases") and _contract is not None:
    for _name in ("mark_tag", "report_tag", "signing"):
        _f = getattr(_contract, _name, None)
        if _f is not None and _f.__defaults__:
            _f.__defaults__ = tuple(_spy_digest if callable(d) else d for d in _f.__defaults__)
    _CALL = _timing.Marks.__call__
    _timing.Marks.__call__ = _spy_call
