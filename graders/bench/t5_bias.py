"""What `drillpe bench t5_bias` times: the call, its sizes per device, a small
size for tracing, and the bytes an ideal kernel moves (see drillpe/grading/bench_specs.py)."""

from drillpe.grading.bench_specs import Target, seed_parameters


def _t5_prepare(mod, x, s):
    # in the bench's dtype, as in a model run in bfloat16: the weights, so the output
    # the buckets are an axis of their own: a loop over them is named like one over positions
    module = seed_parameters(mod.T5RelativeBias(s["H"], num_buckets=s["K"]).to(x["device"],
                                                                              x["dtype"]))
    length = s["L"]
    return lambda: module(length, length)


T5_BIAS = Target(
    name="forward", call="T5RelativeBias(h)(L, L)",
    sizes={"cuda": {"L": 4096, "H": 32, "K": 32}, "cpu": {"L": 1024, "H": 8, "K": 32},
           "quick": {"L": 128, "H": 4, "K": 32}},
    trace_size={"L": 16, "H": 2, "K": 8},
    axes={"L": "positions", "H": "heads", "K": "buckets"},
    inputs=lambda s, device, dtype, gen: {"device": device, "dtype": dtype},
    prepare=_t5_prepare,
    loop_advice=("compute the buckets of all Lq + Lk - 1 distances at once (torch.where over a "
                 "vector of distances), look their values up, and lay them out as the "
                 "(Lq, Lk) matrix in one step (each diagonal holds one distance)"),
    production_note=('it buckets only the Lq + Lk - 1 distances, once per sizes, looks their values up from the weights per call, and writes the (Lq, Lk) output (constant along each diagonal) in one copy with unfold and flip.'),
)

TARGETS = [T5_BIAS]
