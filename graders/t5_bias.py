"""Grader for `t5_bias`: relative_position_bucket against HF T5's bucketing
over r in [-1000, 1000) for several (bidirectional, num_buckets,
max_distance), then T5RelativeBias with the grader's weights written into
`relative_attention_bias.weight`: parameter, shape, values for
length_q == length_k (core) and length_q != length_k (extra).

Buckets are compared exactly, except where the real-valued log bucket lies
within TIE = 1e-5 of an integer (equivalent spellings of the formula round
differently there): both neighbours are accepted. The judge gets them by
running the float64 reference with the log bucket nudged by -TIE and +TIE.

Diagnoses come from the learner's buckets: returned by
relative_position_bucket, or read back from the bias (every bias vector
bias[0, :, i, j] is one row of the grader's table, so its bucket is known).
They are compared with what each known mistake would give (`EDGE_MISTAKES`
and the reference's switches); buckets that are right near r = 0 and wrong
farther out are an edge mistake even when no model matches.
"""


import torch

from drillpe.grading import (
    ExceptionOut,
    Fail,
    Grader,
    TensorOut,
    attempt,
    exception_failure,
    expect_tensor,
    heatmap,
    type_name,
)

GRADER = Grader("t5_bias")

TIE = 1e-5  # the contract's tie width around an integer log bucket
VALUE_ATOL = 1e-6  # a lookup is exact; the slack only admits one-hot matmul formulations
TABLE_NAME = "relative_attention_bias.weight"
DEFAULTS = {"bidirectional": True, "num_buckets": 32, "max_distance": 128}
SETTINGS = tuple(DEFAULTS)
INDEX_SIGNS = ("out of range", "out of bounds", "device-side assert")
DEVICE_SIGNS = ("same device", "expected all tensors", "device type")

FUNCTION = ("relative_position_bucket",)
MODULE = ("T5RelativeBias",)

FLIPPED = "t5_bias.direction_flipped"
EDGES = "t5_bias.bucket_edges"
IGNORED = "t5_bias.argument_ignored"
INVERTED = "t5_bias.bidirectional_inverted"
END_ALIGNED = "t5_bias.end_aligned"
LAYOUT = "t5_bias.bias_layout"
PARAM_NAMES = "t5_bias.wrong_param_names"
PARAM_SHAPE = "t5_bias.wrong_param_shape"

# Each known edge mistake, as switches of the reference's bucket_model, with what to say.
EDGE_MISTAKES = [
    (dict(offset="none"), "r > 0 gets no +num_buckets/2 offset, so r and -r share a bucket"),
    (dict(offset="non_negative"), "r = 0 gets the +num_buckets/2 offset as well; only r > 0 does"),
    (dict(offset="full"), "r > 0 is offset by num_buckets instead of num_buckets/2"),
    (dict(halve="never"), "num_buckets is not halved when bidirectional: each direction owns "
                          "num_buckets/2 buckets"),
    (dict(halve="always"), "num_buckets is halved although bidirectional=False: a "
                           "unidirectional bias spends all num_buckets on r <= 0"),
    (dict(exact_from="full"), "max_exact is taken before halving num_buckets: when "
                              "bidirectional it is (num_buckets/2)/2"),
    (dict(future="abs"), "with bidirectional=False every key after the query (r > 0) belongs "
                         "in bucket 0; yours uses |r|"),
    (dict(future="negative"), "with bidirectional=False every key after the query (r > 0) "
                              "belongs in bucket 0; yours gives it the negative bucket -r: "
                              "clamp n = max(-r, 0)"),
    (dict(clamp=False), "far distances get buckets past the last one: clamp the log bucket to "
                        "the last bucket of its half (num_buckets/2 - 1 when bidirectional)"),
    (dict(rounding="round"), "the log bucket is rounded to nearest; T5 truncates it (.long())"),
    (dict(rounding="ceil"), "the log bucket is rounded up; T5 truncates it (.long())"),
    (dict(log_of="max_distance"), "the log is divided by log(max_distance); T5 divides by "
                                  "log(max_distance / max_exact)"),
]


def settings(case) -> dict:
    """(bidirectional, num_buckets, max_distance) of a case, defaults filled in."""
    return {name: case.get(name, default) for name, default in DEFAULTS.items()}


def passed(case) -> dict:
    """The settings a case passes explicitly (the others are left to the defaults)."""
    return {name: case[name] for name in SETTINGS if name in case}


def call_text(case, what="r") -> str:
    args = ", ".join([what, *(f"{k}={v}" for k, v in passed(case).items())])
    return f"relative_position_bucket({args})"


# --------------------------------------------------------------------------
# Accepted buckets and what each mistake gives (judge side, float64 reference)


def accepted(ref, r: torch.Tensor, setting: dict, **switches) -> tuple[torch.Tensor, torch.Tensor]:
    """(lo, hi): the buckets accepted for each r. They differ only where the
    real-valued log bucket is within TIE of an integer."""
    lo = ref.bucket_model(r, **setting, nudge=-TIE, **switches)
    hi = ref.bucket_model(r, **setting, nudge=TIE, **switches)
    return lo, hi


def fits(got: torch.Tensor, lo_hi) -> torch.Tensor:
    lo, hi = lo_hi
    return (got == lo) | (got == hi)


def distance(r: torch.Tensor, setting: dict) -> torch.Tensor:
    """The reference's n: |r| when bidirectional, max(-r, 0) otherwise."""
    return r.abs() if setting["bidirectional"] else (-r).clamp(min=0)


def explain(ref, r: torch.Tensor, got: torch.Tensor, setting: dict,
            opposite: torch.Tensor | None = None) -> tuple[list[str], str]:
    """(codes, sentence) naming the mistake behind wrong buckets `got` for `r`.

    ``opposite`` is the learner's buckets for the same r with the opposite
    ``bidirectional``, where known: one call cannot tell a flag that is not
    used from one used the wrong way round, the two calls together can.

    A mistake counts only where it changes something on these r: on a short
    range many of them coincide with the reference (or with each other)."""
    def model(changed=None, **switches):
        try:
            return accepted(ref, r, changed or setting, **switches)
        except (ValueError, RuntimeError, KeyError, ZeroDivisionError):
            return None  # a mistake that cannot be modelled for these settings

    def same(a, b) -> bool:
        return a is not None and b is not None and all(bool((x == y).all())
                                                       for x, y in zip(a, b))

    codes: list[str] = []
    notes: list[str] = []
    right, flipped = model(), model(sign=-1)
    if not same(flipped, right) and bool(fits(got, flipped).all()):
        codes.append(FLIPPED)
        notes.append("these are the buckets of -r: relative_position is memory - query "
                     "(key - query), and only keys after the query are r > 0")
    for switches, note in EDGE_MISTAKES:
        plain = model(**switches)
        for sign, found in ((1, plain), (-1, model(sign=-1, **switches))):
            # Flipped, a mistake that is symmetric in r (no offset, |r|) is the same mistake.
            if sign < 0 and same(found, plain):
                continue
            base = right if sign > 0 else flipped
            if found is not None and not same(found, base) and bool(fits(got, found).all()):
                codes += [EDGES] + ([FLIPPED] if sign < 0 else [])
                notes.append(note + (" (and r is flipped: it is memory - query)" if sign < 0
                                     else ""))
    for name, default in DEFAULTS.items():
        value = setting[name]
        other = (not value) if name == "bidirectional" else default
        found = model({**setting, name: other}) if other != value else None
        if found is not None and not same(found, right) and bool(fits(got, found).all()):
            if name == "bidirectional" and opposite is not None and \
                    tuple(opposite.shape) == tuple(r.shape) and bool(fits(opposite, right).all()):
                codes.append(INVERTED)
                notes.append(f"asked for bidirectional={value}, you give the buckets of "
                             f"bidirectional={other}, and the other way round: the flag is "
                             "used the wrong way round")
                continue
            codes.append(IGNORED)
            notes.append(f"these are the buckets for {name}={other}: the {name} passed in "
                         f"({value}) is not used")
    if codes:
        return list(dict.fromkeys(codes)), "; ".join(dict.fromkeys(notes))

    good = fits(got, accepted(ref, r, setting))
    near = distance(r, setting) < 2
    if near.any() and good[near].all():
        max_exact = (setting["num_buckets"] // (2 if setting["bidirectional"] else 1)) // 2
        first = r[~good][r[~good].abs().argmin()]
        return [EDGES], (f"right next to r = 0 but wrong from r = {int(first)}: check the "
                         f"exact/log boundary (max_exact = {max_exact} here), the log formula "
                         "and the clamp to the last bucket")
    return ["output.mismatch"], ""


def bucket_failure(ref, r: torch.Tensor, got: torch.Tensor, setting: dict, *,
                   where: str = "r in [-1000, 1000)",
                   flipped: torch.Tensor | None = None) -> Fail | None:
    """None when every bucket is accepted; otherwise the explained Fail."""
    r, got = r.reshape(-1), got.reshape(-1)
    lo, hi = accepted(ref, r, setting)
    good = (got == lo) | (got == hi)
    if bool(good.all()):
        return None
    bad = (~good).nonzero().reshape(-1)
    first = int(bad[r[bad].abs().argmin()])
    expected = f"{int(lo[first])}" if lo[first] == hi[first] else \
        f"{int(hi[first])} (or {int(lo[first])}: a rounding tie)"
    message = (f"{len(bad)} of {r.numel()} buckets are wrong for {where}; nearest to 0: "
               f"r = {int(r[first])} gives {int(got[first])}, expected {expected}")
    flat = flipped.reshape(-1) if flipped is not None else None
    codes, note = explain(ref, r, got, setting, flat)
    return Fail(message + (f" ({note})" if note else ""), codes)


# --------------------------------------------------------------------------
# relative_position_bucket

BUCKET_CASES = [
    dict(args="defaults"),
    dict(bidirectional=False, num_buckets=32, max_distance=128),
    dict(bidirectional=True, num_buckets=16, max_distance=64),
    dict(bidirectional=True, num_buckets=64, max_distance=128),
    dict(bidirectional=False, num_buckets=32, max_distance=64),
    dict(bidirectional=False, num_buckets=16, max_distance=256),
    dict(bidirectional=True, num_buckets=12, max_distance=40),
    dict(bidirectional=True, num_buckets=64, max_distance=1000),
]
SHAPE_CASES = [
    dict(Lq=1, Lk=1),
    dict(Lq=5, Lk=7),
    dict(dims=(2, 3, 40), bidirectional=False, num_buckets=16, max_distance=64),
    dict(dims=(4, 25), bidirectional=True, num_buckets=32, max_distance=128),
]


def range_inputs(case, rand):
    return {"relative_position": torch.arange(-1000, 1000)}


def shaped_inputs(case, rand):
    if "dims" in case:
        return {"relative_position": rand.randint(-300, 300, *case["dims"])}
    rel = torch.arange(case["Lk"])[None, :] - torch.arange(case["Lq"])[:, None]
    return {"relative_position": rel}


def run_buckets(env, x, case):
    out = env.mod.relative_position_bucket(x["relative_position"], **passed(case))
    opposite = {**passed(case), "bidirectional": not settings(case)["bidirectional"]}
    probe = attempt_learner(env, lambda: env.mod.relative_position_bucket(
        x["relative_position"], **opposite))
    return {"out": out, "probe": probe}


def int_buckets(out) -> torch.Tensor | None:
    """The learner's buckets from a probe call, when they are a usable tensor."""
    if isinstance(out, TensorOut) and not out.data.is_floating_point():
        return out.data.to(torch.int64)
    return None


def bucket_tensor(ctx, x, case, out) -> torch.Tensor:
    what = call_text(case)
    if isinstance(out, TensorOut) and out.dtype != torch.int64:
        raise Fail(f"{what} returns {out.dtype} buckets; expected torch.int64 (bucket numbers "
                   "index an nn.Embedding: .long() / .to(torch.int64))", ["output.wrong_dtype"])
    return expect_tensor(out, what, shape=tuple(x["relative_position"].shape), device=ctx.device)


@GRADER.check("t5_bias.buckets",
              "relative_position_bucket matches HF T5 over r in [-1000, 1000)",
              cases=BUCKET_CASES, inputs=range_inputs, needs=FUNCTION)
def run_bucket_values(env, x, case):
    return run_buckets(env, x, case)


@run_bucket_values.judge
def judge_bucket_values(ctx, x, case, out):
    got = bucket_tensor(ctx, x, case, out["out"])
    failure = bucket_failure(ctx.ref, x["relative_position"].cpu(), got, settings(case),
                             flipped=int_buckets(out["probe"]))
    if failure is not None:
        raise failure


@GRADER.check("t5_bias.bucket_shape",
              "relative_position_bucket keeps the input's shape; int64 out",
              cases=SHAPE_CASES, inputs=shaped_inputs, needs=FUNCTION)
def run_bucket_shape(env, x, case):
    return run_buckets(env, x, case)


@run_bucket_shape.judge
def judge_bucket_shape(ctx, x, case, out):
    got = bucket_tensor(ctx, x, case, out["out"])
    rel = x["relative_position"].cpu()
    failure = bucket_failure(ctx.ref, rel, got, settings(case),
                             where=f"an input of shape {list(rel.shape)}",
                             flipped=int_buckets(out["probe"]))
    if failure is not None:
        raise failure


# --------------------------------------------------------------------------
# T5RelativeBias: learner side


def table_inputs(case, rand):
    s = settings(case)
    return {"table": rand.normal(s["num_buckets"], case["H"])}


def describe_params(module) -> dict:
    return {"params": {n: list(p.shape)
                       for n, p in module.named_parameters(remove_duplicate=False)},
            "buffers": [n for n, _ in module.named_buffers()]}


def load_table(module, table: torch.Tensor):
    """Write the grader's table; None when done, else what the module holds."""
    params = dict(module.named_parameters(remove_duplicate=False))
    weight = params.get(TABLE_NAME)
    if weight is None or tuple(weight.shape) != tuple(table.shape):
        return describe_params(module)
    with torch.no_grad():
        weight.copy_(table.to(weight.device))
    return None


def build(env, case):
    return env.mod.T5RelativeBias(case["H"], **passed(case)).to(env.device)


def run_module(env, x, case):
    module = attempt_learner(env, lambda: build(env, case))
    if isinstance(module, ExceptionOut):
        return {"out": module}
    problem = attempt_learner(env, lambda: load_table(module, x["table"]))
    if problem is not None:
        return {"out": problem}
    length_q, length_k = lengths(case)
    result = {"out": attempt_learner(env, lambda: module(length_q, length_k))}
    if isinstance(result["out"], torch.Tensor):
        # The same bias from a module with the opposite bidirectional: the
        # judge's evidence for a flag used the wrong way round.
        result["flipped"] = attempt_learner(env, lambda: opposite_bias(env, x, case))
    if isinstance(result["out"], ExceptionOut) and hasattr(env.mod, "relative_position_bucket"):
        # A crash in forward is often a bucket past the table: keep the learner's own
        # buckets (with the module's settings, and with none) to explain it. On the CPU:
        # after a device-side assert the CUDA context is unusable.
        rel = torch.arange(length_k)[None, :] - torch.arange(length_q)[:, None]
        fn = env.mod.relative_position_bucket
        result["buckets"] = attempt_learner(env, lambda: fn(rel, **settings(case)))
        result["default_buckets"] = attempt_learner(env, lambda: fn(rel))
    return result


def opposite_bias(env, x, case):
    opposite = {**passed(case), "bidirectional": not settings(case)["bidirectional"]}
    module = env.mod.T5RelativeBias(case["H"], **opposite).to(env.device)
    load_table(module, x["table"])
    return module(*lengths(case))


def attempt_learner(env, fn):
    return attempt(env, fn, catch=Exception)


def lengths(case) -> tuple[int, int]:
    return case.get("Lq", case.get("L")), case.get("Lk", case.get("L"))


# --------------------------------------------------------------------------
# T5RelativeBias: judge side


def params_failure(case, found: dict) -> Fail:
    s = settings(case)
    want = [s["num_buckets"], case["H"]]
    params = found["params"]
    if TABLE_NAME in params:
        got = params[TABLE_NAME]
        hint = " (transposed: nn.Embedding(num_buckets, n_heads))" if got == want[::-1] else ""
        return Fail(f"{TABLE_NAME} has shape {got}; expected {want} = (num_buckets, n_heads)"
                    f"{hint}", [PARAM_SHAPE])
    listed = ", ".join(f"{n} {s}" for n, s in params.items()) or "(none)"
    message = (f"the grader writes its weights into the parameter {TABLE_NAME} "
               f"(self.relative_attention_bias = nn.Embedding(num_buckets, n_heads)); your "
               f"module's parameters are {listed}")
    if TABLE_NAME in found["buffers"] or "relative_attention_bias" in found["buffers"]:
        message += "; relative_attention_bias is a buffer, not a trainable parameter"
    return Fail(message, [PARAM_NAMES])


def crash_failure(ctx, case, out: ExceptionOut, result: dict) -> Fail:
    """Explain a crash in the module: a bucket past the table, or positions
    built on another device; otherwise the plain exception report."""
    text = out.message.lower()
    if out.not_implemented or out.exited:
        return exception_failure(out)
    if out.type_name == "IndexError" or any(sign in text for sign in INDEX_SIGNS):
        s = settings(case)
        length_q, length_k = lengths(case)
        rel = (torch.arange(length_k)[None, :] - torch.arange(length_q)[:, None])
        mine = result.get("buckets")
        if isinstance(mine, TensorOut) and tuple(mine.shape) == tuple(rel.shape) and \
                not mine.data.is_floating_point():
            failure = bucket_failure(ctx.ref, rel, mine.data.to(torch.int64), s,
                                     where=f"the {length_q}x{length_k} relative positions")
            if failure is not None:
                low, high = int(mine.data.min()), int(mine.data.max())
                reach = f"bucket {low}" if low < 0 else f"bucket {high}"
                failure.message = (f"forward raised {out.describe()}: your "
                                   f"{call_text(case, 'rel')} reaches {reach} (the table has "
                                   f"rows 0..{s['num_buckets'] - 1}); {failure.message}")
                failure.traceback = out.traceback
                return failure
            default = result.get("default_buckets")
            if isinstance(default, TensorOut) and not default.data.is_floating_point() and \
                    int(default.data.max()) >= s["num_buckets"]:
                return Fail(f"forward raised {out.describe()}, though your "
                            f"{call_text(case, 'rel')} is right: with its defaults it reaches "
                            f"bucket {int(default.data.max())}, past the table's "
                            f"{s['num_buckets']} rows. Pass the module's num_buckets, "
                            "max_distance and bidirectional on to it", [IGNORED],
                            traceback=out.traceback)
    failure = exception_failure(out)
    if any(sign in text for sign in DEVICE_SIGNS):
        failure.message += (" (build the positions on the table's device: "
                            "self.relative_attention_bias.weight.device)")
    return failure


def shape_hint(shape: tuple, heads: int, length_q: int, length_k: int) -> str:
    hints = {
        (heads, length_q, length_k): "the leading axis of size 1 is missing (unsqueeze(0))",
        (length_q, length_k, heads): "this is the raw (length_q, length_k, n_heads) lookup: "
                                     "permute(2, 0, 1).unsqueeze(0)",
        (1, length_q, length_k, heads): "the heads axis is last; it comes right after the 1",
        (1, heads, length_k, length_q): "the query and key axes are swapped",
    }
    hint = hints.get(tuple(shape))
    return f" ({hint})" if hint else ""


def bias_tensor(ctx, x, case, result) -> torch.Tensor:
    if isinstance(result, ExceptionOut):
        raise exception_failure(result)
    out = result["out"]
    if isinstance(out, dict) and "params" in out:
        raise params_failure(case, out)
    if isinstance(out, ExceptionOut):
        raise crash_failure(ctx, case, out, result)
    length_q, length_k = lengths(case)
    what = f"forward({length_q}, {length_k})"
    want = (1, case["H"], length_q, length_k)
    if isinstance(out, TensorOut) and out.shape != want:
        raise Fail(f"{what} has shape {list(out.shape)}; expected {list(want)} = "
                   f"(1, n_heads, length_q, length_k)"
                   f"{shape_hint(out.shape, case['H'], length_q, length_k)}",
                   ["output.wrong_shape"])
    if isinstance(out, TensorOut) and out.dtype != torch.float32:
        raise Fail(f"{what} has dtype {out.dtype}; expected torch.float32, the dtype of "
                   "relative_attention_bias", ["output.wrong_dtype"])
    if not isinstance(out, TensorOut):
        raise Fail(f"{what} should return a tensor; it returned {type_name(out)}",
                   ["api.wrong_return_type"])
    return expect_tensor(out, what, device=ctx.device)


def decode(got: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """(Lq, Lk) bucket whose table row each bias[0, :, i, j] is; -1 where none."""
    vectors = got[0].permute(1, 2, 0).to(torch.float64)  # (Lq, Lk, H)
    found = torch.full(vectors.shape[:2], -1, dtype=torch.int64)
    for b, row in enumerate(table.to(torch.float64)):
        hit = (vectors - row).abs().amax(dim=-1) <= VALUE_ATOL
        found[hit & (found < 0)] = b
    return found


def close(got: torch.Tensor, want: torch.Tensor) -> bool:
    return tuple(got.shape) == tuple(want.shape) and bool(
        ((got.to(torch.float64) - want.to(torch.float64)).abs() <= VALUE_ATOL).all())


def buckets_by_r(mine: torch.Tensor, rel: torch.Tensor, values: torch.Tensor
                 ) -> torch.Tensor | None:
    """One bucket per relative position, or None when the bias does not use one."""
    per_r = []
    for r in values:
        seen = torch.unique(mine[rel == r])
        if seen.numel() != 1:
            return None
        per_r.append(seen)
    return torch.cat(per_r)


def bias_diagnosis(ref, table, got, case, flipped=None) -> tuple[list[str], str]:
    """(codes, sentence) for a wrong bias, from the buckets it can be read back as."""
    s = settings(case)
    length_q, length_k = lengths(case)
    heads = case["H"]
    rel = ref.relative_positions(length_q, length_k)
    lo, hi = accepted(ref, rel, s)
    mine = decode(got, table)
    if bool((mine < 0).any()):
        for buckets in (lo, hi):
            raw = table[buckets]  # (Lq, Lk, H)
            if close(got, raw.reshape(1, heads, length_q, length_k)):
                return [LAYOUT], ("the (length_q, length_k, n_heads) lookup was reshaped or "
                                  "viewed into (1, n_heads, length_q, length_k); that mixes "
                                  "positions and heads: move the axis with permute(2, 0, 1)")
        i, j = (int(v) for v in (mine < 0).nonzero()[0])
        return ["output.mismatch"], (f"bias[0, :, {i}, {j}] is not a row of "
                                     f"relative_attention_bias.weight")
    if length_q != length_k:
        end = ref.relative_positions(length_q, length_k, end_aligned=True)
        if bool(fits(mine, accepted(ref, end, s)).all()):
            return [END_ALIGNED], ("these are the buckets of queries aligned to the end of the "
                                   "keys; in T5 queries and keys both start at position 0, so "
                                   "r = j - i")
    values = torch.unique(rel)
    per_r = []
    for r in values:
        seen = torch.unique(mine[rel == r])
        if seen.numel() != 1:
            i, j = (int(v) for v in (rel == r).nonzero()[0])
            return ["output.mismatch"], (f"entries with the same r = j - i = {int(r)} use "
                                         f"different buckets ({seen.tolist()[:4]}): the bias "
                                         "must depend on j - i only")
        per_r.append(seen)
    got_buckets = torch.cat(per_r)
    other = None
    if isinstance(flipped, TensorOut) and flipped.shape == tuple(got.shape) and \
            flipped.data.is_floating_point():
        other = buckets_by_r(decode(flipped.data, table), rel, values)
    codes, note = explain(ref, values, got_buckets, s, other)
    if FLIPPED in codes and length_q == length_k:
        note += " (or the query and key axes of the output are swapped)"
    bad = ~fits(mine, (lo, hi))
    i, j = (int(v) for v in bad.nonzero()[0])
    expected = f"{int(hi[i, j])}" + ("" if lo[i, j] == hi[i, j] else
                                     f" (or {int(lo[i, j])}: a rounding tie)")
    where = (f"bias[0, :, {i}, {j}] (r = {j - i}) is the row of bucket {int(mine[i, j])}, "
             f"expected bucket {expected}")
    return codes, where + (f"; {note}" if note else "")


def judge_bias(ctx, x, case, result):
    got = bias_tensor(ctx, x, case, result)
    table = x["table"].cpu()
    s = settings(case)
    length_q, length_k = lengths(case)
    rel = ctx.ref.relative_positions(length_q, length_k)
    lo, hi = accepted(ctx.ref, rel, s)
    want_lo, want_hi = ctx.ref.lookup(table, lo), ctx.ref.lookup(table, hi)
    diff_lo = (got.to(torch.float64) - want_lo.to(torch.float64)).abs().amax(dim=1)
    diff_hi = (got.to(torch.float64) - want_hi.to(torch.float64)).abs().amax(dim=1)
    diff = torch.minimum(diff_lo, diff_hi).nan_to_num(nan=float("inf"))  # (1, Lq, Lk)
    if bool((diff <= VALUE_ATOL).all()):
        return
    wrong = int((diff > VALUE_ATOL).sum())
    codes, note = bias_diagnosis(ctx.ref, table, got, case, result.get("flipped"))
    message = (f"{wrong} of {length_q * length_k} (query, key) entries differ by up to "
               f"{float(diff.max()):.3g}" + (f": {note}" if note else ""))
    raise Fail(message, codes, heatmap=heatmap(got, want_hi,
                                               axes=("query position", "key position")))


# --------------------------------------------------------------------------
# T5RelativeBias: checks

PARAM_CASES = [dict(H=2), dict(H=4, num_buckets=16),
               dict(H=3, num_buckets=64, max_distance=256, bidirectional=False)]
BIAS_SHAPE_CASES = [dict(H=2, L=1), dict(H=3, L=5), dict(H=4, L=12, num_buckets=16)]
BIAS_CASES = [
    dict(H=2, L=4),
    dict(H=3, L=20, num_buckets=16, max_distance=64),
    dict(H=4, L=40, bidirectional=False),
    dict(H=2, L=150),
    dict(H=8, L=200, num_buckets=16, max_distance=32),
    dict(H=6, L=300, num_buckets=64, max_distance=256, bidirectional=False),
]
CROSS_CASES = [
    dict(H=2, Lq=3, Lk=7),
    dict(H=3, Lq=9, Lk=2, num_buckets=16, max_distance=64),
    dict(H=4, Lq=1, Lk=50),
    dict(H=2, Lq=30, Lk=10, bidirectional=False),
    dict(H=5, Lq=20, Lk=200),
]


@GRADER.check("t5_bias.parameter",
              "relative_attention_bias is an nn.Embedding(num_buckets, n_heads)",
              cases=PARAM_CASES, inputs=table_inputs, needs=MODULE, handles_exceptions=True)
def run_parameter(env, x, case):
    module = attempt_learner(env, lambda: build(env, case))
    if isinstance(module, ExceptionOut):
        return {"out": module}
    return {"out": attempt_learner(env, lambda: describe_params(module))}


@run_parameter.judge
def judge_parameter(ctx, x, case, result):
    if isinstance(result, ExceptionOut):
        raise exception_failure(result)
    out = result["out"]
    if isinstance(out, ExceptionOut):
        raise exception_failure(out)
    s = settings(case)
    if out["params"].get(TABLE_NAME) != [s["num_buckets"], case["H"]]:
        raise params_failure(case, out)


@GRADER.check("t5_bias.bias_shape",
              "forward(L, L) is a (1, n_heads, L, L) float32 tensor",
              cases=BIAS_SHAPE_CASES, inputs=table_inputs, needs=MODULE,
              handles_exceptions=True)
def run_bias_shape(env, x, case):
    return run_module(env, x, case)


@run_bias_shape.judge
def judge_bias_shape(ctx, x, case, result):
    bias_tensor(ctx, x, case, result)


@GRADER.check("t5_bias.bias_values",
              "forward(L, L)[0, h, i, j] is the table entry of bucket(j - i)",
              cases=BIAS_CASES, inputs=table_inputs, needs=MODULE, handles_exceptions=True)
def run_bias_values(env, x, case):
    return run_module(env, x, case)


run_bias_values.judge(judge_bias)


@GRADER.check("t5_bias.cross_lengths",
              "forward(Lq, Lk) with Lq != Lk: both start at position 0",
              level="extra", cases=CROSS_CASES, inputs=table_inputs, needs=MODULE,
              handles_exceptions=True)
def run_cross(env, x, case):
    return run_module(env, x, case)


run_cross.judge(judge_bias)
