"""Grader for `rope_neox`: rotate_half exactly, then apply_rope against the
float64 half-split rotation: positions 0 .. L-1 over several shapes and bases
(core), then KV-cache offsets, the relative property across an offset,
per-row (batch, seq_len) position ids, partial rotary_dim and bf16/fp16
inputs (extra).

Mistakes are named by their numerical signature: the learner's output is
compared with what each known mistake would output for the same inputs
(interleaved pairs, repeat_interleave'd frequencies, sin/cos swapped, the
rotation reversed, i/d exponent, base or position ids ignored, (B, L) angles
broadcast against the heads axis, the partial-rotary slips). Half-precision
angles have no single output (each way of rounding gives another), so they
are named by evidence instead: the same call on the float32 copy of the input
is right, the half-precision one is not.
"""

import torch

from drillpe.grading import (
    ExceptionOut,
    Fail,
    Grader,
    TensorOut,
    assert_close,
    attempt,
    expect_tensor,
    is_close,
    mismatch,
    naming,
    tiny_stack,
)

GRADER = Grader("rope_neox")

DIAG_POSITIONS = 512  # conventions are named on positions below this where there are any
DTYPES = {"float32": torch.float32, "float64": torch.float64,
          "bfloat16": torch.bfloat16, "float16": torch.float16}
# Rounding unit of the comparison per input dtype (the contract's fp32 / bf16 / fp16 rows).
UNIT = {torch.float32: 1e-5, torch.float64: 1e-5, torch.bfloat16: 2**-6, torch.float16: 2**-8}
DEFAULT_BASE = 10000.0


def rope_tol(x: torch.Tensor, pos: torch.Tensor) -> float:
    """unit * max|x| + max|x| * (p_max + 1) * 2**-22: rounding plus float32 angles."""
    biggest = float(x.double().abs().max())
    p_max = int(pos.abs().max()) if pos.numel() else 0
    return UNIT[x.dtype] * biggest + biggest * (p_max + 1) * 2**-22


# --------------------------------------------------------------------------
# Inputs


def positions(case, rand) -> torch.Tensor:
    """(L,) int64 ids, shifted by the case's cache offset, or (B, L) per-row ids."""
    B, L = case["B"], case["L"]
    base = torch.arange(L) + case.get("offset", 0)
    if not case.get("per_row"):
        return base
    # Row 0 is not 0 .. L-1, so using row 0 for every row does not look like
    # ignoring the ids altogether.
    rows = []
    for b in range(B):
        kind = b % 4
        if kind == 0:  # further into its cache
            rows.append(base + 7 + 50 * b)
        elif kind == 1:  # left padding, as HF builds it: cumsum(mask) - 1, pads set to 1
            pad = max(1, L // 3)
            rows.append(torch.cat([torch.ones(pad, dtype=torch.int64), torch.arange(L - pad)]))
        elif kind == 2:  # a plain row
            rows.append(base)
        else:  # any ids at all
            rows.append(rand.randint(0, 2048, L))
    return torch.stack(rows)


def rope_inputs(case, rand):
    shape = (case["B"], case["H"], case["L"], case["D"])
    dtype = DTYPES[case.get("dtype", "float32")]
    x = rand.normal(*shape, std=case.get("std", 1.0), dtype=dtype)
    return {"x": x, "position_ids": positions(case, rand)}


def rope_kwargs(case) -> dict:
    """base and rotary_dim are passed only when the case names them (else the defaults)."""
    return {name: case[name] for name in ("base", "rotary_dim") if name in case}


def call_text(case) -> str:
    args = ["x", "position_ids"] + [f"{k}={v}" for k, v in rope_kwargs(case).items()]
    return f"apply_rope({', '.join(args)})"


# --------------------------------------------------------------------------
# What each mistake outputs (float64)


def rotate_every_two(x: torch.Tensor) -> torch.Tensor:
    """The interleaved partner: (x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...)."""
    return torch.stack([-x[..., 1::2], x[..., 0::2]], dim=-1).reshape(x.shape)


def turned(ref, x, ang, *, pairs="half", tiled=True, swap=False, start=0) -> torch.Tensor:
    """x (float64) with channels start .. start + r rotated by `ang` (..., r/2), done
    right (the defaults) or the way a known mistake does it."""
    x = x.to(torch.float64)
    r = 2 * ang.shape[-1]
    part = x[..., start:start + r]
    emb = torch.cat([ang, ang], dim=-1) if tiled else ang.repeat_interleave(2, dim=-1)
    cos, sin = emb.cos(), emb.sin()
    if swap:
        cos, sin = sin, cos
    if pairs == "half":
        other = ref.rotate_half(part)
    elif pairs == "every_two":
        other = rotate_every_two(part)
    else:  # "full": rotate_half of the whole head, cut to the rotary channels
        other = ref.rotate_half(x)[..., start:start + r]
    out = x.clone()
    out[..., start:start + r] = part * cos + other * sin
    return out


def rope_variants(ref, x, pos, rows, base, rotary_dim) -> list:
    """[(code, thunk)] for every known mistake that differs from the reference here.

    `rows` is each token's index 0 .. L-1 (what a learner ignoring position_ids uses).
    """
    D = x.shape[-1]
    r = D if rotary_dim is None else rotary_dim

    def ang(p=pos, b=base, dim=r, heads=True):
        a = ref.angles(p, dim, b)
        return ref.heads_axis(a) if heads else a

    found = [
        ("rope_neox.interleaved", lambda: turned(ref, x, ang(), pairs="every_two", tiled=False)),
        ("rope_neox.interleaved", lambda: turned(ref, x, ang(), pairs="every_two")),
        ("rope_neox.repeat_interleave_freqs", lambda: turned(ref, x, ang(), tiled=False)),
        ("rope_neox.sin_cos_swapped", lambda: turned(ref, x, ang(), swap=True)),
        ("rope_neox.rotation_reversed", lambda: turned(ref, x, -ang())),
        ("rope_neox.exponent_i_over_d", lambda: turned(ref, x, ang(b=base**0.5))),
    ]
    if base != DEFAULT_BASE:
        found.append(("rope_neox.base_ignored", lambda: turned(ref, x, ang(b=DEFAULT_BASE))))
    if not torch.equal(pos, rows.expand_as(pos)):
        found.append(("rope_neox.offset_ignored", lambda: turned(ref, x, ang(p=rows))))
    if pos.dim() == 2 and x.shape[0] == x.shape[1] and not (pos == pos[:1]).all():
        # (B, L, r/2) angles without the heads axis line up with (heads, L, r/2).
        found.append(("rope_neox.position_ids_broadcast",
                      lambda: turned(ref, x, ang(heads=False))))
    if r < D:
        def pass_zeroed():
            out = ref.rotate(x, ang())
            out[..., r:] = 0
            return out

        found += [
            ("rope_neox.partial_rotary_wrong",
             lambda: turned(ref, x, ang(dim=D)[..., : r // 2])),  # theta over head_dim
            ("rope_neox.partial_rotary_wrong", lambda: turned(ref, x, ang(dim=D))),  # all channels
            ("rope_neox.partial_rotary_wrong", lambda: turned(ref, x, ang(), start=D - r)),
            ("rope_neox.partial_rotary_wrong", lambda: turned(ref, x, ang(), pairs="full")),
            ("rope_neox.partial_rotary_wrong", pass_zeroed),
        ]
    return found


def mistake_pairs(ref, x, pos, rows, base, rotary_dim) -> list:
    """[((code, code), thunk)] for two known mistakes made at once: a way of
    laying out the rotation together with a way of getting the angles wrong,
    or two angle mistakes that change different things (sign, base, positions)."""
    r = x.shape[-1] if rotary_dim is None else rotary_dim
    layouts = [
        ("rope_neox.interleaved", dict(pairs="every_two", tiled=False)),
        ("rope_neox.interleaved", dict(pairs="every_two")),
        ("rope_neox.repeat_interleave_freqs", dict(tiled=False)),
        ("rope_neox.sin_cos_swapped", dict(swap=True)),
    ]
    angle_mistakes = [("rope_neox.rotation_reversed", dict(sign=-1)),
                      ("rope_neox.exponent_i_over_d", dict(b=base**0.5))]
    if base != DEFAULT_BASE:
        angle_mistakes.append(("rope_neox.base_ignored", dict(b=DEFAULT_BASE)))
    if not torch.equal(pos, rows.expand_as(pos)):
        angle_mistakes.append(("rope_neox.offset_ignored", dict(p=rows)))

    def ang(sign=1, b=base, p=pos):
        return sign * ref.heads_axis(ref.angles(p, r, b))

    found = [((lay, code), lambda k=k, change=change: turned(ref, x, ang(**change), **k))
             for lay, k in layouts for code, change in angle_mistakes]
    found += [((a, b), lambda ca=ca, cb=cb: turned(ref, x, ang(**ca, **cb)))
              for n, (a, ca) in enumerate(angle_mistakes) for b, cb in angle_mistakes[n + 1:]
              if not set(ca) & set(cb)]
    return found


def known_mistakes(ref, x, pos, got, *, base, rotary_dim, atol) -> list[str]:
    """The known mistakes whose output is the learner's, on positions below 512 (none
    inside api.heat_only, where nothing reads them)."""
    if not naming():
        return []
    L = x.shape[-2]
    got = got.to(x.device)
    rows = torch.arange(L, device=x.device)
    if pos.dim() == 1:
        keep = pos < DIAG_POSITIONS
        if keep.any() and not keep.all():
            x, got, pos, rows = x[..., keep, :], got[..., keep, :], pos[keep], rows[keep]
    codes: list[str] = []
    for code, thunk in rope_variants(ref, x, pos, rows, base, rotary_dim):
        if code in codes:
            continue
        try:
            value = thunk()
        except RuntimeError:  # a mistake that cannot happen for these shapes
            continue
        if value.shape == got.shape and is_close(got, value, atol=atol):
            codes.append(code)
    if codes:
        return codes
    for both, thunk in mistake_pairs(ref, x, pos, rows, base, rotary_dim):
        try:
            value = thunk()
        except RuntimeError:
            continue
        if value.shape == got.shape and is_close(got, value, atol=atol):
            codes += [c for c in both if c not in codes]
    return codes


def expect_rotated(ctx, out, x, what: str, *, check_dtype: bool = True,
                   rotary_dim: int | None = None) -> torch.Tensor:
    try:
        return expect_tensor(out, what, shape=tuple(x.shape), device=ctx.device,
                             dtype=x.dtype if check_dtype else None)
    except Fail as failure:
        if (rotary_dim is not None and isinstance(out, TensorOut)
                and out.shape == (*x.shape[:-1], rotary_dim) != tuple(x.shape)):
            failure.message += (f": only the {rotary_dim} rotated channels came back; the other "
                                f"{x.shape[-1] - rotary_dim} must follow unchanged")
            failure.diagnosis.append("rope_neox.partial_rotary_wrong")
        raise


def assert_rope(ctx, x, pos, got, case, *, what: str | None = None,
                low_precision_evidence=None) -> None:
    """Fail, naming the mistake, unless got is x rotated at `pos`."""
    base, rotary_dim = case.get("base", DEFAULT_BASE), case.get("rotary_dim")
    want = ctx.ref.rope64(x, pos, base, rotary_dim)
    tol = rope_tol(x, pos)
    what = what or call_text(case)
    try:
        assert_close(got, want, atol=tol, what=what, axes=("token", "channel"))
    except Fail as failure:
        codes = known_mistakes(ctx.ref, x, pos, got, base=base, rotary_dim=rotary_dim,
                               atol=tol)
        if not codes and low_precision_evidence is not None and naming() and \
                low_precision_evidence():
            codes = ["rope_neox.low_precision_angles"]
            failure.message += (f" (with x.float() the same call is right: your angles "
                                f"are computed in {x.dtype})")
        failure.diagnosis = codes or ["output.mismatch"]
        failure.message += position_note(got, want, pos, tol)
        raise


def position_note(got, want, pos, tol) -> str:
    """Where the worst element's token sits, when its position id is not its index."""
    found = mismatch(got, want, atol=tol)
    if found is None:
        return ""
    b, _, t, _ = found[1]
    p = int(pos[b, t]) if pos.dim() == 2 else int(pos[t])
    return "" if p == t else f"; token {t} there has position id {p}"


# --------------------------------------------------------------------------
# rotate_half


ROTATE_HALF_CASES = [
    dict(shape=(1, 1, 1, 2)),
    dict(shape=(2, 3, 5, 8)),
    dict(shape=(4, 6)),
    dict(shape=(2, 2, 7, 64), dtype="float64"),
]


def half_inputs(case, rand):
    return {"x": rand.normal(*case["shape"], dtype=DTYPES[case.get("dtype", "float32")])}


@GRADER.check("rope_neox.rotate_half", "rotate_half(x) = cat(-x[..., d/2:], x[..., :d/2])",
              cases=ROTATE_HALF_CASES, inputs=half_inputs, needs=("rotate_half",))
def run_rotate_half(env, x, case):
    return env.mod.rotate_half(x["x"])


@run_rotate_half.judge
def judge_rotate_half(ctx, x, case, out):
    inp = x["x"]
    got = expect_rotated(ctx, out, inp, "rotate_half(x)")
    variants = {
        "rope_neox.rotation_reversed": lambda: -ctx.ref.rotate_half(inp),
        "rope_neox.interleaved": lambda: rotate_every_two(inp),
    }
    # A permutation with signs: exact, up to a matmul's rounding if written as one.
    atol = 1e-6 * float(inp.double().abs().max())
    assert_close(got, ctx.ref.rotate_half(inp), atol=atol, variants=variants,
                 what="rotate_half(x)",
                 axes=("row", "channel"))


# --------------------------------------------------------------------------
# apply_rope, positions 0 .. L-1


CORE_CASES = [
    dict(B=1, H=1, L=1, D=2),
    dict(B=1, H=1, L=4, D=4),
    dict(B=2, H=3, L=16, D=12, base=100.0),
    dict(B=3, H=2, L=64, D=32, base=500000.0),
    dict(B=1, H=4, L=200, D=64, std=3.0, rotary_dim=None),
    dict(B=2, H=2, L=512, D=64, base=1000000.0),
    dict(B=1, H=1, L=2048, D=128),
]


def run_rope(env, x, case):
    return env.mod.apply_rope(x["x"], x["position_ids"], **rope_kwargs(case))


def judge_rope(ctx, x, case, out):
    got = expect_rotated(ctx, out, x["x"], call_text(case), rotary_dim=case.get("rotary_dim"))
    assert_rope(ctx, x["x"], x["position_ids"], got, case)


GRADER.check("rope_neox.matches_reference",
             "apply_rope at positions 0 .. L-1 matches the half-split rotation",
             cases=CORE_CASES, inputs=rope_inputs, needs=("apply_rope",)
             )(run_rope).judge(judge_rope)

GRADER.check("rope_neox.cache_offset",
             "Positions that do not start at 0 (KV-cache decoding)", level="extra",
             cases=[dict(B=1, H=1, L=1, D=8, offset=1),
                    dict(B=2, H=2, L=1, D=16, offset=37),
                    dict(B=2, H=3, L=4, D=32, offset=100, base=100.0),
                    dict(B=1, H=2, L=16, D=64, offset=1000, base=500000.0),
                    dict(B=1, H=1, L=8, D=128, offset=4000)],
             inputs=rope_inputs, needs=("apply_rope",))(run_rope).judge(judge_rope)

GRADER.check("rope_neox.per_row_positions",
             "(batch, seq_len) position ids: each row at its own positions", level="extra",
             cases=[dict(B=2, H=2, L=6, D=8, per_row=True),
                    dict(B=4, H=4, L=16, D=32, per_row=True, base=500000.0),
                    dict(B=3, H=2, L=33, D=64, per_row=True),
                    # the second case's shape again, its last row at other ids: what was
                    # built from one call's positions and kept per shape, turned by the
                    # first position, is wrong here (a reviewer's passed every check)
                    dict(B=4, H=4, L=16, D=32, per_row=True, base=500000.0)],
             inputs=rope_inputs, needs=("apply_rope",))(run_rope).judge(judge_rope)

GRADER.check("rope_neox.partial_rotary",
             "rotary_dim < head_dim: the first rotary_dim channels rotated, the rest unchanged",
             level="extra",
             cases=[dict(B=1, H=1, L=4, D=12, rotary_dim=4),
                    dict(B=2, H=3, L=16, D=32, rotary_dim=8, base=1000000.0),
                    dict(B=2, H=2, L=64, D=80, rotary_dim=32),
                    dict(B=1, H=2, L=16, D=16, rotary_dim=16)],
             inputs=rope_inputs, needs=("apply_rope",))(run_rope).judge(judge_rope)


# --------------------------------------------------------------------------
# The relative property across a cache offset


def relative_inputs(case, rand):
    shape = (case["B"], case["H"], case["L"], case["D"])
    return {"q": rand.normal(*shape), "k": rand.normal(*shape),
            "start": torch.arange(case["L"]), "shifted": torch.arange(case["L"]) + case["offset"]}


@GRADER.check("rope_neox.relative_property",
              "<R_m q, R_n k> depends only on m - n: scores unchanged by a cache offset",
              level="extra", inputs=relative_inputs, needs=("apply_rope",),
              cases=[dict(B=2, H=2, L=24, D=16, offset=37),
                     dict(B=1, H=2, L=32, D=64, offset=1000, base=500000.0)])
def run_relative(env, x, case):
    kw = rope_kwargs(case)
    return {f"{name}_{where}": env.mod.apply_rope(x[name], x[where], **kw)
            for name in "qk" for where in ("start", "shifted")}


@run_relative.judge
def judge_relative(ctx, x, case, out):
    if not isinstance(out, dict):
        raise Fail("could not call apply_rope four times", ["api.wrong_return_type"])
    got = {key: expect_rotated(ctx, value, x[key[0]], call_text(case)).double()
           for key, value in out.items()}
    # code that never reads position_ids returns the same for both: its scores are
    # unchanged by the offset only because nothing moved (a reviewer's passed this check)
    if all(float((got[f"{name}_shifted"] - got[f"{name}_start"]).abs().max())
           <= rope_tol(x[name], x["shifted"]) for name in "qk"):
        raise Fail(f"apply_rope gave the same q and k for positions 0..{case['L'] - 1} and "
                   f"{case['offset']}..{case['offset'] + case['L'] - 1}: it does not read "
                   "position_ids, so no offset can change a score",
                   ["rope_neox.offset_ignored"])
    scores = {where: got[f"q_{where}"] @ got[f"k_{where}"].transpose(-2, -1)
              for where in ("start", "shifted")}
    drift = (scores["shifted"] - scores["start"]).abs()
    norms = max(float(x[name].double().norm(dim=-1).max()) for name in "qk")
    tol = 4 * rope_tol(x["q"], x["shifted"]) * case["D"] ** 0.5 * norms
    if drift.max() <= tol:
        return
    b, h, m, n = (int(j) for j in mismatch(drift, torch.zeros_like(drift), atol=tol)[1])
    offset = case["offset"]
    codes: list[str] = []
    for key, value in got.items():
        name, where = key.split("_")
        codes += known_mistakes(ctx.ref, x[name], x[where], value,
                                base=case.get("base", DEFAULT_BASE), rotary_dim=None,
                                atol=rope_tol(x[name], x[where]))
    raise Fail(f"the score of q at position {m + offset} with k at {n + offset} differs from "
               f"q at {m} with k at {n} by {float(drift.max()):.3g} (b={b} h={h}; tolerance "
               f"{tol:.2g}): after rotation a score must depend only on m - n",
               list(dict.fromkeys(codes)) or ["output.mismatch"])


# --------------------------------------------------------------------------
# bf16 / fp16 inputs


@GRADER.check("rope_neox.low_precision",
              "bfloat16/float16 inputs: same dtype out, angles exact enough", level="extra",
              inputs=rope_inputs, needs=("apply_rope",),
              cases=[dict(B=1, H=1, L=4, D=8, dtype="bfloat16"),
                     dict(B=2, H=2, L=64, D=32, dtype="float16"),
                     dict(B=1, H=2, L=300, D=64, dtype="bfloat16"),
                     dict(B=2, H=2, L=8, D=32, dtype="bfloat16", offset=1000),
                     dict(B=1, H=2, L=16, D=64, dtype="float16", offset=2000, base=500000.0)])
def run_low(env, x, case):
    kw = rope_kwargs(case)
    # Evidence for the diagnosis: the same call on the float32 copy of x.
    f32 = attempt(env, lambda: env.mod.apply_rope(x["x"].float(), x["position_ids"], **kw),
                  catch=Exception)
    return {"y": env.mod.apply_rope(x["x"], x["position_ids"], **kw), "f32": f32}


@run_low.judge
def judge_low(ctx, x, case, out):
    inp, pos = x["x"], x["position_ids"]
    what = call_text(case)
    got = expect_rotated(ctx, out["y"], inp, what, check_dtype=False)
    changed = got.dtype != inp.dtype

    def float32_is_right() -> bool:
        f32 = out["f32"]
        if isinstance(f32, ExceptionOut) or not isinstance(f32, TensorOut):
            return False
        if f32.shape != tuple(inp.shape) or not f32.data.is_floating_point():
            return False
        x32 = inp.float()
        return is_close(f32.data, ctx.ref.rope64(x32, pos, case.get("base", DEFAULT_BASE)),
                        atol=rope_tol(x32, pos))

    try:
        assert_rope(ctx, inp, pos, got, case, low_precision_evidence=float32_is_right)
    except Fail as failure:
        if changed:
            failure.message = f"{what} returns {got.dtype} for {inp.dtype} x; " + failure.message
            failure.diagnosis = ["output.wrong_dtype", *failure.diagnosis]
        raise
    if changed:
        raise Fail(f"{what} returns {got.dtype} for {inp.dtype} x; it must keep x's dtype "
                   "(cast cos/sin, or the result, to x.dtype)", ["output.wrong_dtype"])


# --------------------------------------------------------------------------
# What the bug does to a model (`check --consequence`; decides nothing)


tiny_stack.declare(GRADER, "rope_neox", "apply_rope", tiny_stack.rotary_ids, "apply_rope(x, position_ids)")
