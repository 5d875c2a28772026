"""An exploit, not an answer to learn from: a cProfile.Profile with a timer of its own,
entered and never left (cProfile.py's __enter__ calls sys.setprofile for it). Python
calls the timer at every profile event, in the timed calls and in the refill of each
phase's inputs alike: it recomputes the rotation of every slot whose values changed,
which happens in the refill, where no clock runs; the timed calls hand back copies.
A reviewer's: 2.56 ms a call for maths that takes 14 ms, no refusal. The rules check
refuses cProfile, so grading refuses the file first; in the timing process
installing a trace or profile function is refused wherever the learner's code is on
the stack, and the file, which catches the refusal and goes on, is refused for it."""

import cProfile
import math
import time

import torch

_TABLES = {}
_SLOTS = {}   # id(q) -> rec
_ON = []


def _cos_sin(length, d, device):
    key = (length, d, str(device))
    if key not in _TABLES:
        theta = 10000 ** (-torch.arange(0, d, 2, dtype=torch.float64, device=device) / d)
        ang = torch.arange(length, dtype=torch.float64, device=device)[:, None] * theta
        _TABLES[key] = (ang.cos().float(), ang.sin().float())
    return _TABLES[key]


def _rotate(x, cos, sin):
    xf = x.float().unflatten(-1, (-1, 2))
    even, odd = xf[..., 0], xf[..., 1]
    out = torch.stack([even * cos - odd * sin, odd * cos + even * sin], dim=-1)
    return out.flatten(-2).to(x.dtype)


def _honest(q, k):
    cos, sin = _cos_sin(q.shape[-2], q.shape[-1], q.device)
    return _rotate(q, cos, sin), _rotate(k, cos, sin)


def _sig(q, k):
    fq, fk = q.view(-1), k.view(-1)
    return (fq[:2].tolist(), fq[-2:].tolist(), fk[:2].tolist(), fk[-2:].tolist())


def _catch_up():
    for rec in _SLOTS.values():
        s = _sig(rec["q"], rec["k"])
        if s != rec["sig"]:
            rec["out"] = _honest(rec["q"], rec["k"])
            rec["sig"] = s
            rec["made"] += 1




_BUSY = []
_PC = time.perf_counter


def _timer():
    if not _BUSY:
        _BUSY.append(1)
        try:
            _catch_up()
        finally:
            _BUSY.clear()
    return _PC()


def RoPE(q, k):
    rec = _SLOTS.get(id(q))
    if rec is not None and rec["k"] is k and rec["out"] is not None and _sig(q, k) == rec["sig"]:
        oq, ok = rec["out"]
        rec["served"] += 1
        return oq.clone(), ok.clone()
    if rec is None and q.dim() == 4 and q.numel() >= 10_000 and q.is_contiguous():
        _SLOTS[id(q)] = {"q": q, "k": k, "sig": None, "out": None, "made": 0, "served": 0}
        if not _ON:
            prof = cProfile.Profile(_timer)
            _ON.append(prof)
            try:
                prof.__enter__()  # cProfile.py's frame calls enable(): library code
            except PermissionError:  # refused: go on as an honest answer would
                pass
    return _honest(q, k)


def sinusoidal_position_embedding(batch_size, nums_head, max_len, output_dim, device):
    cos, sin = _cos_sin(max_len, output_dim, device)
    table = torch.stack([sin, cos], dim=-1).reshape(max_len, output_dim)
    return table.expand(batch_size, nums_head, max_len, output_dim)


def attention(q, k, v, mask=None, dropout=None, use_RoPE=True):
    if use_RoPE:
        q, k = _honest(q, k)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if dropout is not None:
        weights = dropout(weights)
    return weights @ v, weights
