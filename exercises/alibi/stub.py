"""drillpe exercise: ALiBi, attention with linear biases (Press et al. 2022).

ALiBi adds no position embedding at all. Instead, every head h subtracts a
penalty proportional to the query-key distance from its attention logits:

    logits[b, h, i, j] = q_i · k_j / sqrt(D) - m_h * |pos_i - j|

Head h has a fixed slope m_h (ofirpress `get_slopes`, HF Bloom
`build_alibi_tensor`):

    n a power of two:  m_h = 2 ** (-8 (h+1) / n),   h = 0 .. n-1
                       (a geometric sequence from 2 ** (-8/n) down to 2 ** -8)
    otherwise:         p = 2 ** floor(log2 n)
                       slopes(n) = slopes(p) + slopes(2p)[0::2][: n - p]
                       (the p slopes of the closest smaller power of two, then
                       every other slope of 2p, starting with the first)

Keys sit at positions j = 0 .. Lk-1. Queries are aligned to the *end* of the
keys: query i sits at pos_i = i + (Lk - Lq) (when Lq == Lk this is just i;
when decoding with a KV cache, the one new query is the last position).
With causal=True, keys after the query (j > pos_i) are excluded from the
softmax; with causal=False every key takes part, and keys on both sides are
penalised by their distance.

API
    alibi_slopes(n_heads) -> (n_heads,) float32 tensor of slopes, head 0 first
        (float64 is accepted too; other dtypes are not).
    alibi_attention(q, k, v, causal=True) -> (B, H, Lq, D)
        q: (B, H, Lq, D), k and v: (B, H, Lk, D).
        output = softmax(logits over the keys) @ v, with the logits above,
        H slopes from alibi_slopes(H), and the causal rule above.
        Same dtype (also bfloat16/float16) and device as the inputs.

Notes
    * Scale first, then add the bias: the bias is not divided by sqrt(D).
    * With causal=True the softmax ignores a constant added to a whole row,
      so HF Bloom's form, logits + m_h * j, gives the same output. With
      causal=False it does not: only -m_h * |pos_i - j| is right.
    * The grader never calls causal=True with Lq > Lk.
    * Do not hard-code the batch, heads, lengths, head_dim or device; build
      new tensors on q.device, and keep q's dtype (a float32 bias added to
      bfloat16 logits turns them into float32).
    * torch.nn.functional.scaled_dot_product_attention, nn.MultiheadAttention
      and F.multi_head_attention_forward are not allowed: write the attention
      yourself.

Example
    >>> alibi_slopes(8)      # 1/2, 1/4, ..., 1/256
    tensor([0.5000, 0.2500, 0.1250, 0.0625, 0.0312, 0.0156, 0.0078, 0.0039])
    >>> alibi_slopes(12)     # slopes(8), then 2**-0.5, 2**-1.5, 2**-2.5, 2**-3.5
    tensor([0.5000, 0.2500, 0.1250, 0.0625, 0.0312, 0.0156, 0.0078, 0.0039, 0.7071,
            0.3536, 0.1768, 0.0884])
    # Two heads (m = 1/16, 1/256), two positions, q = 0 (so only the bias
    # counts) and v = [[0.], [1.]]: the output is the weight of key 1.
    >>> q = torch.zeros(1, 2, 2, 1); k = torch.ones(1, 2, 2, 1)
    >>> v = torch.tensor([0., 1.]).reshape(1, 1, 2, 1).expand(1, 2, 2, 1)
    >>> alibi_attention(q, k, v, causal=False)[0, :, :, 0]
    tensor([[0.4844, 0.5156],
            [0.4990, 0.5010]])
    # head 0, query 0: weights ∝ (1, e^(-1/16)), so 1 / (1 + e^(1/16)) = 0.4844
    >>> alibi_attention(q, k, v, causal=True)[0, :, :, 0]
    tensor([[0.0000, 0.5156],
            [0.0000, 0.5010]])
    # causal: query 0 sees key 0 only; query 1 is unchanged

Check it with:  drillpe check alibi
"""

import math  # noqa: F401  (for the 1/sqrt(D) scale and log2)

import torch


def alibi_slopes(n_heads):
    # Return the (n_heads,) float32 slopes: 2 ** (-8 (h+1) / n), interleaved fallback if needed.
    raise NotImplementedError


def alibi_attention(q, k, v, causal=True):
    # Return softmax(q k^T / sqrt(D) - m_h |pos_i - j|, causal-masked) @ v, shape (B, H, Lq, D).
    raise NotImplementedError
