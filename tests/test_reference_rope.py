"""The `rope` model answer pinned to values checked by hand, to an independent
complex-number formulation, and to the contract's dtype/device promises; the
oracle the judge uses pinned to the model answer."""

import math
from pathlib import Path

import pytest
import torch

from drillpe.grading.common import load_reference
from drillpe.grading.loading import load_module

ROOT = Path(__file__).resolve().parent.parent
ref = load_module(ROOT / "solutions" / "rope.py", "drillpe_test_reference_rope")  # the model answer
oracle = load_reference("rope")  # graders/oracles/rope.py: what the judge compares with


def test_one_rotation_by_hand():
    # d = 4: theta = [1, 0.01]. Position 1 turns pair 0 by 1 rad and pair 1 by 0.01 rad.
    q = torch.tensor([[[[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]]]], dtype=torch.float64)
    rq, rk = ref.RoPE(q, q.clone())
    c1, s1, c2, s2 = math.cos(1), math.sin(1), math.cos(0.01), math.sin(0.01)
    by_hand = [1 * c1 - 2 * s1, 2 * c1 + 1 * s1, 3 * c2 - 4 * s2, 4 * c2 + 3 * s2]
    assert rq[0, 0, 0].tolist() == [1.0, 2.0, 3.0, 4.0]  # position 0: identity
    assert rq[0, 0, 1].tolist() == pytest.approx(by_hand, abs=1e-12)
    assert rq[0, 0, 1].tolist() == pytest.approx([-1.1426396637, 1.9220755966, 2.9598506679,
                                                   4.0297995017], abs=1e-9)
    assert torch.equal(rq, rk)


def test_table_by_hand():
    table = ref.sinusoidal_position_embedding(2, 3, 3, 4, "cpu")
    assert table.shape == (2, 3, 3, 4) and table.dtype == torch.float32
    want = torch.tensor([[0.0, 1.0, 0.0, 1.0],
                         [math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)],
                         [math.sin(2), math.cos(2), math.sin(0.02), math.cos(0.02)]])
    assert torch.allclose(table, want.expand(2, 3, 3, 4), atol=1e-7)


def test_identity_at_position_zero():
    x = torch.randn(2, 3, 5, 8, dtype=torch.float64)
    assert torch.equal(ref.rotate(x)[..., 0, :], x[..., 0, :])


def llama_complex(x: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Meta llama's apply_rotary_emb, written independently: pairs as complex numbers."""
    L, d = x.shape[-2:]
    freqs = 1.0 / base ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
    cis = torch.polar(torch.ones(L, d // 2, dtype=torch.float64),
                      torch.outer(torch.arange(L, dtype=torch.float64), freqs))
    xc = torch.view_as_complex(x.reshape(*x.shape[:-1], d // 2, 2).contiguous())
    return torch.view_as_real(xc * cis).reshape(x.shape)


@pytest.mark.parametrize("shape", [(1, 1, 1, 2), (2, 3, 17, 12), (1, 2, 2048, 128)])
def test_equals_complex_formulation(shape):
    x = torch.randn(*shape, dtype=torch.float64)
    assert torch.allclose(ref.rotate(x), llama_complex(x), atol=1e-9)


def test_rotation_properties():
    q = torch.randn(1, 1, 1, 16, dtype=torch.float64).repeat(1, 1, 40, 1)
    k = torch.randn(1, 1, 1, 16, dtype=torch.float64).repeat(1, 1, 40, 1)
    rq, rk = ref.RoPE(q, k)
    assert torch.allclose(rq.norm(dim=-1), q.norm(dim=-1), atol=1e-12)
    scores = rq @ rk.transpose(-2, -1)
    assert torch.allclose(scores[..., 1:, 1:], scores[..., :-1, :-1], atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_keeps_dtype(dtype):
    q, k, v = (torch.randn(2, 2, 6, 8).to(dtype) for _ in range(3))
    rq, rk = ref.RoPE(q, k)
    out, weights = ref.attention(q, k, v)
    assert rq.dtype == rk.dtype == out.dtype == weights.dtype == dtype
    assert torch.allclose(rq.double(), ref.rotate(q), atol=2**-7 * float(q.abs().max()))


def test_attention_by_hand():
    # L = 2, d = 2, no RoPE: weights are a softmax of q k^T / sqrt(2) over the keys.
    q = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]], dtype=torch.float64)
    k = torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]]], dtype=torch.float64)
    v = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=torch.float64)
    out, weights = ref.attention(q, k, v, use_RoPE=False)
    e = math.exp(-1 / math.sqrt(2))  # row 0: logits (1, 1)/sqrt 2 -> equal; row 1: (0, 1)/sqrt 2
    row1 = [e / (1 + e), 1 / (1 + e)]
    assert weights[0, 0, 0].tolist() == pytest.approx([0.5, 0.5], abs=1e-12)
    assert weights[0, 0, 1].tolist() == pytest.approx(row1, abs=1e-12)
    assert out[0, 0, 0].tolist() == pytest.approx([2.0, 3.0], abs=1e-12)
    masked, w = ref.attention(q, k, v, mask=torch.tensor([[1, 0], [1, 1]]), use_RoPE=False)
    assert w[0, 0, 0].tolist() == [1.0, 0.0]
    assert masked[0, 0, 0].tolist() == [1.0, 2.0]


def test_oracle_defaults_are_the_model_answer():
    gen = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 3, 12, 8, generator=gen) for _ in range(3))
    mask = (torch.rand(2, 1, 12, 12, generator=gen) > 0.3).int()
    keep = (torch.rand(2, 3, 12, 12, generator=gen) > 0.25).double() / 0.75
    assert torch.equal(oracle.rotate(q), ref.rotate(q))
    assert torch.equal(oracle.rotate(q, torch.arange(12)), ref.rotate(q))
    for m, dropout in ((None, None), (mask, None), (mask, lambda w: w * keep)):
        for use_rope in (True, False):
            rq, rk = (ref.rotate(q), ref.rotate(k)) if use_rope else (q, k)
            want = oracle.attend(rq, rk, v, m, dropout)
            got = ref.attention(q, k, v, m, dropout, use_RoPE=use_rope)
            assert all(torch.equal(w.float(), g) for w, g in zip(want, got))
