"""Oracle for `rope_neox`: what the judge compares with, hidden from learner
code like solutions/ (graders/rope_neox.py receives it as ``ctx.ref``).

The model answer's pieces (solutions/rope_neox.py), with the angles and their
heads axis apart so the grader can build each mistake's rotation; `rope64`
is apply_rope in float64.
"""

import torch

from drillpe.grading.common import load_solution

model = load_solution("rope_neox")
BASE = 10000.0
inv_freq = model.inv_freq
rotate_half = model.rotate_half
rotate = model.rotate  # rotate(x, ang): the first 2 * ang.shape[-1] channels, float64


# Pure functions (the result depends on the arguments alone): a warm judge
# worker keeps their results for the default seed's inputs
# (drillpe/grading/reference_memo.py).
MEMO = ("angles", "heads_axis", "rope64")


def angles(position_ids: torch.Tensor, rotary_dim: int, base: float = BASE) -> torch.Tensor:
    """(*position_ids.shape, rotary_dim/2) float64 angles position * theta_i."""
    pos = position_ids.to(torch.float64)
    return pos[..., None] * inv_freq(rotary_dim, base, pos.device)


def heads_axis(ang: torch.Tensor) -> torch.Tensor:
    """Angles of (batch, seq_len) positions get a heads axis: (batch, 1, seq_len, r/2).
    Angles of (seq_len,) positions broadcast over batch and heads as they are."""
    return ang[:, None] if ang.dim() == 3 else ang


def rope64(x: torch.Tensor, position_ids: torch.Tensor, base: float = BASE,
           rotary_dim: int | None = None) -> torch.Tensor:
    """apply_rope in float64 (the value every learner output is compared with): the
    model's, on x widened to float64 (exact for every floating dtype)."""
    return model.apply_rope(x.to(torch.float64), position_ids, base, rotary_dim)
