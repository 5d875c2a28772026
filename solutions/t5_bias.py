"""Model answer: T5's bucketed relative position bias (Raffel et al. 2020), as
HF transformers' `T5Attention._relative_position_bucket` and `compute_bias`
(the Mesh TensorFlow scheme).

The relative position is memory - query (key - query). When bidirectional,
half of the buckets hold r <= 0 and the other half r > 0 (offset by
num_buckets / 2). Within one half (n = |r|, or max(-r, 0) when
unidirectional, so future keys all land in bucket 0): distances below
max_exact = half / 2 get a bucket each; farther ones share log-spaced buckets

    max_exact + floor(log(n / max_exact) / log(max_distance / max_exact) * (half - max_exact))

clamped to the half's last bucket (every n >= max_distance ends there).

The log is taken in float64 (HF uses float32). Where that real value is
mathematically an integer (n = 16, 32, 64 with the defaults give exactly
10, 12 and 14), float rounding could land just below it; NUDGE keeps such
exact ties on the integer.
"""

import math

import torch
from torch import nn

NUDGE = 1e-9


def relative_position_bucket(relative_position: torch.Tensor, bidirectional: bool = True,
                             num_buckets: int = 32, max_distance: int = 128) -> torch.Tensor:
    """int64 buckets of `relative_position` (memory - query), same shape and device."""
    r = relative_position.to(torch.int64)
    half = num_buckets // 2 if bidirectional else num_buckets
    if bidirectional:
        offset = (r > 0).to(torch.int64) * half
        n = r.abs()
    else:
        offset = torch.zeros_like(r)
        n = (-r).clamp(min=0)
    max_exact = half // 2
    # n = 0 gives log(0) = -inf; those entries take the exact branch below.
    real = max_exact + torch.log(n.to(torch.float64) / max_exact) / math.log(
        max_distance / max_exact) * (half - max_exact)
    large = torch.floor(real + NUDGE).nan_to_num(neginf=0.0).to(torch.int64)
    large = large.clamp(max=half - 1)
    return offset + torch.where(n < max_exact, n, large)


class T5RelativeBias(nn.Module):
    def __init__(self, n_heads: int, num_buckets: int = 32, max_distance: int = 128,
                 bidirectional: bool = True):
        super().__init__()
        self.n_heads = n_heads
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        self.bidirectional = bidirectional
        self.relative_attention_bias = nn.Embedding(num_buckets, n_heads)

    def forward(self, length_q: int, length_k: int) -> torch.Tensor:
        weight = self.relative_attention_bias.weight
        query = torch.arange(length_q, device=weight.device)[:, None]
        memory = torch.arange(length_k, device=weight.device)[None, :]
        buckets = relative_position_bucket(memory - query, self.bidirectional, self.num_buckets,
                                           self.max_distance)
        return weight[buckets].permute(2, 0, 1).unsqueeze(0)  # (1, n_heads, Lq, Lk)
