"""Grader for `rope_convert`: both directions of the row permutation between
Meta's interleaved RoPE layout and HF's half-split one, exactly (rows are
moved, never computed), on q-shaped weights, on GQA k weights with fewer
heads, as a round trip, and through a tiny attention layer whose scores must
not change (core); then the result's own storage and other dtypes (extra).

Mistakes are named by their signature: the learner's output is compared with
what each known mistake outputs for the same weight (w itself, the other
direction, one permutation over all heads, the columns permuted, the odd rows
first, q's head count on a k weight), then with two of them made at once.
Permuting v (or o) cannot be expressed through this API (the learner converts
the weight it is given), so it has no code; the learn page and a follow-up
say why it must not be done.
"""

import torch

from drillpe.grading import (
    ExceptionOut,
    Fail,
    Grader,
    TensorOut,
    assert_close,
    attempt,
    diagnose,
    diagnose_pairs,
    exception_failure,
    expect_tensor,
    heatmap,
    mismatch,
    naming,
)

GRADER = Grader("rope_convert")

TO_HALF, TO_INTERLEAVED = "interleaved_to_half_split", "half_split_to_interleaved"
DTYPES = {"float32": torch.float32, "float64": torch.float64,
          "bfloat16": torch.bfloat16, "float16": torch.float16}
SCORE_RTOL = 1e-9  # float64 scores of the same numbers, summed in another order

# Each known mistake as the switch of the oracle's `mistaken` it sets; two compose
# when they set different switches. gqa_heads is added where the weight is a GQA k.
SWITCHES = {
    "rope_convert.inverse_swapped": {"flip": True},
    "rope_convert.not_per_head": {"whole": True},
    "rope_convert.wrong_axis": {"columns": True},
    "rope_convert.halves_swapped": {"halves_swapped": True},
}
EXCLUSIVE = {frozenset({"whole", "heads"}), frozenset({"columns", "heads"})}


def call_text(fn: str, n_heads: int, head_dim: int, name: str = "w") -> str:
    return f"{fn}({name}, n_heads={n_heads}, head_dim={head_dim})"


# --------------------------------------------------------------------------
# What each mistake outputs


def switches(gqa_heads: int | None) -> dict:
    found = dict(SWITCHES)
    if gqa_heads is not None:
        found["rope_convert.gqa_heads"] = {"heads": gqa_heads}
    return found


def variants(ref, w, n_heads, head_dim, to_half: bool, gqa_heads: int | None = None) -> dict:
    """{code: thunk} of what one known mistake outputs for this call."""

    def made(**kw):
        return lambda: ref.mistaken(w, n_heads, head_dim, to_half_split=to_half, **kw)

    found = {"rope_convert.identity": w}
    for code, kw in switches(gqa_heads).items():
        found[code] = made(**kw)
    if gqa_heads is not None:  # the head count's two shapes: rows cut to fit, or columns
        found["rope_convert.gqa_heads"] = lambda: fitting(
            made(heads=gqa_heads), made(flat_heads=gqa_heads))
    # The other way to permute the wrong axis: convert w.T and never transpose back.
    found["rope_convert.wrong_axis"] = lambda: fitting(
        made(columns=True), lambda: ref.mistaken(w.T, n_heads, head_dim, to_half_split=to_half))
    return found


def fitting(*thunks) -> list:
    """The values of the thunks that fit w's shape (a mistake may not apply to it)."""
    found = []
    for thunk in thunks:
        try:
            found.append(thunk())
        except ValueError:
            continue
    return found


def mistake_pairs(ref, w, n_heads, head_dim, to_half: bool,
                  gqa_heads: int | None = None) -> dict:
    """{(code, code): thunk} of two known mistakes made at once."""
    items = list(switches(gqa_heads).items())
    found = {}
    for n, (a, ka) in enumerate(items):
        for b, kb in items[n + 1:]:
            if frozenset({*ka, *kb}) in EXCLUSIVE:
                continue
            found[(a, b)] = (lambda kw: lambda: ref.mistaken(
                w, n_heads, head_dim, to_half_split=to_half, **kw))({**ka, **kb})
    return found


def known_mistakes(ref, w, got, n_heads, head_dim, to_half, gqa_heads=None) -> list[str]:
    """The codes of the known mistakes (one, else two at once) whose output is got (none
    inside api.heat_only, where nothing reads them)."""
    if not naming() or tuple(got.shape) != tuple(w.shape):
        return []
    codes = diagnose(got, variants(ref, w, n_heads, head_dim, to_half, gqa_heads), atol=0.0)
    if not codes:
        codes = diagnose_pairs(got, mistake_pairs(ref, w, n_heads, head_dim, to_half,
                                                  gqa_heads), atol=0.0)
    return codes


# --------------------------------------------------------------------------
# Judging one converted weight


def expect_weight(ctx, out, w: torch.Tensor, what: str) -> torch.Tensor:
    """The learner's converted weight, or Fail (raised, wrong type, shape, dtype, device)."""
    if isinstance(out, ExceptionOut):
        raise exception_failure(out)
    return expect_tensor(out, what, shape=tuple(w.shape), dtype=w.dtype, device=ctx.device)


def row_note(ref, got, w, n_heads, head_dim, to_half) -> str:
    """Which of w's rows the first wrong row of got is, and which it should be."""
    idx = ref.index(n_heads, head_dim, to_half_split=to_half).to(w.device)
    want = w.index_select(0, idx)
    wrong = (got.to(w.device).double() != want.double()).any(dim=1).nonzero()
    if not len(wrong):
        return ""
    r = int(wrong[0])
    head, at = divmod(int(idx[r]), head_dim)
    note = f"; row {r} should be w's row {int(idx[r])} (head {head}, channel {at})"
    same = (w.double() == got.to(w.device).double()[r]).all(dim=1).nonzero()
    if len(same):
        return note + f", yours is w's row {int(same[0])}"
    return note + ", yours is none of w's rows"


def assert_converted(ctx, w, got, n_heads, head_dim, to_half: bool, what: str,
                     gqa_heads: int | None = None) -> None:
    """Fail, naming the mistake, unless got is w's rows permuted head by head."""
    convert = ctx.ref.to_half if to_half else ctx.ref.to_interleaved
    want = convert(w, n_heads, head_dim)
    try:
        assert_close(got, want, atol=0.0, what=what, axes=("row", "column"))
    except Fail as failure:
        failure.diagnosis = (known_mistakes(ctx.ref, w, got, n_heads, head_dim, to_half,
                                            gqa_heads) or ["output.mismatch"])
        failure.message += row_note(ctx.ref, got, w, n_heads, head_dim, to_half)
        raise


# --------------------------------------------------------------------------
# Both directions on q-shaped weights (n_heads * head_dim = d_model), and one that is not


CASES = [
    dict(n_heads=1, head_dim=4, d_model=4),
    dict(n_heads=2, head_dim=8, d_model=16),
    dict(n_heads=4, head_dim=16, d_model=64),
    dict(n_heads=3, head_dim=32, d_model=96),
    dict(n_heads=8, head_dim=64, d_model=512),
    # rows != columns: n_heads * head_dim need not be d_model (a k weight under GQA, a
    # model whose heads do not tile its width), so the head count cannot come from it
    dict(n_heads=2, head_dim=16, d_model=64),
]


def weight_inputs(case, rand):
    rows = case["n_heads"] * case["head_dim"]
    return {"w": rand.normal(rows, case["d_model"], dtype=DTYPES[case.get("dtype", "float32")])}


def two_weights(case, rand):
    """w and a copy of it, one per direction: a learner changing w in place in one call
    must not hide it by undoing it in the other."""
    w = weight_inputs(case, rand)["w"]
    return {"w": w, "w_back": w.clone()}


def make_direction(fn: str, to_half: bool):
    def run(env, x, case):
        return getattr(env.mod, fn)(x["w"], case["n_heads"], case["head_dim"])

    def judge(ctx, x, case, out):
        w, n, hd = x["w"], case["n_heads"], case["head_dim"]
        what = call_text(fn, n, hd)
        # the head count taken from the columns is a mistake wherever rows and columns
        # differ (a projection to fewer or more dimensions than d_model)
        guessed = w.shape[1] // hd if w.shape[1] // hd not in (0, n) else None
        assert_converted(ctx, w, expect_weight(ctx, out, w, what), n, hd, to_half, what,
                         guessed)

    return run, judge


_run, _judge = make_direction(TO_HALF, True)
GRADER.check("rope_convert.to_half_split",
             "interleaved_to_half_split: per head, row 2i to row i, row 2i+1 to i + head_dim/2",
             cases=CASES, inputs=weight_inputs, needs=(TO_HALF,))(_run).judge(_judge)

_run, _judge = make_direction(TO_INTERLEAVED, False)
GRADER.check("rope_convert.to_interleaved",
             "half_split_to_interleaved: per head, row i to row 2i, row i + head_dim/2 to 2i+1",
             cases=CASES, inputs=weight_inputs, needs=(TO_INTERLEAVED,))(_run).judge(_judge)


# --------------------------------------------------------------------------
# Grouped-query attention: k has fewer heads than q


# q's head count cuts a k weight into blocks of n_kv_heads * head_dim / n_heads rows: at
# least 4 here, so that mistake is not also the identity (blocks of 2 rows stay put).
GQA_CASES = [
    dict(n_heads=4, n_kv_heads=2, head_dim=8),
    dict(n_heads=8, n_kv_heads=2, head_dim=16),
    dict(n_heads=8, n_kv_heads=1, head_dim=32),
    dict(n_heads=16, n_kv_heads=4, head_dim=64),
]


def gqa_inputs(case, rand):
    d_model = case["n_heads"] * case["head_dim"]
    return {"wq": rand.normal(d_model, d_model),
            "wk": rand.normal(case["n_kv_heads"] * case["head_dim"], d_model)}


def gqa_inputs_both(case, rand):
    x = gqa_inputs(case, rand)
    return {**x, "wk_back": x["wk"].clone()}


@GRADER.check("rope_convert.gqa",
              "GQA: a k weight with n_kv_heads < n_heads converts with its own head count",
              cases=GQA_CASES, inputs=gqa_inputs_both, needs=(TO_HALF, TO_INTERLEAVED),
              handles_exceptions=True)
def run_gqa(env, x, case):
    nq, nkv, hd = case["n_heads"], case["n_kv_heads"], case["head_dim"]
    return {  # q's weight too: evidence when only k's conversion fails
        "q": attempt(env, lambda: getattr(env.mod, TO_HALF)(x["wq"], nq, hd)),
        TO_HALF: attempt(env, lambda: getattr(env.mod, TO_HALF)(x["wk"], nkv, hd)),
        TO_INTERLEAVED: attempt(env, lambda: getattr(env.mod, TO_INTERLEAVED)(x["wk_back"], nkv,
                                                                              hd)),
    }


@run_gqa.judge
def judge_gqa(ctx, x, case, out):
    if isinstance(out, ExceptionOut):
        raise exception_failure(out)
    if not isinstance(out, dict):
        raise Fail("could not call the two functions", ["api.wrong_return_type"])
    nq, nkv, hd = case["n_heads"], case["n_kv_heads"], case["head_dim"]
    wq, wk = x["wq"], x["wk"]
    q = out.get("q")
    q_right = (isinstance(q, TensorOut) and q.shape == tuple(wq.shape)
               and mismatch(q.data, ctx.ref.to_half(wq, nq, hd), atol=0.0) is None)
    for fn, to_half in ((TO_HALF, True), (TO_INTERLEAVED, False)):
        what = call_text(fn, nkv, hd, "wk")
        got = out.get(fn)
        if isinstance(got, ExceptionOut) and not got.not_implemented and q_right:
            failure = exception_failure(got)
            failure.message += (f" on k's weight ({nkv} heads of {hd} rows), though q's "
                                f"({nq} heads) converts: the head count must come from the "
                                "n_heads argument, not from q or d_model")
            failure.diagnosis.append("rope_convert.gqa_heads")
            raise failure
        assert_converted(ctx, wk, expect_weight(ctx, got, wk, what), nkv, hd, to_half, what,
                         gqa_heads=nq)


# --------------------------------------------------------------------------
# The round trip


ROUND_CASES = [
    dict(n_heads=2, head_dim=8, d_model=16),
    dict(n_heads=4, head_dim=16, d_model=64),
    dict(n_heads=2, head_dim=32, d_model=256),  # a GQA k weight: fewer rows than d_model
]


def round_trip_mistakes(ref, w, n, hd) -> tuple[dict, dict]:
    """({code: thunk}, {(code, code): thunk}) for the two round trips: w through one
    direction then the other, each done right or with one known mistake."""
    ways = [((), {})] + [((code,), kw) for code, kw in SWITCHES.items()]
    ways.append((("rope_convert.identity",), None))

    def apply(t, kw, to_half):
        return t if kw is None else ref.mistaken(t, n, hd, to_half_split=to_half, **kw)

    singles: dict = {}
    pairs: dict = {}
    for first, kf in ways:
        for second, ks in ways:
            codes = tuple(dict.fromkeys(first + second))
            if not codes:
                continue
            both = lambda kf=kf, ks=ks: [apply(apply(w, kf, True), ks, False),  # noqa: E731
                                         apply(apply(w, kf, False), ks, True)]
            if len(codes) == 1:
                singles.setdefault(codes[0], []).append(both)
            else:
                pairs.setdefault(codes, []).append(both)

    def flatten(thunks):
        def values():
            found = []
            for thunk in thunks:
                try:
                    found += thunk()
                except ValueError:  # a mistake that cannot happen for this shape
                    continue
            return found
        return values

    return ({c: flatten(t) for c, t in singles.items()},
            {c: flatten(t) for c, t in pairs.items()})


@GRADER.check("rope_convert.round_trip",
              "Each function undoes the other: both round trips give w back",
              cases=ROUND_CASES, inputs=two_weights, needs=(TO_HALF, TO_INTERLEAVED))
def run_round_trip(env, x, case):
    n, hd, w = case["n_heads"], case["head_dim"], x["w"]
    there, back = getattr(env.mod, TO_HALF), getattr(env.mod, TO_INTERLEAVED)
    # The middle result is copied, so that a learner changing w in place cannot
    # undo it with the second call: the framework sees w changed.
    return {"half_then_back": back(copied(there(w, n, hd)), n, hd),
            "interleaved_then_back": there(copied(back(x["w_back"], n, hd)), n, hd)}


def copied(t):
    return t.clone() if isinstance(t, torch.Tensor) else t


@run_round_trip.judge
def judge_round_trip(ctx, x, case, out):
    if not isinstance(out, dict):
        raise Fail("could not call the two functions", ["api.wrong_return_type"])
    n, hd, w = case["n_heads"], case["head_dim"], x["w"]
    singles, pairs = round_trip_mistakes(ctx.ref, w, n, hd)
    for key, what in (("half_then_back", f"{TO_INTERLEAVED}({TO_HALF}(w, ...), ...)"),
                      ("interleaved_then_back", f"{TO_HALF}({TO_INTERLEAVED}(w, ...), ...)")):
        got = expect_weight(ctx, out.get(key), w, what)
        try:
            assert_close(got, w, atol=0.0, what=f"{what} is not w", variants=singles,
                         pairs=pairs, axes=("row", "column"))
        except Fail as failure:
            if "rope_convert.identity" in failure.diagnosis and len(failure.diagnosis) > 1:
                failure.diagnosis.remove("rope_convert.identity")  # the other one explains it
            raise


# --------------------------------------------------------------------------
# A tiny attention layer scores the same


SCORE_CASES = [
    dict(B=1, L=8, n_heads=2, n_kv_heads=2, head_dim=8),
    dict(B=2, L=16, n_heads=8, n_kv_heads=2, head_dim=16),
    dict(B=1, L=24, n_heads=4, n_kv_heads=1, head_dim=32, offset=100),
    dict(B=1, L=16, n_heads=4, n_kv_heads=2, head_dim=64, offset=3000),
]


def score_inputs(case, rand):
    d_model = case["n_heads"] * case["head_dim"]
    std = d_model ** -0.5  # logits of order one
    return {"x": rand.normal(case["B"], case["L"], d_model),
            "wq": rand.normal(d_model, d_model, std=std),
            "wk": rand.normal(case["n_kv_heads"] * case["head_dim"], d_model, std=std),
            "positions": torch.arange(case["L"]) + case.get("offset", 0)}


@GRADER.check("rope_convert.attention_scores",
              "Converted q/k weights with half-split RoPE score like the originals with "
              "interleaved RoPE", cases=SCORE_CASES, inputs=score_inputs, needs=(TO_HALF,))
def run_scores(env, x, case):
    fn, hd = getattr(env.mod, TO_HALF), case["head_dim"]
    return {"wq": fn(x["wq"], case["n_heads"], hd), "wk": fn(x["wk"], case["n_kv_heads"], hd)}


@run_scores.judge
def judge_scores(ctx, x, case, out):
    if not isinstance(out, dict):
        raise Fail(f"could not call {TO_HALF} on q's and k's weights", ["api.wrong_return_type"])
    nq, nkv, hd = case["n_heads"], case["n_kv_heads"], case["head_dim"]
    heads = {"wq": nq, "wk": nkv}
    got = {name: expect_weight(ctx, out.get(name), x[name],
                               call_text(TO_HALF, heads[name], hd, name))
           for name in ("wq", "wk")}
    pos = x["positions"]
    want = ctx.ref.scores(x["x"], x["wq"], x["wk"], nq, nkv, hd, pos, half_split=False)
    yours = ctx.ref.scores(x["x"], got["wq"].to(want.device), got["wk"].to(want.device), nq,
                           nkv, hd, pos, half_split=True)
    tol = SCORE_RTOL * max(1.0, float(want.abs().max()))
    found = mismatch(yours, want, atol=tol)
    if found is None:
        return
    delta, (b, h, i, j), mine, theirs = found
    codes: list[str] = []
    for name, n in heads.items():
        if mismatch(got[name], ctx.ref.to_half(x[name], n, hd), atol=0.0) is not None:
            codes += known_mistakes(ctx.ref, x[name], got[name], n, hd, True,
                                    gqa_heads=nq if name == "wk" and nkv < nq else None)
    raise Fail(f"the score of query {i} with key {j} (head {h}, batch {b}, positions "
               f"{int(pos[i])} and {int(pos[j])}) is {mine:.6g} with your weights and half-split "
               f"RoPE, {theirs:.6g} with the originals and interleaved RoPE (max |Δ| "
               f"{delta:.3g}; tolerance {tol:.2g})",
               list(dict.fromkeys(codes)) or ["output.mismatch"],
               heatmap=heatmap(yours, want, axes=("query", "key")))


# --------------------------------------------------------------------------
# A new tensor, not a view of w


NEW_CASES = [
    dict(n_heads=1, head_dim=4, d_model=4),
    dict(n_heads=2, head_dim=2, d_model=4),  # the identity permutation: reshape returns a view
]


@GRADER.check("rope_convert.new_tensor",
              "The result is a new tensor: it does not share w's storage", level="extra",
              cases=NEW_CASES, inputs=two_weights, needs=(TO_HALF, TO_INTERLEAVED))
def run_new(env, x, case):
    n, hd = case["n_heads"], case["head_dim"]
    found = {}
    for fn, w in ((TO_HALF, x["w"]), (TO_INTERLEAVED, x["w_back"])):
        out = getattr(env.mod, fn)(w, n, hd)
        found[fn] = out
        # Decided here, where the two tensors are: the judge only sees copies.
        found[f"{fn} shares"] = (isinstance(out, torch.Tensor) and out.device == w.device
                                 and out.untyped_storage().data_ptr()
                                 == w.untyped_storage().data_ptr())
    return found


@run_new.judge
def judge_new(ctx, x, case, out):
    if not isinstance(out, dict):
        raise Fail("could not call the two functions", ["api.wrong_return_type"])
    w, n, hd = x["w"], case["n_heads"], case["head_dim"]
    for fn, to_half in ((TO_HALF, True), (TO_INTERLEAVED, False)):
        what = call_text(fn, n, hd)
        assert_converted(ctx, w, expect_weight(ctx, out.get(fn), w, what), n, hd, to_half, what)
        if out.get(f"{fn} shares") is True:
            raise Fail(f"{what} returns a view of w (they share storage): writing to the "
                       "converted weight would change the original checkpoint",
                       ["rope_convert.aliases_input"])


# --------------------------------------------------------------------------
# Other dtypes: the same rows, bit for bit, in w's dtype


LOW_CASES = [
    dict(n_heads=2, head_dim=8, d_model=16, dtype="bfloat16"),
    dict(n_heads=4, head_dim=16, d_model=64, dtype="float16"),
    dict(n_heads=2, head_dim=32, d_model=64, dtype="float64"),
]


@GRADER.check("rope_convert.dtypes",
              "bfloat16/float16/float64 weights: the same dtype out, every row moved bit for bit",
              level="extra", cases=LOW_CASES, inputs=two_weights,
              needs=(TO_HALF, TO_INTERLEAVED))
def run_dtypes(env, x, case):
    n, hd = case["n_heads"], case["head_dim"]
    return {TO_HALF: getattr(env.mod, TO_HALF)(x["w"], n, hd),
            TO_INTERLEAVED: getattr(env.mod, TO_INTERLEAVED)(x["w_back"], n, hd)}


@run_dtypes.judge
def judge_dtypes(ctx, x, case, out):
    if not isinstance(out, dict):
        raise Fail("could not call the two functions", ["api.wrong_return_type"])
    w, n, hd = x["w"], case["n_heads"], case["head_dim"]
    for fn, to_half in ((TO_HALF, True), (TO_INTERLEAVED, False)):
        what = call_text(fn, n, hd)
        got = out.get(fn)
        if isinstance(got, TensorOut) and got.dtype != w.dtype:
            raise Fail(f"{what} returns {got.dtype} for a {w.dtype} w; a conversion must keep "
                       "the checkpoint's dtype (move rows, do not compute them)",
                       ["output.wrong_dtype"])
        assert_converted(ctx, w, expect_weight(ctx, got, w, what), n, hd, to_half, what)
