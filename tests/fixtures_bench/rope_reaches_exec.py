"""An exploit, not an answer to learn from: a correct RoPE whose import reaches
the builtins' exec through functools.update_wrapper (a reviewer's then took the
bench's frames and faked which outputs were checked: 64.8% of a copy for a Python
loop at 3.0%). The rules check refuses update_wrapper and __setattr__; `drillpe
bench` must refuse the result on its own too."""

import functools
import math

import torch


def sinusoidal_position_embedding(batch_size, nums_head, max_len, output_dim, device):
    theta = 10000 ** (-torch.arange(0, output_dim, 2, dtype=torch.float64, device=device)
                      / output_dim)
    ang = torch.arange(max_len, dtype=torch.float64, device=device)[:, None] * theta
    table = torch.stack([ang.sin(), ang.cos()], dim=-1).reshape(max_len, output_dim).float()
    return table.expand(batch_size, nums_head, max_len, output_dim)


def _rotate(x):
    d, length = x.shape[-1], x.shape[-2]
    theta = 10000 ** (-torch.arange(0, d, 2, dtype=torch.float64, device=x.device) / d)
    ang = torch.arange(length, dtype=torch.float64, device=x.device)[:, None] * theta
    cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack([even * cos - odd * sin, odd * cos + even * sin], dim=-1).flatten(-2)


U = "_" * 2
store = {}


class Box:
    def __setattr__(self, name, value):
        store[name] = value


def probe():
    return 1


# A getattr by a name made at run time (which the rules check cannot read), then exec:
# in the bench's timing process, the code went on through the frames to the timing
# code's globals and swapped how checked calls are fingerprinted. drillpe refuses the
# exec; this file catches the refusal and goes on, so that only the bench's own report
# of what it refused can stop its time being shown.
functools.update_wrapper(Box(), probe, assigned=(U + "builtins" + U,), updated=())
try:
    store[U + "builtins" + U]["exec"]("import sys; sys._getframe()")
except PermissionError:
    pass


def RoPE(q, k):
    return _rotate(q), _rotate(k)


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
