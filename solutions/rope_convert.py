"""Model answer: the convention bridge between Meta's interleaved RoPE layout
and Hugging Face's half-split one, as a permutation of q/k projection rows.

In each head's `head_dim` output rows, Meta's checkpoints rotate the pairs
(2i, 2i+1) and HF's Llama code the pairs (i, i + head_dim/2), both by the
angle p * theta_i. Moving row 2i to i and row 2i+1 to i + head_dim/2, head
by head, makes half-split RoPE of the new q (k) the old interleaved RoPE of
q (k) with its channels permuted the same way; a dot product does not see a
permutation applied to both sides, so every attention score is unchanged.
v and o are never touched: nothing rotates them.

The permutation is HF's conversion script's view / transpose / reshape (one
pass over memory), with one difference: `reshape` returns a view of `w`
whenever the permutation happens to be trivial (head_dim = 2), and a
converted checkpoint must not share storage with the original, so that case
is copied. Exact in every dtype (rows are moved, never computed), on w's
device. Trailing axes are carried along, so a 1-D q/k bias (Qwen2) converts
the same way.
"""

import torch


def _heads(w: torch.Tensor, n_heads: int, head_dim: int) -> tuple:
    if head_dim % 2 or head_dim <= 0:
        raise ValueError(f"head_dim must be even and positive, not {head_dim}")
    if w.shape[0] != n_heads * head_dim:
        raise ValueError(f"w has {w.shape[0]} rows; n_heads * head_dim = {n_heads * head_dim}")
    return tuple(w.shape[1:])


def _own(out: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """out, or a copy of it where reshape handed back a view of w (the permutation
    is trivial for head_dim = 2, so the transposed view is still contiguous)."""
    if out.untyped_storage().data_ptr() == w.untyped_storage().data_ptr():
        return out.clone()
    return out


def interleaved_to_half_split(w, n_heads, head_dim):
    """Per head: row 2i -> row i, row 2i+1 -> row i + head_dim/2."""
    rest = _heads(w, n_heads, head_dim)
    pairs = w.reshape(n_heads, head_dim // 2, 2, *rest)  # (head, i, which of the pair, ...)
    return _own(pairs.transpose(1, 2).reshape(w.shape), w)  # (head, which, i, ...)


def half_split_to_interleaved(w, n_heads, head_dim):
    """The inverse: per head, row i -> row 2i, row i + head_dim/2 -> row 2i+1."""
    rest = _heads(w, n_heads, head_dim)
    halves = w.reshape(n_heads, 2, head_dim // 2, *rest)  # (head, which half, i, ...)
    return _own(halves.transpose(1, 2).reshape(w.shape), w)  # (head, i, which, ...)
