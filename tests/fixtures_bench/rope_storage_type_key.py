"""An exploit, not an answer to learn from (a reviewer's, made harmless): a storage's
type() handed "torch.__builtins__" and "torch.os.system" as dotted strings. torch looked
them up through its own imports, failed on what it found (no storage's attributes) and
the AttributeError handed the object back (.obj): the builtins' getattr, with which the
file walked to the timing code's marks, read the signing key from their closures, held
back the phase marks and rewrote the signed report ("same" as production for code 15x
slower). Here what it gets is only kept, never used: `drillpe bench` must refuse the
lookups on its own (they may name only torch's tensor and storage classes)."""

import math

import torch


def _looked_up(name):
    try:
        torch.zeros(1).untyped_storage().type(name)
    except AttributeError as error:
        return error.obj
    except Exception:  # refused
        return None
    return None


_FOUND = [_looked_up(".".join(["torch", "__builtins__"])),
          _looked_up(".".join(["torch", "os", "system"]))]
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
