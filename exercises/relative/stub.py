"""drillpe exercise: relative position representations (Shaw et al., 2018).

Self-attention where every (query i, key j) pair also sees a learned vector
chosen by their clipped distance. Two modules:

RelativePosition(num_units, max_relative_position)
    self.embeddings_table: nn.Parameter of shape (2K + 1, num_units), K = max_relative_position
    .forward(length_q, length_k) -> (length_q, length_k, num_units)

    Query i sits at position pos_i = i + (length_k - length_q): queries are
    aligned to the *end* of the keys (as tensor2tensor does; with equal lengths
    pos_i = i). Then

        out[i, j] = embeddings_table[clamp(j - pos_i, -K, K) + K]

    Distances beyond K share the embedding of distance K (clip, do not index
    out of range).

RelativeMultiHeadAttention(d_model, n_heads, max_relative_position=16, dropout=0.0)
    self.linears: nn.ModuleList of 4 nn.Linear(d_model, d_model) (with bias):
                  query, key, value and output projections, in that order
    self.relative_position_k, self.relative_position_v:
                  RelativePosition(d_model // n_heads, max_relative_position)
    No other parameters. (The grader loads its own weights by these names.)
    .forward(query, key, value, mask=None) -> (batch, length_q, d_model)

    query is (batch, length_q, d_model); key and value are (batch, length_k, d_model).
    Project q, k, v with linears[0..2] and split into n_heads heads of
    dh = d_model // n_heads channels (channel c of head h is c + h * dh).
    With aK = relative_position_k(length_q, length_k) and aV likewise
    (both (length_q, length_k, dh), shared by every head and batch element):

        logits[i, j] = (q_i · k_j + q_i · aK[i, j]) / sqrt(dh)
        logits[i, j] = -inf where mask == 0   (mask broadcasts to (batch, n_heads, Lq, Lk))
        w = dropout(softmax(logits over j))
        z_i = sum_j w[i, j] * (v_j + aV[i, j])

    Concatenate the heads and apply linears[3]. Return the query's dtype, on
    its device; read the batch size and lengths from the inputs.

Example (K = 1)
    With embeddings_table = [[-1.], [0.], [1.]], RelativePosition(1, 1).forward(3, 5)[..., 0] is
        [[-1., -1.,  0.,  1.,  1.],     (query 0 sits at position 2)
         [-1., -1., -1.,  0.,  1.],
         [-1., -1., -1., -1.,  0.]]
    With d_model = n_heads = 1, every linear the identity (weight 1, bias 0),
    relative_position_k's table [[0.], [0.], [1.]], relative_position_v's all zero and
    query = key = value = [[[1.], [2.]]], the logits are [[1, 3], [2, 4]] and
    the output is [[[1.8808], [1.8808]]] (2 - 1 / (1 + e**2)).

Do not use F.scaled_dot_product_attention or nn.MultiheadAttention.

What changed from the seed's code
    The seed's RelativeMultiHeadAttention(d_model, n_heads, dropout=0.1,
    batch_size=6) becomes (d_model, n_heads, max_relative_position=16,
    dropout=0.0), and forward(query, key, value) gains mask=None. Why: the
    seed reshapes with a fixed batch_size (silently wrong for other batches),
    hard-codes K = 16 and .cuda() (fails on a CPU), takes len_k from the
    query (fails when the lengths differ), returns (batch * L, d_model)
    instead of (batch, L, d_model), and calls an undefined _get_clones. Here
    sizes come from the inputs, K is an argument, nothing names a device,
    and a mask can exclude keys. Dropout defaults to 0 so that a fresh
    module is deterministic.

Check it with:  drillpe check relative
"""

import math

import torch
from torch import nn


class RelativePosition(nn.Module):
    def __init__(self, num_units: int, max_relative_position: int):
        super().__init__()
        self.num_units = num_units
        self.max_relative_position = max_relative_position
        # Register self.embeddings_table: a (2K + 1, num_units) nn.Parameter.
        raise NotImplementedError

    def forward(self, length_q: int, length_k: int) -> torch.Tensor:
        """Return (length_q, length_k, num_units): the embedding of each clipped distance."""
        raise NotImplementedError


class RelativeMultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, max_relative_position: int = 16,
                 dropout: float = 0.0):
        super().__init__()
        self.d_model = d_model
        self.n_heads = n_heads
        self.max_relative_position = max_relative_position
        # Register self.linears, self.relative_position_k, self.relative_position_v
        # and a dropout on the attention weights.
        raise NotImplementedError

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """Return (batch, length_q, d_model)."""
        raise NotImplementedError
