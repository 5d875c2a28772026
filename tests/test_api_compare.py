"""The judge's comparisons (drillpe.grading.api): the quick routes for the common
case (an exact match, every element within the bound) decide exactly as the full
float64 route does, on the edges too, and change nothing they are given."""

import contextlib
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


def test_heat_only_fails_the_same_but_names_no_mistake():
    """For a later case judged only for its heatmap (judge._larger_heatmap): the same
    failure, message and heatmap, with no variant run to name the mistake."""
    from drillpe.grading.api import Fail, assert_close, heat_only

    want = torch.arange(64.0).reshape(8, 8)
    got = -want
    ran = []

    def flipped():
        ran.append(True)
        return -want

    failures = []
    for quiet in (False, True):
        with heat_only() if quiet else contextlib.nullcontext():
            with pytest.raises(Fail) as caught:
                assert_close(got, want, atol=1e-6, what="output",
                             variants={"x.sign_flipped": flipped})
        failures.append(caught.value)
    named, heat = failures
    assert named.diagnosis == ["x.sign_flipped"] and heat.diagnosis == ["output.mismatch"]
    assert (named.message, named.heatmap) == (heat.message, heat.heatmap)
    assert ran == [True]  # the variant ran for the named failure only
    with pytest.raises(Fail) as again:  # and naming is back after the block
        assert_close(got, want, atol=1e-6, what="output", variants={"x.sign_flipped": flipped})
    assert again.value.diagnosis == ["x.sign_flipped"]
