"""drillpe exercise: the convention bridge between Meta's and Hugging Face's RoPE.

Meta's original LLaMA code rotates interleaved pairs of channels, (2i, 2i+1)
(the `rope` exercise); Hugging Face's Llama rotates half-split pairs,
(i, i + head_dim/2) (the `rope_neox` exercise). The same checkpoint cannot
serve both as it is, but the two layouts differ only by a fixed permutation
of each head's channels, and q and k come out of linear layers: permute the
rows of W_q and W_k once, and half-split RoPE gives exactly the attention
scores interleaved RoPE gave.

    w is (n_heads * head_dim, d_model), as nn.Linear(d_model, n_heads * head_dim)
    stores it: row h * head_dim + c is channel c of head h.

    interleaved_to_half_split, inside every head:
        new row i            = old row 2i          i = 0 .. head_dim/2 - 1
        new row i + head_dim/2 = old row 2i + 1
    half_split_to_interleaved is its inverse.

The permutation stays inside each head (the heads are consecutive blocks of
head_dim rows) and moves rows, never columns. Only q and k are permuted:
v and o are not rotated, so they stay as they are.

API
    interleaved_to_half_split(w, n_heads, head_dim) -> Tensor
    half_split_to_interleaved(w, n_heads, head_dim) -> Tensor
        w: (n_heads * head_dim, d_model); head_dim even.
        n_heads: the number of heads this weight produces. Under grouped-query
            attention (GQA) the k weight has n_kv_heads < n_heads heads: the
            caller passes n_kv_heads for it, so d_model // head_dim is not it.
        Returns a new tensor (not a view of w) of w's shape, dtype and device,
        its rows those of w moved as above, bit for bit.

Notes
    * Exact: no arithmetic is needed, so no float32 detour for bf16 weights.
    * Do not change w in place, and do not hard-code shapes or the device.
    * Check your direction with head_dim >= 8: for head_dim = 4 both
      permutations happen to be [0, 2, 1, 3].

Example (one head, head_dim = 8; the rows of w numbered 0 .. 7)
    >>> w = torch.arange(8.)[:, None]
    >>> interleaved_to_half_split(w, 1, 8).flatten()
    tensor([0., 2., 4., 6., 1., 3., 5., 7.])
    >>> half_split_to_interleaved(w, 1, 8).flatten()
    tensor([0., 4., 1., 5., 2., 6., 3., 7.])
    >>> wk = torch.arange(32.).view(16, 2)   # GQA k: 2 heads of 8 rows, d_model = 2
    >>> interleaved_to_half_split(wk, 2, 8)[8:, 0]   # head 1: rows 8 .. 15
    tensor([16., 20., 24., 28., 18., 22., 26., 30.])

Check it with:  drillpe check rope_convert
"""

import torch


def interleaved_to_half_split(w, n_heads, head_dim):
    # Per head: row 2i -> row i, row 2i+1 -> row i + head_dim/2 (a new tensor).
    raise NotImplementedError


def half_split_to_interleaved(w, n_heads, head_dim):
    # The inverse: per head, row i -> row 2i, row i + head_dim/2 -> row 2i+1.
    raise NotImplementedError
