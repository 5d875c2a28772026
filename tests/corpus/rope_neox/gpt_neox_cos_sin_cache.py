# expect: pass
# source: HF transformers, models/gpt_neox/modeling_gpt_neox.py (the older
#   GPTNeoXRotaryEmbedding with cos_cached / sin_cached, apply_rotary_pos_emb indexing
#   the cache with position_ids, rotary_ndims = head_size * rotary_pct): a float32 table
#   of cat(freqs, freqs) up to the largest position, gathered row by row, half-split
#   rotate_half on the first rotary_ndims channels, the rest passed through.
#   The exercise's convention: a faithful port passes.
import torch


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


class _RotaryCache:
    def __init__(self, dim, max_position_embeddings, base, device):
        inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, device=device).float() / dim))
        t = torch.arange(max_position_embeddings, device=device, dtype=inv_freq.dtype)
        freqs = torch.einsum("i,j->ij", t, inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.cos_cached = emb.cos()
        self.sin_cached = emb.sin()


def apply_rope(x, position_ids, base=10000.0, rotary_dim=None):
    rotary_ndims = x.shape[-1] if rotary_dim is None else rotary_dim
    position_ids = position_ids.to(x.device)
    cache = _RotaryCache(rotary_ndims, int(position_ids.max()) + 1, base, x.device)
    cos = cache.cos_cached[position_ids].to(x.dtype)
    sin = cache.sin_cached[position_ids].to(x.dtype)
    if cos.dim() == 3:  # (batch, seq, dim): a heads axis
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    x_rot, x_pass = x[..., :rotary_ndims], x[..., rotary_ndims:]
    x_rot = x_rot * cos + rotate_half(x_rot) * sin
    return torch.cat((x_rot, x_pass), dim=-1)
