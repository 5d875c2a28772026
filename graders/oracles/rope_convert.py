"""Oracle for `rope_convert`: what the judge compares with, hidden from learner
code like solutions/ (graders/rope_convert.py receives it as ``ctx.ref``).

The model answer's two directions (solutions/rope_convert.py); the row
permutation as an index list, with the switches that reproduce each known
mistake (the other direction, one permutation over all heads, the columns
instead of the rows, the halves swapped, another head count); and the tiny
attention model the scores are compared on, in float64: interleaved RoPE
from the rope exercise's model answer, half-split RoPE from rope_neox's, so
neither side of the comparison is built from the permutation under test.
"""

import math

import torch

from drillpe.grading.common import load_solution

model = load_solution("rope_convert")
interleaved_rope = load_solution("rope")
half_split_rope = load_solution("rope_neox")
to_half = model.interleaved_to_half_split
to_interleaved = model.half_split_to_interleaved


# Pure functions (the result depends on the arguments alone): a warm judge
# worker keeps their results for the default seed's inputs
# (drillpe/grading/reference_memo.py).
MEMO = ("index", "mistaken", "rope_interleaved", "rope_half_split", "scores")


def index(n_heads: int, head_dim: int, *, to_half_split: bool = True,
          halves_swapped: bool = False, device=None) -> torch.Tensor:
    """(n_heads * head_dim,) int64: row r of the result is row index[r] of w.

    to_half_split: per head [0, 2, 4, ..., 1, 3, 5, ...] (the even rows, then the
    odd ones); its inverse [0, h, 1, h + 1, ...] with h = head_dim / 2. With
    halves_swapped the odd rows come first ([1, 3, ..., 0, 2, ...] and its inverse).
    """
    half = head_dim // 2
    first, second = (1, 0) if halves_swapped else (0, 1)
    i = torch.arange(half)
    forward = torch.cat([2 * i + first, 2 * i + second])  # per head: new row -> old row
    one = forward if to_half_split else torch.argsort(forward)
    heads = torch.arange(n_heads)[:, None] * head_dim
    return (heads + one[None, :]).reshape(-1).to(device)


def mistaken(w: torch.Tensor, n_heads: int, head_dim: int, *, to_half_split: bool = True,
             flip: bool = False, whole: bool = False, columns: bool = False,
             halves_swapped: bool = False, heads: int | None = None,
             flat_heads: int | None = None) -> torch.Tensor:
    """What a conversion of w outputs, done right (the defaults) or with mistakes.

    flip: the other direction. whole: one permutation over all n_heads * head_dim
    rows (one "head" of that size). columns: the d_model axis permuted, in blocks of
    head_dim. halves_swapped: the odd rows first. heads: this many heads of size
    rows / heads (q's head count used for a GQA k weight). flat_heads: this many
    heads of head_dim rows each, the rows' length bent to fit
    (``w.reshape(flat_heads, head_dim // 2, 2, -1)``: d_model // head_dim heads
    on a weight with another number of rows). Raises ValueError when the mistake
    cannot happen for w's shape.
    """
    if flat_heads is not None:
        if (w.numel() % (flat_heads * head_dim)) or flat_heads == n_heads or head_dim % 2:
            raise ValueError("this mistake does not fit w's shape")
        bent = w.reshape(flat_heads * head_dim, -1)
        idx = index(flat_heads, head_dim, to_half_split=to_half_split != flip,
                    halves_swapped=halves_swapped, device=w.device)
        return bent.index_select(0, idx).reshape(w.shape)
    direction = to_half_split != flip
    size = w.shape[1] if columns else w.shape[0]
    if whole:
        n, d = 1, size
    elif heads is not None:
        n, d = heads, size // heads
    elif columns:
        n, d = size // head_dim, head_dim
    else:
        n, d = n_heads, head_dim
    if n * d != size or d % 2 or d == 0:
        raise ValueError("this mistake does not fit w's shape")
    idx = index(n, d, to_half_split=direction, halves_swapped=halves_swapped, device=w.device)
    return w.index_select(1 if columns else 0, idx)


def rope_interleaved(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """x (B, H, L, head_dim) with pairs (2i, 2i+1) turned by positions * theta_i, float64."""
    x = x.to(torch.float64)
    ang = interleaved_rope.angles(positions.to(x.device), x.shape[-1]).repeat_interleave(2, dim=-1)
    return x * ang.cos() + interleaved_rope.rotate_every_two(x) * ang.sin()


def rope_half_split(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """x (B, H, L, head_dim) with pairs (i, i + head_dim/2) turned, float64."""
    return half_split_rope.apply_rope(x.to(torch.float64), positions.to(x.device))


def scores(x: torch.Tensor, wq: torch.Tensor, wk: torch.Tensor, n_heads: int, n_kv_heads: int,
           head_dim: int, positions: torch.Tensor, *, half_split: bool) -> torch.Tensor:
    """(B, n_heads, L, L) float64 logits q·k/sqrt(head_dim) of a tiny attention layer:
    q = x wq^T, k = x wk^T split into heads, rotated (half-split or interleaved RoPE),
    each k head shared by n_heads / n_kv_heads q heads (HF's repeat_kv)."""
    B, L, _ = x.shape
    x = x.to(torch.float64)
    q = (x @ wq.to(torch.float64).T).view(B, L, n_heads, head_dim).transpose(1, 2)
    k = (x @ wk.to(torch.float64).T).view(B, L, n_kv_heads, head_dim).transpose(1, 2)
    rope = rope_half_split if half_split else rope_interleaved
    q, k = rope(q, positions), rope(k, positions)
    k = k.repeat_interleave(n_heads // n_kv_heads, dim=1)
    return q @ k.transpose(-2, -1) / math.sqrt(head_dim)
