import math

import torch


def _power_of_2_slopes(n):
    start = 2 ** (-8 / n)
    return [start ** (i + 1) for i in range(n)]


def alibi_slopes(n_heads):
    closest = 2 ** math.floor(math.log2(n_heads))
    slopes = _power_of_2_slopes(closest)
    if closest < n_heads:
        slopes += _power_of_2_slopes(2 * closest)[0::2][: n_heads - closest]
    return torch.tensor(slopes, dtype=torch.float32)


def alibi_attention(q, k, v, causal=True):
    n_heads, q_len, head_dim = q.shape[1], q.shape[2], q.shape[3]
    k_len = k.shape[2]
    slopes = alibi_slopes(n_heads).to(q.device)
    q_pos = torch.arange(q_len, device=q.device) + (k_len - q_len)
    k_pos = torch.arange(k_len, device=q.device)
    distance = (q_pos[:, None] - k_pos[None, :]).abs()
    bias = -slopes[:, None, None] * distance
    scores = (q.float() @ k.float().transpose(-2, -1)) / math.sqrt(head_dim)
    scores = scores + bias
    if causal:
        future = k_pos[None, :] > q_pos[:, None]
        scores = scores.masked_fill(future, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights.to(v.dtype) @ v
