"""Grader for `alibi`: the per-head slopes (powers of two and the interleaved
fallback for other head counts), the bias pattern on its own (q = 0 and
v = I, so the output is the attention weights), causal and bidirectional
attention with Lq == Lk (core), then cross lengths with end-aligned queries
and bf16/fp16 inputs (extra).

Mistakes are named by their numerical signature: the learner's output is
compared with what each known mistake would produce (the reference's
`attend` switches). The learner's own `alibi_slopes(H)` comes along with
every attention case, so attention that is right for wrong slopes is
reported as the slope mistake it is.
"""

import math

import torch

from drillpe.grading import (
    ExceptionOut,
    Fail,
    Grader,
    TensorOut,
    assert_close,
    attempt,
    exception_failure,
    expect_tensor,
    is_close,
    tiny_stack,
)

GRADER = Grader("alibi")

SLOPE_ATOL = 1e-6
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Output tolerance per unit of max(1, max|v|): the contract's 1e-4 for float32,
# and its bf16/fp16 rows (attention computed wholly in bf16 stays within a third of it).
UNIT = {torch.float32: 1e-4, torch.bfloat16: 2**-6, torch.float16: 2**-8}


def output_tol(v: torch.Tensor, dtype: torch.dtype | None = None) -> float:
    """atol for outputs: UNIT[dtype] * max(1, max|v|), dtype defaulting to v's."""
    return UNIT[dtype or v.dtype] * max(1.0, float(v.double().abs().max()))


# --------------------------------------------------------------------------
# Slopes


def power_of_two_slopes(n: int, first: int = 1) -> list[float]:
    """2 ** (-8 (h + first) / n), h = 0 .. n-1 (first=0: the exponent counted from 0)."""
    return [2.0 ** (-8.0 * (h + first) / n) for h in range(n)]


def slope_mistakes(ref, n: int) -> list[tuple[str, list[float]]]:
    """(code, slopes) for each known way of getting the n slopes wrong."""
    right = ref.get_slopes(n)
    found = [("alibi.reversed_heads", right[::-1]),
             ("alibi.slopes_off_by_one", power_of_two_slopes(n, first=0))]
    p = 2 ** math.floor(math.log2(n))
    if p != n:
        found += [
            ("alibi.reversed_heads", sorted(right)),
            # The plain formula, or a fallback other than [0::2][: n - p].
            ("alibi.naive_slopes", power_of_two_slopes(n)),
            ("alibi.naive_slopes", power_of_two_slopes(p) + power_of_two_slopes(2 * p)[1::2][: n - p]),
            ("alibi.naive_slopes", power_of_two_slopes(p) + power_of_two_slopes(2 * p)[: n - p]),
            ("alibi.naive_slopes", sorted(right, reverse=True)),
            # The slopes of the next power of two, cut to n heads.
            ("alibi.naive_slopes", power_of_two_slopes(2 * p)[:n]),
            ("alibi.slopes_off_by_one",
             power_of_two_slopes(p, first=0) + power_of_two_slopes(2 * p, first=0)[0::2][: n - p]),
        ]
    return found


def slope_diagnosis(ref, n: int, got: torch.Tensor) -> list[str]:
    """Known mistakes that explain the learner's n slopes (float64, shape (n,))."""
    codes = [code for code, slopes in slope_mistakes(ref, n)
             if is_close(got, torch.tensor(slopes, dtype=torch.float64), atol=SLOPE_ATOL)]
    p = 2 ** math.floor(math.log2(n))
    right = torch.tensor(ref.get_slopes(n), dtype=torch.float64)
    if not codes and p != n and is_close(got[:p], right[:p], atol=SLOPE_ATOL):
        codes.append("alibi.naive_slopes")  # the power-of-two part is right, the rest is not
    return list(dict.fromkeys(codes))


def log2_list(values: torch.Tensor) -> str:
    return "[" + ", ".join(f"{float(v):.3g}" for v in values.double().log2()) + "]"


SLOPE_CASES = [dict(n=n) for n in (1, 2, 3, 4, 5, 6, 8, 12, 16, 24, 32, 48, 64)]


@GRADER.check("alibi.slopes", "alibi_slopes(n) gives the ALiBi slopes, powers of two and others",
              cases=SLOPE_CASES, needs=("alibi_slopes",))
def run_slopes(env, x, case):
    return env.mod.alibi_slopes(case["n"])


@run_slopes.judge
def judge_slopes(ctx, x, case, out):
    n = case["n"]
    what = f"alibi_slopes({n})"
    got = expect_tensor(out, what, shape=(n,))
    if got.dtype not in (torch.float32, torch.float64):
        raise Fail(f"{what} has dtype {got.dtype}; expected float32 (float64 is accepted too)",
                   ["output.wrong_dtype"])
    want = torch.tensor(ctx.ref.get_slopes(n), dtype=torch.float64)
    try:
        assert_close(got, want, atol=SLOPE_ATOL, what=what, axes=("-", "head"))
    except Fail as failure:
        failure.heatmap = None  # one row says less than the two lists below
        if n <= 16:
            failure.message += (f"; log2 of yours {log2_list(got)}, "
                                f"expected {log2_list(want)}")
        failure.diagnosis = slope_diagnosis(ctx.ref, n, got.double()) or ["output.mismatch"]
        raise


# --------------------------------------------------------------------------
# Attention


def lengths(case) -> tuple[int, int]:
    return case.get("Lq", case.get("L")), case.get("Lk", case.get("L"))


def attention_inputs(case, rand):
    (Lq, Lk), B, H, D = lengths(case), case["B"], case["H"], case["D"]
    dtype = DTYPES[case.get("dtype", "float32")]
    return {"q": rand.normal(B, H, Lq, D, dtype=dtype),
            "k": rand.normal(B, H, Lk, D, dtype=dtype),
            "v": rand.normal(B, H, Lk, D, dtype=dtype)}


def bias_inputs(case, rand):
    # q = 0 leaves only the bias in the logits; v = I makes the output the weights.
    B, H, L = case["B"], case["H"], case["L"]
    return {"q": torch.zeros(B, H, L, L),
            "k": rand.normal(B, H, L, L),
            "v": torch.eye(L).expand(B, H, L, L).clone()}


def run_attention(env, x, case):
    kwargs = {"causal": case["causal"]} if "causal" in case else {}
    slopes = None
    if getattr(env.mod, "alibi_slopes", None) is not None:
        # The learner's own slopes, so the judge can tell a slope mistake from an attention one.
        slopes = attempt(env, lambda: env.mod.alibi_slopes(x["q"].shape[1]), catch=Exception)

    def call(dtype=None):
        q, k, v = (x[name] if dtype is None else x[name].to(dtype) for name in "qkv")
        return attempt(env, lambda: env.mod.alibi_attention(q, k, v, **kwargs), catch=Exception)

    result = {"out": call(), "slopes": slopes}
    if case.get("dtype", "float32") != "float32":
        # The same inputs in float32 come along, to tell a loss of precision from a
        # mistake that float32 shows too.
        result["float32"] = call(torch.float32)
    return result


def learner_slopes(out, n: int) -> torch.Tensor | None:
    """The learner's alibi_slopes(n) as float64 (n,), when it is a usable tensor."""
    if not isinstance(out, TensorOut) or out.data.numel() != n:
        return None
    data = out.data
    if not data.is_floating_point() or not torch.isfinite(data).all():
        return None
    return data.reshape(n).to(torch.float64)


def attention_mistakes(ref, case, n_heads: int) -> list[tuple[str, dict]]:
    """(code, switches of ref.attend) for every modelled mistake in this case."""
    causal = case.get("causal", True)
    length_q, length_k = lengths(case)
    found = [(code, dict(slopes=slopes)) for code, slopes in slope_mistakes(ref, n_heads)]
    found += [("alibi.sign_flipped", dict(sign=1.0)),
              ("alibi.sign_flipped", dict(sign=1.0, distance="signed")),
              ("alibi.bias_before_scale", dict(scale="all")),
              ("attention.missing_scale", dict(scale="none")),
              ("attention.softmax_wrong_dim", dict(dim=-2))]
    if causal:
        # No mask at all (with |pos_i - j| or HF Bloom's +m·j), or the diagonal excluded too.
        found += [("alibi.causal_mask_wrong", dict(mask="none")),
                  ("alibi.causal_mask_wrong", dict(mask="none", distance="signed")),
                  ("alibi.causal_mask_wrong", dict(mask="diagonal")),
                  ("attention.mask_after_softmax", dict(mask_after_softmax=True))]
    else:
        found += [("alibi.signed_distance", dict(distance="signed")),
                  ("alibi.causal_mask_wrong", dict(mask="causal"))]
    if length_q != length_k:
        found += [("alibi.start_aligned", dict(bias_aligned=False, mask_aligned=False)),
                  ("alibi.start_aligned", dict(bias_aligned=False))]
        if causal:
            found.append(("alibi.start_aligned", dict(mask_aligned=False)))
    return found


def attention_diagnosis(ref, x, case, got, slopes_out, atol) -> tuple[list[str], str]:
    """(codes, note) explaining the learner's attention output."""
    q, k, v = x["q"], x["k"], x["v"]
    causal = case.get("causal", True)
    n_heads = q.shape[1]
    got = got.to(q.device, torch.float64)

    def matches(**switches) -> bool:
        value = ref.attend(q, k, v, causal, **switches)
        # Query rows that a mistake masks entirely are NaN there; any output is accepted in
        # them (a finite fill gives numbers), but when that is every row, NaN must show.
        rows = ~value.isnan().any(dim=-1)
        if not rows.any():
            return not bool(torch.isfinite(got).all())
        return is_close(got[rows], value[rows], atol=atol)

    right = torch.tensor(ref.get_slopes(n_heads), dtype=torch.float64)
    mine = learner_slopes(slopes_out, n_heads)
    if mine is not None and not is_close(mine, right, atol=SLOPE_ATOL) and \
            matches(slopes=mine.tolist()):
        return slope_diagnosis(ref, n_heads, mine) or ["output.mismatch"], (
            f" (your attention is right for what alibi_slopes({n_heads}) returns: "
            "the difference comes from the slopes)")
    codes = [code for code, switches in attention_mistakes(ref, case, n_heads)
             if matches(**switches)]
    return list(dict.fromkeys(codes)) or ["output.mismatch"], ""


def right_in_float32(wide, want: torch.Tensor, v: torch.Tensor) -> bool:
    """Whether the learner's output for the float32 copy of the inputs is right."""
    if not isinstance(wide, TensorOut) or wide.shape != tuple(want.shape):
        return False
    return is_close(wide.data, want, atol=output_tol(v, torch.float32))


def judge_attention(ctx, x, case, out, *, what="output",
                    axes=("query position", "channel")):
    q, v = x["q"], x["v"]
    B, H, Lq, D = q.shape
    result = out["out"]
    if isinstance(result, ExceptionOut):
        failure = exception_failure(result)
        if any(sign in result.message.lower() for sign in ("dtype", "scalar type")):
            failure.message += (f" (for {q.dtype} inputs: a bias or slopes tensor of another "
                                f"dtype promotes the logits, which then meet v's {v.dtype} "
                                "in the matmul; cast the bias to q.dtype)")
        raise failure
    call = "alibi_attention(q, k, v" + (f", causal={case['causal']})" if "causal" in case else ")")
    # NaN is compared, not rejected: a known mistake may produce it.
    got = expect_tensor(result, call, shape=(B, H, Lq, v.shape[-1]), device=ctx.device,
                        finite=False)
    changed = result.dtype != q.dtype
    want = ctx.ref.attend(q, x["k"], v, case.get("causal", True))
    atol = output_tol(v)
    try:
        assert_close(got, want, atol=atol, what=f"{call}: {what}", axes=axes)
    except Fail as failure:
        if right_in_float32(out.get("float32"), want, v):
            failure.diagnosis, note = ["alibi.low_precision_logits"], (
                " (with the same inputs in float32 your output is right: precision is lost "
                f"in {q.dtype})")
        else:
            failure.diagnosis, note = attention_diagnosis(ctx.ref, x, case, got, out["slopes"],
                                                          atol)
        if failure.diagnosis == ["output.mismatch"] and not torch.isfinite(got).all():
            failure.diagnosis = ["output.nonfinite"]
        failure.message += note
        if not torch.isfinite(got).all():
            # drillpe's renderer cannot draw a heatmap holding inf (where NaN was); the
            # message already names the first NaN.
            failure.heatmap = None
        if changed:
            failure.message = f"{call} returns {result.dtype}; " + failure.message
            failure.diagnosis = ["output.wrong_dtype", *failure.diagnosis]
        raise
    if changed:
        raise Fail(f"{call} returns {result.dtype} for {q.dtype} inputs; it must keep the "
                   "inputs' dtype (a slopes or bias tensor of another dtype promotes the "
                   "logits: cast it with .to(q.dtype))", ["output.wrong_dtype"])


def judge_weights(ctx, x, case, out):
    judge_attention(ctx, x, case, out, what="weights (q = 0 and v = I, so the output is "
                    "softmax(-m_h |pos_i - j|))", axes=("query position", "key position"))


@GRADER.check("alibi.bias_pattern",
              "With q = 0 and v = I the output is the weights softmax(-m_h |i - j|), causal or not",
              inputs=bias_inputs, needs=("alibi_attention",),
              cases=[dict(B=1, H=1, L=5, causal=False), dict(B=1, H=2, L=4, causal=True),
                     dict(B=1, H=2, L=4, causal=False), dict(B=2, H=6, L=9, causal=True),
                     dict(B=1, H=8, L=16, causal=False), dict(B=1, H=12, L=24, causal=True),
                     dict(B=1, H=24, L=32, causal=False)])
def run_bias(env, x, case):
    return run_attention(env, x, case)


run_bias.judge(judge_weights)


ATTENTION_CHECKS = [
    ("alibi.causal", "alibi_attention(q, k, v) is causal by default and matches the reference",
     "core",
     [dict(B=1, H=1, L=1, D=2), dict(B=1, H=2, L=5, D=4), dict(B=2, H=4, L=8, D=8),
      dict(B=2, H=6, L=12, D=16), dict(B=1, H=12, L=33, D=32), dict(B=1, H=16, L=64, D=32),
      dict(B=1, H=8, L=256, D=64)]),
    ("alibi.bidirectional", "causal=False: every key, penalised by -m_h |i - j|", "core",
     [dict(B=1, H=2, L=5, D=4, causal=False), dict(B=2, H=3, L=8, D=8, causal=False),
      dict(B=2, H=8, L=16, D=16, causal=False), dict(B=1, H=24, L=40, D=32, causal=False),
      dict(B=1, H=4, L=128, D=64, causal=False)]),
    ("alibi.cross_lengths",
     "Lq != Lk: queries sit at the end of the keys (pos_i = i + Lk - Lq)", "extra",
     # Not the one-query case first: for a single query a start-aligned bias -m·j
     # equals the flipped sign, so an earlier case tells the two apart.
     [dict(B=2, H=6, Lq=3, Lk=10, D=8, causal=True),
      dict(B=1, H=4, Lq=4, Lk=11, D=8, causal=False),
      dict(B=2, H=8, Lq=12, Lk=5, D=16, causal=False),
      dict(B=1, H=2, Lq=1, Lk=6, D=4, causal=True),
      dict(B=1, H=12, Lq=16, Lk=48, D=32, causal=True)]),
    ("alibi.low_precision", "bfloat16/float16 inputs: same dtype out, right values", "extra",
     [dict(B=1, H=4, L=16, D=16, causal=True, dtype="bfloat16"),
      dict(B=2, H=6, L=32, D=32, causal=False, dtype="float16"),
      dict(B=1, H=8, L=128, D=64, causal=True, dtype="bfloat16")]),
]

for _id, _title, _level, _cases in ATTENTION_CHECKS:
    GRADER.check(_id, _title, level=_level, cases=_cases, inputs=attention_inputs,
                 needs=("alibi_attention",))(run_attention).judge(judge_attention)


# --------------------------------------------------------------------------
# What the bug does to a model (`check --consequence`; decides nothing)


tiny_stack.declare(GRADER, "alibi", "alibi_attention", tiny_stack.biased, "alibi_attention(q, k, v)")
