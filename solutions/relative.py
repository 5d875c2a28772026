"""Model answer: relative position representations (Shaw et al., 2018), with
queries aligned to the end of the keys as in tensor2tensor's
`_generate_relative_positions_matrix`.

Query i sits at position pos_i = i + (Lk - Lq); key j is seen through the
clipped distance clamp(j - pos_i, -K, K), which picks a row of each learned
(2K + 1, head_dim) table: a_k enters the logits, a_v the output. The
attention is computed in float64 and cast back to the input's dtype.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


def relative_index(length_q: int, length_k: int, max_relative_position: int, *,
                   device=None) -> torch.Tensor:
    """(length_q, length_k) int64 rows into the table: clamp(j - pos_i, -K, K) + K."""
    k = max_relative_position
    pos_q = torch.arange(length_q, device=device) + (length_k - length_q)
    distance = torch.arange(length_k, device=device)[None, :] - pos_q[:, None]
    return distance.clamp(-k, k) + k


class RelativePosition(nn.Module):
    def __init__(self, num_units: int, max_relative_position: int):
        super().__init__()
        self.num_units = num_units
        self.max_relative_position = max_relative_position
        self.embeddings_table = nn.Parameter(torch.empty(2 * max_relative_position + 1, num_units))
        nn.init.xavier_uniform_(self.embeddings_table)

    def forward(self, length_q: int, length_k: int) -> torch.Tensor:
        index = relative_index(length_q, length_k, self.max_relative_position,
                               device=self.embeddings_table.device)
        return self.embeddings_table[index]


class RelativeMultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, max_relative_position: int = 16,
                 dropout: float = 0.0):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.d_model = d_model
        self.n_heads = n_heads
        self.max_relative_position = max_relative_position
        self.linears = nn.ModuleList(nn.Linear(d_model, d_model) for _ in range(4))
        self.relative_position_k = RelativePosition(d_model // n_heads, max_relative_position)
        self.relative_position_v = RelativePosition(d_model // n_heads, max_relative_position)
        self.dropout = nn.Dropout(dropout)

    def forward(self, query, key, value, mask=None) -> torch.Tensor:
        f64 = torch.float64
        batch, length_q, _ = query.shape
        length_k = key.shape[1]
        head_dim = self.d_model // self.n_heads

        def project(i, x):
            linear = self.linears[i]
            return F.linear(x.to(f64), linear.weight.to(f64), linear.bias.to(f64))

        def split(x):  # (B, L, d) -> (B, H, L, dh)
            return x.reshape(batch, -1, self.n_heads, head_dim).transpose(1, 2)

        q, k, v = split(project(0, query)), split(project(1, key)), split(project(2, value))
        a_k = self.relative_position_k(length_q, length_k).to(f64)  # (Lq, Lk, dh)
        a_v = self.relative_position_v(length_q, length_k).to(f64)

        content = q @ k.transpose(-1, -2)
        position = torch.einsum("bhid,ijd->bhij", q, a_k)
        logits = (content + position) / math.sqrt(head_dim)
        if mask is not None:
            logits = logits.masked_fill(mask == 0, float("-inf"))
        attn = self.dropout(torch.softmax(logits, dim=-1))
        z = attn @ v + torch.einsum("bhij,ijd->bhid", attn, a_v)
        z = z.transpose(1, 2).reshape(batch, length_q, self.d_model)
        return project(3, z).to(query.dtype)
