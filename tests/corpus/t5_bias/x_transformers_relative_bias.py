# expect: pass t5_bias.end_aligned
# source: lucidrains x-transformers, x_transformers.py (RelativePositionBias): T5's
#   buckets (n = -r; upper half for n < 0 unless causal; n clamped at 0 when causal),
#   but queries placed at the END of the keys (q_pos = arange(j - i, j)), as a cached
#   decoder sees them. Ported with scale 1 (x-transformers multiplies by a scale, by
#   default sqrt(dim_head), which the exercise has no place for). Right for equal
#   lengths; the cross-length extra check names t5_bias.end_aligned.
import math

import torch
from torch import nn


def relative_position_bucket(relative_position, bidirectional=True, num_buckets=32,
                             max_distance=128):
    ret = 0
    n = -relative_position
    if bidirectional:  # x-transformers: `not causal`
        num_buckets //= 2
        ret += (n < 0).long() * num_buckets
        n = torch.abs(n)
    else:
        n = torch.max(n, torch.zeros_like(n))
    max_exact = num_buckets // 2
    is_small = n < max_exact
    val_if_large = max_exact + (
        torch.log(n.float() / max_exact) / math.log(max_distance / max_exact)
        * (num_buckets - max_exact)
    ).long()
    val_if_large = torch.min(val_if_large, torch.full_like(val_if_large, num_buckets - 1))
    return ret + torch.where(is_small, n, val_if_large)


class T5RelativeBias(nn.Module):
    def __init__(self, n_heads, num_buckets=32, max_distance=128, bidirectional=True):
        super().__init__()
        self.n_heads = n_heads
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        self.bidirectional = bidirectional
        self.scale = 1.0
        self.relative_attention_bias = nn.Embedding(num_buckets, n_heads)

    def forward(self, length_q, length_k):
        i, j = length_q, length_k
        device = self.relative_attention_bias.weight.device
        q_pos = torch.arange(j - i, j, dtype=torch.long, device=device)
        k_pos = torch.arange(j, dtype=torch.long, device=device)
        rel_pos = k_pos[None, :] - q_pos[:, None]
        rp_bucket = relative_position_bucket(rel_pos, bidirectional=self.bidirectional,
                                             num_buckets=self.num_buckets,
                                             max_distance=self.max_distance)
        values = self.relative_attention_bias(rp_bucket)  # (i, j, h)
        return (values.permute(2, 0, 1) * self.scale).unsqueeze(0)
