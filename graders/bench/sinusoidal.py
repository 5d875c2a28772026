"""What `drillpe bench sinusoidal` times: the call, its sizes per device, a small
size for tracing, and the bytes an ideal kernel moves (see drillpe/grading/bench_specs.py)."""

from drillpe.grading.bench_specs import Target


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
    follows_dtype=False,  # no tensor in, float32 out by the contract
    prepare=_sin_prepare,
    loop_advice="compute all angles as one outer product positions[:, None] * w[None, :], then write sin and cos with even/odd slices",
    production_note=('the table depends on (length, d_model, base) alone, so it is built once, kept as a buffer, and forward returns it: a call moves no memory.'),
)

TARGETS = [SINUSOIDAL]
