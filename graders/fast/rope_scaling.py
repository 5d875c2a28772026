"""The production RoPE frequencies that `drillpe bench rope_scaling` times
yours against.

Hidden from learner code like the oracles (bundle.fast_dir()); the grading
reference stays float64. The inverse frequencies depend on (head_dim, base,
the scaling dict) alone, so a serving stack computes them once, at model
set-up (HF's `rope_init_fn` runs in the rotary module's constructor):

- the first call for a configuration computes them in float64 as whole
  (head_dim/2,) tensors (no loop over pairs: the YaRN ramp and the Llama 3
  bands are torch.where and clamp) and keeps the float32 result, keyed on
  the configuration and torch's default device;
- every later call is a dictionary lookup that returns the kept tensor: no
  kernel runs and no memory moves.

The comparison is therefore with the practice (compute once), not with a
faster kernel: at head_dim = 128 the computation itself is tens of tiny
torch calls on 64 numbers, whose cost is dispatch, not memory. The kept tensor is shared and
read-only, like a registered buffer; a scaling dict whose values cannot be
hashed is computed afresh each time.
"""

import math

import torch

_FREQS: dict = {}


def _default_device():
    getter = getattr(torch, "get_default_device", None)  # torch >= 2.3
    return getter() if getter is not None else torch.empty(()).device


def _inv_freq(head_dim: int, base: float) -> torch.Tensor:
    return float(base) ** -(torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)


def _compute(head_dim: int, base: float, scaling: dict | None) -> tuple[torch.Tensor, float]:
    """(float64 inv_freq on the default device, attention factor)."""
    if scaling is None:
        return _inv_freq(head_dim, base), 1.0
    kind, factor = scaling["type"], scaling["factor"]
    if kind == "linear":
        return _inv_freq(head_dim, base) / factor, 1.0
    if kind == "ntk":
        return _inv_freq(head_dim, float(base) * float(factor) ** (head_dim / (head_dim - 2))), 1.0
    if kind not in ("yarn", "llama3"):
        raise ValueError(f"unknown RoPE scaling type {kind!r}")
    original = scaling["original_max_position_embeddings"]
    inv_freq = _inv_freq(head_dim, base)
    if kind == "yarn":
        def pair_index(rotations):  # the pair whose wavelength fits `rotations` times
            return head_dim * math.log(original / (rotations * 2 * math.pi)) / (2 * math.log(base))

        low = max(math.floor(pair_index(scaling.get("beta_fast", 32))), 0)
        high = min(math.ceil(pair_index(scaling.get("beta_slow", 1))), head_dim - 1)
        if low == high:
            high += 0.001  # as HF: no division by zero
        ramp = ((torch.arange(head_dim // 2, dtype=torch.float64) - low) / (high - low)).clamp(0, 1)
        keep = 1 - ramp  # the weight of the original frequency
        blended = inv_freq / factor * (1 - keep) + inv_freq * keep
        return blended, (0.1 * math.log(factor) + 1.0 if factor > 1 else 1.0)
    low_freq, high_freq = scaling["low_freq_factor"], scaling["high_freq_factor"]  # llama3
    wavelen = 2 * math.pi / inv_freq
    smooth = (original / wavelen - low_freq) / (high_freq - low_freq)
    smoothed = (1 - smooth) * inv_freq / factor + smooth * inv_freq
    out = torch.where(wavelen > original / low_freq, inv_freq / factor, inv_freq)
    medium = (wavelen >= original / high_freq) & (wavelen <= original / low_freq)
    return torch.where(medium, smoothed, out), 1.0


def rope_inv_freq(head_dim, base=10000.0, scaling=None):
    """(inv_freq float32 of shape (head_dim/2,) on the default device, attention_factor float)."""
    try:
        key = (head_dim, float(base), None if scaling is None else frozenset(scaling.items()),
               str(_default_device()))
        found = _FREQS.get(key)
    except TypeError:  # a value that cannot be hashed: no key, so no cache
        key = found = None
    if found is None:
        inv_freq, factor = _compute(head_dim, base, scaling)  # on the default device
        found = (inv_freq.to(torch.float32), float(factor))
        if key is not None:
            _FREQS[key] = found
    return found
