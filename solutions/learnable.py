"""Model answer: learned absolute position embeddings (BERT / GPT-2 `wpe`).

One trainable (max_sequence_length, d_model) parameter, N(0, 0.02) as in BERT.
The addition is done in float64 and cast back to x's dtype: for float32 that
is exactly the float32 sum (rounding a float64 sum of two float32 values to
float32 is the correctly rounded float32 sum), for bf16/fp16 one rounding.
"""

import torch
from torch import nn


def check_range(seq_len: int, offset: int, max_sequence_length: int) -> None:
    if offset < 0 or offset + seq_len > max_sequence_length:
        raise ValueError(
            f"positions {offset}..{offset + seq_len - 1} (seq_len {seq_len} at offset {offset}) "
            f"do not fit in max_sequence_length {max_sequence_length}"
        )


def add_positions(x: torch.Tensor, table: torch.Tensor, offset: int = 0) -> torch.Tensor:
    """x + table[offset : offset + seq_len] in float64, broadcast over the batch."""
    seq_len = x.shape[-2]
    check_range(seq_len, offset, table.shape[0])
    rows = table.to(device=x.device, dtype=torch.float64)[offset:offset + seq_len]
    return x.to(torch.float64) + rows


class TrainablePositionEncoding(nn.Module):
    def __init__(self, max_sequence_length: int, d_model: int):
        super().__init__()
        self.max_sequence_length = max_sequence_length
        self.d_model = d_model
        self.table = nn.Parameter(torch.empty(max_sequence_length, d_model))
        nn.init.normal_(self.table, mean=0.0, std=0.02)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        return add_positions(x, self.table, offset).to(x.dtype)
