# expect: fail rope_scaling.missing_attention_factor
# source: deepseek-ai DeepSeek-V2, modeling_deepseek.py on the HF hub
#   (DeepseekV2YarnRotaryEmbedding, yarn_get_mscale): HF's YaRN frequencies, but the
#   factor returned with them is yarn_get_mscale(s, mscale) / yarn_get_mscale(s,
#   mscale_all_dim), which is 1.0 with the released config (both 0.707); DeepSeek puts
#   the temperature into the softmax scale instead (mscale_all_dim ** 2). Submitted to
#   an API that returns HF's attention factor, it is named
#   rope_scaling.missing_attention_factor.
import math

import torch


def _yarn_find_correction_dim(num_rotations, dim, base=10000, max_position_embeddings=2048):
    return (dim * math.log(max_position_embeddings / (num_rotations * 2 * math.pi))) / \
        (2 * math.log(base))


def _yarn_find_correction_range(low_rot, high_rot, dim, base, max_position_embeddings):
    low = math.floor(_yarn_find_correction_dim(low_rot, dim, base, max_position_embeddings))
    high = math.ceil(_yarn_find_correction_dim(high_rot, dim, base, max_position_embeddings))
    return max(low, 0), min(high, dim - 1)


def _yarn_linear_ramp_mask(low, high, dim):
    if low == high:
        high += 0.001  # no division by zero
    linear_func = (torch.arange(dim, dtype=torch.float32) - low) / (high - low)
    return torch.clamp(linear_func, 0, 1)


def _yarn_get_mscale(scale=1, mscale=1):
    if scale <= 1:
        return 1.0
    return 0.1 * mscale * math.log(scale) + 1.0


def _yarn(dim, base, scale, original_max, beta_fast, beta_slow, mscale=0.707,
          mscale_all_dim=0.707):
    pos_freqs = base ** (torch.arange(0, dim, 2).float() / dim)
    inv_freq_extrapolation = 1.0 / pos_freqs
    inv_freq_interpolation = 1.0 / (scale * pos_freqs)
    low, high = _yarn_find_correction_range(beta_fast, beta_slow, dim, base, original_max)
    inv_freq_mask = 1.0 - _yarn_linear_ramp_mask(low, high, dim // 2).float()
    inv_freq = inv_freq_interpolation * (1 - inv_freq_mask) + \
        inv_freq_extrapolation * inv_freq_mask
    _mscale = float(_yarn_get_mscale(scale, mscale) / _yarn_get_mscale(scale, mscale_all_dim))
    return inv_freq, _mscale


def rope_inv_freq(head_dim, base=10000.0, scaling=None):
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2).float() / head_dim))
    if scaling is None:
        return inv_freq, 1.0
    kind, scale = scaling["type"], scaling["factor"]
    if kind == "linear":
        return inv_freq / scale, 1.0
    if kind == "ntk":
        ntk_base = base * scale ** (head_dim / (head_dim - 2))
        return 1.0 / (ntk_base ** (torch.arange(0, head_dim, 2).float() / head_dim)), 1.0
    if kind == "yarn":
        return _yarn(head_dim, base, scale, scaling["original_max_position_embeddings"],
                     scaling.get("beta_fast", 32), scaling.get("beta_slow", 1))
    if kind == "llama3":
        low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
        old = scaling["original_max_position_embeddings"]
        wavelen = 2 * math.pi / inv_freq
        smooth = (old / wavelen - low) / (high - low)
        blended = (1 - smooth) * inv_freq / scale + smooth * inv_freq
        out = torch.where(wavelen > old / low, inv_freq / scale, inv_freq)
        middle = (wavelen >= old / high) & (wavelen <= old / low)
        return torch.where(middle, blended, out), 1.0
    raise ValueError(f"unknown rope scaling type {kind!r}")
