# expect: pass
# source: tensor2tensor, layers/common_attention.py (_generate_relative_positions_matrix,
#   _generate_relative_positions_embeddings, _relative_attention_inner,
#   dot_product_attention_relative): distances k - q with the queries taken from the
#   END of the key range (range_vec_k[-length_q:]), clipped to [-K, K] and shifted by K
#   into one table per side (keys, values), shared by every head; the inner products
#   q . k + q . aK and w @ v + w @ aV done by folding batch and heads together.
#   The exercise's convention: a faithful port passes.
import torch
from torch import nn


def _relative_positions_matrix(length_q, length_k, max_relative_position, device):
    range_vec_k = torch.arange(length_k, device=device)
    range_vec_q = range_vec_k[-length_q:] if length_q <= length_k else \
        torch.arange(length_k - length_q, length_k, device=device)
    distance_mat = range_vec_k[None, :] - range_vec_q[:, None]
    clipped = torch.clamp(distance_mat, -max_relative_position, max_relative_position)
    return clipped + max_relative_position


class RelativePosition(nn.Module):
    def __init__(self, num_units: int, max_relative_position: int):
        super().__init__()
        self.num_units = num_units
        self.max_relative_position = max_relative_position
        self.embeddings_table = nn.Parameter(torch.empty(2 * max_relative_position + 1,
                                                         num_units))
        nn.init.xavier_uniform_(self.embeddings_table)

    def forward(self, length_q: int, length_k: int) -> torch.Tensor:
        ids = _relative_positions_matrix(length_q, length_k, self.max_relative_position,
                                         self.embeddings_table.device)
        return self.embeddings_table[ids]


def _relative_attention_inner(x, y, z, transpose):
    """x: (b, h, lx, d); y: (b, h, ly, d) or (b, h, lx, ly); z: (lx, ly, d)."""
    b, h, lx = x.shape[0], x.shape[1], x.shape[2]
    xy = torch.matmul(x, y.transpose(-1, -2) if transpose else y)
    x_t = x.permute(2, 0, 1, 3).reshape(lx, b * h, -1)  # (lx, b*h, ·)
    x_tz = torch.matmul(x_t, z.transpose(-1, -2) if transpose else z)  # (lx, b*h, ly|d)
    x_tz = x_tz.reshape(lx, b, h, -1).permute(1, 2, 0, 3)
    return xy + x_tz


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

    def _split_heads(self, x):
        b, length, _ = x.shape
        return x.view(b, length, self.n_heads, self.head_dim).transpose(1, 2)

    def forward(self, query, key, value, mask=None):
        length_q, length_k = query.shape[1], key.shape[1]
        # t2t scales q by depth ** -0.5 before the dot products
        q = self._split_heads(self.linears[0](query)) * self.head_dim ** -0.5
        k = self._split_heads(self.linears[1](key))
        v = self._split_heads(self.linears[2](value))
        relations_keys = self.relative_position_k(length_q, length_k)
        relations_values = self.relative_position_v(length_q, length_k)
        logits = _relative_attention_inner(q, k, relations_keys, True)
        if mask is not None:
            logits = logits.masked_fill(mask == 0, float("-inf"))
        weights = self.dropout(torch.softmax(logits, dim=-1))
        out = _relative_attention_inner(weights, v, relations_values, False)
        out = out.transpose(1, 2).reshape(query.shape[0], length_q, self.d_model)
        return self.linears[3](out)

