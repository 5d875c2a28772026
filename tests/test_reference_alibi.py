"""The `alibi` model answer and oracle pinned to slopes and attention values
checked by hand, to HF Bloom's +m·j form (equal under the causal mask, not
without it), to each other, and to the contract's dtype/device promises."""

import math

import pytest
import torch

from drillpe.grading.common import load_reference, load_solution

model = load_solution("alibi")  # solutions/alibi.py: what `reveal` shows
ref = load_reference("alibi")  # graders/oracles/alibi.py: what the judge compares with


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_slopes_for_8_heads_by_hand():
    slopes = model.alibi_slopes(8)
    assert slopes.shape == (8,) and slopes.dtype == torch.float32
    # 2 ** (-8 (h+1) / 8) = 2 ** -(h+1): 1/2, 1/4, ..., 1/256, all exact in float32.
    assert slopes.tolist() == [1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64, 1 / 128, 1 / 256]


def test_slopes_for_12_heads_by_hand():
    # p = 8: the eight slopes above, then slopes(16)[0::2][:4]. slopes(16)[h] = 2 ** (-(h+1)/2),
    # so h = 0, 2, 4, 6 give 2 ** -0.5, 2 ** -1.5, 2 ** -2.5, 2 ** -3.5.
    by_hand = [1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64, 1 / 128, 1 / 256,
               0.7071067811865476, 0.3535533905932738, 0.1767766952966369, 0.0883883476483184]
    assert ref.get_slopes(12) == pytest.approx(by_hand, abs=1e-15)
    assert model.alibi_slopes(12).tolist() == pytest.approx(by_hand, abs=1e-7)


@pytest.mark.parametrize("n, by_hand", [
    (1, [2**-8]),
    (2, [2**-4, 2**-8]),
    (3, [2**-4, 2**-8, 2**-2]),  # slopes(2), then slopes(4)[0]
    (6, [2**-2, 2**-4, 2**-6, 2**-8, 2**-1, 2**-3]),  # slopes(4), then slopes(8)[0], [2]
])
def test_small_slopes_by_hand(n, by_hand):
    assert ref.get_slopes(n) == pytest.approx(by_hand, abs=1e-15)


def ofirpress_get_slopes(n: int) -> list[float]:
    """The paper's get_slopes, written independently: start = 2 ** (-2 ** -(log2 n - 3))."""
    def power_of_2(n):
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        return [start * start**i for i in range(n)]

    if math.log2(n).is_integer():
        return power_of_2(n)
    closest = 2 ** math.floor(math.log2(n))
    return power_of_2(closest) + ofirpress_get_slopes(2 * closest)[0::2][: n - closest]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 24, 32, 40, 48, 64, 96])
def test_slopes_equal_the_paper(n):
    assert model.alibi_slopes(n).shape == (n,)
    assert ref.get_slopes(n) == pytest.approx(ofirpress_get_slopes(n), rel=1e-12)


def test_attention_by_hand():
    # One head (m = 1/256), D = 4 (scale 1/2), two positions. q.k / 2 is the identity
    # pattern, v = [0, 1], so the output is the weight of key 1.
    m = 1 / 256
    q = torch.tensor([[[[2.0, 0, 0, 0], [0, 2.0, 0, 0]]]], dtype=torch.float64)
    k = torch.tensor([[[[1.0, 0, 0, 0], [0, 1.0, 0, 0]]]], dtype=torch.float64)
    v = torch.tensor([[[[0.0], [1.0]]]], dtype=torch.float64)
    # Row 0: logits (1, 0 - m); row 1: (0 - m, 1).
    both = model.alibi_attention(q, k, v, causal=False)[0, 0, :, 0].tolist()
    assert both == pytest.approx([sigmoid(-(1 + m)), sigmoid(1 + m)], abs=1e-12)
    # Causal: query 0 sees key 0 only.
    causal = model.alibi_attention(q, k, v)[0, 0, :, 0].tolist()
    assert causal == pytest.approx([0.0, sigmoid(1 + m)], abs=1e-12)


def test_bias_only_by_hand():
    # The stub's example: q = 0, two heads (m = 1/16, 1/256), v = [0, 1].
    q, k = torch.zeros(1, 2, 2, 1), torch.ones(1, 2, 2, 1)
    v = torch.tensor([0.0, 1.0]).reshape(1, 1, 2, 1).expand(1, 2, 2, 1)
    both = model.alibi_attention(q, k, v, causal=False)[0, :, :, 0]
    want = [[sigmoid(-1 / 16), sigmoid(1 / 16)], [sigmoid(-1 / 256), sigmoid(1 / 256)]]
    assert both.tolist() == pytest.approx([pytest.approx(row, abs=1e-7) for row in want])
    assert [round(x, 4) for x in both.flatten().tolist()] == [0.4844, 0.5156, 0.499, 0.501]
    causal = model.alibi_attention(q, k, v, causal=True)[0, :, :, 0]
    assert causal[:, 0].tolist() == [0.0, 0.0]
    assert torch.equal(causal[:, 1], both[:, 1])


def test_end_aligned_queries_by_hand():
    # One query, three keys: the query sits at position 2 and sees every key, with
    # penalties m * (2, 1, 0). With q = 0 the weights are softmax(-m * (2, 1, 0)).
    m = 2**-8
    q, k = torch.zeros(1, 1, 1, 3, dtype=torch.float64), torch.zeros(1, 1, 3, 3, dtype=torch.float64)
    v = torch.eye(3, dtype=torch.float64).reshape(1, 1, 3, 3)
    e = [math.exp(-2 * m), math.exp(-m), 1.0]
    want = [x / sum(e) for x in e]
    for causal in (True, False):
        assert model.alibi_attention(q, k, v, causal)[0, 0, 0].tolist() == pytest.approx(want,
                                                                                      abs=1e-12)


def bloom_attention(q, k, v, causal: bool) -> torch.Tensor:
    """HF Bloom's form, written independently: logits + m * j (+ the causal mask)."""
    q, k, v = (t.to(torch.float64) for t in (q, k, v))
    lq, lk = q.shape[-2], k.shape[-2]
    m = torch.tensor(ofirpress_get_slopes(q.shape[1]), dtype=torch.float64)[:, None, None]
    j = torch.arange(lk, dtype=torch.float64)
    logits = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]) + m * j
    if causal:
        pos = torch.arange(lq, dtype=torch.float64)[:, None] + (lk - lq)
        logits = logits.masked_fill(j > pos, float("-inf"))
    return torch.softmax(logits, dim=-1) @ v


@pytest.mark.parametrize("H, lq, lk", [(1, 5, 5), (6, 9, 9), (12, 17, 17), (8, 3, 11), (4, 1, 7)])
def test_bloom_form_is_the_same_with_the_causal_mask(H, lq, lk):
    gen = torch.Generator().manual_seed(H * 1000 + lq * 100 + lk)
    q, k, v = (torch.randn(2, H, n, 8, generator=gen) for n in (lq, lk, lk))
    assert torch.allclose(ref.attend(q, k, v, True), bloom_attention(q, k, v, True), atol=1e-12)
    # Without the mask, +m·j is not a row constant away from -m|pos_i - j| as soon as
    # some key lies after a query (a single query at the end has every key before it).
    if lq > 1:
        assert not torch.allclose(ref.attend(q, k, v, False), bloom_attention(q, k, v, False),
                                  atol=1e-3)


def test_far_keys_get_less_weight():
    # q = 0: weights depend on distance alone and fall off monotonically on both sides.
    L = 9
    q, k = torch.zeros(1, 4, L, 2), torch.ones(1, 4, L, 2)
    w = ref.attend(q, k, torch.eye(L).expand(1, 4, L, L), causal=False)[0]
    centre = w[:, 4]
    assert (centre[:, 1:5] > centre[:, 0:4]).all() and (centre[:, 4:8] > centre[:, 5:9]).all()
    assert torch.allclose(w.sum(-1), torch.ones(4, L, dtype=torch.float64), atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_keeps_dtype(dtype):
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 6, 8, generator=gen).to(dtype) for _ in range(3))
    for causal in (True, False):
        out = model.alibi_attention(q, k, v, causal)
        assert out.shape == (2, 3, 6, 8) and out.dtype == dtype
        assert torch.allclose(out.double(), ref.attend(q, k, v, causal), atol=2**-7)


def test_output_on_the_inputs_device():
    q = torch.randn(1, 2, 4, 8, device="meta")
    assert model.alibi_attention(q, q, q).device.type == "meta"


@pytest.mark.parametrize("lq,lk", [(6, 6), (3, 8), (8, 3)])
@pytest.mark.parametrize("causal", [True, False])
def test_oracle_defaults_are_the_model_answer(lq, lk, causal):
    gen = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 6, n, 8, generator=gen) for n in (lq, lk, lk))
    for dtype in (torch.float32, torch.float64):  # bit for bit (NaN in fully masked rows)
        q, k, v = (t.to(dtype) for t in (q, k, v))
        torch.testing.assert_close(ref.attend(q, k, v, causal).to(dtype),
                                   model.alibi_attention(q, k, v, causal), rtol=0, atol=0,
                                   equal_nan=True)
