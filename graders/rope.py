"""Grader for `rope`: the sin/cos table, RoPE against the float64 rotation
(shapes up to 2048 positions and head_dim 128, then its properties and
bf16/fp16 inputs), and attention with and without RoPE, mask and dropout.

Convention mistakes are named by their numerical signature: the learner's
output is compared with what each mistake would produce, on positions below
512. For attention, the learner's own RoPE output comes along, so a wrong
rotation is reported as the RoPE mistake it is, not as an attention bug.
"""


import torch

from drillpe.grading import (
    ExceptionOut,
    Fail,
    Grader,
    TensorOut,
    argmax_index,
    assert_close,
    attempt,
    diagnose,
    diagnose_pairs,
    exception_failure,
    expect_tensor,
    expect_tuple,
    is_close,
    naming,
    tiny_stack,
)

GRADER = Grader("rope")

DIAG_POSITIONS = 512  # conventions are named on positions below this (every mistake is O(1) there)
P_DROP = 0.25  # the grader's dropout: a fixed keep-mask scaled by 1 / (1 - P_DROP)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Rounding unit of the comparison per input dtype (the contract's fp32 / bf16 / fp16 rows).
UNIT = {torch.float32: 1e-5, torch.bfloat16: 2**-6, torch.float16: 2**-8}


def rope_tol(x: torch.Tensor) -> float:
    """1e-5 * max|x| + max|x| * (p_max + 1) * 2**-22: rounding plus float32 angles."""
    biggest = float(x.double().abs().max())
    return UNIT[x.dtype] * biggest + biggest * x.shape[-2] * 2**-22


def attention_tol(v: torch.Tensor) -> tuple[float, float]:
    """(atol, rtol) for attention outputs and weights."""
    scale = max(1.0, float(v.double().abs().max()))
    if v.dtype == torch.float32:
        return 2e-5 * scale, 1e-5
    return UNIT[v.dtype] * scale + scale * v.shape[-2] * 2**-22, 0.0


# --------------------------------------------------------------------------
# What each RoPE mistake outputs (float64)


def rope_variants(ref, x: torch.Tensor) -> dict:
    L, D = x.shape[-2:]
    pos = torch.arange(L, device=x.device)

    def half_split():
        # rotate_half pairs (j, j + D/2); conjugating by P = [0, 2, 4, ..., 1, 3, 5, ...]
        # turns it into the interleaved rotation.
        perm = torch.cat([torch.arange(0, D, 2), torch.arange(1, D, 2)]).to(x.device)
        return ref.rotate(x[..., torch.argsort(perm)])[..., perm]

    def tiled():
        ang = ref.angles(pos, D)
        ang = torch.cat([ang, ang], dim=-1)
        return ref.rotate_pairs(x, ang.cos(), ang.sin())

    def swapped():
        ang = ref.angles(pos, D).repeat_interleave(2, dim=-1)
        return ref.rotate_pairs(x, ang.sin(), ang.cos())

    return {
        "rope.half_split": half_split,
        "rope.repeat_not_interleave": tiled,
        "rope.sin_cos_swapped": swapped,
        "rope.rotation_reversed": lambda: ref.rotate(x, -pos),
        "rope.exponent_i_over_d": lambda: ref.rotate(x, pos, base=100.0),
        "rope.positions_from_one": lambda: ref.rotate(x, pos + 1),
    }


def mistaken_rotation(ref, x: torch.Tensor, *, layout: str = "interleaved", sign: int = 1,
                      start: int = 0, base: float = 10000.0) -> torch.Tensor:
    """x rotated the way a learner making the given mistakes rotates it (float64)."""
    L, D = x.shape[-2:]
    pos = (torch.arange(L, device=x.device) + start) * sign
    if layout == "half_split":
        perm = torch.cat([torch.arange(0, D, 2), torch.arange(1, D, 2)]).to(x.device)
        return ref.rotate(x[..., torch.argsort(perm)], pos, base=base)[..., perm]
    ang = ref.angles(pos, D, base)
    if layout == "tiled":
        ang = torch.cat([ang, ang], dim=-1)
        return ref.rotate_pairs(x, ang.cos(), ang.sin())
    ang = ang.repeat_interleave(2, dim=-1)
    if layout == "swapped":
        return ref.rotate_pairs(x, ang.sin(), ang.cos())
    return ref.rotate_pairs(x, ang.cos(), ang.sin())


# Each RoPE mistake as the one setting of the rotation it changes; two compose
# when they change different settings (rotate_half with its sign flipped is the
# half-split layout and the reversed direction at once).
MISTAKES = {
    "rope.half_split": {"layout": "half_split"},
    "rope.repeat_not_interleave": {"layout": "tiled"},
    "rope.sin_cos_swapped": {"layout": "swapped"},
    "rope.rotation_reversed": {"sign": -1},
    "rope.exponent_i_over_d": {"base": 100.0},
    "rope.positions_from_one": {"start": 1},
}


def rope_pairs(ref, x: torch.Tensor) -> dict:
    known = list(MISTAKES.items())
    return {(a, b): (lambda ca=ca, cb=cb: mistaken_rotation(ref, x, **ca, **cb))
            for n, (a, ca) in enumerate(known) for b, cb in known[n + 1:]
            if not set(ca) & set(cb)}


def rope_diagnosis(ref, q, k, got_q, got_k) -> list[str]:
    """Known mistakes that explain the learner's (got_q, got_k), on positions < 512."""
    n = min(q.shape[-2], DIAG_POSITIONS)
    q, k, got_q, got_k = (t[..., :n, :] for t in (q, k, got_q, got_k))
    tol_q, tol_k = rope_tol(q), rope_tol(k)
    codes = []
    q_right = is_close(got_q, ref.rotate(q), atol=tol_q)
    if not q_right:
        codes += diagnose(got_q, rope_variants(ref, q), atol=tol_q) or \
            diagnose_pairs(got_q, rope_pairs(ref, q), atol=tol_q)
    if not is_close(got_k, ref.rotate(k), atol=tol_k):
        found = rope_variants(ref, k)
        if q_right:
            found["rope.only_q_rotated"] = k
        codes += diagnose(got_k, found, atol=tol_k) or \
            diagnose_pairs(got_k, rope_pairs(ref, k), atol=tol_k)
    return list(dict.fromkeys(codes))


def rope_outputs(ctx, x, out, what: str = "RoPE(q, k)", *, check_dtype: bool = True):
    """The two rotated tensors, after checking type, shape, device (and dtype)."""
    pair = expect_tuple(out, 2, what)
    got = []
    for i, (name, item) in enumerate(zip("qk", pair)):
        inp = x[name]
        if check_dtype and isinstance(item, TensorOut) and item.dtype != inp.dtype:
            raise Fail(f"{what} returns {name} as {item.dtype} for {inp.dtype} inputs; "
                       "it must keep the inputs' dtype", ["rope.dtype_changed"])
        got.append(expect_tensor(item, f"{what}[{i}]", shape=tuple(inp.shape),
                                 device=ctx.device))
    return got


def assert_rope(ref, q, k, got_q, got_k, what: str = "RoPE(q, k)") -> None:
    try:
        assert_close(got_q, ref.rotate(q), atol=rope_tol(q), what=f"{what}[0] (rotated q)")
        assert_close(got_k, ref.rotate(k), atol=rope_tol(k), what=f"{what}[1] (rotated k)")
    except Fail as failure:
        # (a later case judged only for its heatmap names nothing: api.heat_only)
        failure.diagnosis = (naming() and rope_diagnosis(ref, q, k, got_q, got_k)) or \
            ["output.mismatch"]
        raise


def qk_inputs(case, rand):
    shape = (case["B"], case["H"], case["L"], case["D"])
    dtype = DTYPES[case.get("dtype", "float32")]
    std = case.get("std", 1.0)
    return {"q": rand.normal(*shape, std=std, dtype=dtype),
            "k": rand.normal(*shape, std=std, dtype=dtype)}


# --------------------------------------------------------------------------
# sinusoidal_position_embedding


TABLE_CASES = [
    dict(B=1, H=1, L=1, D=2),
    dict(B=2, H=3, L=5, D=8),
    dict(B=3, H=2, L=64, D=12),
    dict(B=1, H=2, L=2048, D=128),
]


def table64(ref, L, D, *, base=10000.0, start=0, sin_first=True):
    ang = ref.angles(torch.arange(start, start + L), D, base)
    parts = [ang.sin(), ang.cos()] if sin_first else [ang.cos(), ang.sin()]
    return torch.stack(parts, dim=-1).reshape(L, D)


@GRADER.check("rope.table", "sinusoidal_position_embedding gives the (B, H, L, D) sin/cos table",
              cases=TABLE_CASES, needs=("sinusoidal_position_embedding",))
def run_table(env, x, case):
    return env.mod.sinusoidal_position_embedding(case["B"], case["H"], case["L"], case["D"],
                                                 env.device)


@run_table.judge
def judge_table(ctx, x, case, out):
    B, H, L, D = case["B"], case["H"], case["L"], case["D"]
    what = "sinusoidal_position_embedding(...)"
    got = expect_tensor(out, what, shape=(B, H, L, D), device=ctx.device)
    if got.dtype not in (torch.float32, torch.float64):
        raise Fail(f"{what} has dtype {got.dtype}; expected float32", ["output.wrong_dtype"])
    want = table64(ctx.ref, L, D).expand(B, H, L, D)
    variants = {
        "rope.sin_cos_swapped": lambda: table64(ctx.ref, L, D, sin_first=False).expand(B, H, L, D),
        "rope.exponent_i_over_d": lambda: table64(ctx.ref, L, D, base=100.0).expand(B, H, L, D),
        "rope.positions_from_one": lambda: table64(ctx.ref, L, D, start=1).expand(B, H, L, D),
    }
    n = min(L, DIAG_POSITIONS)
    tol = 1e-5 + L * 2**-22
    try:
        assert_close(got, want, atol=tol, what="table ([..., 2i] = sin, [..., 2i+1] = cos)")
    except Fail as failure:
        failure.diagnosis = (naming() and diagnose(
            got[..., :n, :], {c: (lambda f=f: f()[..., :n, :]) for c, f in variants.items()},
            atol=tol)) or ["output.mismatch"]
        raise


# --------------------------------------------------------------------------
# RoPE


ROPE_CASES = [
    dict(B=1, H=1, L=1, D=2),
    dict(B=1, H=1, L=4, D=8),
    dict(B=2, H=3, L=16, D=12),
    dict(B=3, H=2, L=64, D=32),
    dict(B=1, H=4, L=200, D=64, std=3.0),
    dict(B=3, H=2, L=512, D=64),
    dict(B=1, H=1, L=2048, D=128),
]


@GRADER.check("rope.matches_reference", "RoPE(q, k) matches the interleaved rotation",
              cases=ROPE_CASES, inputs=qk_inputs, needs=("RoPE",))
def run_rope(env, x, case):
    return env.mod.RoPE(x["q"], x["k"])


@run_rope.judge
def judge_rope(ctx, x, case, out):
    got_q, got_k = rope_outputs(ctx, x, out)
    assert_rope(ctx.ref, x["q"], x["k"], got_q, got_k)


@GRADER.check("rope.identity_at_zero", "Position 0 comes out unchanged", level="extra",
              cases=[dict(B=2, H=2, L=8, D=16)], inputs=qk_inputs, needs=("RoPE",))
def run_identity(env, x, case):
    return env.mod.RoPE(x["q"], x["k"])


@run_identity.judge
def judge_identity(ctx, x, case, out):
    got_q, got_k = rope_outputs(ctx, x, out)
    for i, (name, got) in enumerate(zip("qk", (got_q, got_k))):
        inp = x[name]
        if not is_close(got[..., 0, :], inp[..., 0, :], atol=rope_tol(inp)):
            codes = rope_diagnosis(ctx.ref, x["q"], x["k"], got_q, got_k)
            raise Fail(f"RoPE(q, k)[{i}] changes {name} at position 0, where the angle is 0",
                       codes or ["output.mismatch"])


@GRADER.check("rope.preserves_norm", "Every rotated vector keeps its length", level="extra",
              cases=[dict(B=2, H=2, L=64, D=32)], inputs=qk_inputs, needs=("RoPE",))
def run_norm(env, x, case):
    return env.mod.RoPE(x["q"], x["k"])


@run_norm.judge
def judge_norm(ctx, x, case, out):
    got_q, got_k = rope_outputs(ctx, x, out)
    for i, (name, got) in enumerate(zip("qk", (got_q, got_k))):
        inp = x[name].double().cpu()  # the learner's output arrives on the CPU
        change = (got.double().norm(dim=-1) - inp.norm(dim=-1)).abs()
        if change.max() > rope_tol(x[name]) * inp.shape[-1] ** 0.5:
            b, h, p = argmax_index(change)
            codes = rope_diagnosis(ctx.ref, x["q"], x["k"], got_q, got_k)
            raise Fail(f"RoPE(q, k)[{i}] changes the length of {name}[{b}, {h}, {p}] by "
                       f"{float(change.max()):.3g}: a rotation keeps lengths",
                       codes or ["output.mismatch"])


def relative_inputs(case, rand):
    # One q and one k vector per (batch, head), placed at every position.
    B, H, L, D = case["B"], case["H"], case["L"], case["D"]
    return {"q": rand.normal(B, H, 1, D).repeat(1, 1, L, 1),
            "k": rand.normal(B, H, 1, D).repeat(1, 1, L, 1)}


@GRADER.check("rope.relative_property", "<R_m q, R_n k> depends only on m - n", level="extra",
              cases=[dict(B=2, H=2, L=48, D=16)], inputs=relative_inputs, needs=("RoPE",))
def run_relative(env, x, case):
    return env.mod.RoPE(x["q"], x["k"])


@run_relative.judge
def judge_relative(ctx, x, case, out):
    got_q, got_k = rope_outputs(ctx, x, out)
    # the same vector out at every position (nothing rotated by its position) makes every
    # score the same: the property would hold only because nothing moved
    if all(float((got.double() - got[..., :1, :].double()).abs().max()) <= rope_tol(x[name])
           for got, name in ((got_q, "q"), (got_k, "k"))):
        codes = rope_diagnosis(ctx.ref, x["q"], x["k"], got_q, got_k)
        raise Fail("with the same q and k vector at every position, RoPE returned the same "
                   "vectors at every position: nothing is rotated by its position, so every "
                   "score is the same", codes or ["output.mismatch"])
    scores = got_q.double() @ got_k.double().transpose(-2, -1)
    drift = (scores[..., 1:, 1:] - scores[..., :-1, :-1]).abs()
    norms = max(float(x[name].double().norm(dim=-1).max()) for name in "qk")
    tol = 4 * max(rope_tol(x["q"]), rope_tol(x["k"])) * case["D"] ** 0.5 * norms
    if drift.max() > tol:
        b, h, m, n = argmax_index(drift)
        codes = rope_diagnosis(ctx.ref, x["q"], x["k"], got_q, got_k)
        raise Fail(f"with the same q and k vector at every position, <q_m, k_n> differs from "
                   f"<q_(m+1), k_(n+1)> by {float(drift.max()):.3g} at b={b} h={h} m={m} n={n}: "
                   "the score must depend only on m - n", codes or ["output.mismatch"])


@GRADER.check("rope.deterministic", "Two calls give the same result", level="extra",
              cases=[dict(B=2, H=2, L=32, D=16)], inputs=qk_inputs, needs=("RoPE",))
def run_twice(env, x, case):
    return env.mod.RoPE(x["q"], x["k"]), env.mod.RoPE(x["q"], x["k"])


@run_twice.judge
def judge_twice(ctx, x, case, out):
    first, second = expect_tuple(out, 2, "two calls")
    first = rope_outputs(ctx, x, first)
    second = rope_outputs(ctx, x, second)
    for i in range(2):
        if not torch.equal(first[i], second[i]):
            raise Fail(f"RoPE(q, k)[{i}] differs between two calls with the same inputs",
                       ["output.mismatch"])


@GRADER.check("rope.low_precision",
              "RoPE with bfloat16/float16 inputs: same dtype out, right values",
              level="extra", inputs=qk_inputs, needs=("RoPE",),
              cases=[dict(B=1, H=1, L=4, D=8, dtype="bfloat16"),
                     dict(B=2, H=2, L=64, D=32, dtype="float16"),
                     dict(B=1, H=2, L=300, D=64, dtype="bfloat16")])
def run_low(env, x, case):
    return env.mod.RoPE(x["q"], x["k"])


@run_low.judge
def judge_low(ctx, x, case, out):
    got_q, got_k = rope_outputs(ctx, x, out, check_dtype=False)
    changed = [f"{name} as {got.dtype}" for name, got in zip("qk", (got_q, got_k))
               if got.dtype != x[name].dtype]
    try:
        assert_rope(ctx.ref, x["q"], x["k"], got_q, got_k)
    except Fail as failure:
        if changed:
            failure.message = f"RoPE(q, k) returns {' and '.join(changed)}; " + failure.message
            failure.diagnosis = ["rope.dtype_changed", *failure.diagnosis]
        raise
    if changed:
        raise Fail(f"RoPE(q, k) returns {' and '.join(changed)} for {x['q'].dtype} inputs; "
                   "it must keep the inputs' dtype", ["rope.dtype_changed"])


# --------------------------------------------------------------------------
# attention


def attention_inputs(case, rand):
    B, H, L, D = case["B"], case["H"], case["L"], case["D"]
    dtype = DTYPES[case.get("dtype", "float32")]
    x = {name: rand.normal(B, H, L, D, dtype=dtype) for name in "qkv"}
    if "mask" in case:
        shape = {"shared": (1, 1), "batch": (B, 1), "full": (B, H)}[case["mask"]]
        mask = rand.bernoulli(0.6, *shape, L, L)
        # Every row keeps one key and drops one, so neither it nor its inverse masks a whole row.
        rows = torch.arange(L)
        mask[..., rows, rows] = 1
        mask[..., rows, (rows + 1) % L] = 0
        x["mask"] = mask
    if case.get("dropout"):
        x["keep"] = rand.bernoulli(1 - P_DROP, B, H, L, L)
    return x


def dropout_for(x):
    if "keep" not in x:
        return None
    keep = x["keep"]
    return lambda w: w * keep.to(w.dtype) / (1 - P_DROP)


def run_attention(env, x, case):
    kwargs = {}
    if "mask" in x:
        kwargs["mask"] = x["mask"]
    if "keep" in x:
        kwargs["dropout"] = dropout_for(x)
    if not case.get("rope", True):
        kwargs["use_RoPE"] = False
    low = case.get("dtype", "float32") != "float32"

    def call():
        return env.mod.attention(x["q"], x["k"], x["v"], **kwargs)

    # With RoPE, the learner's own rotation comes along so the judge can tell a
    # RoPE mistake from an attention mistake.
    rope = None
    if case.get("rope", True) and getattr(env.mod, "RoPE", None) is not None:
        rope = attempt(env, lambda: env.mod.RoPE(x["q"], x["k"]), catch=Exception)
    return {"att": attempt(env, call, catch=Exception) if low else call(), "rope": rope}


def learner_rotation(x, rope):
    """The learner's RoPE(q, k) when it is a usable pair of tensors, else None."""
    if not isinstance(rope, (tuple, list)) or len(rope) != 2:
        return None
    if not all(isinstance(t, TensorOut) and t.shape == tuple(x[n].shape) and
               t.data.is_floating_point() and torch.isfinite(t.data).all()
               for t, n in zip(rope, "qk")):
        return None
    return rope[0].data.to(x["q"].device), rope[1].data.to(x["k"].device)


def attention_diagnosis(ref, x, case, got, rope, atol, rtol) -> tuple[list[str], str]:
    """(codes, note) explaining the learner's attention (out ++ weights, flattened)."""
    q, k, v, mask, drop = x["q"], x["k"], x["v"], x.get("mask"), dropout_for(x)

    def att(rq, rk, ignore_mask=False, **kw):
        out, weights = ref.attend(rq, rk, v, None if ignore_mask else mask, drop, **kw)
        return torch.cat([out.flatten(), weights.flatten()])

    def matches(value):
        # NaN where the mistake gives NaN too (a softmax over fully masked entries).
        nan = got.isnan()
        return torch.equal(nan, value.isnan()) and is_close(got[~nan], value[~nan], atol=atol,
                                                             rtol=rtol)

    use_rope = case.get("rope", True)
    rotations = [((ref.rotate(q), ref.rotate(k)) if use_rope else (q, k), [])]
    mine = learner_rotation(x, rope) if use_rope else None
    if mine is not None:
        rope_codes = rope_diagnosis(ref, q, k, *mine)
        rope_wrong = not (is_close(mine[0], rotations[0][0][0], atol=rope_tol(q)) and
                          is_close(mine[1], rotations[0][0][1], atol=rope_tol(k)))
        if rope_wrong:
            if matches(att(*mine)):
                # The attention code is right; what it was given is not.
                return rope_codes or ["output.mismatch"], (
                    " (your attention is right for what your RoPE(q, k) returns: "
                    "the difference comes from RoPE)")
            rotations.append((mine, rope_codes))

    # Over the heads or the batch, a key masked everywhere gives NaN with a -inf
    # fill and a uniform weight with a large finite one (-1e9, finfo.min).
    mistakes = [("attention.missing_scale", dict(scale=False))]
    mistakes += [("attention.softmax_wrong_dim", dict(dim=d, fill=f))
                 for d in (-2, 1, 0) for f in (float("-inf"), -1e9)]
    if mask is not None:
        mistakes.append(("attention.mask_ignored", dict(ignore_mask=True)))
        mistakes.append(("attention.mask_inverted", dict(invert_mask=True)))
        mistakes.append(("attention.mask_after_softmax", dict(mask_after_softmax=True)))
    codes: list[str] = []
    for (rq, rk), extra in rotations:
        for code, switches in mistakes:
            if code not in codes and matches(att(rq, rk, **switches)):
                codes += [code, *extra]
    if use_rope:
        if matches(att(q, k)):
            codes.append("attention.rope_not_applied")
        if matches(att(ref.rotate(q), k)):
            codes.append("rope.only_q_rotated")
        # The same rotation mistake made inline in attention (swapped and reversed
        # give equal scores there, so both are named when they fit).
        qv, kv = rope_variants(ref, q), rope_variants(ref, k)
        codes += [code for code in qv if matches(att(qv[code](), kv[code]()))]
    elif matches(att(ref.rotate(q), ref.rotate(k))):
        return ["output.mismatch"], " (this is attention with RoPE: use_RoPE=False must skip it)"
    return list(dict.fromkeys(codes)) or ["output.mismatch"], ""


def judge_attention(ctx, x, case, out):
    q, v = x["q"], x["v"]
    B, H, L, D = q.shape
    att, rope = out["att"], out["rope"]
    if isinstance(att, ExceptionOut):
        mine = rope if isinstance(rope, (tuple, list)) else ()
        changed = [t.dtype for t in mine if isinstance(t, TensorOut) and t.dtype != q.dtype]
        if changed and not att.not_implemented:
            raise Fail(f"attention raised {att.describe()}: your RoPE(q, k) returns "
                       f"{changed[0]} for {q.dtype} inputs, which then meets v's {v.dtype}",
                       ["rope.dtype_changed"], traceback=att.traceback)
        raise exception_failure(att)
    got_out, got_w = expect_tuple(att, 2, "attention(q, k, v)")
    for what, item in (("output", got_out), ("weights", got_w)):
        if isinstance(item, TensorOut) and item.dtype != q.dtype:
            raise Fail(f"attention's {what} is {item.dtype} for {q.dtype} inputs; it must keep "
                       "the inputs' dtype", ["rope.dtype_changed"])
    # NaN is compared, not rejected: a known mistake may produce it.
    got_out = expect_tensor(got_out, "attention output", shape=(B, H, L, D), device=ctx.device,
                            finite=False)
    got_w = expect_tensor(got_w, "attention weights", shape=(B, H, L, L), device=ctx.device,
                          finite=False)

    ref = ctx.ref
    rq, rk = (ref.rotate(x["q"]), ref.rotate(x["k"])) if case.get("rope", True) else (q, x["k"])
    want_out, want_w = ref.attend(rq, rk, v, x.get("mask"), dropout_for(x))
    atol, rtol = attention_tol(v)
    try:
        assert_close(got_w, want_w, atol=atol, rtol=rtol, what="weights",
                     axes=("query position", "key position"))
        assert_close(got_out, want_out, atol=atol, rtol=rtol, what="output")
    except Fail as failure:
        got = torch.cat([got_out.flatten(), got_w.flatten()]).to(q.device)
        failure.diagnosis, note = attention_diagnosis(ref, x, case, got, rope, atol, rtol)
        if failure.diagnosis == ["output.mismatch"] and not torch.isfinite(got).all():
            failure.diagnosis = ["output.nonfinite"]
        failure.message += note
        raise


ATTENTION_CHECKS = [
    ("attention.matches_reference", "attention(q, k, v) with RoPE matches the reference", "core",
     [dict(B=1, H=1, L=1, D=2), dict(B=1, H=1, L=4, D=8), dict(B=2, H=3, L=16, D=16),
      dict(B=3, H=2, L=32, D=32)]),
    ("attention.mask", "mask == 0 excludes keys", "core",
     [dict(B=1, H=1, L=4, D=8, mask="shared"), dict(B=2, H=3, L=16, D=16, mask="batch"),
      dict(B=3, H=2, L=32, D=32, mask="full")]),
    ("attention.dropout", "dropout is applied to the weights, which are returned after it",
     "core", [dict(B=1, H=1, L=4, D=8, dropout=True), dict(B=2, H=2, L=16, D=16, dropout=True)]),
    ("attention.without_rope", "use_RoPE=False gives plain attention", "core",
     [dict(B=1, H=1, L=4, D=8, rope=False), dict(B=2, H=3, L=16, D=16, rope=False)]),
    ("attention.low_precision",
     "attention with bfloat16/float16 inputs: same dtype out, right values", "extra",
     [dict(B=1, H=2, L=8, D=16, dtype="bfloat16"), dict(B=2, H=2, L=16, D=32, dtype="float16")]),
]

for _id, _title, _level, _cases in ATTENTION_CHECKS:
    GRADER.check(_id, _title, level=_level, cases=_cases, inputs=attention_inputs,
                 needs=("attention",))(run_attention).judge(judge_attention)


# --------------------------------------------------------------------------
# What the bug does to a model (`check --consequence`; decides nothing)


tiny_stack.declare(GRADER, "rope", "RoPE", tiny_stack.rotary, "RoPE(q, k)")
