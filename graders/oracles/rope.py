"""Oracle for `rope`: what the judge compares with, hidden from learner code
like solutions/ (graders/rope.py receives it as ``ctx.ref``).

Built on the model answer (solutions/rope.py): its angles and its pair
rotation, here at any positions and base and with cos/sin given, and its
attention with switches that reproduce the mistakes graders/rope.py names.
Everything is float64.
"""

import math

import torch

from drillpe.grading.common import load_solution

model = load_solution("rope")
BASE = model.BASE
angles = model.angles


# Pure functions (the result depends on the arguments alone): a warm judge
# worker keeps their results for the default seed's inputs
# (drillpe/grading/reference_memo.py).
MEMO = ("rotate_pairs", "rotate", "attend")


def rotate_pairs(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x * cos + rotate_every_two(x) * sin in float64; cos/sin are per channel (L, d)."""
    x = x.to(torch.float64)
    return x * cos + model.rotate_every_two(x) * sin


def rotate(x: torch.Tensor, positions: torch.Tensor | None = None, base: float = BASE
           ) -> torch.Tensor:
    """x (..., L, d) rotated at `positions` (default 0 .. L-1: the model's rotate), float64."""
    if positions is None:
        return model.rotate(x)
    ang = angles(positions.to(x.device), x.shape[-1], base).repeat_interleave(2, dim=-1)
    return rotate_pairs(x, ang.cos(), ang.sin())


def attend(q, k, v, mask=None, dropout=None, *, dim: int = -1, scale: bool = True,
           invert_mask: bool = False, fill: float = float("-inf"),
           mask_after_softmax: bool = False):
    """Softmax attention in float64 on already-rotated q, k: (out, weights).

    The model's attention restated with switches (the defaults give it exactly;
    tests/test_reference_rope.py pins the two equal): softmax over `dim`,
    no 1/sqrt(d) without `scale`, the mask inverted, a finite `fill`, or the
    excluded weights zeroed after an unmasked softmax.
    """
    q, k, v = (t.to(torch.float64) for t in (q, k, v))
    logits = q @ k.transpose(-2, -1)
    if scale:
        logits = logits / math.sqrt(q.shape[-1])
    excluded = None
    if mask is not None:
        excluded = (mask != 0) if invert_mask else (mask == 0)
        if not mask_after_softmax:
            logits = logits.masked_fill(excluded, fill)
    weights = torch.softmax(logits, dim=dim)
    if mask_after_softmax and excluded is not None:
        weights = weights.masked_fill(excluded, 0.0)
    if dropout is not None:
        weights = dropout(weights)
    return weights @ v, weights
