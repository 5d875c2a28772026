import math

import torch
from torch import nn


class RelativePosition(nn.Module):
    def __init__(self, num_units: int, max_relative_position: int):
        super().__init__()
        self.num_units = num_units
        self.max_relative_position = max_relative_position
        self.embeddings_table = nn.Parameter(torch.empty(2 * max_relative_position + 1, num_units))
        nn.init.xavier_uniform_(self.embeddings_table)

    def forward(self, length_q: int, length_k: int) -> torch.Tensor:
        device = self.embeddings_table.device
        pos_q = torch.arange(length_q, device=device) + (length_k - length_q)
        pos_k = torch.arange(length_k, device=device)
        distance = pos_k[None, :] - pos_q[:, None]
        K = self.max_relative_position
        index = torch.clamp(distance, -K, K) + K
        return self.embeddings_table[index]


class RelativeMultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, max_relative_position: int = 16,
                 dropout: float = 0.0):
        super().__init__()
        self.d_model = d_model
        self.n_heads = n_heads
        self.max_relative_position = max_relative_position
        self.head_dim = d_model // n_heads
        self.linears = nn.ModuleList([nn.Linear(d_model, d_model) for _ in range(4)])
        self.relative_position_k = RelativePosition(self.head_dim, max_relative_position)
        self.relative_position_v = RelativePosition(self.head_dim, max_relative_position)
        self.dropout = nn.Dropout(dropout)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        batch, len_q, len_k = query.shape[0], query.shape[1], key.shape[1]
        q, k, v = [
            lin(x).view(batch, -1, self.n_heads, self.head_dim).transpose(1, 2)
            for lin, x in zip(self.linears, (query, key, value))
        ]
        a_k = self.relative_position_k(len_q, len_k)
        a_v = self.relative_position_v(len_q, len_k)
        content = q @ k.transpose(-2, -1)
        position = torch.einsum("bhid,ijd->bhij", q, a_k)
        logits = (content + position) / math.sqrt(self.head_dim)
        if mask is not None:
            logits = logits.masked_fill(mask == 0, float("-inf"))
        weights = self.dropout(torch.softmax(logits, dim=-1))
        out = weights @ v + torch.einsum("bhij,ijd->bhid", weights, a_v)
        out = out.transpose(1, 2).reshape(batch, len_q, self.d_model)
        return self.linears[3](out)
