"""The production Shaw-style relative attention that `drillpe bench relative`
times yours against.

Hidden from learner code like the oracles (bundle.fast_dir()); the grading
reference stays float64. This one works in the module's dtype, and never
materialises the (Lq, Lk, head_dim) embeddings a_k and a_v, which the model
answer (as tensor2tensor) gathers and multiplies per query:

- the index clamp(j - pos_i, -K, K) + K is built once per (Lq, Lk, K, device);
- q · a_k[i, j] = (q @ table_kᵀ)[i, index[i, j]]: one small (Lq, 2K+1) product
  per head, then one gather writes the (Lq, Lk) position logits, and the
  content product is added to them in place by baddbmm_ (the GEMM's own
  C = βC + αAB, with the 1/√head_dim scale as α and β: no separate add or
  scale pass);
- Σ_j attn[i, j] a_v[i, j] = Σ_r (attention summed over the keys j whose
  index is r) · table_v[r]: one scatter_add of the probabilities into 2K + 1
  buckets, then a small (Lq, 2K+1) @ (2K+1, head_dim) product added to
  attn @ v in place;
- the q, k, v, o projections are torch's linear (GEMMs).

Where it falls short: the (B·H, Lq, Lk) logits are written and read about
five times (gather, baddbmm_, softmax, attn @ v, scatter_add; the mask adds
a sixth). A fused attention kernel keeps them on chip (flex_attention can
take the position term as a score_mod), but the a_v term needs the
probabilities bucketed by distance, which torch's fused kernels do not
return. In bfloat16/float16 the softmax is taken in float32 (as HF does) and
the bucket sums accumulate in float32: one more cast pass over the
probabilities than float32 inputs need.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

_INDICES: dict = {}


def relative_index(length_q: int, length_k: int, max_relative_position: int,
                   device) -> torch.Tensor:
    """(length_q, length_k) int64 rows into the table, clamp(j - pos_i, -K, K) + K,
    queries aligned to the end of the keys; built once per sizes and device."""
    key = (length_q, length_k, max_relative_position, str(device))
    found = _INDICES.get(key)
    if found is None:
        k = max_relative_position
        pos_q = torch.arange(length_q, device=device) + (length_k - length_q)
        found = (torch.arange(length_k, device=device)[None, :] - pos_q[:, None]).clamp(-k, k) + k
        _INDICES[key] = found
    return found


class RelativePosition(nn.Module):
    def __init__(self, num_units: int, max_relative_position: int):
        super().__init__()
        self.num_units = num_units
        self.max_relative_position = max_relative_position
        self.embeddings_table = nn.Parameter(torch.empty(2 * max_relative_position + 1, num_units))
        nn.init.xavier_uniform_(self.embeddings_table)

    def forward(self, length_q: int, length_k: int) -> torch.Tensor:
        index = relative_index(length_q, length_k, self.max_relative_position,
                               self.embeddings_table.device)
        return F.embedding(index, self.embeddings_table)


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
        batch, length_q, _ = query.shape
        length_k = key.shape[1]
        heads, head_dim = self.n_heads, self.d_model // self.n_heads
        rows = batch * heads

        def split(x, length):  # (B, L, d) -> (B·H, L, dh), the batch axis of bmm
            return x.view(batch, length, heads, head_dim).transpose(1, 2).reshape(
                rows, length, head_dim)

        q = split(self.linears[0](query), length_q)
        k = split(self.linears[1](key), length_k)
        v = split(self.linears[2](value), length_k)
        table_k = self.relative_position_k.embeddings_table
        table_v = self.relative_position_v.embeddings_table
        index = relative_index(length_q, length_k, self.max_relative_position, q.device)
        index = index.expand(rows, length_q, length_k)  # a view: stride 0 over B·H

        logits = torch.matmul(q, table_k.t()).gather(-1, index)  # q · a_k[i, j]
        scale = 1.0 / math.sqrt(head_dim)
        logits.baddbmm_(q, k.transpose(1, 2), beta=scale, alpha=scale)
        if mask is not None:
            logits.view(batch, heads, length_q, length_k).masked_fill_(mask == 0, float("-inf"))
        exact = logits.dtype in (torch.float32, torch.float64)
        probs = torch.softmax(logits, dim=-1, dtype=None if exact else torch.float32)
        probs = self.dropout(probs)
        attn = probs if exact else probs.to(q.dtype)
        buckets = probs.new_zeros(rows, length_q, table_v.shape[0]).scatter_add_(-1, index, probs)
        z = torch.bmm(attn, v)
        z.baddbmm_(buckets.to(z.dtype), table_v.expand(rows, *table_v.shape))
        z = z.view(batch, heads, length_q, head_dim).transpose(1, 2).reshape(
            batch, length_q, self.d_model)
        return self.linears[3](z)
