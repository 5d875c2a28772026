import math

import torch
from torch import nn


def relative_position_bucket(relative_position, bidirectional=True, num_buckets=32,
                             max_distance=128):
    buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        buckets += (relative_position > 0).long() * num_buckets
        n = relative_position.abs()
    else:
        n = -torch.clamp(relative_position, max=0)
    max_exact = num_buckets // 2
    is_small = n < max_exact
    log_ratio = torch.log(n.float() / max_exact) / math.log(max_distance / max_exact)
    large = max_exact + (log_ratio * (num_buckets - max_exact)).long()
    large = torch.clamp(large, max=num_buckets - 1)
    return buckets + torch.where(is_small, n, large)


class T5RelativeBias(nn.Module):
    def __init__(self, n_heads, num_buckets=32, max_distance=128, bidirectional=True):
        super().__init__()
        self.n_heads = n_heads
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        self.bidirectional = bidirectional
        self.relative_attention_bias = nn.Embedding(num_buckets, n_heads)

    def forward(self, length_q, length_k):
        weight = self.relative_attention_bias.weight
        context = torch.arange(length_q, device=weight.device)[:, None]
        memory = torch.arange(length_k, device=weight.device)[None, :]
        buckets = relative_position_bucket(memory - context, self.bidirectional,
                                           self.num_buckets, self.max_distance)
        values = weight[buckets]
        return values.permute(2, 0, 1).unsqueeze(0)
