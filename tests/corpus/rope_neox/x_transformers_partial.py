# expect: pass
# source: lucidrains x-transformers, x_transformers.py (RotaryEmbedding with
#   rotate_half and apply_rotary_pos_emb): half-split pairs, freqs = cat(freqs, freqs),
#   only the first rot_dim = freqs.shape[-1] channels rotated and the rest passed
#   through. That is rope_neox's convention, with position_ids in place of
#   x-transformers' arange(seq_len): a faithful port passes.
import torch


def rotate_half(x):
    x = x.unflatten(-1, (2, x.shape[-1] // 2))
    x1, x2 = x.unbind(dim=-2)
    return torch.cat((-x2, x1), dim=-1)


def _freqs(position_ids, dim, base):
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, device=position_ids.device).float() / dim))
    freqs = torch.einsum("... i , j -> ... i j", position_ids.float(), inv_freq)
    return torch.cat((freqs, freqs), dim=-1)


def apply_rope(x, position_ids, base=10000.0, rotary_dim=None):
    rot_dim = x.shape[-1] if rotary_dim is None else rotary_dim
    freqs = _freqs(position_ids.to(x.device), rot_dim, base)
    if freqs.dim() == 3:  # (batch, seq, rot) -> broadcast over heads
        freqs = freqs[:, None]
    t, t_pass = x[..., :rot_dim], x[..., rot_dim:]
    out = t * freqs.cos().to(x.dtype) + rotate_half(t) * freqs.sin().to(x.dtype)
    return torch.cat((out, t_pass), dim=-1)
