import math

import torch


def _correction_dim(rotations, dim, base, max_len):
    return dim * math.log(max_len / (rotations * 2 * math.pi)) / (2 * math.log(base))


def rope_inv_freq(head_dim, base=10000.0, scaling=None):
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    if scaling is None:
        return inv_freq, 1.0
    kind, factor = scaling["type"], scaling["factor"]
    if kind == "linear":
        return inv_freq / factor, 1.0
    if kind == "ntk":
        new_base = base * factor ** (head_dim / (head_dim - 2))
        exponent = torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim
        return 1.0 / (new_base ** exponent), 1.0
    if kind == "yarn":
        max_len = scaling["original_max_position_embeddings"]
        low = math.floor(_correction_dim(scaling["beta_fast"], head_dim, base, max_len))
        high = math.ceil(_correction_dim(scaling["beta_slow"], head_dim, base, max_len))
        low, high = max(low, 0), min(high, head_dim - 1)
        if low == high:
            high += 0.001
        pairs = torch.arange(head_dim // 2, dtype=torch.float32)
        ramp = torch.clamp((pairs - low) / (high - low), 0, 1)
        keep = 1 - ramp
        inv_freq = inv_freq / factor * (1 - keep) + inv_freq * keep
        attention_factor = 0.1 * math.log(factor) + 1.0 if factor > 1 else 1.0
        return inv_freq, attention_factor
    if kind == "llama3":
        low_freq_factor = scaling["low_freq_factor"]
        high_freq_factor = scaling["high_freq_factor"]
        old_len = scaling["original_max_position_embeddings"]
        wavelen = 2 * math.pi / inv_freq
        smooth = (old_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
        smoothed = (1 - smooth) * inv_freq / factor + smooth * inv_freq
        scaled = torch.where(wavelen > old_len / low_freq_factor, inv_freq / factor, inv_freq)
        is_medium = (wavelen >= old_len / high_freq_factor) & (wavelen <= old_len / low_freq_factor)
        return torch.where(is_medium, smoothed, scaled), 1.0
    raise ValueError(f"unknown scaling type {kind!r}")
