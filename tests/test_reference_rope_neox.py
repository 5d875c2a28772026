"""The `rope_neox` model answer pinned to values checked by hand, to the `rope`
model answer through the channel permutation, and to the contract's promises:
position ids (offsets, per-row), partial rotary_dim, dtype and device; the
oracle the judge uses pinned to the model answer."""

import math
from pathlib import Path

import pytest
import torch

from drillpe.grading.common import load_reference
from drillpe.grading.loading import load_module

ROOT = Path(__file__).resolve().parent.parent
ref = load_module(ROOT / "solutions" / "rope_neox.py", "drillpe_test_reference_rope_neox")
interleaved = load_module(ROOT / "solutions" / "rope.py", "drillpe_test_reference_rope_for_neox")
oracle = load_reference("rope_neox")  # graders/oracles/rope_neox.py: what the judge compares with

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def test_rotate_half_by_hand():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert ref.rotate_half(x).tolist() == [-3.0, -4.0, 1.0, 2.0]
    y = torch.arange(12.0).reshape(2, 6)
    assert ref.rotate_half(y).tolist() == [[-3.0, -4.0, -5.0, 0.0, 1.0, 2.0],
                                           [-9.0, -10.0, -11.0, 6.0, 7.0, 8.0]]
    # Twice is a half turn.
    z = torch.randn(2, 3, 4, 8)
    assert torch.equal(ref.rotate_half(ref.rotate_half(z)), -z)


def test_theta_by_hand():
    assert ref.inv_freq(4).tolist() == pytest.approx([1.0, 0.01], abs=1e-15)
    assert ref.inv_freq(4, base=100.0).tolist() == pytest.approx([1.0, 0.1], abs=1e-15)
    assert ref.inv_freq(8).tolist() == pytest.approx([1.0, 0.1, 0.01, 0.001], abs=1e-15)


def test_one_rotation_by_hand():
    # d = 4, theta = [1, 0.01]: at position 1, (x0, x2) turns by 1 rad and (x1, x3) by 0.01 rad.
    x = torch.tensor([[[[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]]]], dtype=torch.float64)
    y = ref.apply_rope(x, torch.tensor([0, 1]))
    c1, s1, c2, s2 = math.cos(1), math.sin(1), math.cos(0.01), math.sin(0.01)
    by_hand = [1 * c1 - 3 * s1, 2 * c2 - 4 * s2, 3 * c1 + 1 * s1, 4 * c2 + 2 * s2]
    assert y[0, 0, 0].tolist() == [1.0, 2.0, 3.0, 4.0]  # position 0: identity
    assert y[0, 0, 1].tolist() == pytest.approx(by_hand, abs=1e-12)
    # The stub's printed example.
    assert y[0, 0, 1].tolist() == pytest.approx([-1.9841106486, 1.9599006675, 2.4623779024,
                                                 4.0197996683], abs=1e-9)


def test_position_ids_are_used():
    # A decoding step: one token at position 5 turns (x0, x2) by 5 rad and (x1, x3) by 0.05.
    x = torch.tensor([[[[1.0, 2.0, 3.0, 4.0]]]], dtype=torch.float64)
    y = ref.apply_rope(x, torch.tensor([5]))
    c1, s1, c2, s2 = math.cos(5), math.sin(5), math.cos(0.05), math.sin(0.05)
    by_hand = [1 * c1 - 3 * s1, 2 * c2 - 4 * s2, 3 * c1 + 1 * s1, 4 * c2 + 2 * s2]
    assert y[0, 0, 0].tolist() == pytest.approx(by_hand, abs=1e-12)


def test_base_by_hand():
    # base 100, d = 4: theta = [1, 0.1].
    x = torch.tensor([[[[1.0, 2.0, 3.0, 4.0]]]], dtype=torch.float64)
    y = ref.apply_rope(x, torch.tensor([2]), base=100.0)
    c1, s1, c2, s2 = math.cos(2), math.sin(2), math.cos(0.2), math.sin(0.2)
    by_hand = [1 * c1 - 3 * s1, 2 * c2 - 4 * s2, 3 * c1 + 1 * s1, 4 * c2 + 2 * s2]
    assert y[0, 0, 0].tolist() == pytest.approx(by_hand, abs=1e-12)


def test_partial_rotary_by_hand():
    # rotary_dim = 2: only (x0, x1) turns, by p * 1 rad; channels 2 and 3 are untouched.
    x = torch.tensor([[[[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]]]], dtype=torch.float64)
    y = ref.apply_rope(x, torch.tensor([0, 1]), rotary_dim=2)
    c, s = math.cos(1), math.sin(1)
    assert y[0, 0, 0].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert y[0, 0, 1].tolist() == pytest.approx([1 * c - 2 * s, 2 * c + 1 * s, 3.0, 4.0],
                                                abs=1e-12)
    assert torch.equal(y[..., 2:], x[..., 2:])


def test_partial_rotary_uses_rotary_dim_in_theta():
    # head_dim 8, rotary_dim 4: theta = 10000 ** (-2i / 4) = [1, 0.01] on pairs (0, 2), (1, 3).
    x = torch.randn(2, 3, 6, 8, dtype=torch.float64)
    pos = torch.arange(6)
    y = ref.apply_rope(x, pos, rotary_dim=4)
    assert torch.equal(y[..., 4:], x[..., 4:])
    assert torch.allclose(y[..., :4], ref.apply_rope(x[..., :4], pos), atol=1e-12)
    assert torch.allclose(ref.apply_rope(x, pos, rotary_dim=8), ref.apply_rope(x, pos),
                          atol=0)


@pytest.mark.parametrize("shape", [(1, 1, 1, 2), (2, 3, 17, 12), (1, 2, 2048, 128)])
def test_equals_interleaved_rope_after_permutation(shape):
    # With P = [0, 2, 4, ..., 1, 3, 5, ...]: half_split(x[..., P]) == interleaved(x)[..., P].
    d = shape[-1]
    perm = torch.cat([torch.arange(0, d, 2), torch.arange(1, d, 2)])
    x = torch.randn(*shape, dtype=torch.float64)
    half_split = ref.apply_rope(x[..., perm], torch.arange(shape[-2]))
    assert torch.allclose(half_split, interleaved.rotate(x)[..., perm], atol=1e-9)


def hf_float32(x, position_ids, base=10000.0):
    """HF Llama's rotary path, written independently: float32 angles, cos/sin in x's dtype."""
    d = x.shape[-1]
    inv = 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
    freqs = position_ids.float()[..., None] * inv
    emb = torch.cat([freqs, freqs], dim=-1)
    cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
    if position_ids.dim() == 2:
        cos, sin = cos[:, None], sin[:, None]
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


@pytest.mark.parametrize("base", [10000.0, 500000.0, 100.0])
def test_close_to_float32_hf_formulation(base):
    x = torch.randn(2, 3, 64, 32)
    pos = torch.arange(64) + 100
    assert torch.allclose(ref.apply_rope(x, pos, base=base).double(),
                          hf_float32(x, pos, base).double(), atol=1e-4)


def test_per_row_positions_equal_per_row_calls():
    x = torch.randn(3, 2, 5, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    pos = torch.tensor([[0, 1, 2, 3, 4], [1, 1, 0, 1, 2], [40, 41, 42, 43, 44]])
    y = ref.apply_rope(x, pos)
    for b in range(3):
        assert torch.allclose(y[b:b + 1], ref.apply_rope(x[b:b + 1], pos[b]), atol=0)
    # HF takes its angles in float32: about 44 * 2**-24 rad off at position 44
    assert torch.allclose(y, hf_float32(x, pos), rtol=0, atol=1e-5)


def test_kv_cache_chunks_equal_one_pass():
    # Prefill 7 tokens, then decode 3 one at a time: the same keys as rotating all 10 at once.
    k = torch.randn(2, 2, 10, 16, dtype=torch.float64)
    full = ref.apply_rope(k, torch.arange(10))
    steps = [ref.apply_rope(k[..., :7, :], torch.arange(7))]
    steps += [ref.apply_rope(k[..., p:p + 1, :], torch.tensor([p])) for p in range(7, 10)]
    assert torch.allclose(torch.cat(steps, dim=-2), full, atol=0)


def test_relative_property_across_an_offset():
    q = torch.randn(1, 2, 12, 16, dtype=torch.float64)
    k = torch.randn(1, 2, 12, 16, dtype=torch.float64)
    pos = torch.arange(12)

    def scores(p):
        return ref.apply_rope(q, p) @ ref.apply_rope(k, p).transpose(-2, -1)

    assert torch.allclose(scores(pos + 1000), scores(pos), atol=1e-10)
    assert torch.allclose(ref.apply_rope(q, pos).norm(dim=-1), q.norm(dim=-1), atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32, torch.float64])
@pytest.mark.parametrize("device", DEVICES)
def test_keeps_dtype_and_device(dtype, device):
    x = torch.randn(2, 2, 6, 8).to(device=device, dtype=dtype)
    pos = torch.arange(6, device=device)
    for y in (ref.apply_rope(x, pos), ref.apply_rope(x, pos, rotary_dim=4), ref.rotate_half(x)):
        assert y.dtype == dtype and y.device == x.device and y.shape == x.shape


def test_low_precision_angles_are_computed_in_float64():
    # bf16 x at positions 1000..1015: only x's own rounding, no angle error.
    x = torch.randn(1, 2, 16, 64).to(torch.bfloat16)
    pos = torch.arange(16) + 1000
    want = oracle.rope64(x, pos)
    assert (ref.apply_rope(x, pos).double() - want).abs().max() <= 2**-7 * float(
        x.double().abs().max())
    # Half-precision angles would be off by radians here (1000 in bf16 has spacing 4).
    bad = ref.rotate(x, oracle.angles(pos.to(torch.bfloat16), 64).to(torch.bfloat16).double())
    assert (bad - want).abs().max() > 0.5


def test_inputs_are_not_changed():
    x = torch.randn(2, 2, 5, 8)
    pos = torch.arange(5) + 3
    x0, pos0 = x.clone(), pos.clone()
    ref.apply_rope(x, pos, rotary_dim=4)
    ref.rotate_half(x)
    assert torch.equal(x, x0) and torch.equal(pos, pos0)


@pytest.mark.parametrize("rotary_dim", [None, 4])
def test_oracle_is_the_model_answer_in_float64(rotary_dim):
    x = torch.randn(2, 2, 6, 8)
    for pos in (torch.arange(6) + 9, torch.tensor([[0, 1, 2, 3, 4, 5], [7, 8, 9, 10, 11, 12]])):
        want = oracle.rope64(x, pos, 500.0, rotary_dim)
        assert want.dtype == torch.float64
        assert torch.equal(want.float(), ref.apply_rope(x, pos, 500.0, rotary_dim))
        r = rotary_dim or 8
        built = oracle.rotate(x, oracle.heads_axis(oracle.angles(pos, r, 500.0)))
        assert torch.equal(built, want)
