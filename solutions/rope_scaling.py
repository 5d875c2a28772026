"""Model answer: RoPE context extension, as HF transformers' `modeling_rope_utils`.

Every type starts from the plain inverse frequencies
inv_freq[i] = base ** (-2i / d), i = 0 .. d/2 - 1, and rescales them:

* linear  (`_compute_linear_scaling_rope_parameters`): inv_freq / factor.
* ntk     (static NTK-aware, rotary-embedding-torch's `theta_rescale_factor`,
          HF's `_compute_ntk_parameters`): the plain formula with the base
          base * factor ** (d / (d - 2)).
* yarn    (`_compute_yarn_parameters`, default truncate=True): a blend of the
          interpolated (inv_freq / factor) and the original frequencies, with
          a linear ramp over the pair index i between floor/ceil of the
          correction range; attention factor 0.1 ln(factor) + 1 for factor > 1.
* llama3  (`_compute_llama3_parameters`): keep short wavelengths, divide long
          ones by factor, interpolate smoothly in between.

Everything is computed in float64; `rope_inv_freq` returns float32 (as HF
does) on torch's default device, with the attention factor as a Python float.
"""

import math

import torch


def plain_inv_freq(head_dim: int, base: float, device=None) -> torch.Tensor:
    """(head_dim/2,) float64: base ** (-2i / head_dim)."""
    exponent = torch.arange(0, head_dim, 2, dtype=torch.float64, device=device) / head_dim
    return float(base) ** -exponent


def ntk_base(head_dim: int, base: float, factor: float) -> float:
    """Static NTK-aware base: base * factor ** (d / (d - 2))."""
    return float(base) * float(factor) ** (head_dim / (head_dim - 2))


def correction_dim(num_rotations: float, head_dim: int, base: float, original_max: int) -> float:
    """The (fractional) pair index i whose wavelength fits `num_rotations` times
    into original_max: i = d * ln(L / (2 pi r)) / (2 ln base)."""
    return head_dim * math.log(original_max / (num_rotations * 2 * math.pi)) / (2 * math.log(base))


def correction_range(head_dim: int, base: float, original_max: int, beta_fast: float,
                     beta_slow: float) -> tuple[int, int]:
    """(low, high) pair indices of the YaRN ramp, rounded outwards and clamped as HF
    does (truncate=True; 0 and d - 1)."""
    low = math.floor(correction_dim(beta_fast, head_dim, base, original_max))
    high = math.ceil(correction_dim(beta_slow, head_dim, base, original_max))
    return max(low, 0), min(high, head_dim - 1)


def linear_ramp(low: float, high: float, n: int, device=None) -> torch.Tensor:
    """(n,) float64: 0 up to index `low`, rising linearly to 1 at `high`."""
    if low == high:
        high += 0.001  # as HF: avoid dividing by zero
    index = torch.arange(n, dtype=torch.float64, device=device)
    return ((index - low) / (high - low)).clamp(0, 1)


def yarn_inv_freq(head_dim: int, base: float, factor: float, original_max: int,
                  beta_fast: float = 32, beta_slow: float = 1, device=None) -> torch.Tensor:
    extrapolation = plain_inv_freq(head_dim, base, device)
    interpolation = extrapolation / factor
    low, high = correction_range(head_dim, base, original_max, beta_fast, beta_slow)
    keep = 1 - linear_ramp(low, high, head_dim // 2, device)  # weight of the original frequency
    return interpolation * (1 - keep) + extrapolation * keep


def yarn_attention_factor(factor: float) -> float:
    return 0.1 * math.log(factor) + 1.0 if factor > 1 else 1.0


def llama3_inv_freq(head_dim: int, base: float, factor: float, low_freq_factor: float,
                    high_freq_factor: float, original_max: int, device=None) -> torch.Tensor:
    inv_freq = plain_inv_freq(head_dim, base, device)
    wavelen = 2 * math.pi / inv_freq
    low_freq_wavelen = original_max / low_freq_factor  # longer than this: divide by factor
    high_freq_wavelen = original_max / high_freq_factor  # shorter than this: keep
    smooth = (original_max / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed = (1 - smooth) * inv_freq / factor + smooth * inv_freq
    out = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    medium = (wavelen >= high_freq_wavelen) & (wavelen <= low_freq_wavelen)
    return torch.where(medium, smoothed, out)


def inv_freq64(head_dim: int, base: float = 10000.0, scaling: dict | None = None,
               device=None) -> tuple[torch.Tensor, float]:
    """(inv_freq float64, attention_factor) for any scaling dict of the contract."""
    if scaling is None:
        return plain_inv_freq(head_dim, base, device), 1.0
    kind, factor = scaling["type"], scaling["factor"]
    if kind == "linear":
        return plain_inv_freq(head_dim, base, device) / factor, 1.0
    if kind == "ntk":
        return plain_inv_freq(head_dim, ntk_base(head_dim, base, factor), device), 1.0
    if kind == "yarn":
        inv = yarn_inv_freq(head_dim, base, factor, scaling["original_max_position_embeddings"],
                            scaling.get("beta_fast", 32), scaling.get("beta_slow", 1), device)
        return inv, yarn_attention_factor(factor)
    if kind == "llama3":
        inv = llama3_inv_freq(head_dim, base, factor, scaling["low_freq_factor"],
                              scaling["high_freq_factor"],
                              scaling["original_max_position_embeddings"], device)
        return inv, 1.0
    raise ValueError(f"unknown RoPE scaling type {kind!r}")


def rope_inv_freq(head_dim, base=10000.0, scaling=None):
    """(inv_freq float32 of shape (head_dim/2,) on the default device, attention_factor float)."""
    inv_freq, attention_factor = inv_freq64(head_dim, base, scaling)  # default device
    return inv_freq.to(torch.float32), float(attention_factor)
