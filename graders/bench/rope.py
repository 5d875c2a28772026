"""What `drillpe bench rope` times: the call, its sizes per device, a small
size for tracing, and the bytes an ideal kernel moves (see drillpe/grading/bench_specs.py)."""

from drillpe.grading.bench_specs import Target, nbytes, randn


def _rope_inputs(s, device, dtype, gen):
    shape = (s["B"], s["H"], s["L"], s["D"])
    return {"q": randn(shape, device, dtype, gen), "k": randn(shape, device, dtype, gen)}


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
    bytes_moved=lambda x, s: 2 * nbytes(x["q"], x["k"]),  # read q, k; write both
    data_inputs=("q", "k"),
    loop_advice="broadcast one (L, d) angle table against the whole tensor, and take the pairs with even/odd slices (x[..., 0::2], x[..., 1::2])",
    production_note=('it keeps an (L, d/2) complex table cos + i·sin, built once per (length, dim, device), and rotates every pair with one complex multiply (x viewed as complex): in float32 one read of x and one write (bfloat16 and float16 go through float32, two passes more).'),
)

TARGETS = [ROPE]
