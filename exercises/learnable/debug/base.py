import torch
from torch import nn


class TrainablePositionEncoding(nn.Module):
    def __init__(self, max_sequence_length: int, d_model: int):
        super().__init__()
        self.max_sequence_length = max_sequence_length
        self.d_model = d_model
        self.position_embeddings = nn.Embedding(max_sequence_length, d_model)
        nn.init.normal_(self.position_embeddings.weight, std=0.02)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        seq_len = x.shape[1]
        if offset + seq_len > self.max_sequence_length:
            raise ValueError(f"positions {offset}..{offset + seq_len - 1} exceed "
                             f"max_sequence_length {self.max_sequence_length}")
        positions = torch.arange(offset, offset + seq_len, device=x.device)
        pe = self.position_embeddings(positions).to(x.dtype)
        return x + pe.unsqueeze(0)
