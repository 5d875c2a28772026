"""The `t5_bias` model answer pinned to buckets worked out by hand, to HF's
float32 formulation written independently, to the contract's dtype/device
promises; the oracle the judge uses pinned to the model answer, and the
grader's tie rule to the contract's wording."""

import math
from pathlib import Path

import pytest
import torch

from drillpe.grading.common import load_reference
from drillpe.grading.loading import load_module

ROOT = Path(__file__).resolve().parent.parent
ref = load_module(ROOT / "solutions" / "t5_bias.py", "drillpe_test_reference_t5_bias")
oracle = load_reference("t5_bias")  # graders/oracles/t5_bias.py: what the judge compares with
grader = load_module(ROOT / "graders" / "t5_bias.py", "drillpe_test_grader_t5_bias")


def buckets(values, **kwargs) -> list[int]:
    return ref.relative_position_bucket(torch.tensor(values), **kwargs).tolist()


# Defaults: bidirectional, num_buckets 32 -> half = 16 per direction, max_exact = 8,
# log bucket 8 + trunc(log(n/8) / log(128/8) * 8) = 8 + trunc(2 * log2(n/8)), at most 15;
# r > 0 adds 16.
DEFAULT_BY_HAND = {
    0: 0,        # n = 0 < 8: exact
    -1: 1,       # n = 1: exact
    1: 17,       # 16 + 1: the offset for keys after the query
    -7: 7,       # n = 7 < 8: the last exact bucket
    -8: 8,       # 8 + trunc(2 * log2(1)) = 8 + 0
    -12: 9,      # 8 + trunc(2 * log2(1.5)) = 8 + trunc(1.170) = 9
    12: 25,      # 16 + 9
    -16: 10,     # 8 + 2 * log2(2) = 10 exactly (a tie the reference keeps on the integer)
    -22: 10,     # 8 + trunc(2 * log2(2.75)) = 8 + trunc(2.919) = 10
    -23: 11,     # 8 + trunc(2 * log2(2.875)) = 8 + trunc(3.047) = 11
    -32: 12,     # 8 + 2 * 2 = 12 exactly
    -64: 14,     # 8 + 2 * 3 = 14 exactly
    -90: 14,     # 8 + trunc(2 * log2(11.25)) = 8 + trunc(6.984) = 14
    -91: 15,     # 8 + trunc(2 * log2(11.375)) = 8 + trunc(7.015) = 15
    -127: 15,    # 8 + trunc(2 * log2(15.875)) = 8 + trunc(7.977) = 15
    -128: 15,    # 8 + 2 * 4 = 16, clamped to 15
    -1000: 15,   # clamped
    1000: 31,    # 16 + 15
}

# Unidirectional, num_buckets 32, max_distance 128: half = 32, max_exact = 16, n = max(-r, 0);
# log bucket 16 + trunc(log(n/16) / log(8) * 16) = 16 + trunc(16/3 * log2(n/16)), at most 31.
UNIDIRECTIONAL_BY_HAND = {
    5: 0,        # a key after the query: n = 0
    1000: 0,
    0: 0,
    -5: 5,       # exact
    -15: 15,     # the last exact bucket
    -16: 16,     # 16 + 0
    -20: 17,     # 16 + trunc(16/3 * log2(1.25)) = 16 + trunc(1.717) = 17
    -32: 21,     # 16 + trunc(16/3 * 1) = 16 + 5
    -64: 26,     # 16 + trunc(16/3 * 2) = 16 + trunc(10.67) = 26
    -127: 31,    # 16 + trunc(16/3 * log2(7.9375)) = 16 + trunc(15.94) = 31
    -128: 31,    # 16 + 16 = 32, clamped to 31
    -1000: 31,
}

# Bidirectional, num_buckets 16, max_distance 64: half = 8, max_exact = 4,
# log bucket 4 + trunc(log(n/4) / log(16) * 4) = 4 + trunc(log2(n/4)), at most 7.
SMALL_BY_HAND = {
    3: 11,       # 8 + 3
    -4: 4,       # 4 + 0
    -7: 4,       # 4 + trunc(log2(1.75)) = 4 + trunc(0.807) = 4
    -8: 5,       # 4 + 1 exactly
    -15: 5,      # 4 + trunc(log2(3.75)) = 4 + trunc(1.907) = 5
    -63: 7,      # 4 + trunc(log2(15.75)) = 4 + trunc(3.977) = 7
    64: 15,      # 8 + min(7, 4 + 4)
}

# Bidirectional, num_buckets 12, max_distance 40: half = 6, max_exact = 3,
# log bucket 3 + trunc(log(n/3) / log(40/3) * 3), at most 5.
ODD_BY_HAND = {
    -2: 2,       # exact
    -5: 3,       # 3 + trunc(0.5108 / 2.5903 * 3) = 3 + trunc(0.592) = 3
    -10: 4,      # 3 + trunc(1.2040 / 2.5903 * 3) = 3 + trunc(1.394) = 4
    -39: 5,      # 3 + trunc(2.5649 / 2.5903 * 3) = 3 + trunc(2.971) = 5
    40: 11,      # 6 + min(5, 3 + 3)
}


@pytest.mark.parametrize("table, kwargs", [
    (DEFAULT_BY_HAND, {}),
    (UNIDIRECTIONAL_BY_HAND, dict(bidirectional=False)),
    (SMALL_BY_HAND, dict(num_buckets=16, max_distance=64)),
    (ODD_BY_HAND, dict(num_buckets=12, max_distance=40)),
])
def test_buckets_by_hand(table, kwargs):
    assert buckets(list(table), **kwargs) == list(table.values())


def hf_float32(r: torch.Tensor, bidirectional: bool, num_buckets: int, max_distance: int):
    """HF T5's bucketing as HF computes it (float32 log, .long() truncation), written
    independently of the reference: each half bucketed on its own."""
    out = torch.empty_like(r)
    halves = [(r <= 0, 0), (r > 0, num_buckets // 2)] if bidirectional else [(r <= 0, 0),
                                                                             (r > 0, None)]
    half = num_buckets // 2 if bidirectional else num_buckets
    exact = half // 2
    for where, offset in halves:
        if offset is None:  # unidirectional, future keys
            out[where] = 0
            continue
        n = r[where].abs()
        log = (torch.log(n.float() / exact) / math.log(max_distance / exact)
               * (half - exact)).long() + exact
        out[where] = offset + torch.where(n < exact, n, log.clamp(max=half - 1))
    return out


SETTINGS = [(True, 32, 128), (False, 32, 128), (True, 16, 64), (True, 64, 128),
            (False, 32, 64), (False, 16, 256), (True, 12, 40), (True, 64, 1000), (True, 8, 16)]


@pytest.mark.parametrize("setting", SETTINGS)
def test_equals_hf_float32(setting):
    r = torch.arange(-1000, 1000)
    assert torch.equal(ref.relative_position_bucket(r, *setting), hf_float32(r, *setting))


@pytest.mark.parametrize("setting", SETTINGS)
def test_buckets_in_range_and_monotone(setting):
    bidirectional, num_buckets, _ = setting
    r = torch.arange(-1000, 1000)
    b = ref.relative_position_bucket(r, *setting)
    assert int(b.min()) == 0 and int(b.max()) == num_buckets - 1
    past, future = b[r <= 0].flip(0), b[r > 0]  # each ordered by growing distance
    assert bool((past.diff() >= 0).all())
    if bidirectional:
        # r = 0 has no offset and r = 1 is already 16 + 1: bucket num_buckets / 2 is never used.
        assert bool((future.diff() >= 0).all()) and int(future.min()) == num_buckets // 2 + 1
        assert set(b.tolist()) == set(range(num_buckets)) - {num_buckets // 2}
    else:
        assert bool((future == 0).all())
        assert set(b.tolist()) == set(range(num_buckets))


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32])
@pytest.mark.parametrize("shape", [(), (7,), (3, 5), (2, 3, 4)])
def test_bucket_dtype_and_shape(dtype, shape):
    r = torch.randint(-300, 300, shape, dtype=dtype)
    b = ref.relative_position_bucket(r)
    assert b.dtype == torch.int64 and b.shape == r.shape and b.device == r.device
    assert torch.equal(b.reshape(-1), ref.relative_position_bucket(r.reshape(-1).long()))


def known_module(n_heads=2, **kwargs):
    module = ref.T5RelativeBias(n_heads, **kwargs)
    nb = module.relative_attention_bias.weight.shape[0]
    with torch.no_grad():  # weight[b, h] = 100 h + b: every entry names its bucket and head
        module.relative_attention_bias.weight.copy_(
            torch.arange(nb)[:, None] + 100.0 * torch.arange(n_heads)[None, :])
    return module


def test_bias_by_hand():
    bias = known_module()(3, 3)
    assert bias.shape == (1, 2, 3, 3) and bias.dtype == torch.float32
    # out[0, h, i, j] = 100 h + bucket(j - i): rows are queries, columns keys.
    assert bias[0, 0].tolist() == [[0, 17, 18], [1, 0, 17], [2, 1, 0]]
    assert bias[0, 1].tolist() == [[100, 117, 118], [101, 100, 117], [102, 101, 100]]


def test_cross_lengths_start_at_zero():
    # forward(2, 5): query 1 sits at position 1 (not 4): r = j - 1.
    bias = known_module(num_buckets=16, max_distance=64)(2, 5)
    assert bias.shape == (1, 2, 2, 5)
    # num_buckets 16: half 8, max_exact 4; r = 4 -> 8 + 4 + trunc(log2(1)) = 12.
    assert bias[0, 0].tolist() == [[0, 9, 10, 11, 12], [1, 0, 9, 10, 11]]
    unidirectional = known_module(bidirectional=False)(5, 2)
    assert unidirectional[0, 0].tolist() == [[0, 0], [1, 0], [2, 1], [3, 2], [4, 3]]


def test_bias_dtype_and_device_follow_the_table():
    module = known_module(3)
    assert module(4, 6).dtype == torch.float32
    assert module.double()(4, 6).dtype == torch.float64
    if torch.cuda.is_available():
        assert known_module(3).cuda()(4, 6).device.type == "cuda"


def test_stub_parameter_name_is_the_graders():
    module = ref.T5RelativeBias(4, num_buckets=16)
    assert {n: tuple(p.shape) for n, p in module.named_parameters()} == {
        grader.TABLE_NAME: (16, 4)}


def test_tie_rule_accepts_either_neighbour_only_at_ties():
    setting = dict(bidirectional=True, num_buckets=32, max_distance=128)
    r = torch.arange(-1000, 1000)
    right = ref.relative_position_bucket(r)

    def with_bucket(value, bucket):
        got = right.clone()
        got[r == value] = bucket
        return grader.bucket_failure(oracle, r, got, setting)

    # n = 16, 32, 64: the log bucket is exactly 10, 12, 14, so 9, 11, 13 pass too.
    for value, low in ((-16, 9), (-32, 11), (-64, 13), (16, 25)):
        assert with_bucket(value, low) is None
    # Not a tie: n = 12 (log bucket 9.17) and n = 91 (15.02) must be exact.
    for value, wrong in ((-12, 8), (-91, 14), (-16, 11)):
        failure = with_bucket(value, wrong)
        assert failure is not None and failure.diagnosis == ["t5_bias.bucket_edges"]


def test_grader_names_direction_and_edges():
    setting = dict(bidirectional=True, num_buckets=32, max_distance=128)
    r = torch.arange(-1000, 1000)
    flipped = grader.bucket_failure(oracle, r, ref.relative_position_bucket(-r), setting)
    assert flipped.diagnosis == ["t5_bias.direction_flipped"]
    unclamped = oracle.bucket_model(r, clamp=False)
    assert grader.bucket_failure(oracle, r, unclamped, setting).diagnosis == [
        "t5_bias.bucket_edges"]


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("num_buckets,max_distance", [(32, 128), (8, 20), (33, 16)])
def test_oracle_defaults_are_the_model_answer(bidirectional, num_buckets, max_distance):
    r = torch.arange(-1000, 1000)
    assert torch.equal(oracle.bucket_model(r, bidirectional, num_buckets, max_distance),
                       ref.relative_position_bucket(r, bidirectional, num_buckets, max_distance))
    table = torch.randn(num_buckets, 3)
    module = ref.T5RelativeBias(3, num_buckets, max_distance, bidirectional)
    with torch.no_grad():
        module.relative_attention_bias.weight.copy_(table)
        got = module(5, 9)
    buckets = oracle.bucket_model(oracle.relative_positions(5, 9), bidirectional, num_buckets,
                                  max_distance)
    assert torch.equal(got, oracle.lookup(table, buckets))
