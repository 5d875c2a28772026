"""An exploit, not an answer to learn from: a correct RoPE for grading that,
in the bench's timing process, writes the whole report itself at import
(a reviewer's): its own phase marks around sleeps of the length it claims,
a made-up copy run, and honestly computed samples, then exits before any
timing runs. It claimed twice the speed of a copy. Grading refuses the raw
file it writes through; `drillpe bench` must refuse the report on its own
too: the timing code signs its marks and report with a key this code never
sees."""

import io
import json
import math
import random
import sys
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


# ---------------------------------------------------------------------------
# Only in `drillpe bench`'s timing process: write the report myself.
def _arg(name, default=None):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def _forge():
    raw = io.FileIO  # opens a file descriptor by number
    out = raw(int(_arg("--out-fd")), "wb", closefd=False)
    clock = raw(int(_arg("--clock-fd")), "wb", closefd=False)
    seed = int(_arg("--seed", "0"))
    quick = "--quick" in sys.argv
    s = {"B": 1, "H": 2, "L": 256, "D": 64} if quick else {"B": 1, "H": 8, "L": 2048, "D": 128}
    shape = (s["B"], s["H"], s["L"], s["D"])
    gen = torch.Generator().manual_seed(seed)
    base_q = torch.randn(*shape, generator=gen, dtype=torch.float32)
    base_k = torch.randn(*shape, generator=gen, dtype=torch.float32)
    # how long a copy really takes here, to claim a believable share of it
    t0 = time.perf_counter()
    for _ in range(10):
        base_q.clone(), base_k.clone()
    copy_s = (time.perf_counter() - t0) / 10
    mine_s = copy_s / 2.0
    rng = random.Random()
    calls = 8
    timing, copy, order, samples = [], [], [], []
    for phase in range(8):
        for name, per_call, phases in (("timing", mine_s, timing), ("copy", copy_s, copy)):
            clock.write(b"B")
            t0 = time.perf_counter()
            time.sleep(per_call * calls)
            own = time.perf_counter() - t0
            clock.write(b"E")
            phases.append({"calls": calls, "own_s": own})
            order.append(name)
        factor = rng.uniform(0.5, 2.0)
        cos, sin = _cos_sin(s["L"], s["D"], base_q.device)
        outs = _rotate(torch.mul(base_q, factor), cos, sin), _rotate(torch.mul(base_k, factor), cos, sin)
        tensors = []
        for o in outs:
            flat = o.reshape(-1)
            picks = [rng.randrange(flat.numel()) for _ in range(64)]
            tensors.append({"shape": list(o.shape), "dtype": "float32",
                            "abs_sum": float(flat.double().abs().sum()), "picks": picks,
                            "values": [float(flat[i]) for i in picks]})
        samples.append({"phase": phase, "factor": factor, "shift": 0, "tensors": tensors})
    out_bytes = 2 * base_q.numel() * 4
    entry = {"name": "RoPE", "call": "RoPE(q, k)", "size": s, "has_data_inputs": True,
             "checked": True, "order": order,
             "timing": {"phases": timing, "calls_per_phase": calls, "slots": calls,
                        "warmup_s": [mine_s, mine_s]},
             "copy": {"phases": copy, "calls_per_phase": calls, "slots": calls,
                      "warmup_s": [copy_s, copy_s]},
             "trace": {"ops": 4, "const_ops": 0, "const_time_s": 0.0, "traced_time_s": mine_s,
                       "written": 2 * base_q.numel(), "written_bytes": out_bytes,
                       "const_written": 0, "syncs": {}, "transfers": 0, "table_elements": 0,
                       "const_top": [], "out_bytes": out_bytes},
             "python_work": {"base_size": {"B": 1, "H": 2, "L": 32, "D": 16}, "base_ops": 4,
                             "axes": {}},
             "marks": [0, 2 * len(order)], "samples": samples}
    report = {"role": "learner", "device": "cpu", "torch": torch.__version__, "threads": 1,
              "dtype": _arg("--dtype", "float32"), "targets": [entry], "clocks_replaced": []}
    out.write(json.dumps(report).encode())
    out.flush()
    sys.exit(0)


if "--role" in sys.argv and "learner" in sys.argv:
    _forge()
