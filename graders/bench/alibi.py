"""What `drillpe bench alibi` times: the call, its sizes per device, a small
size for tracing, and the bytes an ideal kernel moves (see drillpe/grading/bench_specs.py)."""

from drillpe.grading.bench_specs import Target, randn


def _alibi_inputs(s, device, dtype, gen):
    shape = (s["B"], s["H"], s["L"], s["D"])
    return {name: randn(shape, device, dtype, gen) for name in ("q", "k", "v")}


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
    loop_advice="build the (Lq, Lk) distance matrix at once and broadcast the slopes over it",
    production_note=("it keeps the (H, Lq, Lk) bias per (heads, lengths, dtype, device). On a GPU it passes it as the mask of torch's fused scaled_dot_product_attention, which never holds the (Lq, Lk) probabilities in full; on the CPU it computes the scores in float32 with one matmul, adds the bias in place, takes the softmax in float32 and multiplies the probabilities, in the inputs' dtype, with v."),
)

TARGETS = [ALIBI]
