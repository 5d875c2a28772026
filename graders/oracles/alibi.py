"""Oracle for `alibi`: what the judge compares with, hidden from learner code
like solutions/ (graders/alibi.py receives it as ``ctx.ref``).

The slopes are the model answer's (solutions/alibi.py); `attend` is its
attention in float64 with the switches that produce the mistakes
graders/alibi.py diagnoses.
"""

import math

import torch

from drillpe.grading.common import load_solution

model = load_solution("alibi")
get_slopes = model.get_slopes


# Pure functions (the result depends on the arguments alone): a warm judge
# worker keeps their results for the default seed's inputs
# (drillpe/grading/reference_memo.py).
MEMO = ("query_positions", "attend")


def query_positions(length_q: int, length_k: int, device=None, *, end_aligned: bool = True
                    ) -> torch.Tensor:
    """(length_q,) float64 positions of the queries: i + (length_k - length_q)."""
    shift = length_k - length_q if end_aligned else 0
    return torch.arange(length_q, dtype=torch.float64, device=device) + shift


def attend(q, k, v, causal: bool = True, slopes=None, *, distance: str = "abs",
           sign: float = -1.0, bias_aligned: bool = True, mask: str | None = None,
           mask_aligned: bool = True, scale: str = "logits", dim: int = -1,
           mask_after_softmax: bool = False) -> torch.Tensor:
    """ALiBi attention in float64: (B, H, Lq, D). The defaults give the model's
    alibi_attention before its cast (tests/test_reference_alibi.py pins the two
    equal); it is restated here because each switch changes a line inside it.

    slopes: (H,) slopes (default `get_slopes(H)`).
    distance: "abs" for |pos_i - j| (the reference), "signed" for pos_i - j
        (what HF Bloom's +m·j amounts to); the bias is sign * m_h * distance.
    bias_aligned / mask_aligned: queries end-aligned for the bias / the mask.
    mask: "causal" (exclude j > pos_i), "diagonal" (exclude j >= pos_i) or
        "none"; the default is "causal" when `causal`, else "none".
    scale: "logits" (q k^T / sqrt(D) + bias), "all" ((q k^T + bias) / sqrt(D))
        or "none" (q k^T + bias).
    dim: the axis of the softmax.
    mask_after_softmax: the excluded weights zeroed after an unmasked softmax (a mistake:
        rows no longer sum to 1).
    """
    q, k, v = (t.to(torch.float64) for t in (q, k, v))
    n_heads, length_q, length_k = q.shape[-3], q.shape[-2], k.shape[-2]
    if slopes is None:
        slopes = get_slopes(n_heads)
    m = torch.as_tensor(slopes, dtype=torch.float64).to(q.device)[:, None, None]
    keys = torch.arange(length_k, dtype=torch.float64, device=q.device)
    offset = query_positions(length_q, length_k, q.device, end_aligned=bias_aligned)[:, None] - keys
    if distance == "abs":
        offset = offset.abs()
    elif distance != "signed":
        raise ValueError(f"unknown distance {distance!r}")
    bias = sign * m * offset  # (H, Lq, Lk)

    content = q @ k.transpose(-2, -1)
    root = math.sqrt(q.shape[-1])
    if scale == "logits":
        logits = content / root + bias
    elif scale == "all":
        logits = (content + bias) / root
    elif scale == "none":
        logits = content + bias
    else:
        raise ValueError(f"unknown scale {scale!r}")

    mask = mask or ("causal" if causal else "none")
    if mask != "none":
        pos = query_positions(length_q, length_k, q.device, end_aligned=mask_aligned)[:, None]
        excluded = keys > pos if mask == "causal" else keys >= pos
        if mask_after_softmax:
            return torch.softmax(logits, dim=dim).masked_fill(excluded, 0.0) @ v
        logits = logits.masked_fill(excluded, float("-inf"))
    return torch.softmax(logits, dim=dim) @ v
