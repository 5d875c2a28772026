import torch


def rotate_every_two(z):
    return torch.stack([-z[..., 1::2], z[..., 0::2]], dim=-1).reshape(z.shape)


def rope_1d(z, pos, inv_freq):
    ang = pos.to(z.device, torch.float32)[:, None] * inv_freq[None, :]
    cos = ang.cos().repeat_interleave(2, dim=-1).to(z.dtype)
    sin = ang.sin().repeat_interleave(2, dim=-1).to(z.dtype)
    return z * cos + rotate_every_two(z) * sin


def apply_rope_2d(x, rows, cols, base=10000.0):
    half = x.shape[-1] // 2
    exponent = torch.arange(0, half, 2, dtype=torch.float32, device=x.device) / half
    inv_freq = 1.0 / (base ** exponent)
    x_rows = rope_1d(x[..., :half], rows, inv_freq)
    x_cols = rope_1d(x[..., half:], cols, inv_freq)
    return torch.cat([x_rows, x_cols], dim=-1)
