# expect: pass
# source: timm, layers/pos_embed_sincos.py (freq_bands with step 1, build_rotary_pos_embed,
#   RotaryEmbeddingCat, apply_rot_embed_cat), as timm's EVA-02 uses it: head_dim // 4
#   bands temperature ** (-i / (head_dim / 4)), a (row, col) grid times the bands,
#   sin and cos of [row bands | col bands] each repeat_interleave'd by 2 and glued as
#   [sin | cos], rotated with rot(x) = stack([-x[1::2], x[0::2]]). The grid here is the
#   given rows/cols instead of timm's meshgrid of the feature shape. The exercise's
#   convention: a faithful port passes.
import torch


def freq_bands(num_bands, temperature=10000.0, step=2, device=None):
    exp = torch.arange(0, num_bands, step, dtype=torch.int64, device=device).float() / num_bands
    return 1.0 / (temperature ** exp)


def rot(x):
    return torch.stack([-x[..., 1::2], x[..., ::2]], -1).reshape(x.shape)


def build_rotary_pos_embed(rows, cols, dim, temperature, device):
    bands = freq_bands(dim // 4, temperature=temperature, step=1, device=device)
    grid = torch.stack([rows.to(device).float(), cols.to(device).float()], dim=-1)  # (N, 2)
    pos = grid.unsqueeze(-1) * bands  # (N, 2, dim // 4)
    sin_emb = pos.sin().reshape(grid.shape[0], -1).repeat_interleave(2, -1)
    cos_emb = pos.cos().reshape(grid.shape[0], -1).repeat_interleave(2, -1)
    return torch.cat([sin_emb, cos_emb], -1)


def apply_rot_embed_cat(x, emb):
    sin_emb, cos_emb = emb.tensor_split(2, -1)
    return x * cos_emb + rot(x) * sin_emb


def apply_rope_2d(x, rows, cols, base=10000.0):
    emb = build_rotary_pos_embed(rows, cols, x.shape[-1], base, x.device)
    return apply_rot_embed_cat(x.float(), emb).to(x.dtype)
