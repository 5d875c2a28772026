"""What `drillpe bench learnable` times: the call, its sizes per device, a small
size for tracing, and the bytes an ideal kernel moves (see drillpe/grading/bench_specs.py)."""

from drillpe.grading.bench_specs import Target, nbytes, randn, seed_parameters


def _learnable_inputs(s, device, dtype, gen):
    return {"x": randn((s["B"], s["L"], s["D"]), device, dtype, gen)}


def _learnable_prepare(mod, x, s):
    module = seed_parameters(mod.TrainablePositionEncoding(s["L"], s["D"]).to(x["x"].device))
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
    bytes_moved=lambda x, s: 2 * nbytes(x["x"]) + s["L"] * s["D"] * 4,
    data_inputs=("x",),
    loop_advice="look the rows up with one slice or one index tensor (table[offset:offset + L])",
    production_note=("one broadcast add of the table's rows for positions offset .. offset + L - 1, taken as a slice (a view: no index tensor, no gather)."),
)

TARGETS = [LEARNABLE]
