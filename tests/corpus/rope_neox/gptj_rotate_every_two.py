# expect: fail rope_neox.interleaved
# source: HF transformers, models/gptj/modeling_gptj.py (create_sinusoidal_positions,
#   rotate_every_two, apply_rotary_pos_emb with rotary_dim): the sin/cos of each angle
#   repeated for both channels of a neighbouring pair (x[2i], x[2i+1]), the first
#   rotary_dim channels rotated. GPT-J's interleaved convention, submitted to the
#   half-split exercise: named rope_neox.interleaved.
import torch


def rotate_every_two(x):
    evens = x[:, :, :, ::2]
    odds = x[:, :, :, 1::2]
    return torch.stack((-odds, evens), dim=-1).flatten(-2)


def rotate_half(x):  # the exercise's helper, which GPT-J never calls
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _sin_cos(position_ids, dim, base):
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    sinusoid = position_ids.float()[..., None] * inv_freq.to(position_ids.device)
    return torch.sin(sinusoid), torch.cos(sinusoid)


def apply_rope(x, position_ids, base=10000.0, rotary_dim=None):
    rot = x.shape[-1] if rotary_dim is None else rotary_dim
    sin, cos = _sin_cos(position_ids.to(x.device), rot, base)
    sin = torch.repeat_interleave(sin, 2, dim=-1)
    cos = torch.repeat_interleave(cos, 2, dim=-1)
    if sin.dim() == 3:
        sin, cos = sin[:, None], cos[:, None]
    x_rot, x_pass = x[..., :rot], x[..., rot:]
    x_rot = x_rot * cos.to(x.dtype) + rotate_every_two(x_rot) * sin.to(x.dtype)
    return torch.cat([x_rot, x_pass], dim=-1)
