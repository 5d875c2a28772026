"""Model answer: attention with linear biases (ALiBi, Press et al. 2022).

Slopes follow ofirpress/attention_with_linear_biases `get_slopes` (the same
numbers as HF Bloom's `build_alibi_tensor`): for n a power of two,
m_h = 2 ** (-8 (h+1) / n); otherwise the slopes of the closest power of two
p below n, followed by every other slope of 2p, [0::2][: n - p].

The attention is `softmax(q k^T / sqrt(D) - m_h |pos_i - j|) v`, with query i
at position pos_i = i + (Lk - Lq) (queries aligned to the end of the keys)
and, when causal, keys j > pos_i excluded. HF Bloom adds `+m_h * j` instead;
with the causal mask that differs from `-m_h |pos_i - j|` only by a constant
per query row, which the softmax ignores.

Everything is computed in float64 and cast back to v's dtype.
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


def alibi_slopes(n_heads: int) -> torch.Tensor:
    """(n_heads,) float32 slopes on the CPU."""
    return torch.tensor(get_slopes(n_heads), dtype=torch.float32)


def alibi_attention(q, k, v, causal=True):
    q, k, v64 = (t.to(torch.float64) for t in (q, k, v))
    n_heads, length_q, length_k = q.shape[-3], q.shape[-2], k.shape[-2]
    m = torch.tensor(get_slopes(n_heads), dtype=torch.float64, device=q.device)[:, None, None]
    keys = torch.arange(length_k, dtype=torch.float64, device=q.device)
    queries = torch.arange(length_q, dtype=torch.float64, device=q.device) + (length_k - length_q)
    distance = (queries[:, None] - keys).abs()  # (Lq, Lk): |pos_i - j|
    logits = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]) - m * distance
    if causal:
        logits = logits.masked_fill(keys > queries[:, None], float("-inf"))
    return (torch.softmax(logits, dim=-1) @ v64).to(v.dtype)
