"""The `rope_scaling` reference pinned to values worked out by hand, to HF's
formulas restated independently, and to the contract's dtype/device promises
(inv_freq float32 on the default device, attention factor a Python float,
the caller's dict untouched)."""

import copy
import math
from pathlib import Path

import pytest
import torch

from drillpe.grading.loading import load_module

ROOT = Path(__file__).resolve().parent.parent
ref = load_module(ROOT / "solutions" / "rope_scaling.py", "drillpe_test_reference_rope_scaling")
grader = load_module(ROOT / "graders" / "rope_scaling.py", "drillpe_test_grader_rope_scaling")


def yarn(factor, original, beta_fast=32, beta_slow=1):
    return {"type": "yarn", "factor": factor, "original_max_position_embeddings": original,
            "beta_fast": beta_fast, "beta_slow": beta_slow}


def llama3(factor=8, low=1, high=4, original=8192):
    return {"type": "llama3", "factor": factor, "low_freq_factor": low, "high_freq_factor": high,
            "original_max_position_embeddings": original}


def test_plain_by_hand():
    inv, factor = ref.rope_inv_freq(8)
    assert inv.tolist() == pytest.approx([1.0, 0.1, 0.01, 0.001], rel=1e-7)
    assert factor == 1.0 and type(factor) is float
    # head_dim 2: a single pair, frequency 1.
    assert ref.rope_inv_freq(2, 500000.0)[0].tolist() == [1.0]


@pytest.mark.parametrize("head_dim, base, factor", [(8, 10000.0, 2.0), (64, 10000.0, 4.0),
                                                    (128, 500000.0, 8), (96, 10000.0, 32.0)])
def test_linear_is_plain_over_factor_exactly(head_dim, base, factor):
    plain, _ = ref.inv_freq64(head_dim, base)
    inv, af = ref.inv_freq64(head_dim, base, {"type": "linear", "factor": factor})
    assert torch.equal(inv, plain / factor)
    assert af == 1.0
    inv32, _ = ref.rope_inv_freq(head_dim, base, {"type": "linear", "factor": factor})
    assert torch.equal(inv32, (plain / factor).float())


def test_ntk_base_by_hand():
    # head_dim 64, factor 4: exponent 64 / 62 = 1.0322581; 4 ** 1.0322581 = 4.1829366,
    # so the new base is 10000 * 4.1829366 = 41829.366.
    assert ref.ntk_base(64, 10000.0, 4.0) == pytest.approx(41829.366, rel=1e-7)
    inv, af = ref.rope_inv_freq(64, 10000.0, {"type": "ntk", "factor": 4.0})
    want = [41829.36592889948 ** (-2 * i / 64) for i in range(32)]
    assert inv.tolist() == pytest.approx(want, rel=1e-6)
    assert af == 1.0
    # The highest frequency is kept, the lowest is divided by exactly the factor:
    # new_base ** (-(d-2)/d) = base ** (-(d-2)/d) / factor.
    plain, _ = ref.rope_inv_freq(64, 10000.0)
    assert inv[0] == 1.0
    assert float(inv[-1]) == pytest.approx(float(plain[-1]) / 4, rel=1e-6)


def test_ntk_small_by_hand():
    # head_dim 8, factor 4: base 10000 * 4 ** (4/3) = 63496.042; inv = [1, b^-1/4, b^-1/2, b^-3/4].
    inv, _ = ref.rope_inv_freq(8, 10000.0, {"type": "ntk", "factor": 4.0})
    assert inv.tolist() == pytest.approx([1.0, 0.06299605, 0.003968503, 0.00025], rel=1e-6)


def test_yarn_correction_range_by_hand():
    # head_dim 128, base 10000, L = 4096:
    #   2 ln 10000 = 18.420681
    #   beta_fast 32: L / (2 pi 32) = 20.371833, ln = 3.014153, 128 * 3.014153 / 18.420681
    #                 = 20.944482 -> floor 20
    #   beta_slow 1:  L / (2 pi)    = 651.89865, ln = 6.479889, 128 * 6.479889 / 18.420681
    #                 = 45.026881 -> ceil 46
    # both inside [0, 63] (and HF's [0, 127]): no clamping.
    assert ref.correction_dim(32, 128, 10000.0, 4096) == pytest.approx(20.944482, abs=1e-6)
    assert ref.correction_dim(1, 128, 10000.0, 4096) == pytest.approx(45.026881, abs=1e-6)
    assert ref.correction_range(128, 10000.0, 4096, 32, 1) == (20, 46)
    inv, af = ref.rope_inv_freq(128, 10000.0, yarn(4.0, 4096))
    plain, _ = ref.inv_freq64(128, 10000.0)
    inv = inv.double()
    # Pairs 0..20 keep their frequency, pairs 46..63 are divided by 4, and pair 33
    # sits at ramp (33 - 20) / 26 = 0.5: half of each.
    assert torch.allclose(inv[:21], plain[:21], rtol=1e-6, atol=0)
    assert torch.allclose(inv[46:], plain[46:] / 4, rtol=1e-6, atol=0)
    assert float(inv[33]) == pytest.approx(float(plain[33]) * (0.5 / 4 + 0.5), rel=1e-6)
    assert af == pytest.approx(1.138629436, abs=1e-9)


def test_yarn_small_by_hand():
    # head_dim 8, L = 4096: dims 8 * 3.014153 / 18.420681 = 1.309 -> 1 and
    # 8 * 6.479889 / 18.420681 = 2.814 -> 3; ramp over i = 0..3 is [0, 0, 0.5, 1].
    inv, af = ref.rope_inv_freq(8, 10000.0, yarn(4.0, 4096))
    assert inv.tolist() == pytest.approx([1.0, 0.1, 0.01 * (0.5 / 4 + 0.5), 0.001 / 4], rel=1e-6)
    assert af == pytest.approx(0.1 * math.log(4) + 1)


def test_yarn_low_bound_clamped_and_collapsed_range():
    # head_dim 16, L = 128: dim(32) = 16 ln(128 / 201.06) / 18.42 = -0.392 -> floor -1 -> 0.
    assert ref.correction_dim(32, 16, 10000.0, 128) == pytest.approx(-0.392, abs=1e-3)
    assert ref.correction_range(16, 10000.0, 128, 32, 1) == (0, 3)
    # L = 4: both bounds are 0; HF's guard makes the ramp [0, 1, 1, 1] (no 0/0).
    assert ref.correction_range(8, 10000.0, 4, 32, 1) == (0, 0)
    inv, _ = ref.rope_inv_freq(8, 10000.0, yarn(4.0, 4))
    assert torch.isfinite(inv).all()
    assert inv.tolist() == pytest.approx([1.0, 0.025, 0.0025, 0.00025], rel=1e-6)


@pytest.mark.parametrize("factor, want", [(4.0, 1.1386294361), (2.0, 1.0693147181),
                                          (32, 1.3465735903), (1.0, 1.0), (0.5, 1.0)])
def test_yarn_attention_factor(factor, want):
    _, af = ref.rope_inv_freq(64, 10000.0, yarn(factor, 2048))
    assert type(af) is float
    assert af == pytest.approx(want, abs=1e-9)


def test_yarn_factor_one_is_identity():
    plain, _ = ref.inv_freq64(64, 10000.0)
    inv, af = ref.inv_freq64(64, 10000.0, yarn(1.0, 2048))
    assert torch.allclose(inv, plain, rtol=1e-15, atol=0) and af == 1.0


def test_llama3_three_bands_by_hand():
    # head_dim 8, base 10000: inv = [1, 0.1, 0.01, 0.001], wavelengths 2 pi / inv =
    # [6.28, 62.83, 628.3, 6283]. L = 64, low 1, high 4: kept below 64 / 4 = 16,
    # divided by 8 above 64 / 1 = 64, smoothed in between:
    #   pair 1: smooth = (64 / 62.832 - 1) / (4 - 1) = 0.0061972,
    #           0.1 / 8 * (1 - 0.0061972) + 0.1 * 0.0061972 = 0.0130423
    inv, af = ref.rope_inv_freq(8, 10000.0, llama3(original=64))
    assert inv.tolist() == pytest.approx([1.0, 0.0130423, 0.00125, 0.000125], rel=1e-5)
    smooth = (64 * 0.1 / (2 * math.pi) - 1) / 3
    assert smooth == pytest.approx(0.0061972, abs=1e-7)
    assert float(inv[1]) == pytest.approx(0.0125 * (1 - smooth) + 0.1 * smooth, rel=1e-6)
    assert af == 1.0


def test_llama31_bands():
    # Llama 3.1: head_dim 128, base 500000, factor 8, L 8192. Wavelengths under 2048
    # are kept, over 8192 divided by 8.
    inv, _ = ref.inv_freq64(128, 500000.0, llama3())
    plain, _ = ref.inv_freq64(128, 500000.0)
    wavelen = 2 * math.pi / plain
    short, long = wavelen < 2048, wavelen > 8192
    assert short.sum() > 0 and long.sum() > 0 and (~short & ~long).sum() > 0
    assert torch.equal(inv[short], plain[short])
    assert torch.allclose(inv[long], plain[long] / 8, rtol=1e-15, atol=0)
    middle = ~short & ~long
    assert ((inv[middle] < plain[middle]) & (inv[middle] > plain[middle] / 8)).all()


def hf_yarn_restated(d, base, f, L, fast, slow):
    """HF's _compute_yarn_parameters (truncate=True), restated in plain Python floats."""
    def dim(r):
        return d * math.log(L / (r * 2 * math.pi)) / (2 * math.log(base))

    low, high = max(math.floor(dim(fast)), 0), min(math.ceil(dim(slow)), d - 1)
    if low == high:
        high += 0.001
    out = []
    for i in range(d // 2):
        w = base ** (-2 * i / d)
        ramp = min(max((i - low) / (high - low), 0.0), 1.0)
        extrapolation = 1 - ramp
        out.append(w / f * (1 - extrapolation) + w * extrapolation)
    return out


@pytest.mark.parametrize("case", grader.YARN_CASES, ids=lambda c: str(c["scaling"]))
def test_yarn_matches_restatement(case):
    s = case["scaling"]
    inv, _ = ref.inv_freq64(case["head_dim"], case["base"], s)
    want = hf_yarn_restated(case["head_dim"], case["base"], s["factor"],
                            s["original_max_position_embeddings"], s["beta_fast"], s["beta_slow"])
    assert inv.tolist() == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("case", grader.YARN_CASES, ids=lambda c: str(c["scaling"]))
def test_graded_yarn_cases_are_unambiguous(case):
    # float32 arithmetic cannot move floor/ceil (every dim >= 0.01 from an integer), and
    # high stays below head_dim/2, where HF's clamp (d - 1) and one at d/2 - 1 agree.
    s, d, base = case["scaling"], case["head_dim"], case["base"]
    L = s["original_max_position_embeddings"]
    for rotations in (s["beta_fast"], s["beta_slow"]):
        x = ref.correction_dim(rotations, d, base, L)
        assert abs(x - round(x)) > 0.01
    low, high = ref.correction_range(d, base, L, s["beta_fast"], s["beta_slow"])
    assert 0 <= low < high <= d // 2 - 1


@pytest.mark.parametrize("case", grader.LLAMA3_CASES, ids=lambda c: str(c["scaling"]))
def test_graded_llama3_cases_fill_every_band(case):
    s = case["scaling"]
    plain = ref.plain_inv_freq(case["head_dim"], case["base"])
    wavelen = 2 * math.pi / plain
    L = s["original_max_position_embeddings"]
    short = wavelen < L / s["high_freq_factor"]
    long = wavelen > L / s["low_freq_factor"]
    assert short.any() and long.any() and (~short & ~long).any()


SCALINGS = [None, {"type": "linear", "factor": 4.0}, {"type": "ntk", "factor": 4.0},
            yarn(4.0, 4096), llama3(original=64)]


@pytest.mark.parametrize("scaling", SCALINGS, ids=lambda s: s["type"] if s else "none")
def test_contract_types_and_dict_untouched(scaling):
    given = copy.deepcopy(scaling)
    inv, af = ref.rope_inv_freq(8, 10000.0, given)
    assert given == scaling
    assert inv.dtype == torch.float32 and inv.shape == (4,)
    assert inv.device == torch.empty(0).device
    assert type(af) is float


def test_follows_the_default_device():
    with torch.device("meta"):  # any device: the reference never names one
        inv, _ = ref.rope_inv_freq(64, 10000.0, yarn(4.0, 4096))
    assert inv.device.type == "meta"


def test_float32_rounding_is_within_tolerance():
    # What a float32 implementation (as HF's) loses stays far inside rtol 1e-5.
    for case in [*grader.YARN_CASES, *grader.LLAMA3_CASES, *grader.NTK_CASES]:
        inv32, _ = ref.rope_inv_freq(case["head_dim"], case["base"], case["scaling"])
        inv64, _ = ref.inv_freq64(case["head_dim"], case["base"], case["scaling"])
        assert torch.allclose(inv32.double(), inv64, rtol=1e-6, atol=0)
