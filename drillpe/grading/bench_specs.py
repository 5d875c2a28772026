"""What `drillpe bench` times for each exercise, as data: the call, realistic
sizes per device, a small size for tracing, and the bytes a memory-bound
call must move (its practical roofline is a plain copy of those bytes).

Runs only in the bench's child processes (imports torch). Learner and
reference are called the same way, each in a process of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import torch


@dataclass(frozen=True)
class Target:
    name: str
    call: str  # how the call reads in the report, e.g. "RoPE(q, k)"
    sizes: dict[str, dict[str, int]]  # "cpu" / "cuda" / "quick" -> dimension sizes
    trace_size: dict[str, int]  # small size at which Python-level work is counted
    axes: dict[str, str]  # dimension -> what it means ("L": "positions")
    inputs: Callable[[dict, torch.device, torch.dtype, torch.Generator], dict[str, Any]]
    prepare: Callable[[ModuleType, dict, dict], Callable[[], Any]]
    # Bytes read + written by the ideal kernel; None for compute-bound calls.
    bytes_moved: Callable[[dict, dict], int] | None = None
    data_inputs: tuple[str, ...] = field(default=())  # inputs whose values the output depends on


def _randn(shape, device, dtype, gen) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=torch.float32).to(device=device, dtype=dtype)


def _nbytes(*tensors: torch.Tensor) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


# --------------------------------------------------------------------------- rope


def _rope_inputs(s, device, dtype, gen):
    shape = (s["B"], s["H"], s["L"], s["D"])
    return {"q": _randn(shape, device, dtype, gen), "k": _randn(shape, device, dtype, gen)}


def _rope_prepare(mod, x, s):
    fn, q, k = mod.RoPE, x["q"], x["k"]
    return lambda: fn(q, k)


ROPE = Target(
    name="RoPE", call="RoPE(q, k)",
    sizes={"cuda": {"B": 8, "H": 32, "L": 2048, "D": 128},
           "cpu": {"B": 1, "H": 8, "L": 2048, "D": 128},
           "quick": {"B": 1, "H": 2, "L": 256, "D": 64}},
    trace_size={"B": 1, "H": 2, "L": 32, "D": 16},
    axes={"L": "positions", "D": "channels", "B": "batch", "H": "heads"},
    inputs=_rope_inputs, prepare=_rope_prepare,
    bytes_moved=lambda x, s: 2 * _nbytes(x["q"], x["k"]),  # read q, k; write both
    data_inputs=("q", "k"),
)

# --------------------------------------------------------------------------- sinusoidal


def _sin_prepare(mod, x, s):
    module = mod.SinPositionEncoding(s["L"], s["D"]).to(x["device"])
    return lambda: module()


SINUSOIDAL = Target(
    name="forward", call="SinPositionEncoding(L, d)()",
    sizes={"cuda": {"L": 8192, "D": 1024}, "cpu": {"L": 2048, "D": 512},
           "quick": {"L": 256, "D": 64}},
    trace_size={"L": 32, "D": 16},
    axes={"L": "positions", "D": "channels"},
    inputs=lambda s, device, dtype, gen: {"device": device},
    prepare=_sin_prepare,
)

# --------------------------------------------------------------------------- learnable


def _learnable_inputs(s, device, dtype, gen):
    return {"x": _randn((s["B"], s["L"], s["D"]), device, dtype, gen)}


def _learnable_prepare(mod, x, s):
    module = mod.TrainablePositionEncoding(s["L"], s["D"]).to(x["x"].device)
    inp = x["x"]
    return lambda: module(inp)


LEARNABLE = Target(
    name="forward", call="TrainablePositionEncoding(L, d)(x)",
    sizes={"cuda": {"B": 8, "L": 2048, "D": 4096}, "cpu": {"B": 4, "L": 2048, "D": 512},
           "quick": {"B": 2, "L": 256, "D": 64}},
    trace_size={"B": 1, "L": 32, "D": 16},
    axes={"L": "positions", "D": "channels", "B": "batch"},
    inputs=_learnable_inputs, prepare=_learnable_prepare,
    # read x and the table rows (float32 parameter), write the output
    bytes_moved=lambda x, s: 2 * _nbytes(x["x"]) + s["L"] * s["D"] * 4,
    data_inputs=("x",),
)

# --------------------------------------------------------------------------- relative


def _relative_inputs(s, device, dtype, gen):
    return {"x": _randn((s["B"], s["L"], s["D"]), device, dtype, gen)}


def _relative_prepare(mod, x, s):
    module = mod.RelativeMultiHeadAttention(s["D"], s["H"], 16).to(x["x"].device).eval()
    module.to(x["x"].dtype)
    inp = x["x"]
    return lambda: module(inp, inp, inp)


RELATIVE = Target(
    name="forward", call="RelativeMultiHeadAttention(d, h)(x, x, x)",
    sizes={"cuda": {"B": 8, "L": 1024, "D": 1024, "H": 16},
           "cpu": {"B": 2, "L": 256, "D": 256, "H": 4},
           "quick": {"B": 1, "L": 64, "D": 64, "H": 2}},
    trace_size={"B": 1, "L": 16, "D": 32, "H": 2},
    axes={"L": "positions", "B": "batch", "H": "heads"},
    inputs=_relative_inputs, prepare=_relative_prepare,
    data_inputs=("x",),
)

# --------------------------------------------------------------------------- rope_neox


def _neox_inputs(s, device, dtype, gen):
    return {"x": _randn((s["B"], s["H"], s["L"], s["D"]), device, dtype, gen),
            # a decoding step deep into a KV cache: positions that do not start at 0
            "position_ids": torch.arange(s["L"], device=device) + 4096}


def _neox_prepare(mod, x, s):
    fn, inp, pos = mod.apply_rope, x["x"], x["position_ids"]
    return lambda: fn(inp, pos)


ROPE_NEOX = Target(
    name="apply_rope", call="apply_rope(x, position_ids)",
    sizes=ROPE.sizes, trace_size=ROPE.trace_size, axes=ROPE.axes,
    inputs=_neox_inputs, prepare=_neox_prepare,
    bytes_moved=lambda x, s: 2 * _nbytes(x["x"]),
    data_inputs=("x",),
)

# --------------------------------------------------------------------------- rope_2d


def _rope_2d_inputs(s, device, dtype, gen):
    side = s["S"]
    grid = torch.arange(side * side, device=device)
    return {"x": _randn((s["B"], s["H"], side * side, s["D"]), device, dtype, gen),
            "rows": grid // side, "cols": grid % side}


def _rope_2d_prepare(mod, x, s):
    fn, inp, rows, cols = mod.apply_rope_2d, x["x"], x["rows"], x["cols"]
    return lambda: fn(inp, rows, cols)


ROPE_2D = Target(
    name="apply_rope_2d", call="apply_rope_2d(x, rows, cols)",
    sizes={"cuda": {"B": 32, "H": 16, "S": 32, "D": 64},
           "cpu": {"B": 2, "H": 8, "S": 16, "D": 64},
           "quick": {"B": 1, "H": 2, "S": 8, "D": 32}},
    trace_size={"B": 1, "H": 2, "S": 4, "D": 16},
    axes={"S": "patches per side", "D": "channels", "B": "batch", "H": "heads"},
    inputs=_rope_2d_inputs, prepare=_rope_2d_prepare,
    bytes_moved=lambda x, s: 2 * _nbytes(x["x"]),
    data_inputs=("x",),
)

# --------------------------------------------------------------------------- alibi


def _alibi_inputs(s, device, dtype, gen):
    shape = (s["B"], s["H"], s["L"], s["D"])
    return {name: _randn(shape, device, dtype, gen) for name in ("q", "k", "v")}


def _alibi_prepare(mod, x, s):
    fn, q, k, v = mod.alibi_attention, x["q"], x["k"], x["v"]
    return lambda: fn(q, k, v)


ALIBI = Target(
    name="alibi_attention", call="alibi_attention(q, k, v)",
    sizes={"cuda": {"B": 4, "H": 16, "L": 2048, "D": 64},
           "cpu": {"B": 1, "H": 4, "L": 512, "D": 64},
           "quick": {"B": 1, "H": 2, "L": 128, "D": 32}},
    trace_size={"B": 1, "H": 2, "L": 16, "D": 16},
    axes={"L": "positions", "B": "batch", "H": "heads"},
    inputs=_alibi_inputs, prepare=_alibi_prepare,
    data_inputs=("q", "k", "v"),
)

# --------------------------------------------------------------------------- t5_bias


def _t5_prepare(mod, x, s):
    module = mod.T5RelativeBias(s["H"]).to(x["device"])
    length = s["L"]
    return lambda: module(length, length)


T5_BIAS = Target(
    name="forward", call="T5RelativeBias(h)(L, L)",
    sizes={"cuda": {"L": 4096, "H": 32}, "cpu": {"L": 1024, "H": 8},
           "quick": {"L": 128, "H": 4}},
    trace_size={"L": 16, "H": 2},
    axes={"L": "positions", "H": "heads"},
    inputs=lambda s, device, dtype, gen: {"device": device},
    prepare=_t5_prepare,
)

# --------------------------------------------------------------------------- rope_scaling


def _scaling_prepare(mod, x, s):
    fn, head_dim = mod.rope_inv_freq, s["D"]
    scaling = {"type": "yarn", "factor": 8.0, "original_max_position_embeddings": 4096,
               "beta_fast": 32, "beta_slow": 1}
    return lambda: fn(head_dim, 10000.0, dict(scaling))


ROPE_SCALING = Target(
    name="rope_inv_freq", call="rope_inv_freq(d, scaling=yarn)",
    sizes={"cuda": {"D": 128}, "cpu": {"D": 128}, "quick": {"D": 64}},
    trace_size={"D": 16},
    axes={"D": "channels"},
    inputs=lambda s, device, dtype, gen: {"device": device},
    prepare=_scaling_prepare,
)

SPECS: dict[str, list[Target]] = {
    "rope": [ROPE],
    "sinusoidal": [SINUSOIDAL],
    "learnable": [LEARNABLE],
    "relative": [RELATIVE],
    "rope_neox": [ROPE_NEOX],
    "alibi": [ALIBI],
    "t5_bias": [T5_BIAS],
    "rope_scaling": [ROPE_SCALING],
    "rope_2d": [ROPE_2D],
}


def targets(exercise_id: str) -> list[Target]:
    if exercise_id not in SPECS:
        raise KeyError(f"drillpe bench has no timing spec for {exercise_id!r} yet")
    return SPECS[exercise_id]


def size_for(target: Target, device_type: str, quick: bool) -> dict[str, int]:
    if quick:
        return dict(target.sizes["quick"])
    return dict(target.sizes["cuda" if device_type == "cuda" else "cpu"])
