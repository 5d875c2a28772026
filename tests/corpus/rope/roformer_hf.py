# expect: pass
# source: HF transformers, models/roformer/modeling_roformer.py
#   (RoFormerSinusoidalPositionalEmbedding + apply_rotary_position_embeddings): a table
#   whose first half holds the sines and second half the cosines, each angle then
#   duplicated pairwise, and the pair partner built as stack([-x[1::2], x[0::2]]).
#   Interleaved pairs, the exercise's convention: a faithful port passes.
import math

import torch


def _angles(max_len, dim, device):
    # inv_freq over the even channels; one row per position
    exps = torch.arange(0, dim, 2, dtype=torch.float32, device=device) / dim
    inv = 1.0 / torch.pow(torch.tensor(10000.0, device=device), exps)
    return torch.arange(max_len, dtype=torch.float32, device=device)[:, None] * inv[None, :]


def sinusoidal_position_embedding(batch_size, nums_head, max_len, output_dim, device):
    ang = _angles(max_len, output_dim, device)
    table = torch.zeros(max_len, output_dim, device=device)
    table[:, 0::2] = torch.sin(ang)
    table[:, 1::2] = torch.cos(ang)
    return table[None, None].repeat(batch_size, nums_head, 1, 1)


def _rotate(x, sin_pos, cos_pos):
    partner = torch.stack([-x[..., 1::2], x[..., ::2]], dim=-1).reshape_as(x)
    return x * cos_pos + partner * sin_pos


def RoPE(q, k):
    seq_len, dim = q.shape[-2], q.shape[-1]
    ang = _angles(seq_len, dim, q.device)
    # RoFormer keeps [sin | cos] side by side, then spreads each over its pair
    sinusoidal = torch.cat([ang.sin(), ang.cos()], dim=-1)
    sin, cos = sinusoidal.chunk(2, dim=-1)
    sin_pos = torch.stack([sin, sin], dim=-1).reshape(seq_len, dim)
    cos_pos = torch.stack([cos, cos], dim=-1).reshape(seq_len, dim)
    sin_pos, cos_pos = sin_pos.to(q.dtype), cos_pos.to(q.dtype)
    return _rotate(q, sin_pos, cos_pos), _rotate(k, sin_pos, cos_pos)


def attention(q, k, v, mask=None, dropout=None, use_RoPE=True):
    if use_RoPE:
        q, k = RoPE(q, k)
    scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(q.size(-1))
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    if dropout is not None:
        probs = dropout(probs)
    return torch.matmul(probs, v), probs
