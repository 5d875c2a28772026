"""The `rope_2d` reference pinned to values checked by hand, to the seed's 1-D
interleaved RoPE applied to each half, to an independent complex-number
formulation, to its 2-D rotation properties, and to the contract's
dtype/device promises."""

import math
from pathlib import Path

import pytest
import torch

from drillpe.grading.common import load_reference
from drillpe.grading.loading import load_module

ROOT = Path(__file__).resolve().parent.parent
ref = load_module(ROOT / "solutions" / "rope_2d.py", "drillpe_test_reference_rope_2d")
rope = load_reference("rope")  # the interleaved RoPE at any positions and base (its oracle)


def turn(a: float, b: float, angle: float) -> list[float]:
    """The pair (a, b) turned by `angle` radians, written out."""
    return [a * math.cos(angle) - b * math.sin(angle), b * math.cos(angle) + a * math.sin(angle)]


def grid(H: int, W: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.arange(H).repeat_interleave(W), torch.arange(W).repeat(H)


def test_head_dim_4_by_hand():
    # half = 2, theta = [1]: patch (row 1, col 2) turns (x0, x1) by 1 rad and (x2, x3) by 2 rad.
    x = torch.tensor([[[[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]]]], dtype=torch.float64)
    y = ref.apply_rope_2d(x, torch.tensor([0, 1]), torch.tensor([0, 2]))
    assert y[0, 0, 0].tolist() == [1.0, 2.0, 3.0, 4.0]  # patch (0, 0): identity
    assert y[0, 0, 1].tolist() == pytest.approx(turn(1, 2, 1.0) + turn(3, 4, 2.0), abs=1e-12)
    # The stub's worked example, to 4 decimals.
    assert y[0, 0, 1].tolist() == pytest.approx([-1.1426, 1.9221, -4.8856, 1.0633], abs=1e-4)


def test_head_dim_8_base_100_by_hand():
    # half = 4, theta_i = 100 ** (-2i / 4) = [1, 0.1]. Patch (row 1, col 2):
    # row pairs by 1 * [1, 0.1], column pairs by 2 * [1, 0.1].
    x = torch.arange(1.0, 9.0, dtype=torch.float64).reshape(1, 1, 1, 8)
    y = ref.apply_rope_2d(x, torch.tensor([1]), torch.tensor([2]), base=100.0)
    by_hand = turn(1, 2, 1.0) + turn(3, 4, 0.1) + turn(5, 6, 2.0) + turn(7, 8, 0.2)
    assert y[0, 0, 0].tolist() == pytest.approx(by_hand, abs=1e-12)
    # Row 0 leaves the row half alone, column 0 the column half.
    y = ref.apply_rope_2d(x.repeat(1, 1, 2, 1), torch.tensor([0, 3]), torch.tensor([5, 0]),
                          base=100.0)
    assert y[0, 0, 0, :4].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert y[0, 0, 0, 4:].tolist() == pytest.approx(turn(5, 6, 5.0) + turn(7, 8, 0.5), abs=1e-12)
    assert y[0, 0, 1, 4:].tolist() == [5.0, 6.0, 7.0, 8.0]
    assert y[0, 0, 1, :4].tolist() == pytest.approx(turn(1, 2, 3.0) + turn(3, 4, 0.3), abs=1e-12)


def test_origin_is_identity():
    x = torch.randn(2, 3, 4, 16, dtype=torch.float64)
    zeros = torch.zeros(4, dtype=torch.int64)
    assert torch.equal(ref.apply_rope_2d(x, zeros, zeros, base=321.0), x)


@pytest.mark.parametrize("D, base", [(4, 10000.0), (8, 100.0), (16, 500.0), (64, 10000.0)])
def test_equals_seed_rope_on_each_half(D, base):
    # The seed's interleaved 1-D RoPE over head_dim/2 channels, by row, then by column.
    rows, cols = grid(5, 7)
    perm = torch.randperm(35)
    rows, cols = rows[perm] + 3, cols[perm]
    x = torch.randn(2, 3, 35, D, dtype=torch.float64)
    h = D // 2
    want = torch.cat([rope.rotate(x[..., :h], rows, base), rope.rotate(x[..., h:], cols, base)],
                     dim=-1)
    assert torch.allclose(ref.apply_rope_2d(x, rows, cols, base), want, atol=1e-12)


def axial_complex(x: torch.Tensor, rows, cols, base: float) -> torch.Tensor:
    """Written independently: one complex phase per pair, the row pairs first
    (lucidrains get_axial_freqs order), each pair a complex number."""
    D = x.shape[-1]
    h = D // 2
    inv_freq = 1.0 / base ** (torch.arange(0, h, 2, dtype=torch.float64) / h)
    phase = torch.cat([torch.outer(rows.double(), inv_freq), torch.outer(cols.double(), inv_freq)],
                      dim=-1)
    z = torch.view_as_complex(x.reshape(*x.shape[:-1], D // 2, 2).contiguous())
    return torch.view_as_real(z * torch.polar(torch.ones_like(phase), phase)).reshape(x.shape)


@pytest.mark.parametrize("shape, max_id, base", [((1, 1, 1, 4), 3, 10000.0),
                                                 ((2, 3, 17, 12), 50, 100.0),
                                                 ((1, 2, 300, 128), 2047, 10000.0)])
def test_equals_complex_formulation(shape, max_id, base):
    n = shape[2]
    rows, cols = torch.randint(0, max_id + 1, (n,)), torch.randint(0, max_id + 1, (n,))
    x = torch.randn(*shape, dtype=torch.float64)
    assert torch.allclose(ref.apply_rope_2d(x, rows, cols, base), axial_complex(x, rows, cols, base),
                          atol=1e-9)


def test_relative_property_and_norms():
    rows, cols = grid(4, 6)
    q = torch.randn(2, 2, 24, 16, dtype=torch.float64)
    k = torch.randn(2, 2, 24, 16, dtype=torch.float64)
    scores = ref.apply_rope_2d(q, rows, cols) @ ref.apply_rope_2d(k, rows, cols).transpose(-2, -1)
    for a, b in [(1, 0), (0, 1), (7, 300)]:
        rq = ref.apply_rope_2d(q, rows + a, cols + b)
        rk = ref.apply_rope_2d(k, rows + a, cols + b)
        assert torch.allclose(rq @ rk.transpose(-2, -1), scores, atol=1e-10)
    # Each half is a rotation: both halves keep their lengths.
    y = ref.apply_rope_2d(q, rows + 11, cols + 5)
    assert torch.allclose(y[..., :8].norm(dim=-1), q[..., :8].norm(dim=-1), atol=1e-12)
    assert torch.allclose(y[..., 8:].norm(dim=-1), q[..., 8:].norm(dim=-1), atol=1e-12)


def test_score_depends_on_both_offsets():
    # The same q and k vector at every patch: <R q, R k> is a function of
    # (r1 - r2, c1 - c2), and changes when only one of the two offsets changes.
    rows, cols = grid(6, 6)
    q = torch.randn(1, 1, 1, 8, dtype=torch.float64).expand(1, 1, 36, 8)
    k = torch.randn(1, 1, 1, 8, dtype=torch.float64).expand(1, 1, 36, 8)
    s = (ref.apply_rope_2d(q, rows, cols) @ ref.apply_rope_2d(k, rows, cols).transpose(-2, -1))[0, 0]

    def at(r1, c1, r2, c2):
        return float(s[r1 * 6 + c1, r2 * 6 + c2])

    assert at(3, 4, 1, 2) == pytest.approx(at(2, 2, 0, 0), abs=1e-12)
    assert at(5, 1, 4, 5) == pytest.approx(at(1, 1, 0, 5), abs=1e-12)  # offsets (1, -4)
    assert abs(at(3, 4, 1, 2) - at(3, 4, 1, 3)) > 1e-3
    assert abs(at(3, 4, 1, 2) - at(3, 4, 2, 2)) > 1e-3


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32, torch.float64])
def test_keeps_dtype_and_inputs(dtype):
    rows, cols = grid(3, 5)
    x = torch.randn(2, 2, 15, 8).to(dtype)
    before = x.clone()
    y = ref.apply_rope_2d(x, rows, cols)
    assert y.dtype == dtype and y.shape == x.shape
    assert torch.equal(x, before)
    assert torch.allclose(y.double(), ref.rotate_2d(x, rows, cols), atol=2**-7 * 4)


def test_int32_ids():
    rows, cols = grid(3, 4)
    x = torch.randn(1, 2, 12, 16)
    assert torch.equal(ref.apply_rope_2d(x, rows.int(), cols.int()),
                       ref.apply_rope_2d(x, rows, cols))


def test_follows_the_inputs_device():
    # The meta device has no data: any tensor made on a fixed device would not mix with it.
    x = torch.empty(2, 3, 12, 16, device="meta")
    rows, cols = (t.to("meta") for t in grid(3, 4))
    y = ref.apply_rope_2d(x, rows, cols)
    assert y.device.type == "meta" and y.shape == x.shape and y.dtype == x.dtype


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    rows, cols = grid(5, 6)
    x = torch.randn(2, 2, 30, 32)
    y = ref.apply_rope_2d(x.cuda(), rows.cuda(), cols.cuda())
    assert y.device.type == "cuda" and y.dtype == torch.float32
    assert torch.allclose(y.cpu(), ref.apply_rope_2d(x, rows, cols), atol=1e-6)
