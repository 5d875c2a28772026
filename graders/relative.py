"""Grader for `relative`: RelativePosition's lookup table (shape, values,
end-aligned cross lengths, clipping) and Shaw et al. multi-head attention
(shape, values, mask, cross lengths, repeatability), all with weights the
grader writes by state_dict name.

The first case of each attention check also runs the learner's module on
other batch sizes (the "probe"), so an output that is right for one baked-in
batch size only is named as such instead of as a crash or a mismatch; a
batch of 1 baked in shows as attention over the batch laid end to end.
Learner exceptions are caught in `run` (to keep the probe), and an
out-of-range table index once a distance exceeds K is reported as missing
clipping.
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
    exception_failure,
    expect_tensor,
    is_close,
)

GRADER = Grader("relative")

ATOL = RTOL = 1e-5
# fp32 round-off is ~1e-6 here; every modelled mistake moves the output by O(0.01) or more.
VARIANT_ATOL = 1e-4
PROBE_BATCHES = (1, 2, 3, 4, 5, 6, 7, 8, 16, 32)
INDEX_SIGNS = ("out of bounds", "out of range", "device-side assert")

POSITION = ("RelativePosition",)
ATTENTION = ("RelativeMultiHeadAttention",)


def probed(case) -> bool:
    """Only the first (smallest) case of each attention check runs the batch
    probe: a baked-in batch size b > 1 already fails there, since it has B=1
    (or B=2 where b=2 would pass)."""
    return any(case == first for first in PROBED)


def lengths(case) -> tuple[int, int]:
    return case.get("Lq", case.get("L")), case.get("Lk", case.get("L"))


# --------------------------------------------------------------------------
# Inputs (weights are drawn here too, so both processes hold the same ones)


def table_inputs(case, rand):
    return {"table": rand.normal(2 * case["K"] + 1, case["n"])}


def row_mask(rand, shape, length_k):
    """0/1 mask where every row keeps at least one key and drops at least one,
    so neither the mask nor its inverse ever empties a softmax row."""
    mask = rand.bernoulli(0.6, *shape)
    rows = shape[:-1]
    keep = rand.randint(0, length_k, *rows)
    drop = (keep + rand.randint(1, length_k, *rows)) % length_k
    mask.scatter_(-1, keep[..., None], 1)
    mask.scatter_(-1, drop[..., None], 0)
    return mask


def attention_inputs(case, rand):
    d, heads, k = case["d"], case["H"], case["K"]
    length_q, length_k = lengths(case)
    # The case uses the first B sequences; a probed case holds enough for every probe.
    pool = PROBE_BATCHES[-1] if probed(case) else case["B"]
    x = {
        "query": rand.normal(pool, length_q, d),
        "key": rand.normal(pool, length_k, d),
        "value": rand.normal(pool, length_k, d),
    }
    weights = {}
    for i in range(4):
        weights[f"linears.{i}.weight"] = rand.normal(d, d, std=d**-0.5)
        weights[f"linears.{i}.bias"] = rand.normal(d, std=0.1)
    for name in ("relative_position_k", "relative_position_v"):
        weights[f"{name}.embeddings_table"] = rand.normal(2 * k + 1, d // heads)
    x["weights"] = weights
    kind = case.get("mask")
    if kind == "pad":
        x["mask"] = row_mask(rand, (pool, 1, 1, length_k), length_k)
    elif kind == "rows":
        x["mask"] = row_mask(rand, (pool, 1, length_q, length_k), length_k)
    elif kind == "full":
        # A float 0/1 mask: `mask == 0`, `mask.bool()` and additive (1 - mask) * -1e9 all work.
        x["mask"] = row_mask(rand, (pool, heads, length_q, length_k), length_k).float()
    return x


# --------------------------------------------------------------------------
# Learner side


def load_weights(module, weights: dict):
    """Write the grader's weights into the learner's parameters.

    Returns None when loaded; otherwise {"params": {name: shape}} listing the
    learner's distinct parameters (an alias of an expected one is not extra).
    """
    params = dict(module.named_parameters(remove_duplicate=False))
    expected_ids = {id(params[name]) for name in weights if name in params}
    found = {name: list(p.shape) for name, p in params.items()
             if name in weights or id(p) not in expected_ids}
    if set(found) != set(weights) or any(found[n] != list(w.shape) for n, w in weights.items()):
        return {"params": found}
    with torch.no_grad():
        for name, w in weights.items():
            params[name].copy_(w)
    return None


def construct_attention(env, case):
    cls = env.mod.RelativeMultiHeadAttention
    try:
        return cls(d_model=case["d"], n_heads=case["H"], max_relative_position=case["K"],
                   dropout=0.0)
    except TypeError as exc:
        # The signature differs from the contract (api.names says so). When the
        # body of __init__ is broken as well, that crash is the one to show.
        try:
            cls(case["d"], case["H"])
        except TypeError:
            pass
        except Exception as inner:
            raise inner from exc
        raise


def prepare(env, build, weights):
    """(module, None) ready on the device in eval mode with the grader's
    weights, or (None, what went wrong)."""
    module = attempt(env, lambda: build().to(env.device).eval())
    if isinstance(module, ExceptionOut):
        return None, module
    problem = attempt(env, lambda: load_weights(module, weights))
    return (None, problem) if problem is not None else (module, None)


def batch_slice(t, b):
    return t[:b] if t.shape[0] > 1 else t


def attend(module, x, b):
    q, k, v = (x[name][:b] for name in ("query", "key", "value"))
    if "mask" in x:
        return module(q, k, v, mask=batch_slice(x["mask"], b))
    return module(q, k, v)


def run_attention(env, x, case, *, twice=False):
    module, problem = prepare(env, lambda: construct_attention(env, case), x["weights"])
    if problem is not None:
        return {"out": problem}
    b = case["B"]
    result = {"out": attempt(env, lambda: attend(module, x, b))}
    if twice:
        result["again"] = attempt(env, lambda: attend(module, x, b))
    if probed(case):
        result["probe"] = {str(p): attempt(env, lambda p=p: attend(module, x, p))
                           for p in PROBE_BATCHES if p != b}
    return result


def run_position(env, x, case):
    n, k = case["n"], case["K"]
    module, problem = prepare(
        env, lambda: env.mod.RelativePosition(num_units=n, max_relative_position=k),
        {"embeddings_table": x["table"]})
    if problem is not None:
        return {"out": problem}
    return {"out": attempt(env, lambda: module(*lengths(case)))}


# --------------------------------------------------------------------------
# Judge side: shared verdicts


def compact(names) -> str:
    """linears.0.weight, ..., linears.3.bias -> linears.{0,1,2,3}.{weight,bias}."""
    names = list(names)
    linears = [f"linears.{i}.{p}" for i in range(4) for p in ("weight", "bias")]
    tables = [f"relative_position_{s}.embeddings_table" for s in ("k", "v")]
    if names == linears + tables:
        return "linears.{0,1,2,3}.{weight,bias}, relative_position_{k,v}.embeddings_table"
    return ", ".join(names) or "(none)"


def params_failure(weights: dict, found: dict) -> Fail:
    expected = {name: list(w.shape) for name, w in weights.items()}
    missing = [n for n in expected if n not in found]
    unexpected = [n for n in found if n not in expected]
    if missing or unexpected:
        parts = [f"the grader loads its weights by the names {compact(expected)}",
                 f"your module's parameters are {compact(found)}"]
        if len(missing) < len(expected):  # partly right: say exactly what differs
            if missing:
                parts.append(f"missing: {', '.join(missing)}")
            if unexpected:
                parts.append(f"not expected: {', '.join(unexpected)}")
        return Fail("; ".join(parts), ["relative.wrong_param_names"])
    wrong = [f"{n} has shape {found[n]}, expected {expected[n]}"
             for n in expected if found[n] != expected[n]]
    return Fail("cannot load the grader's weights: " + "; ".join(wrong),
                ["relative.wrong_param_shape"])


def needs_clipping(case) -> bool:
    return max(lengths(case)) - 1 > case["K"]


def crash_failure(out: ExceptionOut, case) -> Fail:
    text = out.message.lower()
    if (needs_clipping(case) and not out.not_implemented and not out.exited
            and (out.type_name == "IndexError" or any(s in text for s in INDEX_SIGNS))):
        return Fail(f"your code raised {out.describe()} once a distance exceeds "
                    f"max_relative_position={case['K']}: clip distances to [-K, K] before "
                    "indexing the table", ["relative.not_clipped"], traceback=out.traceback)
    return exception_failure(out)


def unpack(result, case, weights: dict):
    """The main outcome of a run_* result; raises when the weights could not be loaded."""
    if isinstance(result, ExceptionOut):  # run itself failed outside the guarded calls
        raise crash_failure(result, case)
    out = result["out"]
    if isinstance(out, dict) and "params" in out:
        raise params_failure(weights, out["params"])
    return out


# --------------------------------------------------------------------------
# Judge side: attention


def reference(ctx, x, case, b, *, use_mask=True, **switches):
    mask = batch_slice(x["mask"], b) if use_mask and "mask" in x else None
    return ctx.ref.relative_attention(x["query"][:b], x["key"][:b], x["value"][:b],
                                      x["weights"], case["H"], case["K"], mask, **switches)


def attention_variants(ctx, x, case, b):
    def variant(**switches):
        return lambda: reference(ctx, x, case, b, **switches)

    found = {
        "relative.sign_flipped": variant(sign=-1),
        "relative.no_value_term": variant(value_term=False),
        "relative.no_key_term": variant(key_term=False),
        "relative.not_clipped": variant(clip=False),  # builds only where nothing overflows
        "relative.scale_content_only": variant(scale="content"),
        "relative.missing_scale": variant(scale="none"),
        "relative.head_split": lambda: [reference(ctx, x, case, b, heads=h)
                                        for h in ("split", "merge", "both")],
        "relative.value_uses_key_table": variant(value_table="k"),
    }
    length_q, length_k = lengths(case)
    if length_q != length_k:
        found["relative.start_aligned"] = variant(end_aligned=False)
    if "mask" in x:
        found["relative.mask_inverted"] = variant(invert_mask=True)
        found["relative.mask_ignored"] = variant(use_mask=False)
    return found


def judge_output(ctx, x, case, out, b):
    """Raise Fail unless `out` is the attention output for the first b sequences."""
    if isinstance(out, ExceptionOut):
        raise crash_failure(out, case)
    shape = (b, lengths(case)[0], case["d"])
    got = expect_tensor(out, "forward(query, key, value)", shape=shape, dtype=torch.float32,
                        device=ctx.device)
    assert_close(got, reference(ctx, x, case, b), atol=ATOL, rtol=RTOL, what="output",
                 variants=attention_variants(ctx, x, case, b), variant_atol=VARIANT_ATOL)


def probe_codes(ctx, x, case, b, out, *, first: bool = False):
    """What the output at batch size b is: [] right, [codes] a known mistake,
    None wrong or crashed. A (b*Lq, d_model)-shaped result counts by its values.
    ``first``: one code of a known mistake is enough (is it sensible at all?)."""
    shape = (b, lengths(case)[0], case["d"])
    if not isinstance(out, TensorOut) or not out.data.is_floating_point():
        return None
    if out.data.numel() != b * shape[1] * shape[2]:
        return None
    got = out.data.reshape(shape)
    if not torch.isfinite(got).all():
        return None
    extra = [] if out.shape == shape else ["output.wrong_shape"]
    if is_close(got, reference(ctx, x, case, b), atol=ATOL, rtol=RTOL):
        return extra
    codes = diagnose(got, attention_variants(ctx, x, case, b), atol=VARIANT_ATOL, rtol=RTOL,
                     first=first)
    return codes + extra if codes else None


def baked_batch(ctx, x, case, probe):
    """(b, codes) when exactly one batch size b > 1 gives a sensible output:
    a batch size written into the code. (Right for batch 1 only is more often
    sequences of a batch mixed together, so it is not named this way.)"""
    working = []
    for key, out in (probe or {}).items():
        if probe_codes(ctx, x, case, int(key), out, first=True) is not None:
            working.append((int(key), out))
            if len(working) > 1:  # two work: nothing is baked in (and the rest cost time)
                return None
    if len(working) == 1 and working[0][0] > 1:
        (b, out), = working
        return b, probe_codes(ctx, x, case, b, out)
    return None


def batch_as_one_sequence(ctx, x, case, out) -> bool:
    """The output equals attention over the whole batch laid end to end as one
    sequence of length B*Lq (keys B*Lk): what `.view(1, -1, ...)` computes."""
    b = case["B"]
    length_q, length_k = lengths(case)
    d = case["d"]
    if b == 1 or "mask" in x or not isinstance(out, TensorOut):
        return False
    if not out.data.is_floating_point() or out.data.numel() != b * length_q * d:
        return False
    flat = {name: x[name][:b].reshape(1, -1, d) for name in ("query", "key", "value")}
    want = ctx.ref.relative_attention(flat["query"], flat["key"], flat["value"], x["weights"],
                                      case["H"], case["K"])
    return is_close(out.data.reshape(1, b * length_q, d), want, atol=VARIANT_ATOL, rtol=RTOL)


def judge_attention_result(ctx, x, case, result, judge_main):
    try:
        judge_main(unpack(result, case, x["weights"]))
    except Fail as failure:
        if not isinstance(result, dict):
            raise
        message = failure.message.rstrip(".")
        found = baked_batch(ctx, x, case, result.get("probe"))
        if found is not None:
            b, codes = found
            mistakes = [c for c in codes if c != "output.wrong_shape"]
            what = f"matches {', '.join(mistakes)}" if mistakes else "is right"
            if "output.wrong_shape" in codes:
                what += " once reshaped to (batch, length_q, d_model)"
            failure.message = (f"{message}. Of batch sizes {', '.join(map(str, PROBE_BATCHES))}, "
                               f"only {b} works (its output {what}): a batch size is written "
                               "into your code")
            failure.diagnosis = ["relative.hardcoded_batch", *codes]
            failure.status = "fail"
        elif batch_as_one_sequence(ctx, x, case, result["out"]):
            failure.message = (f"{message}. Your output is attention over the {case['B']} "
                               "sequences laid end to end as one: a batch size of 1 is written "
                               "into your code")
            failure.diagnosis = ["relative.hardcoded_batch"]
        raise


# --------------------------------------------------------------------------
# Judge side: RelativePosition


def judge_position_result(ctx, x, case, result):
    out = unpack(result, case, {"embeddings_table": x["table"]})
    if isinstance(out, ExceptionOut):
        raise crash_failure(out, case)
    length_q, length_k = lengths(case)
    return expect_tensor(out, f"forward({length_q}, {length_k})",
                         shape=(length_q, length_k, case["n"]), dtype=torch.float32,
                         device=ctx.device)


def lookup(ctx, x, case, **switches):
    table = x["table"].double()
    index = ctx.ref.relative_index(*lengths(case), case["K"], device=table.device, **switches)
    return ctx.ref.rows_of(table, index)


def position_variants(ctx, x, case):
    def variant(**switches):
        return lambda: lookup(ctx, x, case, **switches)

    found = {"relative.sign_flipped": variant(sign=-1),
             "relative.not_clipped": variant(clip=False)}
    length_q, length_k = lengths(case)
    if length_q != length_k:
        found["relative.start_aligned"] = variant(end_aligned=False)
    return found


def judge_position_values(ctx, x, case, result):
    got = judge_position_result(ctx, x, case, result)
    # A lookup is exact; the slack only admits one-hot matmul formulations.
    assert_close(got, lookup(ctx, x, case), atol=1e-6, what="embeddings",
                 variants=position_variants(ctx, x, case), axes=("key position", "unit"))


# --------------------------------------------------------------------------
# Checks: RelativePosition

POSITION_SHAPE_CASES = [
    dict(n=2, K=1, L=1),
    dict(n=8, K=2, L=3),
    dict(n=16, K=4, L=5),
]
POSITION_CASES = [
    dict(n=2, K=1, L=1),
    dict(n=4, K=1, L=2),
    dict(n=8, K=2, L=3),
    dict(n=8, K=2, L=6),  # L > K + 1: clipping matters from here on
    dict(n=16, K=4, L=10),
    dict(n=32, K=16, L=40),
    dict(n=64, K=1, L=33),
]
POSITION_CROSS_CASES = [
    dict(n=4, K=1, Lq=3, Lk=5),
    dict(n=8, K=2, Lq=5, Lk=3),
    dict(n=16, K=4, Lq=1, Lk=8),
    dict(n=32, K=4, Lq=7, Lk=20),
]
# Equal lengths, so the property does not depend on how queries are aligned.
CLIP_CASES = [dict(n=4, K=2, L=12), dict(n=8, K=5, L=16)]


@GRADER.check("relative.position_shape",
              "RelativePosition.forward(Lq, Lk) returns a (Lq, Lk, num_units) float32 tensor",
              cases=POSITION_SHAPE_CASES, inputs=table_inputs, needs=POSITION,
              handles_exceptions=True)
def run_position_shape(env, x, case):
    return run_position(env, x, case)


@run_position_shape.judge
def judge_position_shape(ctx, x, case, result):
    judge_position_result(ctx, x, case, result)


@GRADER.check("relative.position_values",
              "RelativePosition looks up table[clamp(j - i, -K, K) + K]",
              cases=POSITION_CASES, inputs=table_inputs, needs=POSITION,
              handles_exceptions=True)
def run_position_values(env, x, case):
    return run_position(env, x, case)


run_position_values.judge(judge_position_values)


@GRADER.check("relative.position_cross_lengths",
              "RelativePosition with length_q != length_k (queries end-aligned)", level="extra",
              cases=POSITION_CROSS_CASES, inputs=table_inputs, needs=POSITION,
              handles_exceptions=True)
def run_position_cross(env, x, case):
    return run_position(env, x, case)


run_position_cross.judge(judge_position_values)


@GRADER.check("relative.clipping",
              "Distances beyond K all share the embedding of distance K", level="extra",
              cases=CLIP_CASES, inputs=table_inputs, needs=POSITION, handles_exceptions=True)
def run_clipping(env, x, case):
    return run_position(env, x, case)


@run_clipping.judge
def judge_clipping(ctx, x, case, result):
    got = judge_position_result(ctx, x, case, result).double()
    length, k = case["L"], case["K"]
    distance = torch.arange(length)[None, :] - torch.arange(length)[:, None]
    for side, where in (("+", distance >= k), ("-", distance <= -k)):
        rows = got[where]  # (entries, n), row-major: the first is at distance exactly ±K
        differs = (rows - rows[0]).abs().amax(dim=1) > 0
        if differs.any():
            i, j = where.nonzero()[int(differs.nonzero()[0])].tolist()
            raise Fail(f"entry [{i}, {j}] (distance {j - i}) differs from the one at distance "
                       f"{side}{k}: distances beyond K={k} must share one embedding",
                       ["relative.not_clipped"])


# --------------------------------------------------------------------------
# Checks: RelativeMultiHeadAttention

SHAPE_CASES = [
    dict(B=1, H=1, d=2, L=1, K=1),
    dict(B=3, H=2, d=8, L=3, K=2),
    dict(B=2, H=4, d=32, L=7, K=16),
]
VALUE_CASES = [
    dict(B=1, H=1, d=2, L=1, K=1),
    dict(B=1, H=1, d=4, L=2, K=1),
    dict(B=3, H=2, d=8, L=3, K=2),
    dict(B=1, H=2, d=16, L=6, K=2),  # L > K + 1
    dict(B=3, H=4, d=32, L=10, K=4),
    dict(B=2, H=1, d=64, L=20, K=16),
    dict(B=3, H=4, d=64, L=40, K=16),
    dict(B=1, H=1, d=128, L=17, K=4),
]
MASK_CASES = [
    dict(B=1, H=1, d=4, L=3, K=2, mask="pad"),
    dict(B=3, H=2, d=8, L=5, K=4, mask="rows"),
    dict(B=2, H=4, d=32, L=12, K=16, mask="full"),
    dict(B=3, H=2, d=16, L=9, K=2, mask="rows"),
]
CROSS_CASES = [
    dict(B=1, H=1, d=4, Lq=2, Lk=5, K=2),
    dict(B=3, H=2, d=8, Lq=5, Lk=3, K=1),
    dict(B=2, H=4, d=32, Lq=1, Lk=9, K=4),
    dict(B=1, H=2, d=16, Lq=12, Lk=30, K=8, mask="pad"),
]
TWICE_CASES = [dict(B=2, H=2, d=8, L=4, K=2)]
PROBED = [cases[0] for cases in (SHAPE_CASES, VALUE_CASES, MASK_CASES, CROSS_CASES, TWICE_CASES)]


@GRADER.check("relative.attention_shape",
              "forward(query, key, value) returns a (batch, length_q, d_model) float32 tensor",
              cases=SHAPE_CASES, inputs=attention_inputs, needs=ATTENTION,
              handles_exceptions=True)
def run_attention_shape(env, x, case):
    return run_attention(env, x, case)


@run_attention_shape.judge
def judge_attention_shape(ctx, x, case, result):
    def shape_only(out):
        if isinstance(out, ExceptionOut):
            raise crash_failure(out, case)
        expect_tensor(out, "forward(query, key, value)",
                      shape=(case["B"], lengths(case)[0], case["d"]), dtype=torch.float32,
                      device=ctx.device)

    judge_attention_result(ctx, x, case, result, shape_only)


def judge_attention_values(ctx, x, case, result):
    judge_attention_result(ctx, x, case, result,
                           lambda out: judge_output(ctx, x, case, out, case["B"]))


@GRADER.check("relative.attention_values",
              "Attention output matches the reference (several heads, widths, lengths, K)",
              cases=VALUE_CASES, inputs=attention_inputs, needs=ATTENTION,
              handles_exceptions=True)
def run_attention_values(env, x, case):
    return run_attention(env, x, case)


run_attention_values.judge(judge_attention_values)


@GRADER.check("relative.mask",
              "Positions where mask == 0 are excluded (masks of shape (B,1,1,Lk), (B,1,Lq,Lk), "
              "(B,H,Lq,Lk))", cases=MASK_CASES, inputs=attention_inputs, needs=ATTENTION,
              handles_exceptions=True)
def run_mask(env, x, case):
    return run_attention(env, x, case)


run_mask.judge(judge_attention_values)


@GRADER.check("relative.cross_lengths",
              "Attention with length_q != length_k (queries aligned to the end of the keys)",
              level="extra", cases=CROSS_CASES, inputs=attention_inputs, needs=ATTENTION,
              handles_exceptions=True)
def run_cross(env, x, case):
    return run_attention(env, x, case)


run_cross.judge(judge_attention_values)


@GRADER.check("relative.deterministic", "Two calls with the same inputs give the same output",
              level="extra", cases=TWICE_CASES, inputs=attention_inputs,
              needs=ATTENTION, handles_exceptions=True)
def run_twice(env, x, case):
    return run_attention(env, x, case, twice=True)


@run_twice.judge
def judge_twice(ctx, x, case, result):
    def same(out):
        if isinstance(out, ExceptionOut):
            raise crash_failure(out, case)
        again = result["again"]
        if isinstance(again, ExceptionOut):
            raise crash_failure(again, case)
        first = expect_tensor(out, "first call")
        second = expect_tensor(again, "second call", shape=tuple(first.shape))
        if not is_close(first, second, atol=0.0):
            raise Fail("a second call with the same inputs gives a different output "
                       "(is dropout active in eval(), or are weights created in forward?)",
                       ["output.mismatch"])

    judge_attention_result(ctx, x, case, result, same)
