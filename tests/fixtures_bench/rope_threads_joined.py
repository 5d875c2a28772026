"""An exploit, not an answer (a reviewer's): correct RoPE outputs, each call split over
two Python threads started in the call and joined before it returns, so that no thread
of its own is alive at any check, on two cores where the production code gets one
(7.9-8.4 ms a call for maths that takes 14.4-15.8 ms on one, no refusal)."""
import math
import os
import threading

import torch

NT = 2
_TABLES = {}
_BASE = [len(os.listdir("/proc/self/task"))]


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


def _rotate_into(out, x, cos, sin):
    xf = x.float().unflatten(-1, (-1, 2))
    even, odd = xf[..., 0], xf[..., 1]
    torch.stack([even * cos - odd * sin, odd * cos + even * sin], dim=-1,
                out=out.unflatten(-1, (-1, 2)))


def _rotate(x, cos, sin):
    xf = x.float().unflatten(-1, (-1, 2))
    even, odd = xf[..., 0], xf[..., 1]
    out = torch.stack([even * cos - odd * sin, odd * cos + even * sin], dim=-1)
    return out.flatten(-2).to(x.dtype)


def RoPE(q, k):
    cos, sin = _cos_sin(q.shape[-2], q.shape[-1], q.device)
    if NT <= 1 or q.dim() < 3 or q.dtype != torch.float32 \
            or not (q.is_contiguous() and k.is_contiguous()):
        return _rotate(q, cos, sin), _rotate(k, cos, sin)
    qo = torch.empty_like(q, memory_format=torch.contiguous_format)
    ko = torch.empty_like(k, memory_format=torch.contiguous_format)
    jobs = []
    for x, o in ((q.flatten(0, -3), qo.flatten(0, -3)), (k.flatten(0, -3), ko.flatten(0, -3))):
        n = x.shape[0]
        parts = min(NT, n)
        step = -(-n // parts)
        for a in range(0, n, step):
            jobs.append((o[a:a + step], x[a:a + step]))
    per = [jobs[i::NT] for i in range(NT)]

    def work(js):
        for o, x in js:
            _rotate_into(o, x, cos, sin)
    ts = [threading.Thread(target=work, args=(p,)) for p in per[1:]]
    for t in ts:
        t.start()
    work(per[0])
    for t in ts:
        t.join()
    # a joined thread's OS task can outlive join() briefly: wait until it is gone, so
    # that the guard after the end mark counts no extra OS thread
    while len(os.listdir("/proc/self/task")) > _BASE[0]:
        pass
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
