"""drillpe exercise: RoPE context extension (linear, NTK-aware, YaRN, Llama 3).

A RoPE model trained on L tokens has never seen the angles p * inv_freq[i] of
positions p > L. Context-extension methods rescale the inverse frequencies
(and YaRN also the attention) so that longer sequences stay in familiar range.
Write the function that builds them, as HF transformers' `modeling_rope_utils`.

Plain RoPE (d = head_dim, i = 0 .. d/2 - 1 indexes the rotated pairs):

    inv_freq[i]   = base ** (-2i / d)
    wavelength[i] = 2 pi / inv_freq[i]

scaling = None                 inv_freq unchanged.
{"type": "linear", "factor": f}
    Position interpolation: inv_freq / f (as if positions were p / f).
{"type": "ntk", "factor": f}
    Static NTK-aware scaling (rotary-embedding-torch's theta_rescale_factor):
    the plain formula with the base  base * f ** (d / (d - 2)).
    The highest frequency stays 1, the lowest becomes exactly inv_freq[-1] / f.
{"type": "yarn", "factor": f, "original_max_position_embeddings": L,
 "beta_fast": 32, "beta_slow": 1}
    HF's `_compute_yarn_parameters` with its default truncate=True:
        dim(r)     = d * ln(L / (2 pi r)) / (2 ln base)     (the pair index that
                     turns exactly r turns in L positions: L = r × wavelength)
        low        = max(floor(dim(beta_fast)), 0)
        high       = min(ceil(dim(beta_slow)), d - 1)
        (if low == high, use high + 0.001)
        ramp[i]    = clamp((i - low) / (high - low), 0, 1)      for i = 0 .. d/2 - 1
        keep[i]    = 1 - ramp[i]
        inv_freq   = inv_freq / f * (1 - keep) + inv_freq * keep
    Pairs below low keep their frequency, pairs above high are divided by f,
    linear in the pair index i in between. (Not the YaRN paper's ramp, which
    is linear in the rotation count L / wavelength.)
{"type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4,
 "original_max_position_embeddings": 8192}
    HF's `_compute_llama3_parameters`, with L = original_max_position_embeddings:
        wavelength < L / high_freq_factor   -> inv_freq            (kept)
        wavelength > L / low_freq_factor    -> inv_freq / factor   (interpolated)
        otherwise  smooth = (L / wavelength - low_freq_factor)
                            / (high_freq_factor - low_freq_factor)
                   -> (1 - smooth) * inv_freq / factor + smooth * inv_freq

attention_factor: 0.1 * ln(f) + 1 for yarn with f > 1 (it multiplies cos and
sin), and 1.0 in every other case (yarn with f <= 1 and every other type).

API
    rope_inv_freq(head_dim, base=10000.0, scaling=None) -> (inv_freq, attention_factor)
        head_dim: even int; base: float (or int); scaling: None or one of the
        dicts above (a plain Python dict, always with every key shown; any of
        the numbers may be an int or a float).
        inv_freq: tensor of shape (head_dim/2,), float32 (as HF; float64 is
        accepted), on torch's default device: create it without a device=
        argument (the grader sets the default device, CPU or CUDA).
        attention_factor: a Python float (an int such as 1 is accepted; a 0-d
        tensor is not: use math.log, or float(...)).

Notes
    * Do not change the caller's dict (no pop, del or assignment into it).
    * Scalars such as the correction range are plain Python floats: use math.
    * Do not hard-code head_dim, base, the factor or the other dict values:
      the grader varies all of them.
    * transformers and rotary_embedding_torch may not be imported.

Example (head_dim = 8, base = 10000: plain inv_freq = [1, 0.1, 0.01, 0.001])
    >>> rope_inv_freq(8, 10000.0, {"type": "linear", "factor": 2.0})
    (tensor([0.5000, 0.0500, 0.0050, 0.0005]), 1.0)
    >>> rope_inv_freq(8, 10000.0, {"type": "ntk", "factor": 4.0})   # base 63496.04
    (tensor([1.0000e+00, 6.2996e-02, 3.9685e-03, 2.5000e-04]), 1.0)
    >>> rope_inv_freq(8, 10000.0, {"type": "yarn", "factor": 4.0,
    ...     "original_max_position_embeddings": 4096, "beta_fast": 32, "beta_slow": 1})
    (tensor([1.0000e+00, 1.0000e-01, 6.2500e-03, 2.5000e-04]), 1.138629436111989)
    # dim(32) = 1.309 -> low 1, dim(1) = 2.814 -> high 3; ramp = [0, 0, 0.5, 1]
    >>> rope_inv_freq(8, 10000.0, {"type": "llama3", "factor": 8, "low_freq_factor": 1,
    ...     "high_freq_factor": 4, "original_max_position_embeddings": 64})
    (tensor([1.0000e+00, 1.3042e-02, 1.2500e-03, 1.2500e-04]), 1.0)
    # wavelengths 6.28 (< 16: kept), 62.8 (smooth = (64/62.83 - 1)/3 = 0.0062),
    # 628 and 6283 (> 64: divided by 8)

Check it with:  drillpe check rope_scaling
"""

import math  # noqa: F401  (for the correction range and the attention factor)

import torch


def rope_inv_freq(head_dim, base=10000.0, scaling=None):
    # Return (inv_freq of shape (head_dim/2,), attention_factor) for the given scaling.
    raise NotImplementedError
