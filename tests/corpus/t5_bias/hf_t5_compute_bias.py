# expect: pass
# source: HF transformers, models/t5/modeling_t5.py (T5Attention._relative_position_bucket
#   and compute_bias): n = |r| with the upper half of the buckets for keys after the
#   query when bidirectional (an encoder), n = -min(r, 0) otherwise (a decoder), exact
#   buckets below max_exact, a truncated log above, capped at the last bucket;
#   memory_position - context_position, looked up and permuted to (1, heads, q, k).
#   The exercise's convention: a faithful port passes.
import math

import torch
from torch import nn


def relative_position_bucket(relative_position, bidirectional=True, num_buckets=32,
                             max_distance=128):
    relative_buckets = 0
    if bidirectional:
        num_buckets //= 2
        relative_buckets += (relative_position > 0).to(torch.long) * num_buckets
        relative_position = torch.abs(relative_position)
    else:
        relative_position = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    if_large = max_exact + (
        torch.log(relative_position.float() / max_exact)
        / math.log(max_distance / max_exact)
        * (num_buckets - max_exact)
    ).to(torch.long)
    if_large = torch.min(if_large, torch.full_like(if_large, num_buckets - 1))
    relative_buckets += torch.where(is_small, relative_position, if_large)
    return relative_buckets


class T5RelativeBias(nn.Module):
    def __init__(self, n_heads, num_buckets=32, max_distance=128, bidirectional=True):
        super().__init__()
        self.n_heads = n_heads
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        self.bidirectional = bidirectional  # HF: not self.is_decoder
        self.relative_attention_bias = nn.Embedding(num_buckets, n_heads)

    def forward(self, length_q, length_k):
        device = self.relative_attention_bias.weight.device
        context_position = torch.arange(length_q, dtype=torch.long, device=device)[:, None]
        memory_position = torch.arange(length_k, dtype=torch.long, device=device)[None, :]
        relative_position = memory_position - context_position
        bucket = relative_position_bucket(relative_position, bidirectional=self.bidirectional,
                                          num_buckets=self.num_buckets,
                                          max_distance=self.max_distance)
        values = self.relative_attention_bias(bucket)  # (q, k, heads)
        return values.permute([2, 0, 1]).unsqueeze(0)
