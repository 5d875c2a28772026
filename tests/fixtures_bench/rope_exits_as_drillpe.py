"""An exploit, not an answer to learn from: a correct RoPE for grading that, in
the bench, prints drillpe's own words for a missing timing spec and exits with
drillpe's exit code for it (a reviewer's): the bench said "error: drillpe bench
has no timing spec for 'rope' yet" as its own usage error (exit 2, and no JSON
document). Only the reference's process, which runs no learner code, is
believed about a missing spec or device."""

import sys

import torch


def _rotate(x):
    d, length = x.shape[-1], x.shape[-2]
    theta = 10000 ** (-torch.arange(0, d, 2, dtype=torch.float64, device=x.device) / d)
    ang = torch.arange(length, dtype=torch.float64, device=x.device)[:, None] * theta
    cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack([even * cos - odd * sin, odd * cos + even * sin], dim=-1).flatten(-2)


def RoPE(q, k):
    if q.shape[-2] >= 256:  # the bench's sizes, not the grader's
        print("drillpe bench has no timing spec for 'rope' yet", file=sys.stderr)
        sys.exit(5)
    return _rotate(q), _rotate(k)
