"""What `drillpe bench relative` times: the call, its sizes per device, a small
size for tracing, and the bytes an ideal kernel moves (see drillpe/grading/bench_specs.py)."""

from drillpe.grading.bench_specs import Target, randn, seed_parameters


def _relative_inputs(s, device, dtype, gen):
    return {"x": randn((s["B"], s["L"], s["D"]), device, dtype, gen)}


def _relative_prepare(mod, x, s):
    module = mod.RelativeMultiHeadAttention(s["D"], s["H"], 16).to(x["x"].device).eval()
    seed_parameters(module.to(x["x"].dtype))
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
    loop_advice="build the (Lq, Lk) index matrix at once (key_positions[None, :] - query_positions[:, None]) and gather the embeddings with it",
    production_note=('it never builds the (Lq, Lk, head_dim) embeddings. The position logits are q times the small (2K+1, head_dim) table, gathered with an index built once per sizes; the value term sums the attention of the keys at each clipped distance (scatter_add into 2K+1 buckets), then makes one small product with the value table.'),
)

TARGETS = [RELATIVE]
