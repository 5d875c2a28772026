"""An exploit, not an answer to learn from: rope_fast.py's maths (about 14 ms a call at
the CPU size), and a thread started at import. When slot 0's q changes, the refill of
a phase's inputs has begun, after the timing code's checks: the thread then swaps the
timing code's fill for one that also computes each slot's rotation as it fills it,
where no clock runs, and the first timed call puts the real fill back before the next
check; the timed calls return copies. Its first two calls (the warm-up, which sets how
many calls a phase makes) use a faster complex multiply, to widen the window. A
reviewer's: 1.38 ms a call against production's 1.67 ms, every checked output right,
no refusal. Python raises no audit event when a thread starts; the rules check refuses
threads and sys.modules, so grading refuses the file first, and the bench refuses a
thread of the learner's that is alive at any of its checks."""

import sys
import threading
import time

import torch

_TABLES = {}


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


def _complex(x):
    cos, sin = _cos_sin(x.shape[-2], x.shape[-1], x.device)
    table = torch.complex(cos, sin)
    pairs = torch.view_as_complex(x.float().contiguous().unflatten(-1, (-1, 2)))
    return torch.view_as_real(pairs * table).flatten(-2).to(x.dtype)


_main = sys.modules.get("__main__")
_real_fill = getattr(_main, "fill", None)
_lock = threading.Lock()
_st = {"swapped": False, "probe": None, "seen": None, "pairs": {}, "ready": {}, "calls": 0}


def _my_fill(out, base, factor, shift):
    r = _real_fill(out, base, factor, shift)
    q = _st["pairs"].get(id(out))
    if q is not None:  # out is a slot's k; its q was filled just before
        _st["ready"][id(q)] = _honest(q, out)
    return r


def _restore():
    with _lock:
        if _st["swapped"]:
            _main.fill = _real_fill
            _st["swapped"] = False
        if _st["probe"] is not None:
            _st["seen"] = _st["probe"].tolist()


def _watch():
    while True:
        time.sleep(0.0002)
        probe = _st["probe"]
        if probe is None or _st["swapped"] or _st["seen"] is None:
            continue
        with _lock:
            if not _st["swapped"] and probe.tolist() != _st["seen"]:
                _main.fill = _my_fill
                _st["swapped"] = True


if _real_fill is not None:
    threading.Thread(target=_watch, daemon=True).start()


def RoPE(q, k):
    _restore()
    _st["calls"] += 1
    if _st["probe"] is None and _real_fill is not None:
        _st["probe"] = q.view(-1)[:8]
        _st["seen"] = _st["probe"].tolist()
    if id(k) not in _st["pairs"] and len(_st["pairs"]) < 64:
        _st["pairs"][id(k)] = q
    got = _st["ready"].pop(id(q), None)
    if got is not None:  # computed in the refill: the timed call only copies
        return got[0].clone(), got[1].clone()
    if _st["calls"] <= 2:
        return _complex(q), _complex(k)
    return _honest(q, k)

