"""An exploit, not an answer to learn from: a correct T5 bias that keeps its
output and hands back the same tensor while its weights and the lengths are
unchanged (a reviewer's: "10284x faster than the production implementation",
with correct values). The bench's weights did not change between timed calls, and
it was refused as bench.output_reused; now each slot's module has its weights
refilled before every phase, so the kept output never matches and the file gets
its honest time (tests/test_bench.py checks it is not refused)."""

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
        n = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    is_small = n < max_exact
    large = max_exact + (
        torch.log(n.float() / max_exact) / math.log(max_distance / max_exact)
        * (num_buckets - max_exact)
    ).long()
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
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
        kept = getattr(self, "kept", None)
        if kept is not None and kept[0] == (length_q, length_k) and torch.equal(kept[1], weight):
            return kept[2]
        self.kept = ((length_q, length_k), weight.detach().clone(), self._compute(length_q,
                                                                               length_k))
        return self.kept[2]

    def _compute(self, length_q, length_k):
        device = self.relative_attention_bias.weight.device
        context = torch.arange(length_q, dtype=torch.long, device=device)[:, None]
        memory = torch.arange(length_k, dtype=torch.long, device=device)[None, :]
        buckets = relative_position_bucket(memory - context, self.bidirectional,
                                           self.num_buckets, self.max_distance)
        values = self.relative_attention_bias(buckets)  # (Lq, Lk, H)
        return values.permute(2, 0, 1).unsqueeze(0)
