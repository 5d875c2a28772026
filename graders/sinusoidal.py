"""Grader for `sinusoidal`: shape/dtype, values against the float64 table
over several lengths, widths and bases, the table's properties, and the
classic layout/exponent/position mistakes diagnosed by their signature."""

import torch

from drillpe.grading import Fail, Grader, TensorOut, assert_close, expect_tensor, is_close

GRADER = Grader("sinusoidal")

# Smallest first; base varies so a hard-coded 10000 shows.
CASES = [
    dict(L=1, d=2, base=10000.0),
    dict(L=4, d=4, base=10000.0),
    dict(L=16, d=8, base=100.0),
    dict(L=50, d=16, base=10000.0),
    dict(L=128, d=64, base=500.0),
    dict(L=512, d=128, base=10000.0),
    dict(L=2048, d=32, base=10000.0),
]


def tolerance(case) -> float:
    return 1e-6 + 2**-22 * case["L"]


def build(env, x, case):
    module = env.mod.SinPositionEncoding(case["L"], case["d"], case["base"])
    return module.forward()


def mistaken_table(L: int, d: int, base: float, *, exponent: str = "2i/d", start: int = 0,
                   layout: str = "interleaved") -> torch.Tensor | None:
    """The float64 table a learner making the given mistakes builds; None
    where that formula has no value (fairseq's divides by d/2 - 1)."""
    half = d // 2
    i = torch.arange(half, dtype=torch.float64)
    if exponent == "fairseq":
        if half < 2:
            return None
        w = base ** (-i / (half - 1))
    else:
        w = base ** (-(2 * i if exponent == "2i/d" else i) / d)
    ang = torch.arange(start, start + L, dtype=torch.float64)[:, None] * w
    if layout == "concat":
        return torch.cat([ang.sin(), ang.cos()], dim=1)
    first, second = (ang.cos(), ang.sin()) if layout == "swapped" else (ang.sin(), ang.cos())
    out = torch.empty(L, d, dtype=torch.float64)
    out[:, 0::2], out[:, 1::2] = first, second
    return out


# Each known mistake as the one setting of the table it changes; two mistakes
# compose when they change different settings (tensor2tensor's and Whisper's
# timing signal: concat layout with fairseq's exponent).
MISTAKES = {
    "sinusoidal.concat_layout": {"layout": "concat"},
    "sinusoidal.sin_cos_swapped": {"layout": "swapped"},
    "sinusoidal.exponent_i_over_d": {"exponent": "i/d"},
    "sinusoidal.fairseq_exponent": {"exponent": "fairseq"},
    "sinusoidal.positions_from_one": {"start": 1},
    "sinusoidal.base_ignored": {"base": 10000.0},
}


def _mistakes(case) -> dict[str, dict]:
    # With base 10000 a hard-coded 10000 is not a mistake.
    return {code: change for code, change in MISTAKES.items()
            if not (code == "sinusoidal.base_ignored" and case["base"] == 10000.0)}


def _table_with(case, change: dict):
    settings = {"base": case["base"], **change}
    base = settings.pop("base")
    return lambda: mistaken_table(case["L"], case["d"], base, **settings)


def variants(ref, case):
    return {code: _table_with(case, change) for code, change in _mistakes(case).items()}


def variant_pairs(case):
    known = list(_mistakes(case).items())
    return {(a, b): _table_with(case, {**ca, **cb})
            for n, (a, ca) in enumerate(known) for b, cb in known[n + 1:]
            if not set(ca) & set(cb)}


def low_precision_angles(got: torch.Tensor, want: torch.Tensor) -> bool:
    """Half-precision angles: row 0 exact (sin 0, cos 0), then off by up to
    ~p * 2**-8, and at large positions by more than a table merely stored in
    half precision would be (2**-9)."""
    err = (got.double() - want).abs().amax(dim=1)
    pos = torch.arange(len(err), dtype=torch.float64)
    return bool(len(err) > 64 and err[0] < 2**-8 and (err <= (pos + 1) * 2**-6 + 2**-8).all()
                and err[64:].max() > 2**-8)


# Half-precision angles are only visibly wrong at large positions, but the
# first failing case is a short one: each short case also builds this long
# table (same d_model and base) as evidence for the diagnosis.
PROBE_L = 2048


def long_table_evidence(ref, case, got: torch.Tensor, probe) -> bool:
    L, d, base = case["L"], case["d"], case["base"]
    if isinstance(probe, TensorOut) and probe.shape == (PROBE_L, d) and probe.data.is_floating_point():
        if not is_close(got, probe.data[:L], atol=tolerance(case)):
            return False  # the long table is not the same formula: no evidence
        got, L = probe.data, PROBE_L
    return low_precision_angles(got, ref.table(L, d, base))


@GRADER.check("sinusoidal.shape_dtype", "forward() returns a (L, d_model) float32 tensor",
              cases=CASES[:4], needs=("SinPositionEncoding",))
def run_shape(env, x, case):
    return build(env, x, case)


@run_shape.judge
def judge_shape(ctx, x, case, out):
    expect_tensor(out, "forward()", shape=(case["L"], case["d"]), dtype=torch.float32)


@GRADER.check("sinusoidal.matches_reference", "Values match the sin/cos table",
              cases=CASES, needs=("SinPositionEncoding",))
def run_values(env, x, case):
    pe, probe = build(env, x, case), None
    if case["L"] < PROBE_L:
        try:
            probe = env.mod.SinPositionEncoding(PROBE_L, case["d"], case["base"]).forward()
        except Exception:  # only evidence for a diagnosis; the case itself is graded below
            probe = None
    return {"pe": pe, "probe": probe}


@run_values.judge
def judge_values(ctx, x, case, out):
    got = expect_tensor(out["pe"], "forward()", shape=(case["L"], case["d"]))
    want = ctx.ref.table(case["L"], case["d"], case["base"])
    try:
        # Conventions are diagnosed on positions below 512, where every mistake is O(1).
        assert_close(got, want, atol=tolerance(case), what="PE",
                     variants=variants(ctx.ref, case), pairs=variant_pairs(case),
                     variant_atol=1e-4 + 2**-22 * case["L"])
    except Fail as failure:
        if failure.diagnosis == ["output.mismatch"] and long_table_evidence(ctx.ref, case, got,
                                                                         out["probe"]):
            failure.diagnosis = ["sinusoidal.low_precision_angles"]
        raise


@GRADER.check("sinusoidal.bounded_distinct", "Every value in [-1, 1] and every row distinct",
              level="extra", cases=[dict(L=256, d=16, base=10000.0)],
              needs=("SinPositionEncoding",))
def run_props(env, x, case):
    return build(env, x, case)


@run_props.judge
def judge_props(ctx, x, case, out):
    got = expect_tensor(out, "forward()", shape=(case["L"], case["d"])).double()
    if got.abs().max() > 1 + 1e-6:
        where = divmod(int(got.abs().argmax()), case["d"])
        raise Fail(f"value {got.abs().max():.4g} at {list(where)} is outside [-1, 1]",
                   ["output.mismatch"])
    dist = torch.cdist(got, got) + torch.eye(case["L"], dtype=torch.float64) * 1e9
    if dist.min() < 1e-3:
        i, j = divmod(int(dist.argmin()), case["L"])
        raise Fail(f"rows {i} and {j} are the same: two positions would get one encoding",
                   ["output.mismatch"])


@GRADER.check("sinusoidal.deterministic", "Two calls give the same table", level="extra",
              cases=[dict(L=64, d=16, base=10000.0)], needs=("SinPositionEncoding",))
def run_twice(env, x, case):
    module = env.mod.SinPositionEncoding(case["L"], case["d"], case["base"])
    return module.forward(), module.forward()


@run_twice.judge
def judge_twice(ctx, x, case, out):
    if not isinstance(out, tuple):
        raise Fail("could not call forward() twice", ["api.wrong_return_type"])
    first = expect_tensor(out[0], "first forward()")
    second = expect_tensor(out[1], "second forward()", shape=tuple(first.shape))
    if not is_close(first, second, atol=0.0):
        raise Fail("forward() gives a different table on the second call", ["output.mismatch"])
