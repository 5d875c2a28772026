# expect: fail rope.half_split
# source: lucidrains x-transformers, x_transformers.py (RotaryEmbedding, rotate_half,
#   apply_rotary_pos_emb): the head is split into two halves with an einops-style
#   regroup "(j d) -> j d", j = 2, and freqs = cat(freqs, freqs). That is the NeoX
#   half-split convention; submitted to `rope` (interleaved pairs) it is named
#   rope.half_split. The table is the exercise's.

import torch


def sinusoidal_position_embedding(batch_size, nums_head, max_len, output_dim, device):
    inv = 1.0 / (10000 ** (torch.arange(0, output_dim, 2, device=device).float() / output_dim))
    ang = torch.arange(max_len, device=device).float()[:, None] * inv
    table = torch.stack((ang.sin(), ang.cos()), dim=-1).flatten(-2)
    return table.expand(batch_size, nums_head, max_len, output_dim)


def rotate_half(x):
    # "... (j d) -> ... j d" with j = 2, then (-x2, x1) glued back
    x = x.unflatten(-1, (2, x.shape[-1] // 2))
    x1, x2 = x.unbind(dim=-2)
    return torch.cat((-x2, x1), dim=-1)


class RotaryEmbedding:
    def __init__(self, dim, base=10000):
        self.inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim))

    def forward(self, seq_len, device):
        t = torch.arange(seq_len, device=device).type_as(self.inv_freq)
        freqs = torch.einsum("i , j -> i j", t, self.inv_freq.to(device))
        return torch.cat((freqs, freqs), dim=-1)


def apply_rotary_pos_emb(t, freqs):
    rot_dim = freqs.shape[-1]
    t, t_pass = t[..., :rot_dim], t[..., rot_dim:]
    out = t * freqs.cos().to(t.dtype) + rotate_half(t) * freqs.sin().to(t.dtype)
    return torch.cat((out, t_pass), dim=-1)


def RoPE(q, k):
    freqs = RotaryEmbedding(q.shape[-1]).forward(q.shape[-2], q.device)
    return apply_rotary_pos_emb(q, freqs), apply_rotary_pos_emb(k, freqs)


def attention(q, k, v, mask=None, dropout=None, use_RoPE=True):
    if use_RoPE:
        q, k = RoPE(q, k)
    sim = torch.einsum("b h i d, b h j d -> b h i j", q, k) * (q.shape[-1] ** -0.5)
    if mask is not None:
        sim = sim.masked_fill(mask == 0, -torch.finfo(sim.dtype).max)
    attn = sim.softmax(dim=-1)
    if dropout is not None:
        attn = dropout(attn)
    return torch.einsum("b h i j, b h j d -> b h i d", attn, v), attn
