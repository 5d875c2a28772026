# expect: fail sinusoidal.base_ignored
# source: HF transformers, models/xlm/modeling_xlm.py (create_sinusoidal_embeddings): a
#   NumPy table of pos / 10000 ** (2 * (j // 2) / dim), sines on the even channels and
#   cosines on the odd ones, copied into a frozen tensor. The exercise's interleaved
#   layout, but with 10000 written into the formula: the grader's other bases name
#   sinusoidal.base_ignored.
import numpy as np
import torch
from torch import nn


def create_sinusoidal_embeddings(n_pos, dim, out):
    position_enc = np.array(
        [[pos / np.power(10000, 2 * (j // 2) / dim) for j in range(dim)] for pos in range(n_pos)]
    )
    out.requires_grad = False
    out[:, 0::2] = torch.FloatTensor(np.sin(position_enc[:, 0::2]))
    out[:, 1::2] = torch.FloatTensor(np.cos(position_enc[:, 1::2]))
    out.detach_()


class SinPositionEncoding(nn.Module):
    def __init__(self, max_sequence_length: int, d_model: int, base: float = 10000.0):
        super().__init__()
        self.max_sequence_length = max_sequence_length
        self.d_model = d_model
        self.base = base

    def forward(self) -> torch.Tensor:
        table = torch.empty(self.max_sequence_length, self.d_model)
        create_sinusoidal_embeddings(self.max_sequence_length, self.d_model, table)
        return table
