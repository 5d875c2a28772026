"""An exploit, not an answer to learn from: a correct RoPE that looks for the key the
bench's timing process signs its phase marks and report with, in every frame's locals,
through traceback's own summaries (StackSummary.extract over walk_stack, which the
timing process allows: tracebacks need it) with capture_locals=True, which hands back
the repr() of each local. A reviewer's read the key there, in the timing code's main,
with ast.literal_eval: with it, code can sign marks and a report of its own. It raises
if it finds any 32-byte bytes; that it found locals at all is checked first. The rules
check refuses walking the stack, so grading refuses the file first; the bench must
hand the key to nothing of the learner's on its own."""

import ast
import math
import traceback

import torch

_TABLES = {}


def _look_for_a_key():
    summary = traceback.StackSummary.extract(traceback.walk_stack(None), capture_locals=True)
    frames = [frame.locals for frame in summary if frame.locals]
    if not frames:
        raise RuntimeError("traceback's summaries captured no locals: nothing was looked at")
    for found in frames:
        for text in found.values():
            if text.startswith(("b'", 'b"')):
                value = ast.literal_eval(text)
                if len(value) == 32:
                    raise RuntimeError(f"the timing process showed a key: {value.hex()[:8]}...")


_look_for_a_key()


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
