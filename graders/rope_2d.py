"""Grader for `rope_2d`: apply_rope_2d against the float64 axial rotation on
regular patch grids and on arbitrary (shuffled, cropped, random) row/column
ids, varying base, head_dim, batch and heads; then its properties (patch
(0, 0) and the axes, norms of each half, the 2-D relative property under a
shift of every id), large ids, and bfloat16/float16 inputs.

Mistakes are named by their numerical signature: the learner's output is
compared with what each known mistake would produce, on ids below 512. A
half-precision result is blamed on half-precision angles only when the same
code is right on the same values in float32.
"""

import math

import torch

from drillpe.grading import (
    ExceptionOut,
    Fail,
    Grader,
    TensorOut,
    argmax_index,
    assert_close,
    expect_tensor,
    expect_tuple,
    is_close,
    mismatch,
    naming,
)

GRADER = Grader("rope_2d")

WHAT = "apply_rope_2d(x, rows, cols)"
DEFAULT_BASE = 10000.0
DIAG_POSITIONS = 512  # mistakes are named on ids below this (every one is O(1) there)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Rounding unit of the comparison per input dtype (the contract's fp32 / bf16 / fp16 rows).
UNIT = {torch.float32: 1e-5, torch.bfloat16: 2**-6, torch.float16: 2**-8}


def rope_2d_tol(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> float:
    """1e-5 * max|x| + max|x| * (p_max + 1) * 2**-22: rounding plus float32 angles."""
    biggest = float(x.double().abs().max())
    p_max = max(int(rows.abs().max()), int(cols.abs().max()))
    return UNIT[x.dtype] * biggest + biggest * (p_max + 1) * 2**-22


# --------------------------------------------------------------------------
# Inputs


def positions(case, rand) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, cols) int64 of shape (n_patches,), as the case describes them."""
    if "grid" in case:
        H, W = (int(s) for s in case["grid"].split("x"))
        rows, cols = torch.arange(H).repeat_interleave(W), torch.arange(W).repeat(H)
        r0, c0 = case.get("offset", (0, 0))  # a crop of a larger image
        rows, cols = rows + r0, cols + c0
        if case.get("order") == "shuffled":
            perm = torch.argsort(rand.uniform(0.0, 1.0, H * W, dtype=torch.float64))
            rows, cols = rows[perm], cols[perm]
        return rows, cols
    n, top = case["patches"], case["max_id"]  # random ids, repeats allowed
    return rand.randint(0, top + 1, n), rand.randint(0, top + 1, n)


def patch_inputs(case, rand):
    rows, cols = positions(case, rand)
    shape = (case["B"], case["heads"], len(rows), case["D"])
    dtype = DTYPES[case.get("dtype", "float32")]
    return {"x": rand.normal(*shape, std=case.get("std", 1.0), dtype=dtype),
            "rows": rows, "cols": cols}


def call(env, case, x, rows, cols):
    kwargs = {"base": case["base"]} if "base" in case else {}
    return env.mod.apply_rope_2d(x, rows, cols, **kwargs)


def run_once(env, x, case):
    return call(env, case, x["x"], x["rows"], x["cols"])


# --------------------------------------------------------------------------
# What each mistake outputs (float64)


def grid_guesses(rows: torch.Tensor, cols: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The row-major grids a learner who ignores the ids' order might build."""
    n = len(rows)
    sizes = {(int(rows.max()) + 1, int(cols.max()) + 1)}
    side = math.isqrt(n)
    sizes.add((side, side))
    # A grid rebuilt from n alone: patch p at (p // W, p % W), W = sqrt(n)
    # rounded down or up; it fills a whole H x W grid only when n does.
    widths = {max(side, 1), math.ceil(math.sqrt(n)), int(cols.max()) + 1}
    guesses = []
    for H, W in sizes:
        if H * W == n:
            r = torch.arange(H, device=rows.device).repeat_interleave(W)
            c = torch.arange(W, device=rows.device).repeat(H)
            if not (torch.equal(r, rows) and torch.equal(c, cols)):
                guesses.append((r, c))
    for W in widths:
        p = torch.arange(n, device=rows.device)
        r, c = p // W, p % W
        if not (torch.equal(r, rows) and torch.equal(c, cols)) and \
                not any(torch.equal(r, g[0]) and torch.equal(c, g[1]) for g in guesses):
            guesses.append((r, c))
    return guesses


class Halves:
    """A mistake's output as its row half and its column half, each computed only when
    asked: most mistakes are told apart on the first half alone, and a half turned by
    the same positions is computed once for every mistake that has it."""

    def __init__(self, first, second):
        self.first, self.second = first, second


def variants(ref, x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, base: float) -> dict:
    """code -> list of makers, each computing one way of making that mistake: a callable
    (the whole output) or Halves."""
    D = x.shape[-1]
    h = D // 2
    turned: dict = {}

    def half(part, positions, b):
        key = (part, id(positions), b)  # (the positions are kept alive by the closures)
        if key not in turned:
            turned[key] = ref.rotate_1d(x[..., :h] if part == 0 else x[..., h:], positions, b)
        return turned[key]

    def two(r, c, b=base):
        return Halves(lambda: half(0, r, b), lambda: half(1, c, b))

    def half_split():
        # rotate_half pairs (j, j + h/2) inside each half; conjugating by the
        # per-half permutation P = [0, 2, ..., 1, 3, ...] turns it into the reference.
        p = torch.cat([torch.arange(0, h, 2), torch.arange(1, h, 2)])
        perm = torch.cat([p, p + h]).to(x.device)
        return ref.rotate_2d(x[..., torch.argsort(perm)], rows, cols, base)[..., perm]

    def by_angles(ang_rows, ang_cols, *, tiled=False, swapped=False):
        out = []
        for part, ang in ((x[..., :h], ang_rows), (x[..., h:], ang_cols)):
            ang = torch.cat([ang, ang], dim=-1) if tiled else ang.repeat_interleave(2, dim=-1)
            cos, sin = ang.cos(), ang.sin()
            out.append(ref.rotate_pairs(part, sin, cos) if swapped else
                       ref.rotate_pairs(part, cos, sin))
        return torch.cat(out, dim=-1)

    def full_dim_split():
        # One inv_freq over the whole head_dim: the row pairs take its first
        # h/2 frequencies, the column pairs the last h/2.
        if h < 2:
            return None
        ang_r, ang_c = ref.angles(rows, D, base), ref.angles(cols, D, base)
        return by_angles(ang_r[:, : h // 2], ang_c[:, h // 2:])

    negative_rows, negative_cols = -rows, -cols
    found = {
        "rope_2d.axes_swapped": [two(cols, rows)],
        "rope_2d.rows_cols_one_axis": [two(rows, rows), two(cols, cols)],
        "rope_2d.theta_over_full_dim": [two(rows, cols, base**0.5), full_dim_split],
        "rope_2d.half_split": [half_split],
        "rope_2d.repeat_not_interleave": [
            lambda: by_angles(ref.angles(rows, h, base), ref.angles(cols, h, base), tiled=True)],
        "rope_2d.sin_cos_swapped": [
            lambda: by_angles(ref.angles(rows, h, base), ref.angles(cols, h, base),
                              swapped=True)],
        "rope_2d.rotation_reversed": [two(negative_rows, negative_cols)],
        "rope_2d.grid_assumed": [two(*g) for g in grid_guesses(rows, cols)],
    }
    if base != DEFAULT_BASE:
        found["rope_2d.base_ignored"] = [two(rows, cols, DEFAULT_BASE)]
    return found


def diagnosis(ref, x, rows, cols, base, got) -> list[str]:
    """Known mistakes that explain the learner's output, on patches with ids below 512
    (none inside api.heat_only: ten float64 references a case, whose codes nothing reads,
    took a wrong answer's warm grade from 77 to 144 ms)."""
    if not naming():
        return []
    got = got.to(x.device)
    keep = (rows.abs() < DIAG_POSITIONS) & (cols.abs() < DIAG_POSITIONS)
    if not keep.any():
        return []
    tol = rope_2d_tol(x[..., keep, :], rows[keep], cols[keep])
    h = x.shape[-1] // 2
    codes = []
    for code, makers in variants(ref, x, rows, cols, base).items():
        for make in makers:
            if isinstance(make, Halves):
                # every element within the bound, a half at a time: the same verdict
                found = all(is_close(got[..., keep, part], turn()[..., keep, :], atol=tol)
                            for part, turn in ((slice(None, h), make.first),
                                               (slice(h, None), make.second)))
            else:
                value = make()
                found = value is not None and is_close(got[..., keep, :], value[..., keep, :],
                                                       atol=tol)
            if found:
                codes.append(code)
                break
    return codes


def where_note(index: list[int], rows, cols, D: int) -> str:
    """Where the worst element sits: the patch's (row, col) and the channel's half."""
    n, c = index[-2], index[-1]
    half = "row" if c < D // 2 else "column"
    return (f" (patch {n} is at row {int(rows[n])}, col {int(cols[n])}; "
            f"channel {c} is in the {half} half)")


def rotated(ctx, x, out, what: str = WHAT) -> torch.Tensor:
    """The learner's output as a tensor of x's shape on x's device (dtype checked apart)."""
    return expect_tensor(out, what, shape=tuple(x["x"].shape), device=ctx.device)


def dtype_changed(x, out) -> str | None:
    if isinstance(out, TensorOut) and out.dtype != x["x"].dtype:
        return f"{WHAT} returns {out.dtype} for {x['x'].dtype} x; it must keep x's dtype"
    return None


def assert_rope_2d(ctx, x, case, got, what: str = WHAT) -> None:
    """Compare with the reference; on failure name the mistake and where it shows."""
    inp, rows, cols = x["x"], x["rows"], x["cols"]
    base = case.get("base", DEFAULT_BASE)
    want = ctx.ref.rotate_2d(inp, rows, cols, base)
    try:
        assert_close(got, want, atol=rope_2d_tol(inp, rows, cols), what=what,
                     axes=("patch token", "channel"))
    except Fail as failure:
        found = mismatch(got, want, atol=rope_2d_tol(inp, rows, cols))
        if found is not None:
            failure.message += where_note(found[1], rows.cpu(), cols.cpu(), inp.shape[-1])
        failure.diagnosis = diagnosis(ctx.ref, inp, rows, cols, base, got) or ["output.mismatch"]
        raise


def judge_values(ctx, x, case, out):
    got = rotated(ctx, x, out)
    changed = dtype_changed(x, out)
    try:
        assert_rope_2d(ctx, x, case, got)
    except Fail as failure:
        if changed:
            failure.message = changed + "; " + failure.message
            failure.diagnosis = ["output.wrong_dtype", *failure.diagnosis]
        raise
    if changed:
        raise Fail(changed, ["output.wrong_dtype"])


def value_codes(ctx, x, case, got) -> list[str]:
    """For the property checks: what a wrong output is (a known mistake, or a mismatch)."""
    base = case.get("base", DEFAULT_BASE)
    return diagnosis(ctx.ref, x["x"], x["rows"], x["cols"], base, got) or ["output.mismatch"]


# --------------------------------------------------------------------------
# Core: values


GRID_CASES = [
    dict(B=1, heads=1, grid="1x1", D=4),
    dict(B=1, heads=1, grid="2x3", D=4),
    dict(B=2, heads=3, grid="3x5", D=8, base=100.0),
    dict(B=2, heads=2, grid="4x4", D=16),
    dict(B=1, heads=4, grid="7x9", D=64, base=1000.0, std=3.0),
    dict(B=3, heads=2, grid="14x14", D=64),  # ViT-B/16 at 224 px
    dict(B=1, heads=2, grid="16x24", D=32, base=500.0),
]

ARBITRARY_CASES = [
    dict(B=1, heads=2, grid="3x4", order="shuffled", D=8),
    dict(B=2, heads=1, patches=12, max_id=9, D=4),
    dict(B=1, heads=3, grid="5x5", offset=(7, 12), D=16, base=100.0),
    dict(B=2, heads=2, patches=40, max_id=60, D=32, base=3000.0),
    dict(B=1, heads=2, grid="8x12", order="shuffled", D=64),
]


@GRADER.check("rope_2d.grid", "A regular H x W grid: row half by row, column half by column",
              cases=GRID_CASES, inputs=patch_inputs, needs=("apply_rope_2d",))
def run_grid(env, x, case):
    return run_once(env, x, case)


run_grid.judge(judge_values)


@run_grid.crashes
def square_only(outcomes):
    """A file that rebuilds its grid from sqrt(n_patches) crashes on every
    grid that is not square and runs on the square ones."""
    def square(case):
        rows, cols = case["grid"].split("x")
        return rows == cols
    crashed = [square(case) for case, failed in outcomes if failed]
    ran = [square(case) for case, failed in outcomes if not failed]
    if crashed and not any(crashed) and ran and all(ran):
        return (["rope_2d.grid_assumed"], "every square grid runs and every other one "
                "crashes: the grid is rebuilt from sqrt(n_patches) instead of taken from "
                "rows and cols")
    return None


@GRADER.check("rope_2d.arbitrary_ids", "Shuffled, cropped and random row/col ids are used as given",
              cases=ARBITRARY_CASES, inputs=patch_inputs, needs=("apply_rope_2d",))
def run_arbitrary(env, x, case):
    return run_once(env, x, case)


run_arbitrary.judge(judge_values)


# --------------------------------------------------------------------------
# Extra: properties


@GRADER.check("rope_2d.identity_on_axes",
              "Patch (0, 0) is unchanged; row 0 keeps the row half, column 0 the column half",
              level="extra", inputs=patch_inputs, needs=("apply_rope_2d",),
              cases=[dict(B=2, heads=2, grid="4x5", D=16),
                     dict(B=1, heads=2, patches=30, max_id=4, D=32, base=100.0)])
def run_identity(env, x, case):
    return run_once(env, x, case)


@run_identity.judge
def judge_identity(ctx, x, case, out):
    got = rotated(ctx, x, out).to(x["x"].device)
    inp, rows, cols = x["x"], x["rows"], x["cols"]
    h = inp.shape[-1] // 2
    tol = rope_2d_tol(inp, rows, cols)
    for mask, channels, what in (
        ((rows == 0) & (cols == 0), slice(None), "the patch at (0, 0), where both angles are 0"),
        (rows == 0, slice(0, h), f"the row half (channels 0..{h - 1}) of patches in row 0, "
                                 "where its angles are 0"),
        (cols == 0, slice(h, None), f"the column half (channels {h}..{2 * h - 1}) of patches in "
                                    "column 0, where its angles are 0"),
    ):
        if mask.any() and not is_close(got[..., mask, channels], inp[..., mask, channels],
                                       atol=tol):
            raise Fail(f"{WHAT} changes {what}", value_codes(ctx, x, case, got))


@GRADER.check("rope_2d.preserves_norm", "Each half of every vector keeps its length",
              level="extra", inputs=patch_inputs, needs=("apply_rope_2d",),
              cases=[dict(B=2, heads=2, grid="6x7", D=32),
                     dict(B=1, heads=3, patches=50, max_id=300, D=64)])
def run_norm(env, x, case):
    return run_once(env, x, case)


@run_norm.judge
def judge_norm(ctx, x, case, out):
    got = rotated(ctx, x, out).double().to(x["x"].device)
    inp = x["x"].double()
    h = inp.shape[-1] // 2
    tol = rope_2d_tol(x["x"], x["rows"], x["cols"]) * h**0.5
    for name, part in (("row half", slice(0, h)), ("column half", slice(h, None))):
        change = (got[..., part].norm(dim=-1) - inp[..., part].norm(dim=-1)).abs()
        if change.max() > tol:
            b, hd, n = argmax_index(change)
            raise Fail(f"{WHAT} changes the length of the {name} of x[{b}, {hd}, {n}] by "
                       f"{float(change.max()):.3g}: each half is rotated, which keeps lengths",
                       value_codes(ctx, x, case, got))


def relative_inputs(case, rand):
    x = patch_inputs(case, rand)
    a, b = case["shift"]
    return {"q": x["x"], "k": rand.normal(*x["x"].shape), "rows": x["rows"], "cols": x["cols"],
            "rows_shifted": x["rows"] + a, "cols_shifted": x["cols"] + b}


@GRADER.check("rope_2d.relative_property",
              "Shifting every row id and every column id leaves q kᵀ unchanged",
              level="extra", inputs=relative_inputs, needs=("apply_rope_2d",),
              cases=[dict(B=2, heads=2, grid="5x6", shift=(3, 11), D=16),
                     dict(B=1, heads=2, patches=30, max_id=40, shift=(100, 7), D=32, base=100.0)])
def run_relative(env, x, case):
    return tuple(call(env, case, x[t], x[r], x[c])
                 for r, c in (("rows", "cols"), ("rows_shifted", "cols_shifted")) for t in "qk")


@run_relative.judge
def judge_relative(ctx, x, case, out):
    outs = expect_tuple(out, 4, "the four calls")
    ids = [("rows", "cols"), ("rows", "cols"), ("rows_shifted", "cols_shifted"),
           ("rows_shifted", "cols_shifted")]
    got = []
    for item, t, (r, c) in zip(outs, "qkqk", ids):
        want_x = {"x": x[t], "rows": x[r], "cols": x[c]}
        got.append(rotated(ctx, want_x, item).double().to(x["q"].device))
    # code that never reads the ids returns the same for both: its scores are unchanged
    # by the shift only because nothing moved
    tol_x = rope_2d_tol(x["q"], x["rows_shifted"], x["cols_shifted"])
    if all(float((got[i + 2] - got[i]).abs().max()) <= tol_x for i in (0, 1)):
        a, s = case["shift"]
        raise Fail(f"apply_rope_2d gave the same q and k with {a} added to every row id and "
                   f"{s} to every column id: it does not read the ids, so no shift can change "
                   "a score",
                   value_codes(ctx, {"x": x["q"], "rows": x["rows"], "cols": x["cols"]}, case,
                               got[0]))
    scores = got[0] @ got[1].transpose(-2, -1)
    shifted = got[2] @ got[3].transpose(-2, -1)
    drift = (scores - shifted).abs()
    norms = max(float(x[t].double().norm(dim=-1).max()) for t in "qk")
    tol = 4 * rope_2d_tol(x["q"], x["rows_shifted"], x["cols_shifted"]) * case["D"] ** 0.5 * norms
    if drift.max() > tol:
        b, h, m, n = argmax_index(drift)
        a, s = case["shift"]
        rows, cols = x["rows"], x["cols"]
        codes = value_codes(ctx, {"x": x["q"], "rows": rows, "cols": cols}, case, got[0])
        raise Fail(f"adding {a} to every row id and {s} to every column id changes the score "
                   f"<q_m, k_n> by {float(drift.max()):.3g} at b={b} h={h} m={m} n={n} "
                   f"(q at ({int(rows[m])}, {int(cols[m])}), k at ({int(rows[n])}, "
                   f"{int(cols[n])})): it must depend only on the differences of the ids",
                   codes)


@GRADER.check("rope_2d.large_ids", "Large ids: a 64x64 grid, and 256 patches with ids up to 2047 (float32 angles)",
              level="extra", inputs=patch_inputs, needs=("apply_rope_2d",),
              cases=[dict(B=1, heads=2, grid="64x64", D=32),
                     dict(B=1, heads=2, patches=256, max_id=2047, D=64, base=500.0)])
def run_large(env, x, case):
    return run_once(env, x, case)


run_large.judge(judge_values)


@GRADER.check("rope_2d.low_precision", "bfloat16/float16 x: same dtype out, right values",
              level="extra", inputs=patch_inputs, needs=("apply_rope_2d",),
              cases=[dict(B=1, heads=1, grid="3x4", D=8, dtype="bfloat16"),
                     dict(B=2, heads=2, patches=40, max_id=300, D=32, dtype="float16"),
                     dict(B=1, heads=2, patches=64, max_id=400, D=64, base=100.0,
                          dtype="bfloat16")])
def run_low(env, x, case):
    out = run_once(env, x, case)
    # The same values in float32, as evidence: right there and wrong here means the
    # half precision is what goes wrong.
    try:
        as_fp32 = call(env, case, x["x"].float(), x["rows"], x["cols"])
    except Exception as exc:  # only evidence for a diagnosis; the case is graded on `out`
        as_fp32 = ExceptionOut(type(exc).__name__, str(exc)[:200])
    return {"out": out, "fp32": as_fp32}


@run_low.judge
def judge_low(ctx, x, case, out):
    try:
        judge_values(ctx, x, case, out["out"])
    except Fail as failure:
        if failure.diagnosis[-1:] == ["output.mismatch"] and fp32_right(ctx, x, case, out["fp32"]):
            failure.diagnosis[-1] = "rope_2d.low_precision_angles"
            name = str(x["x"].dtype).replace("torch.", "")
            failure.message += (f"; your result for the same x in float32 is right, so the {name} "
                                "arithmetic (the angles, or cos/sin) is what goes wrong")
        raise


def fp32_right(ctx, x, case, out) -> bool:
    if not isinstance(out, TensorOut) or out.shape != tuple(x["x"].shape):
        return False
    inp = x["x"].float()
    want = ctx.ref.rotate_2d(inp, x["rows"], x["cols"], case.get("base", DEFAULT_BASE))
    return is_close(out.data, want, atol=rope_2d_tol(inp, x["rows"], x["cols"]))
