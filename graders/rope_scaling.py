"""Grader for `rope_scaling`: rope_inv_freq(head_dim, base, scaling) for no
scaling, linear, static NTK-aware, YaRN and Llama 3, over several head_dims,
bases, factors and original context lengths; the attention factor (a Python
float); the caller's scaling dict left as it was; then two robustness extras
(factor 1 is the identity, YaRN's collapsed correction range).

inv_freq must be float32 or float64, of shape (head_dim/2,), on torch's default
device (the learner's call runs under `with torch.device(grading device)`),
within rtol 1e-5 of the float64 reference; the attention factor within 1e-6.

Known mistakes are named by their numerical signature: the learner's inv_freq
is compared with what each mistake would give (float64). When a scaled result
is wrong and the learner's unscaled rope_inv_freq(head_dim, base) is already
wrong, the unscaled mistake is the one reported.
"""

import copy
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
    type_name,
)

GRADER = Grader("rope_scaling")

RTOL = 1e-5  # inv_freq, relative (the contract's tolerance)
FACTOR_ATOL = 1e-6  # attention factor, absolute
FLOAT_DTYPES = (torch.float32, torch.float64)
AXES = ("call", "pair")


def yarn(factor, original, beta_fast=32, beta_slow=1):
    return {"type": "yarn", "factor": factor, "original_max_position_embeddings": original,
            "beta_fast": beta_fast, "beta_slow": beta_slow}


def llama3(factor=8, low=1, high=4, original=8192):
    return {"type": "llama3", "factor": factor, "low_freq_factor": low, "high_freq_factor": high,
            "original_max_position_embeddings": original}


# --------------------------------------------------------------------------
# Calling the learner (learner process)


def pack(out):
    """The learner's return value as plain data; a float subclass (numpy.float64)
    as the attention factor becomes a plain float (it is one)."""
    if isinstance(out, (tuple, list)) and len(out) == 2:
        inv, factor = out
        if isinstance(factor, float):
            factor = float(factor)
        return {"pair": True, "inv": inv, "factor": factor}
    return {"pair": False, "raw": out}


def call(env, case, scaling="case"):
    """rope_inv_freq as the case asks, on a fresh copy of its scaling dict,
    under the grading device as torch's default device."""
    args = [case["head_dim"]]
    kwargs = {}
    if "base" in case:
        kwargs["base"] = case["base"]
    scaling = case.get("scaling") if scaling == "case" else scaling
    if scaling is not None:
        kwargs["scaling"] = copy.deepcopy(scaling)
    with torch.device(env.device):
        return pack(env.mod.rope_inv_freq(*args, **kwargs))


def run_call(env, x, case):
    return {"out": call(env, case)}


def run_with_plain(env, x, case):
    """The scaled call, plus the unscaled one as evidence for the diagnosis."""
    plain = attempt(env, lambda: call(env, case, scaling=None), catch=Exception)
    return {"out": call(env, case), "plain": plain}


# --------------------------------------------------------------------------
# Reading the learner's output (judge process)


def describe_call(case) -> str:
    base = f", base={case['base']!r}" if "base" in case else ""
    scaling = f", scaling={case['scaling']!r}" if case.get("scaling") is not None else ""
    return f"rope_inv_freq({case['head_dim']}{base}{scaling})"


def expect_pair(packed, case):
    if not packed["pair"]:
        raw = packed["raw"]
        hint = (": return (inv_freq, attention_factor), the factor too"
                if isinstance(raw, TensorOut) else "")
        raise Fail(f"{describe_call(case)} should return a tuple (inv_freq, attention_factor); "
                   f"it returned {type_name(raw)}{hint}", ["api.wrong_return_type"],
                   show_case=False)
    return packed


def expect_inv_freq(ctx, packed, case) -> torch.Tensor:
    packed = expect_pair(packed, case)
    half = case["head_dim"] // 2
    inv = packed["inv"]
    if isinstance(inv, TensorOut) and inv.dtype not in FLOAT_DTYPES:
        raise Fail(f"inv_freq has dtype {inv.dtype}; return float32 (float64 is accepted too)",
                   ["output.wrong_dtype"])
    return expect_tensor(inv, "inv_freq", shape=(half,), device=ctx.device)


def usable_plain(packed, case):
    """The learner's unscaled inv_freq when it is a finite float tensor of the right shape."""
    if not isinstance(packed, dict) or not packed.get("pair"):
        return None
    inv = packed["inv"]
    if not (isinstance(inv, TensorOut) and inv.shape == (case["head_dim"] // 2,)
            and inv.dtype in FLOAT_DTYPES and torch.isfinite(inv.data).all()):
        return None
    return inv.data


def plain_mistakes(ref, case, device):
    d, base = case["head_dim"], case.get("base", 10000.0)
    found = [("rope_scaling.exponent_i_over_d",
              lambda: ref.plain_inv_freq(d, math.sqrt(base), device),
              "your values are base ** (-i/d): the exponent is 2i/d, i = 0 .. d/2 - 1 "
              "(arange(0, d, 2) / d)"),
             ("output.mismatch", lambda: 1 / ref.plain_inv_freq(d, base, device),
              "your values are base ** (2i/d): inv_freq is the inverse, base ** (-2i/d)")]
    if base != 10000.0:
        found.insert(0, ("rope_scaling.base_ignored",
                         lambda: ref.plain_inv_freq(d, 10000.0, device),
                         f"your values are those of base 10000; this call passes base={base!r}"))
    return found


def unscaled(ref, case, device):
    """The mistake every scaled check shares: the scaling never applied."""
    d, base = case["head_dim"], case["base"]
    return ("output.mismatch", lambda: ref.plain_inv_freq(d, base, device),
            f"your values are the unscaled frequencies: the {case['scaling']['type']} scaling "
            "is not applied")


def name_mistake(got, mistakes):
    """(codes of every listed mistake that reproduces `got`, the first two explanations)."""
    codes, notes = [], []
    for code, build, note in mistakes:
        try:
            value = build()
        except Exception:  # a mistake that cannot be built for this case does not apply
            continue
        if value is not None and tuple(value.shape) == tuple(got.shape) and \
                is_close(got, value, atol=0.0, rtol=RTOL):
            if code not in codes:
                codes.append(code)
            notes.append(note)
    # Two notes that say the same thing (the unscaled frequencies, once as the
    # general mistake and once as YaRN's small-factor guard) read as one: keep the
    # more specific, which comes later in the list.
    if len(notes) >= 2 and "unscaled frequencies" in notes[0] and \
            "unscaled frequencies" in notes[1]:
        notes = notes[1:]
    return codes, "; or ".join(notes[:2])


def assert_inv_freq(ctx, case, got, mistakes=(), plain=None):
    """Compare with the reference; on failure, name the mistake (the learner's
    unscaled frequencies first, when they are already wrong)."""
    want, _ = ctx.ref.inv_freq64(case["head_dim"], case.get("base", 10000.0),
                                 case.get("scaling"), device=ctx.device)
    try:
        assert_close(got, want, atol=0.0, rtol=RTOL, what="inv_freq", axes=AXES)
    except Fail as failure:
        codes, note = [], ""
        mine = usable_plain(plain, case)
        if mine is not None:
            base_want = ctx.ref.plain_inv_freq(case["head_dim"], case.get("base", 10000.0),
                                               ctx.device)
            if not is_close(mine, base_want, atol=0.0, rtol=RTOL):
                codes, note = name_mistake(mine, plain_mistakes(ctx.ref, case, ctx.device))
                note = ("your unscaled rope_inv_freq(head_dim, base) is already wrong, fix it "
                        "first" + (f" ({note})" if note else ""))
        if not note:
            codes, note = name_mistake(got, mistakes)
        failure.diagnosis = [c for c in codes if c != "output.mismatch"] or ["output.mismatch"]
        if note:
            failure.message += f"; {note}"
        raise


# --------------------------------------------------------------------------
# scaling=None


PLAIN_CASES = [
    dict(head_dim=2, base=10000.0),
    dict(head_dim=8, base=10000.0),
    dict(head_dim=64),  # base left at its default
    dict(head_dim=64, base=500000.0),
    dict(head_dim=128, base=10000.0),
    dict(head_dim=256, base=1000000.0),
]


@GRADER.check("rope_scaling.plain", "scaling=None: base ** (-2i / head_dim)",
              cases=PLAIN_CASES, needs=("rope_inv_freq",))
def run_plain(env, x, case):
    return run_call(env, x, case)


@run_plain.judge
def judge_plain(ctx, x, case, out):
    got = expect_inv_freq(ctx, out["out"], case)
    assert_inv_freq(ctx, case, got, plain_mistakes(ctx.ref, case, ctx.device))


# --------------------------------------------------------------------------
# linear


LINEAR_CASES = [
    dict(head_dim=8, base=10000.0, scaling={"type": "linear", "factor": 2.0}),
    dict(head_dim=64, base=10000.0, scaling={"type": "linear", "factor": 4.0}),
    dict(head_dim=128, base=500000.0, scaling={"type": "linear", "factor": 8}),
    dict(head_dim=96, base=10000.0, scaling={"type": "linear", "factor": 32.0}),
]


def linear_mistakes(ref, case, device):
    d, base, f = case["head_dim"], case["base"], case["scaling"]["factor"]
    return [("rope_scaling.linear_multiplied", lambda: ref.plain_inv_freq(d, base, device) * f,
             f"your values are inv_freq * factor: position interpolation divides the "
             f"frequencies by the factor (positions p / {f})"),
            ("output.mismatch", lambda: ref.plain_inv_freq(d, ref.ntk_base(d, base, f), device),
             "your values are the NTK-aware ones: linear divides every frequency by the factor")]


@GRADER.check("rope_scaling.linear", "linear: inv_freq / factor",
              cases=LINEAR_CASES, needs=("rope_inv_freq",))
def run_linear(env, x, case):
    return run_with_plain(env, x, case)


@run_linear.judge
def judge_linear(ctx, x, case, out):
    got = expect_inv_freq(ctx, out["out"], case)
    assert_inv_freq(ctx, case, got, [*linear_mistakes(ctx.ref, case, ctx.device),
                                     unscaled(ctx.ref, case, ctx.device)], out["plain"])


# --------------------------------------------------------------------------
# ntk


NTK_CASES = [
    dict(head_dim=4, base=10000.0, scaling={"type": "ntk", "factor": 2.0}),
    dict(head_dim=8, base=10000.0, scaling={"type": "ntk", "factor": 4.0}),
    dict(head_dim=64, base=10000.0, scaling={"type": "ntk", "factor": 4.0}),
    dict(head_dim=128, base=500000.0, scaling={"type": "ntk", "factor": 8}),
    dict(head_dim=128, base=10000.0, scaling={"type": "ntk", "factor": 16.0}),
]


def ntk_mistakes(ref, case, device):
    d, base, f = case["head_dim"], case["base"], case["scaling"]["factor"]

    def with_base(new_base):
        return lambda: ref.plain_inv_freq(d, new_base, device)

    code = "rope_scaling.wrong_ntk_exponent"
    return [(code, with_base(base * f), "your base is base * factor (exponent 1)"),
            (code, with_base(base * f ** (d / (d - 1))), "your exponent is d / (d - 1)"),
            (code, with_base(base * f ** ((d - 2) / d)), "your exponent is (d - 2) / d"),
            (code, with_base((base * f) ** (d / (d - 2))),
             "you raise base * factor to d / (d - 2); only the factor gets the exponent"),
            (code, with_base(base * f ** (2 / d)), "your exponent is 2 / d"),
            ("output.mismatch", lambda: ref.plain_inv_freq(d, base, device) / f,
             "your values are linear scaling (inv_freq / factor): NTK-aware scaling changes "
             "the base instead")]


@GRADER.check("rope_scaling.ntk", "ntk: base * factor ** (d / (d - 2))",
              cases=NTK_CASES, needs=("rope_inv_freq",))
def run_ntk(env, x, case):
    return run_with_plain(env, x, case)


@run_ntk.judge
def judge_ntk(ctx, x, case, out):
    got = expect_inv_freq(ctx, out["out"], case)
    assert_inv_freq(ctx, case, got, [*ntk_mistakes(ctx.ref, case, ctx.device),
                                     unscaled(ctx.ref, case, ctx.device)], out["plain"])


# --------------------------------------------------------------------------
# yarn


# Every correction dim here is at least 0.01 away from an integer (float32
# arithmetic cannot move floor/ceil), and ceil(high) <= head_dim/2 - 1, where
# HF's clamp (head_dim - 1) and a clamp to the last pair index agree.
YARN_CASES = [
    # (low, high) after floor/ceil and clamping, from the fractional dims in brackets
    dict(head_dim=8, base=10000.0, scaling=yarn(4.0, 4096)),  # 1, 3 (1.309, 2.814)
    dict(head_dim=16, base=10000.0, scaling=yarn(2.0, 128)),  # 0 (-0.392 floors to -1), 3
    dict(head_dim=64, base=10000.0, scaling=yarn(2.0, 2048)),  # 8, 21 (8.064, 20.105)
    dict(head_dim=128, base=10000.0, scaling=yarn(4.0, 4096)),  # 20, 46 (20.944, 45.027)
    dict(head_dim=64, base=10000.0, scaling=yarn(16.0, 1024, beta_fast=16, beta_slow=2)),  # 8, 16
    dict(head_dim=128, base=500000.0, scaling=yarn(8.0, 8192)),  # 18, 35 (18.081, 34.984)
    dict(head_dim=128, base=1000000.0,
         scaling=yarn(32, 32768, beta_fast=32.0, beta_slow=1.0)),  # 23, 40 (23.596, 39.651)
    # factor < 1: the same formula (HF applies it for every factor), so the low band is
    # multiplied by 1/factor; code that skips YaRN for factor <= 1 returns the plain
    # frequencies here. Last, so a mistake the larger factors show is named first.
    dict(head_dim=64, base=10000.0, scaling=yarn(0.5, 2048)),  # 8, 21 (8.064, 20.105)
]


def yarn_mistakes(ref, case, device):
    d, base = case["head_dim"], case["base"]
    s = case["scaling"]
    f, L, fast, slow = (s["factor"], s["original_max_position_embeddings"], s["beta_fast"],
                        s["beta_slow"])
    plain = ref.plain_inv_freq(d, base, device)
    n = d // 2

    def blend(keep):  # keep: weight of the original frequency
        return plain / f * (1 - keep) + plain * keep

    def ramp_keep(low, high, index=None):
        index = torch.arange(n, dtype=torch.float64, device=device) if index is None else index
        high = high + 0.001 if low == high else high
        return 1 - ((index - low) / (high - low)).clamp(0, 1)

    def dim(rot, width=d, two_pi=2 * math.pi, halves=2):
        return width * math.log(L / (rot * two_pi)) / (halves * math.log(base))

    def bounds(low, high):
        return max(low, 0), min(high, d - 1)

    right = bounds(math.floor(dim(fast)), math.ceil(dim(slow)))

    def paper():
        rotations = L * plain / (2 * math.pi)  # r = L / wavelength
        gamma = ((rotations - slow) / (fast - slow)).clamp(0, 1)
        return blend(gamma)

    def unclamped_ramp():
        low, high = right
        high = high + 0.001 if low == high else high
        index = torch.arange(n, dtype=torch.float64, device=device)
        return blend(1 - (index - low) / (high - low))

    code = "rope_scaling.yarn_ramp"
    return [
        (code, paper, "your ramp is the YaRN paper's, linear in the rotation count "
                      "r = L / wavelength; this exercise follows HF: linear in the pair index i "
                      "between floor(low) and ceil(high)"),
        (code, lambda: blend(ramp_keep(*bounds(dim(fast), dim(slow)))),
         "your correction range is not rounded: HF (truncate=True) takes floor(low) and "
         "ceil(high)"),
        (code, lambda: blend(ramp_keep(*bounds(math.floor(dim(slow)), math.ceil(dim(fast))))),
         "your beta_fast and beta_slow are swapped: low comes from beta_fast (the larger), "
         "high from beta_slow"),
        (code, lambda: blend(ramp_keep(*bounds(math.ceil(dim(fast)), math.floor(dim(slow))))),
         "your correction range is rounded the wrong way: floor(low), ceil(high)"),
        (code, lambda: blend(1 - ramp_keep(*right)),
         "your ramp runs the wrong way: pairs below low keep their original frequency, pairs "
         "above high are divided by the factor"),
        (code, lambda: blend(ramp_keep(*right, torch.arange(0, d, 2, dtype=torch.float64,
                                                            device=device))),
         "your ramp is evaluated at the channel index 2i; it runs over the pair index "
         "i = 0 .. head_dim/2 - 1"),
        (code, lambda: blend(ramp_keep(*bounds(math.floor(dim(fast, d / 2)),
                                               math.ceil(dim(slow, d / 2))))),
         "your correction dims use head_dim/2; the formula uses the full head_dim: "
         "d * ln(L / (2 pi beta)) / (2 ln base)"),
        (code, lambda: blend(ramp_keep(*bounds(math.floor(dim(fast, two_pi=1.0)),
                                               math.ceil(dim(slow, two_pi=1.0))))),
         "your correction dims miss the 2 pi: a wavelength is 2 pi / inv_freq"),
        (code, lambda: blend(ramp_keep(*bounds(math.floor(dim(fast, halves=1)),
                                               math.ceil(dim(slow, halves=1))))),
         "your correction dims divide by ln(base) instead of 2 ln(base): "
         "d * ln(L / (2 pi beta)) / (2 ln base)"),
        (code, lambda: blend(ramp_keep(math.floor(dim(fast)), right[1])),
         "your lower bound is not clamped at 0 (HF: max(floor(low), 0))"),
        (code, unclamped_ramp, "your ramp is not clamped to [0, 1]"),
        (code, lambda: plain / f,
         "every frequency is divided by the factor (that is linear scaling); YaRN keeps the "
         "high frequencies and only interpolates the low ones"),
        ("rope_scaling.hardcoded_values",
         lambda: None if (fast, slow) == (32, 1) else ref.yarn_inv_freq(d, base, f, L, 32, 1,
                                                                         device),
         f"your values are those of beta_fast=32, beta_slow=1; this call passes "
         f"beta_fast={fast!r}, beta_slow={slow!r}"),
        ("rope_scaling.yarn_skipped_small_factor", lambda: plain if f < 1 else None,
         f"your values are the unscaled frequencies for factor {f!r}: YaRN's blend applies "
         "for every factor (HF has no factor > 1 guard on the frequencies, only on the "
         "attention factor), so pairs above high are divided by the factor here too"),
    ]


@GRADER.check("rope_scaling.yarn", "yarn: HF's ramp over the pair index, "
              "floor/ceil bounds, every factor", cases=YARN_CASES, needs=("rope_inv_freq",))
def run_yarn(env, x, case):
    return run_with_plain(env, x, case)


@run_yarn.judge
def judge_yarn(ctx, x, case, out):
    got = expect_inv_freq(ctx, out["out"], case)
    assert_inv_freq(ctx, case, got, [*yarn_mistakes(ctx.ref, case, ctx.device),
                                     unscaled(ctx.ref, case, ctx.device)], out["plain"])


# --------------------------------------------------------------------------
# llama3


# Each case has pairs in all three bands (kept, smoothed, divided).
LLAMA3_CASES = [
    dict(head_dim=8, base=10000.0, scaling=llama3(original=64)),  # tests by hand
    dict(head_dim=64, base=500000.0, scaling=llama3(factor=32.0, low=1.0, high=4.0)),  # Llama 3.2
    dict(head_dim=128, base=500000.0, scaling=llama3()),  # Llama 3.1
    dict(head_dim=64, base=10000.0, scaling=llama3(factor=4.0, low=2.0, high=8.0, original=2048)),
]


def llama3_mistakes(ref, case, device):
    d, base = case["head_dim"], case["base"]
    s = case["scaling"]
    f, lo, hi, L = (s["factor"], s["low_freq_factor"], s["high_freq_factor"],
                    s["original_max_position_embeddings"])
    inv = ref.plain_inv_freq(d, base, device)
    wavelen = 2 * math.pi / inv

    def bands(wavelen=wavelen, smooth=None, keep_short=True, low_wl=L / lo, high_wl=L / hi,
              reverse_blend=False):
        smooth = (L / wavelen - lo) / (hi - lo) if smooth is None else smooth
        if reverse_blend:
            smoothed = (1 - smooth) * inv + smooth * inv / f
        else:
            smoothed = (1 - smooth) * inv / f + smooth * inv
        short, long = (inv, inv / f) if keep_short else (inv / f, inv)
        out = torch.where(wavelen > low_wl, long, short)
        medium = (wavelen >= high_wl) & (wavelen <= low_wl)
        return torch.where(medium, smoothed, out)

    code = "rope_scaling.llama3_smoothing"
    return [
        (code, lambda: bands(keep_short=False),
         "your bands are swapped: wavelengths shorter than L / high_freq_factor are kept, "
         "longer than L / low_freq_factor are divided by the factor"),
        (code, lambda: bands(reverse_blend=True),
         "your blend is reversed: (1 - smooth) * inv_freq / factor + smooth * inv_freq"),
        (code, lambda: bands(smooth=(wavelen / L - lo) / (hi - lo)),
         "your smooth factor uses wavelen / L; it is (L / wavelen - low_freq_factor) / "
         "(high_freq_factor - low_freq_factor)"),
        (code, lambda: torch.where(wavelen > L / lo, inv / f, inv),
         "the middle band is left unscaled: wavelengths between L / high_freq_factor and "
         "L / low_freq_factor are interpolated smoothly"),
        (code, lambda: torch.where(wavelen > L / hi, inv / f, inv),
         "the middle band is divided by the factor (or the two wavelength bounds are swapped): "
         "low_freq_wavelen = L / low_freq_factor, high_freq_wavelen = L / high_freq_factor"),
        (code, lambda: bands(wavelen=1 / inv),
         "your wavelength misses the 2 pi: wavelen = 2 pi / inv_freq"),
        ("output.mismatch", lambda: inv / f,
         "every frequency is divided by the factor (linear scaling); Llama 3 keeps the short "
         "wavelengths"),
        ("rope_scaling.hardcoded_values",
         lambda: None if (f, lo, hi, L) == (8, 1, 4, 8192) else ref.llama3_inv_freq(
             d, base, 8, 1, 4, 8192, device),
         "your values are those of factor=8, low_freq_factor=1, high_freq_factor=4, "
         f"original_max_position_embeddings=8192; this call passes {s!r}"),
    ]


@GRADER.check("rope_scaling.llama3", "llama3: keep short wavelengths, divide "
              "long ones, smooth between", cases=LLAMA3_CASES, needs=("rope_inv_freq",))
def run_llama3(env, x, case):
    return run_with_plain(env, x, case)


@run_llama3.judge
def judge_llama3(ctx, x, case, out):
    got = expect_inv_freq(ctx, out["out"], case)
    assert_inv_freq(ctx, case, got, [*llama3_mistakes(ctx.ref, case, ctx.device),
                                     unscaled(ctx.ref, case, ctx.device)], out["plain"])


# --------------------------------------------------------------------------
# attention factor


FACTOR_CASES = [
    dict(head_dim=8, base=10000.0),
    dict(head_dim=8, base=10000.0, scaling={"type": "linear", "factor": 4.0}),
    dict(head_dim=8, base=10000.0, scaling={"type": "ntk", "factor": 4.0}),
    dict(head_dim=8, base=10000.0, scaling=llama3(original=64)),
    dict(head_dim=8, base=10000.0, scaling=yarn(4.0, 4096)),
    dict(head_dim=64, base=10000.0, scaling=yarn(2.0, 2048)),
    dict(head_dim=128, base=1000000.0, scaling=yarn(32, 32768)),
    dict(head_dim=8, base=10000.0, scaling=yarn(1.0, 4096)),
    dict(head_dim=8, base=10000.0, scaling=yarn(0.5, 4096)),
]


def factor_note(case, got: float, want: float) -> str:
    scaling = case.get("scaling") or {"type": None, "factor": 1.0}
    kind, f = scaling["type"], scaling["factor"]
    mscale = 0.1 * math.log(f) + 1.0 if f > 0 else float("nan")
    if want != 1.0:
        if math.isclose(got, 1.0, abs_tol=FACTOR_ATOL):
            return (f"you return 1.0; YaRN scales cos and sin by 0.1 ln(factor) + 1 = "
                    f"{want:.6f}")
        if math.isclose(got, mscale**2, abs_tol=FACTOR_ATOL):
            return ("you return (0.1 ln(factor) + 1) ** 2, the scale of the logits; the "
                    "attention factor multiplies cos and sin, so q . k gets it squared by itself")
        if math.isclose(got, 1 / mscale, abs_tol=FACTOR_ATOL):
            return "you return 1 / (0.1 ln(factor) + 1); it is 0.1 ln(factor) + 1"
        if any(math.isclose(got, 0.1 * log(f) + 1, abs_tol=FACTOR_ATOL)
               for log in (math.log2, math.log10)):
            return "you use log2 or log10; the attention factor uses the natural log"
        return f"expected 0.1 ln({f}) + 1 = {want:.6f}"
    if kind == "yarn" and math.isclose(got, mscale, abs_tol=FACTOR_ATOL):
        return (f"for factor {f} <= 1 (no extension) YaRN's attention factor is 1.0, "
                "not 0.1 ln(factor) + 1")
    if kind not in ("yarn", None) and math.isclose(got, mscale, abs_tol=FACTOR_ATOL):
        return f"only yarn has an attention factor; {kind} returns 1.0"
    return f"{kind or 'no scaling'} returns 1.0"


@GRADER.check("rope_scaling.attention_factor", "attention factor: a float, 0.1 ln(f) + 1 "
              "for yarn with f > 1, else 1.0",
              cases=FACTOR_CASES, needs=("rope_inv_freq",))
def run_factor(env, x, case):
    return run_call(env, x, case)


@run_factor.judge
def judge_factor(ctx, x, case, out):
    packed = expect_pair(out["out"], case)
    _, want = ctx.ref.inv_freq64(case["head_dim"], case.get("base", 10000.0), case.get("scaling"))
    got = packed["factor"]
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        value = None
        if isinstance(got, TensorOut) and got.data.numel() == 1 and got.data.is_floating_point():
            value = float(got.data.double().reshape(()))
        codes = ["api.wrong_return_type"]
        note = ""
        if value is not None:
            right = math.isclose(value, want, abs_tol=FACTOR_ATOL)
            note = f" (its value {value:.6g} is {'right' if right else 'wrong'})"
            if not right:
                codes.append("rope_scaling.missing_attention_factor")
                note += f": {factor_note(case, value, want)}"
        raise Fail(f"the attention factor is {type_name(got)}{note}; return a Python float "
                   "(math.log, or float(...) of a 0-d tensor)", codes)
    if not math.isfinite(got) or abs(got - want) > FACTOR_ATOL:
        raise Fail(f"attention factor {got!r}, expected {want!r}: {factor_note(case, got, want)}",
                   ["rope_scaling.missing_attention_factor"])


# --------------------------------------------------------------------------
# The caller's dict


UNCHANGED_SCALINGS = [
    {"type": "linear", "factor": 4.0},
    {"type": "ntk", "factor": 4.0},
    yarn(4.0, 4096),
    llama3(original=64),
]


@GRADER.check("rope_scaling.dict_unchanged", "The caller's scaling dict is left unchanged",
              cases=[dict(head_dim=8, base=10000.0)], needs=("rope_inv_freq",))
def run_unchanged(env, x, case):
    found = []
    for scaling in UNCHANGED_SCALINGS:
        given = copy.deepcopy(scaling)

        def once(given=given):
            with torch.device(env.device):
                return env.mod.rope_inv_freq(case["head_dim"], case["base"], given)

        result = attempt(env, once, catch=Exception)
        found.append({"raised": result if isinstance(result, ExceptionOut) else None,
                      "after": None if given == scaling else repr(given)[:300]})
    return found


@run_unchanged.judge
def judge_unchanged(ctx, x, case, out):
    raised = [item["raised"] for item in out if item["raised"] is not None]
    if len(raised) == len(out):
        raise exception_failure(raised[0])
    for scaling, item in zip(UNCHANGED_SCALINGS, out):
        if item["after"] is not None:
            raise Fail(f"rope_inv_freq changed the caller's scaling dict in place: {scaling!r} "
                       f"became {item['after']}; read it (scaling['factor'], scaling.get(...)) "
                       "without pop, del or assignment, or work on dict(scaling)",
                       ["input.mutated"], show_case=False)


# --------------------------------------------------------------------------
# Extras


FACTOR_ONE_CASES = [
    dict(head_dim=64, base=10000.0, scaling={"type": "linear", "factor": 1.0}),
    dict(head_dim=64, base=10000.0, scaling={"type": "ntk", "factor": 1.0}),
    dict(head_dim=64, base=10000.0, scaling=yarn(1.0, 2048)),
    dict(head_dim=64, base=500000.0, scaling=llama3(factor=1.0)),
]


@GRADER.check("rope_scaling.factor_one", "factor 1 changes nothing (every type)",
              level="extra", cases=FACTOR_ONE_CASES, needs=("rope_inv_freq",))
def run_factor_one(env, x, case):
    return run_with_plain(env, x, case)


@run_factor_one.judge
def judge_factor_one(ctx, x, case, out):
    got = expect_inv_freq(ctx, out["out"], case)
    mistakes = {"linear": linear_mistakes, "ntk": ntk_mistakes, "yarn": yarn_mistakes,
                "llama3": llama3_mistakes}[case["scaling"]["type"]](ctx.ref, case, ctx.device)
    try:
        assert_inv_freq(ctx, case, got, mistakes, out["plain"])
    except Fail as failure:
        failure.message = (f"with factor 1, {case['scaling']['type']} must give the unscaled "
                           f"frequencies: {failure.message}")
        raise


@GRADER.check("rope_scaling.yarn_collapsed_range", "yarn with a collapsed correction range "
              "(low == high): no 0/0", level="extra",
              cases=[dict(head_dim=8, base=10000.0, scaling=yarn(4.0, 4))],
              needs=("rope_inv_freq",))
def run_collapsed(env, x, case):
    return run_with_plain(env, x, case)


@run_collapsed.judge
def judge_collapsed(ctx, x, case, out):
    why = ("original_max_position_embeddings=4 puts both bounds at 0 (low == high); HF adds "
           "0.001 to high before dividing")
    try:
        got = expect_inv_freq(ctx, out["out"], case)
    except Fail as failure:
        if failure.diagnosis == ["output.nonfinite"]:
            failure.message += f": {why}"
        raise
    try:
        assert_inv_freq(ctx, case, got, [*yarn_mistakes(ctx.ref, case, ctx.device),
                                     unscaled(ctx.ref, case, ctx.device)], out["plain"])
    except Fail as failure:
        failure.message += f"; {why}"
        raise
