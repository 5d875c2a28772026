"""Pins the `relative` model answer and the oracle the judge uses to
hand-checked values, to an independent loop implementation written here from
the contract's formulas, and to each other."""

import math

import pytest
import torch

from drillpe.grading.common import load_reference, load_solution


@pytest.fixture(scope="module")
def ref():
    return load_reference("relative")  # graders/oracles/relative.py


@pytest.fixture(scope="module")
def model():
    return load_solution("relative")  # solutions/relative.py: what `reveal` shows


def test_index_end_aligned_by_hand(ref):
    # Lq=3, Lk=5, K=1: query i sits at i + 2; index = clamp(j - pos_i, -1, 1) + 1.
    want = [[0, 0, 1, 2, 2],
            [0, 0, 0, 1, 2],
            [0, 0, 0, 0, 1]]
    assert ref.relative_index(3, 5, 1).tolist() == want


def test_index_more_queries_than_keys_by_hand(ref):
    # Lq=5, Lk=3, K=1: query i sits at i - 2.
    want = [[2, 2, 2],
            [2, 2, 2],
            [1, 2, 2],
            [0, 1, 2],
            [0, 0, 1]]
    assert ref.relative_index(5, 3, 1).tolist() == want


def test_index_equal_lengths_clipped_by_hand(ref):
    # L=4, K=2: the distance j - i, clipped to [-2, 2], plus 2.
    want = [[2, 3, 4, 4],
            [1, 2, 3, 4],
            [0, 1, 2, 3],
            [0, 0, 1, 2]]
    assert ref.relative_index(4, 4, 2).tolist() == want


def test_index_variants(ref):
    assert ref.relative_index(3, 5, 1, sign=-1).tolist() == [[2, 2, 1, 0, 0],
                                                            [2, 2, 2, 1, 0],
                                                            [2, 2, 2, 2, 1]]
    assert ref.relative_index(3, 5, 1, end_aligned=False).tolist() == [[1, 2, 2, 2, 2],
                                                                      [0, 1, 2, 2, 2],
                                                                      [0, 0, 1, 2, 2]]
    assert ref.relative_index(3, 3, 1, clip=False).tolist() == [[1, 2, 3],
                                                               [0, 1, 2],
                                                               [-1, 0, 1]]


def test_relative_position_module(model):
    module = model.RelativePosition(num_units=1, max_relative_position=1)
    assert tuple(module.embeddings_table.shape) == (3, 1)
    with torch.no_grad():
        module.embeddings_table.copy_(torch.tensor([[-1.0], [0.0], [1.0]]))
    out = module(3, 5)
    assert out.shape == (3, 5, 1) and out.dtype == torch.float32
    assert out[..., 0].tolist() == [[-1, -1, 0, 1, 1], [-1, -1, -1, 0, 1], [-1, -1, -1, -1, 0]]


def identity_weights(table_k, table_v):
    weights = {f"linears.{i}.weight": torch.ones(1, 1, dtype=torch.float64) for i in range(4)}
    weights.update({f"linears.{i}.bias": torch.zeros(1, dtype=torch.float64) for i in range(4)})
    weights["relative_position_k.embeddings_table"] = torch.tensor(table_k, dtype=torch.float64)
    weights["relative_position_v.embeddings_table"] = torch.tensor(table_v, dtype=torch.float64)
    return weights


def test_attention_by_hand(ref, model):
    # d_model = n_heads = 1, identity projections, K = 1, q = k = v = [1, 2].
    # index = [[1, 2], [0, 1]], so aK = [[0, 1], [0, 0]] for table_k = [0, 0, 1]:
    # logits = [[1*(1+0), 1*(2+1)], [2*(1+0), 2*(2+0)]] = [[1, 3], [2, 4]] (sqrt(1) = 1),
    # both rows give w = [1, e^2] / (1 + e^2) and z = 2 - 1 / (1 + e^2).
    x = torch.tensor([[[1.0], [2.0]]], dtype=torch.float64)
    e2 = math.exp(2)
    z = 2 - 1 / (1 + e2)
    out = ref.relative_attention(x, x, x, identity_weights([[0], [0], [1]], [[0], [0], [0]]), 1, 1)
    assert torch.allclose(out, torch.tensor([[[z], [z]]], dtype=torch.float64), atol=1e-12)
    # table_v = [0, 0, 10] adds 10 * w[0, 1] to row 0 only (aV = [[0, 10], [0, 0]]).
    out = ref.relative_attention(x, x, x, identity_weights([[0], [0], [1]], [[0], [0], [10]]), 1, 1)
    want = torch.tensor([[[z + 10 * e2 / (1 + e2)], [z]]], dtype=torch.float64)
    assert torch.allclose(out, want, atol=1e-12)
    # The module (float32 parameters) agrees and keeps the dtype.
    module = model.RelativeMultiHeadAttention(1, 1, max_relative_position=1)
    module.load_state_dict({k: v.float() for k, v in identity_weights(
        [[0], [0], [1]], [[0], [0], [10]]).items()})
    got = module(x.float(), x.float(), x.float())
    assert got.dtype == torch.float32
    assert torch.allclose(got.double(), want, atol=1e-5)


def loop_attention(query, key, value, w, n_heads, k_max, mask=None):
    """Scalar loops straight from the contract's formulas."""
    batch, length_q, d = query.shape
    length_k = key.shape[1]
    dh = d // n_heads

    def linear(i, x):
        return x @ w[f"linears.{i}.weight"].T + w[f"linears.{i}.bias"]

    q, k, v = linear(0, query), linear(1, key), linear(2, value)
    tk = w["relative_position_k.embeddings_table"]
    tv = w["relative_position_v.embeddings_table"]
    z = torch.zeros(batch, length_q, d, dtype=torch.float64)
    for b in range(batch):
        for h in range(n_heads):
            cols = slice(h * dh, (h + 1) * dh)
            for i in range(length_q):
                pos = i + length_k - length_q
                rows = [min(max(j - pos, -k_max), k_max) + k_max for j in range(length_k)]
                logits = []
                for j in range(length_k):
                    keep = True if mask is None else bool(
                        mask.expand(batch, n_heads, length_q, length_k)[b, h, i, j] != 0)
                    s = float(q[b, i, cols] @ (k[b, j, cols] + tk[rows[j]])) / math.sqrt(dh)
                    logits.append(s if keep else -math.inf)
                top = max(logits)
                e = [math.exp(s - top) for s in logits]
                total = sum(e)
                for j in range(length_k):
                    z[b, i, cols] += e[j] / total * (v[b, j, cols] + tv[rows[j]])
    return linear(3, z)


def random_weights(gen, d, dh, k_max):
    w = {}
    for i in range(4):
        w[f"linears.{i}.weight"] = torch.randn(d, d, generator=gen, dtype=torch.float64) / d**0.5
        w[f"linears.{i}.bias"] = torch.randn(d, generator=gen, dtype=torch.float64) * 0.1
    for name in ("k", "v"):
        w[f"relative_position_{name}.embeddings_table"] = torch.randn(
            2 * k_max + 1, dh, generator=gen, dtype=torch.float64)
    return w


@pytest.mark.parametrize("batch,heads,d,lq,lk,k_max,masked", [
    (1, 1, 2, 1, 1, 1, False),
    (2, 2, 4, 3, 3, 1, False),
    (2, 2, 8, 4, 6, 2, False),
    (1, 4, 8, 5, 3, 1, False),
    (2, 2, 4, 4, 4, 2, True),
])
def test_attention_matches_loops(ref, model, batch, heads, d, lq, lk, k_max, masked):
    gen = torch.Generator().manual_seed(batch * 100 + d * 10 + lq + lk)
    shape_q, shape_k = (batch, lq, d), (batch, lk, d)
    query = torch.randn(*shape_q, generator=gen, dtype=torch.float64)
    key = torch.randn(*shape_k, generator=gen, dtype=torch.float64)
    value = torch.randn(*shape_k, generator=gen, dtype=torch.float64)
    w = random_weights(gen, d, d // heads, k_max)
    mask = None
    if masked:
        mask = (torch.rand(batch, 1, lq, lk, generator=gen) < 0.6).long()
        mask[..., 0] = 1  # never an empty row
    want = loop_attention(query, key, value, w, heads, k_max, mask)
    got = ref.relative_attention(query, key, value, w, heads, k_max, mask)
    assert torch.allclose(got, want, atol=1e-10)
    module = model.RelativeMultiHeadAttention(d, heads, max_relative_position=k_max).double()
    module.load_state_dict(w)
    module.eval()
    assert torch.allclose(module(query, key, value, mask=mask), want, atol=1e-10)


def test_variants_differ_from_reference(ref):
    """Each mistake switch changes the output (so a variant can never be a pass)."""
    gen = torch.Generator().manual_seed(7)
    query = torch.randn(2, 4, 8, generator=gen, dtype=torch.float64)
    key = torch.randn(2, 6, 8, generator=gen, dtype=torch.float64)
    value = torch.randn(2, 6, 8, generator=gen, dtype=torch.float64)
    w = random_weights(gen, 8, 4, 3)
    mask = torch.ones(2, 1, 4, 6, dtype=torch.long)
    mask[:, :, :, 1::2] = 0
    base = ref.relative_attention(query, key, value, w, 2, 3, mask)
    for switches in (dict(sign=-1), dict(end_aligned=False), dict(key_term=False),
                     dict(value_term=False), dict(scale="content"), dict(scale="none"),
                     dict(invert_mask=True), dict(clip=False)):
        other = ref.relative_attention(query, key, value, w, 2, 3, mask, **switches)
        assert (other - base).abs().max() > 1e-3, switches


@pytest.mark.parametrize("lq,lk,k_max", [(4, 4, 2), (3, 6, 1), (6, 3, 3)])
def test_oracle_defaults_are_the_model_answer(ref, model, lq, lk, k_max):
    assert torch.equal(ref.relative_index(lq, lk, k_max), model.relative_index(lq, lk, k_max))
    gen = torch.Generator().manual_seed(lq * 10 + lk)
    query, key, value = (torch.randn(2, n, 8, generator=gen) for n in (lq, lk, lk))
    mask = (torch.rand(2, 1, lq, lk, generator=gen) < 0.6).long()
    mask[..., 0] = 1
    torch.manual_seed(0)
    module = model.RelativeMultiHeadAttention(8, 2, max_relative_position=k_max).eval()
    weights = dict(module.named_parameters())
    with torch.no_grad():
        for m in (None, mask):
            want = ref.relative_attention(query, key, value, weights, 2, k_max, m)
            assert torch.equal(module(query, key, value, m), want.float())
