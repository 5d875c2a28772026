"""The judge's comparisons (drillpe.grading.api): the quick routes for the common
case (an exact match, every element within the bound) decide exactly as the full
float64 route does, on the edges too, and change nothing they are given."""

import math

import pytest
import torch

from drillpe.grading.api import _all_within, _exactly_equal, _outside, is_close, mismatch

NAN, INF = math.nan, math.inf


def full_route(got, want, atol, rtol):
    got64, want64, diff, bad = _outside(got, want, atol, rtol)
    return diff is not None and not bool(bad.any())


@pytest.mark.parametrize("got, want, atol, rtol", [
    ([1.0, 2.0], [1.0, 2.0], 0.0, 0.0),
    ([1.0, 2.0], [1.0, 2.0 + 1e-9], 0.0, 0.0),
    ([1.0, 2.0], [1.0, 2.0 + 1e-9], 1e-9, 0.0),  # the bound itself is within
    ([1.0, 2.0], [1.0, 2.0 + 2e-9], 1e-9, 0.0),
    ([0.0], [-0.0], 0.0, 0.0),
    ([NAN], [NAN], 1.0, 0.0),  # NaN is never within
    ([NAN], [1.0], 1.0, 0.0),
    ([INF], [INF], 1.0, 0.0),  # inf - inf is NaN
    ([INF], [1.0], 1.0, 0.0),
    ([100.0], [101.0], 0.5, 0.01),  # within by rtol
    ([100.0], [102.0], 0.5, 0.01),
    ([-3.0, 4.0], [-3.0, 4.5], 0.0, 0.2),
])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_quick_routes_decide_as_the_full_one(got, want, atol, rtol, dtype):
    g, w = torch.tensor(got, dtype=dtype), torch.tensor(want, dtype=torch.float64)
    expected = full_route(g, w, atol, rtol)
    assert _all_within(g, w, atol, rtol) == expected
    assert is_close(g, w, atol=atol, rtol=rtol) == expected
    assert (mismatch(g, w, atol=atol, rtol=rtol) is None) == expected
    same = g.to(torch.float64)  # the same dtype: the exact route may answer
    if _exactly_equal(same, w):
        assert full_route(same, w, 0.0, 0.0)


def test_the_quick_routes_change_nothing_they_are_given():
    got = torch.tensor([1.0, 2.5, -3.0], dtype=torch.float64)
    want = torch.tensor([1.0, 2.0, -3.0], dtype=torch.float64)
    before = got.clone(), want.clone()
    assert not _all_within(got, want, 0.1, 0.0)
    assert mismatch(got, want, atol=0.1) == (0.5, [1], 2.5, 2.0)
    assert torch.equal(got, before[0]) and torch.equal(want, before[1])


def test_different_shapes_are_never_close():
    assert not _all_within(torch.zeros(3), torch.zeros(1), 1.0, 0.0)
    assert not is_close(torch.zeros(3), torch.zeros(1), atol=1.0)
    assert not _exactly_equal(torch.zeros(3), torch.zeros(1))
    with pytest.raises(ValueError, match="shape"):
        mismatch(torch.zeros(3), torch.zeros(1), atol=1.0)
