import math

import torch
import torch.nn.functional as F


def _angles(seq_len, dim, device):
    theta = 10000 ** (-torch.arange(0, dim, 2, dtype=torch.float32, device=device) / dim)
    pos = torch.arange(seq_len, dtype=torch.float32, device=device)
    return pos[:, None] * theta[None, :]


def sinusoidal_position_embedding(batch_size, nums_head, max_len, output_dim, device):
    ang = _angles(max_len, output_dim, device)
    table = torch.stack([ang.sin(), ang.cos()], dim=-1).reshape(max_len, output_dim)
    return table.expand(batch_size, nums_head, max_len, output_dim)


def rotate_every_two(x):
    return torch.stack([-x[..., 1::2], x[..., ::2]], dim=-1).reshape(x.shape)


def RoPE(q, k):
    ang = _angles(q.shape[-2], q.shape[-1], q.device)
    cos = ang.cos().repeat_interleave(2, dim=-1).to(q.dtype)
    sin = ang.sin().repeat_interleave(2, dim=-1).to(q.dtype)
    q_rot = q * cos + rotate_every_two(q) * sin
    k_rot = k * cos + rotate_every_two(k) * sin
    return q_rot, k_rot


def attention(q, k, v, mask=None, dropout=None, use_RoPE=True):
    if use_RoPE:
        q, k = RoPE(q, k)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))
    weights = F.softmax(scores, dim=-1)
    if dropout is not None:
        weights = dropout(weights)
    return weights @ v, weights
