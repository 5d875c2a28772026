"""What `drillpe bench rope_convert` times: the call, its sizes per device, a small
size for tracing, and the bytes an ideal kernel moves (see drillpe/grading/bench_specs.py).

A conversion runs once per checkpoint, so speed matters little; the sizes are one
Llama-2-7B-like q weight (32 heads of 128 rows, d_model 4096) and a GQA k weight,
enough to show a per-row Python loop against one gather."""

from drillpe.grading.bench_specs import Target, nbytes, randn


def _inputs(s, device, dtype, gen):
    return {"w": randn((s["H"] * s["D"], s["M"]), device, dtype, gen)}


def _prepare(name):
    def prepare(mod, x, s):
        fn, w, heads, head_dim = getattr(mod, name), x["w"], s["H"], s["D"]
        return lambda: fn(w, heads, head_dim)
    return prepare


SIZES = {"cuda": {"H": 32, "D": 128, "M": 4096},
         "cpu": {"H": 8, "D": 128, "M": 4096},
         "quick": {"H": 4, "D": 64, "M": 256}}
AXES = {"H": "heads", "D": "head_dim", "M": "d_model"}
NOTE = ("it moves the rows with index_select on a permutation built once per (n_heads, "
        "head_dim, direction, device): each output row is one contiguous copy.")
ADVICE = ("move every row at once: reshape to (n_heads, head_dim/2, 2, d_model), transpose "
          "the middle axes and reshape back (or one index_select with a precomputed index)")

TARGETS = [
    Target(name=name, call=f"{name}(w, n_heads, head_dim)", sizes=SIZES,
           trace_size={"H": 2, "D": 8, "M": 16}, axes=AXES, inputs=_inputs,
           prepare=_prepare(name), bytes_moved=lambda x, s: 2 * nbytes(x["w"]),
           data_inputs=("w",), loop_advice=ADVICE, production_note=NOTE)
    for name in ("interleaved_to_half_split", "half_split_to_interleaved")
]
