"""What `drillpe bench rope_neox` times: the call, its sizes per device, a small
size for tracing, and the bytes an ideal kernel moves (see drillpe/grading/bench_specs.py)."""

import torch

from drillpe.grading.bench_specs import Target, nbytes, randn


def _neox_inputs(s, device, dtype, gen):
    return {"x": randn((s["B"], s["H"], s["L"], s["D"]), device, dtype, gen),
            # a decoding step deep into a KV cache: positions that do not start at 0
            "position_ids": torch.arange(s["L"], device=device) + 4096}


def _neox_prepare(mod, x, s):
    fn, inp = mod.apply_rope, x["x"]
    return lambda: fn(inp, x["position_ids"])  # new tensors every phase (Target.positions)


ROPE_NEOX = Target(
    name="apply_rope", call="apply_rope(x, position_ids)",
    # the same sizes as rope's, so the two conventions compare directly
    sizes={"cuda": {"B": 8, "H": 32, "L": 2048, "D": 128},
           "cpu": {"B": 1, "H": 8, "L": 2048, "D": 128},
           "quick": {"B": 1, "H": 2, "L": 256, "D": 64}},
    trace_size={"B": 1, "H": 2, "L": 32, "D": 16},
    axes={"L": "positions", "D": "channels", "B": "batch", "H": "heads"},
    inputs=_neox_inputs, prepare=_neox_prepare,
    bytes_moved=lambda x, s: 2 * nbytes(x["x"]),
    data_inputs=("x",),
    positions=("position_ids",),
    position_rows=True,
    loop_advice="broadcast one (L, d) angle table (cat(freqs, freqs)) against the whole tensor, and take the halves with slices (x[..., :d/2], x[..., d/2:])",
    production_note=('it caches the frequencies, builds cos and sin at (L, d/2) and broadcasts them; with no rotate_half copy and no cat, it views the last axis as (2, d/2) and updates each half in place (addcmul_).'),
)

TARGETS = [ROPE_NEOX]
