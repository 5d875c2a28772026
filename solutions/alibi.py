"""Reference: attention with linear biases (ALiBi, Press et al. 2022).

Slopes follow ofirpress/attention_with_linear_biases `get_slopes` (the same
numbers as HF Bloom's `build_alibi_tensor`): for n a power of two,
m_h = 2 ** (-8 (h+1) / n); otherwise the slopes of the closest power of two
p below n, followed by every other slope of 2p, [0::2][: n - p].

The attention is `softmax(q k^T / sqrt(D) - m_h |pos_i - j|) v`, with query i
at position pos_i = i + (Lk - Lq) (queries aligned to the end of the keys, as
in `relative`) and, when causal, keys j > pos_i excluded. HF Bloom adds
`+m_h * j` instead; with the causal mask that differs from `-m_h |pos_i - j|`
only by a constant per query row, which the softmax ignores.

Everything is computed in float64 and cast back to v's dtype. `get_slopes`,
`query_positions` and `attend` are the float64 building blocks the grader
uses; the keyword switches of `attend` produce the mistakes it diagnoses.
"""

import math

import torch


def power_of_two_slopes(n: int) -> list[float]:
    """m_h = 2 ** (-8 (h+1) / n), h = 0 .. n-1: a geometric sequence from 2 ** (-8/n) to 2 ** -8."""
    return [2.0 ** (-8.0 * (h + 1) / n) for h in range(n)]


def get_slopes(n: int) -> list[float]:
    """The n ALiBi slopes as Python floats (ofirpress `get_slopes`)."""
    if (n & (n - 1)) == 0:
        return power_of_two_slopes(n)
    p = 2 ** math.floor(math.log2(n))
    return power_of_two_slopes(p) + power_of_two_slopes(2 * p)[0::2][: n - p]


def query_positions(length_q: int, length_k: int, device=None, *, end_aligned: bool = True
                    ) -> torch.Tensor:
    """(length_q,) float64 positions of the queries: i + (length_k - length_q)."""
    shift = length_k - length_q if end_aligned else 0
    return torch.arange(length_q, dtype=torch.float64, device=device) + shift


def attend(q, k, v, causal: bool = True, slopes=None, *, distance: str = "abs",
           sign: float = -1.0, bias_aligned: bool = True, mask: str | None = None,
           mask_aligned: bool = True, scale: str = "logits", dim: int = -1,
           mask_after_softmax: bool = False) -> torch.Tensor:
    """ALiBi attention in float64: (B, H, Lq, D).

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


def alibi_slopes(n_heads: int) -> torch.Tensor:
    """(n_heads,) float32 slopes on the CPU."""
    return torch.tensor(get_slopes(n_heads), dtype=torch.float32)


def alibi_attention(q, k, v, causal=True):
    return attend(q, k, v, causal).to(v.dtype)
