"""The production ALiBi attention that `drillpe bench alibi` times yours against.

Hidden from learner code like the oracles (bundle.fast_dir()); the grading
reference stays float64. This one works in the inputs' dtype:

- the bias (H, Lq, Lk) = -m_h |pos_i - j|, with -inf above the diagonal when
  causal, is built once per (heads, lengths, dtype, device) and kept;
- on a GPU the attention is torch's fused scaled_dot_product_attention with the
  bias as its mask (the memory-efficient kernel, which never holds the (Lq, Lk)
  probabilities in full);
- on the CPU it is written out with FlashAttention's numerics: the scores in
  float32 (q·scale and k upcast, the bias added in place), the softmax in
  float32, the probabilities rounded to the inputs' dtype and multiplied with v
  in it. torch's CPU kernel for scaled_dot_product_attention with a dense mask
  was the slower of the two on this project's machine (one thread, (1, 4, 512,
  64): 10.1 ms against 6.4 ms in float32, 11.5 ms against 4.6 ms in bfloat16),
  and a reviewer's plain matmul-softmax-matmul was reported 2.6× faster than it
  in bfloat16. Computing the scores in bfloat16 would be faster still (3.6 ms),
  at about twice the error; the error of this code is what the bench allows a
  learner's on top of the tolerance, so it keeps the scores in float32.

Attention is compute-bound (about 4·B·H·Lq·Lk·D flops for B·H·(Lq+2Lk)·D
elements read), so no copy roofline bounds it: the bench compares times.
"""

import math

import torch
import torch.nn.functional as F

_BIASES: dict = {}


def slopes(n_heads: int) -> list[float]:
    def geometric(n):
        return [2.0 ** (-8.0 * (h + 1) / n) for h in range(n)]

    if n_heads & (n_heads - 1) == 0:
        return geometric(n_heads)
    p = 2 ** math.floor(math.log2(n_heads))
    return geometric(p) + geometric(2 * p)[0::2][: n_heads - p]


def alibi_slopes(n_heads):
    return torch.tensor(slopes(n_heads), dtype=torch.float32)


def bias(n_heads, length_q, length_k, causal, dtype, device) -> torch.Tensor:
    key = (n_heads, length_q, length_k, causal, dtype, str(device))
    found = _BIASES.get(key)
    if found is None:
        m = torch.tensor(slopes(n_heads), dtype=torch.float64, device=device)[:, None, None]
        keys = torch.arange(length_k, dtype=torch.float64, device=device)
        queries = torch.arange(length_q, dtype=torch.float64, device=device) + (length_k -
                                                                                length_q)
        found = -m * (queries[:, None] - keys).abs()
        if causal:
            found = found.masked_fill(keys > queries[:, None], float("-inf"))
        found = found.to(dtype)
        _BIASES[key] = found
    return found


def alibi_attention(q, k, v, causal=True):
    if q.device.type != "cpu":
        mask = bias(q.shape[-3], q.shape[-2], k.shape[-2], causal, q.dtype, q.device)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    mask = bias(q.shape[-3], q.shape[-2], k.shape[-2], causal, torch.float32, q.device)
    scores = torch.matmul(q.float() * (1.0 / math.sqrt(q.shape[-1])),
                          k.float().transpose(-2, -1))
    probs = torch.softmax(scores.add_(mask), dim=-1)
    return torch.matmul(probs.to(v.dtype), v)
