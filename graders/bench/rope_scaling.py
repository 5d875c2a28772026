"""What `drillpe bench rope_scaling` times: the call, its sizes per device, a small
size for tracing, and the bytes an ideal kernel moves (see drillpe/grading/bench_specs.py)."""

from drillpe.grading.bench_specs import Target


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
    follows_dtype=False,  # no tensor in, float32 out by the contract
    prepare=_scaling_prepare,
    loop_advice="compute every frequency at once with tensor operations (torch.where for the piecewise parts)",
    production_note=('the frequencies depend on the configuration alone, so it computes them once (whole tensors, torch.where for the piecewise parts) and returns the kept tensor on every later call, as serving stacks do at model set-up.'),
)

TARGETS = [ROPE_SCALING]
