"""Model answer: sinusoidal absolute position encoding, interleaved layout.

The table is computed in float64 (angles p * w_i reach ~2000 rad, where
float32 already loses ~1e-4) and cast to float32 as the API asks. float32
angles are within the checks' tolerances too; bf16/fp16 ones are not.
"""

import torch
from torch import nn


def table(length: int, d_model: int, base: float = 10000.0, *, dtype=torch.float64,
          device=None) -> torch.Tensor:
    """PE[p, 2i] = sin(p w_i), PE[p, 2i+1] = cos(p w_i), w_i = base ** (-2i/d)."""
    pos = torch.arange(length, dtype=torch.float64, device=device)[:, None]
    w = base ** (-torch.arange(0, d_model, 2, dtype=torch.float64, device=device) / d_model)
    angles = pos * w
    pe = torch.empty(length, d_model, dtype=torch.float64, device=device)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe.to(dtype)


class SinPositionEncoding(nn.Module):
    def __init__(self, max_sequence_length: int, d_model: int, base: float = 10000.0):
        super().__init__()
        self.max_sequence_length = max_sequence_length
        self.d_model = d_model
        self.base = base

    def forward(self) -> torch.Tensor:
        return table(self.max_sequence_length, self.d_model, self.base, dtype=torch.float32)
