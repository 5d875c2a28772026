"""What `drillpe bench rope_2d` times: the call, its sizes per device, a small
size for tracing, and the bytes an ideal kernel moves (see drillpe/grading/bench_specs.py)."""

import torch

from drillpe.grading.bench_specs import Target, nbytes, randn


def _rope_2d_inputs(s, device, dtype, gen):
    side = s["S"]
    grid = torch.arange(side * side, device=device)
    return {"x": randn((s["B"], s["H"], side * side, s["D"]), device, dtype, gen),
            "rows": grid // side, "cols": grid % side}


def _rope_2d_prepare(mod, x, s):
    fn, inp = mod.apply_rope_2d, x["x"]
    return lambda: fn(inp, x["rows"], x["cols"])  # new tensors every phase (Target.positions)


ROPE_2D = Target(
    name="apply_rope_2d", call="apply_rope_2d(x, rows, cols)",
    sizes={"cuda": {"B": 32, "H": 16, "S": 32, "D": 64},
           "cpu": {"B": 2, "H": 8, "S": 16, "D": 64},
           "quick": {"B": 1, "H": 2, "S": 8, "D": 32}},
    trace_size={"B": 1, "H": 2, "S": 4, "D": 16},
    axes={"S": "patches per side", "D": "channels", "B": "batch", "H": "heads"},
    inputs=_rope_2d_inputs, prepare=_rope_2d_prepare,
    bytes_moved=lambda x, s: 2 * nbytes(x["x"]),
    data_inputs=("x",),
    positions=("rows", "cols"),
    position_limit=2048,  # the ids grading's rope_2d.large_ids checks (up to 2047)
    loop_advice="build the row and column angle tables for all patches at once from the position ids, and rotate with slices",
    production_note=("one (N, head_dim/2) complex table holds each patch's row rotations for the first half and column rotations for the second, and x viewed as complex pairs is multiplied by it once: no slicing of x into halves and no cat of the rotated halves."),
)

TARGETS = [ROPE_2D]
