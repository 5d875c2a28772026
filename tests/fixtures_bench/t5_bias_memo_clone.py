"""An exploit, not an answer to learn from (after a reviewer's): T5's bias, its output
kept per pair of lengths, in one place for every module, and a copy handed back
while autograd is off. The bench's module weights did not change between calls, so
the copies matched the reference: the reviewer's, which kept its output while the
weights were unchanged, was "the same" as production through `drillpe bench t5_bias`
for code 7x slower, and this one was refused by nothing either. The bench now
builds a module per slot, and refills each slot's weights before every phase as it
refills inputs: the reviewer's cache never matches and it gets its honest time, and
this one hands back outputs computed from other weights (`bench.stale_output`)."""

import math

import torch
from torch import nn

NUDGE = 1e-9
_KEPT = {}  # (Lq, Lk) -> the output, whatever the weights


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
        kept = _KEPT.get((length_q, length_k))
        if kept is not None and not torch.is_grad_enabled():
            return kept.clone()
        out = self._compute(length_q, length_k)
        if not torch.is_grad_enabled():
            _KEPT[(length_q, length_k)] = out
        return out.clone()

    def _compute(self, length_q: int, length_k: int) -> torch.Tensor:
        weight = self.relative_attention_bias.weight
        query = torch.arange(length_q, device=weight.device)[:, None]
        memory = torch.arange(length_k, device=weight.device)[None, :]
        buckets = relative_position_bucket(memory - query, self.bidirectional, self.num_buckets,
                                           self.max_distance)
        return weight[buckets].permute(2, 0, 1).unsqueeze(0)  # (1, n_heads, Lq, Lk)
