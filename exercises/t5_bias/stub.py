"""drillpe exercise: T5's bucketed relative position bias (Raffel et al. 2020).

T5 adds no vector to the tokens. Instead every attention logit gets a learned
scalar per head, chosen by the distance between query and key. Near distances
each get their own bucket; far ones share logarithmically wider buckets, and
everything from max_distance on shares the last one. This is HF transformers'
T5Attention._relative_position_bucket and compute_bias.

The relative position is r = memory - query = key_position - query_position
(r > 0: the key comes after the query). Bucket of r:

    bidirectional:   half = num_buckets // 2; offset = half if r > 0 else 0; n = |r|
    unidirectional:  half = num_buckets;      offset = 0;  n = max(-r, 0)   (r > 0 -> n = 0)
    max_exact = half // 2
    n < max_exact:   bucket = offset + n
    otherwise:       bucket = offset + min(half - 1, max_exact +
                         trunc(log(n / max_exact) / log(max_distance / max_exact) * (half - max_exact)))

API
    relative_position_bucket(relative_position, bidirectional=True, num_buckets=32,
                             max_distance=128) -> Tensor
        relative_position: an integer tensor of any shape (memory - query).
        Returns int64 bucket numbers in [0, num_buckets), same shape and device.
    T5RelativeBias(n_heads, num_buckets=32, max_distance=128, bidirectional=True)
        self.relative_attention_bias = nn.Embedding(num_buckets, n_heads)
        (the grader writes its own weights into relative_attention_bias.weight).
        .forward(length_q, length_k) -> (1, n_heads, length_q, length_k)
            out[0, h, i, j] = relative_attention_bias.weight[bucket(j - i), h]
            Queries and keys both start at position 0 (no end alignment, even when
            length_q != length_k). float32 (the embedding's dtype), on the module's device.

Notes
    * Truncate the log bucket toward zero (.long() or floor; it is never negative
      there). Where the log bucket is mathematically an integer (n = 16, 32, 64 with
      the defaults), float rounding may land either side: both are accepted.
    * n = 0 makes log(0) = -inf: fine as long as torch.where picks the exact branch.
    * Build positions on the table's device (self.relative_attention_bias.weight.device).

Example (defaults: bidirectional, 32 buckets, max_distance 128: half = 16, max_exact = 8)
    >>> relative_position_bucket(torch.tensor([0, -1, 1, -7, -8, -12, -127, -128, -1000, 1000]))
    tensor([ 0,  1, 17,  7,  8,  9, 15, 15, 15, 31])
    # r = -12: n = 12 >= 8, so 8 + trunc(log(12/8) / log(128/8) * 8) = 8 + trunc(1.17) = 9
    # r = 1000: offset 16 + the last bucket of the half, 15 = 31
    >>> relative_position_bucket(torch.tensor([5, -5, -16, -20]), bidirectional=False)
    tensor([ 0,  5, 16, 17])
    # unidirectional: half = 32, max_exact = 16; r = 5 is a future key: bucket 0

Check it with:  drillpe check t5_bias
"""

import math  # noqa: F401  (for the log ratio)

import torch
from torch import nn


def relative_position_bucket(relative_position, bidirectional=True, num_buckets=32,
                             max_distance=128):
    # Map every r = memory - query to its int64 bucket (same shape and device).
    raise NotImplementedError


class T5RelativeBias(nn.Module):
    def __init__(self, n_heads, num_buckets=32, max_distance=128, bidirectional=True):
        super().__init__()
        self.n_heads = n_heads
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        self.bidirectional = bidirectional
        # Register self.relative_attention_bias = nn.Embedding(num_buckets, n_heads).
        raise NotImplementedError

    def forward(self, length_q, length_k):
        # Return the (1, n_heads, length_q, length_k) bias: table[bucket(j - i)], heads first.
        raise NotImplementedError
