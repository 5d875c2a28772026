"""Small hand-checked tests of the `learnable` reference (solutions/learnable.py)."""

import pytest
import torch

from drillpe.grading.common import load_reference

ref = load_reference("learnable")

ROWS = [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6], [0.7, 0.8]]


def module_with_rows(rows=ROWS):
    pe = ref.TrainablePositionEncoding(len(rows), len(rows[0]))
    with torch.no_grad():
        pe.table.copy_(torch.tensor(rows))
    return pe


def test_one_trainable_parameter_of_the_table_shape():
    params = list(ref.TrainablePositionEncoding(16, 8).named_parameters())
    assert [(name, tuple(p.shape), p.requires_grad) for name, p in params] == [
        ("table", (16, 8), True)]


def test_bert_initialisation_is_small():
    table = ref.TrainablePositionEncoding(512, 64).table
    assert 0.015 < float(table.detach().std()) < 0.025


def test_rows_from_offset_are_added():
    out = module_with_rows()(torch.zeros(1, 2, 2), offset=1)
    assert torch.equal(out, torch.tensor([[[0.3, 0.4], [0.5, 0.6]]]))


def test_offset_zero_adds_first_rows_to_every_batch_item():
    x = torch.tensor([[[1.0, 2.0]], [[-1.0, 0.5]]])  # (batch 2, L 1, d 2)
    pe = module_with_rows()
    out = pe(x)
    assert torch.equal(out, x + pe.table.detach()[:1])
    assert torch.allclose(out, torch.tensor([[[1.1, 2.2]], [[-0.9, 0.7]]]))


def test_float32_is_the_plain_float32_sum():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 3, 2, generator=gen)
    pe = module_with_rows()
    assert torch.equal(pe(x, offset=1), x + pe.table.detach()[1:4])


def test_whole_table_fits_and_one_more_row_does_not():
    pe = module_with_rows()
    assert pe(torch.zeros(1, 4, 2)).shape == (1, 4, 2)
    assert pe(torch.zeros(1, 1, 2), offset=3).shape == (1, 1, 2)
    with pytest.raises(ValueError, match="max_sequence_length 4"):
        pe(torch.zeros(1, 5, 2))
    with pytest.raises(ValueError, match=r"positions 3\.\.4"):
        pe(torch.zeros(1, 2, 2), offset=3)


def test_gradient_reaches_exactly_the_used_rows():
    pe = module_with_rows()
    g = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[10.0, 20.0], [30.0, 40.0]]])
    (pe(torch.zeros(2, 2, 2), offset=1) * g).sum().backward()
    assert torch.equal(pe.table.grad,
                       torch.tensor([[0.0, 0.0], [11.0, 22.0], [33.0, 44.0], [0.0, 0.0]]))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_keeps_dtype_and_rounds_once(dtype):
    x = torch.tensor([[[1.0, -2.0], [0.25, 3.0]]], dtype=dtype)
    pe = module_with_rows()
    out = pe(x, offset=2)
    exact = x.double() + pe.table.detach().double()[2:4]
    assert out.dtype == dtype
    assert torch.equal(out, exact.to(dtype))


def test_add_positions_is_float64_on_the_inputs_device():
    x = torch.ones(1, 2, 2)
    out = ref.add_positions(x, torch.tensor(ROWS), offset=2)
    assert out.dtype == torch.float64
    assert torch.allclose(out, torch.tensor([[[1.5, 1.6], [1.7, 1.8]]], dtype=torch.float64))
