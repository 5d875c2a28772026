# expect: pass alibi.low_precision_logits
# source: MosaicML llm-foundry, models/layers/attention.py (gen_slopes, build_alibi_bias):
#   slopes 1 / 2 ** (arange(1, n' + 1) * 8 / n') for n' the next power of two, and for
#   other head counts the odd-indexed slopes of n' followed by the even-indexed ones;
#   the bias is built over the key positions (arange(1 - Lk, 1)), made a symmetric
#   -|i - j| when the attention is bidirectional ("full"), and its last Lq rows are
#   used. The slopes equal ofirpress's recursion and the row-constant causal form
#   cancels in the softmax. Like llm-foundry, the bias table is built once at the
#   longest length (max_seq_len there; here max(Lq, Lk)) and cast to the model's dtype:
#   the verdict is a pass, and in bfloat16 the extra check names
#   alibi.low_precision_logits (distances times slopes lose their low bits).
import math

import torch


def alibi_slopes(n_heads):
    padded = 2 ** math.ceil(math.log2(n_heads))
    m = torch.arange(1, padded + 1, dtype=torch.float32) * (8.0 / padded)
    slopes = 1.0 / torch.pow(2, m)
    if padded != n_heads:
        slopes = torch.cat([slopes[1::2], slopes[::2]])[:n_heads]
    return slopes


def _alibi_bias(n_heads, seq_len, full, device, dtype):
    bias = torch.arange(1 - seq_len, 1, dtype=torch.int32, device=device).view(1, 1, 1, seq_len)
    if full:
        bias = bias - torch.arange(1 - seq_len, 1, dtype=torch.int32, device=device).view(
            1, 1, seq_len, 1)
        bias = bias.abs().mul(-1)
    slopes = alibi_slopes(n_heads).to(device)
    return (bias * slopes.view(1, n_heads, 1, 1)).to(dtype)


def alibi_attention(q, k, v, causal=True):
    s_q, s_k = q.size(-2), k.size(-2)
    softmax_scale = 1 / math.sqrt(q.size(-1))
    scores = q.matmul(k.transpose(-1, -2)) * softmax_scale
    max_seq_len = max(s_q, s_k)
    bias = _alibi_bias(q.size(1), max_seq_len, not causal, q.device, scores.dtype)
    scores = scores + bias[:, :, -s_q:, -s_k:]
    if causal:
        keep = torch.ones(max_seq_len, max_seq_len, dtype=torch.bool, device=q.device).tril()
        scores = scores.masked_fill(~keep[-s_q:, -s_k:], torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=-1).matmul(v)
