import torch
from torch import nn


class SinPositionEncoding(nn.Module):
    def __init__(self, max_sequence_length: int, d_model: int, base: float = 10000.0):
        super().__init__()
        self.max_sequence_length = max_sequence_length
        self.d_model = d_model
        self.base = base

    def forward(self) -> torch.Tensor:
        L, d = self.max_sequence_length, self.d_model
        pos = torch.arange(L, dtype=torch.float32)[:, None]
        inv_freq = 1.0 / (self.base ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
        angles = pos * inv_freq
        pe = torch.zeros(L, d)
        pe[:, 0::2] = torch.sin(angles)
        pe[:, 1::2] = torch.cos(angles)
        return pe
