"""drillpe exercise: half-split RoPE with position ids (GPT-NeoX, HF Llama).

The same rotary embedding as the `rope` exercise, in the layout most models
ship: channel i is paired with channel i + d/2 (the two halves of the head),
not with its neighbour. `rotate_half` turns every such pair by 90 degrees,

    rotate_half(x) = cat(-x[..., d/2:], x[..., :d/2])

and the rotation by the angle p * theta_i is then one line:

    y = x * cos + rotate_half(x) * sin

where cos and sin hold the angles twice, cat(freqs, freqs), so that channels
i and i + d/2 share the angle p * theta_i:

    theta_i  = base ** (-2i / d)                     i = 0 .. d/2 - 1
    y[i]       = x[i]       * cos(p theta_i) - x[i + d/2] * sin(p theta_i)
    y[i + d/2] = x[i + d/2] * cos(p theta_i) + x[i]       * sin(p theta_i)

The position p of each token comes from `position_ids`, not from its index:
with a KV cache, a decoding step passes the new tokens' true positions
(e.g. [37] for the 38th token), and rows of a padded batch can sit at
different positions. With rotary_dim < head_dim (GPT-NeoX's rotary_pct,
partial_rotary_factor in HF) only the first rotary_dim channels are rotated,
with d = rotary_dim in theta_i and in the halves; the others pass through.

API
    rotate_half(x) -> cat(-x[..., d/2:], x[..., :d/2]), d = x.shape[-1] (even).
        Any number of leading axes; same shape, dtype and device as x.
    apply_rope(x, position_ids, base=10000.0, rotary_dim=None) -> Tensor
        x: (batch, heads, seq_len, head_dim), float32, bfloat16 or float16.
        position_ids: int64, (seq_len,) shared by every row, or
                      (batch, seq_len) with each row's own positions.
        base: the theta base (10000 in Llama 2, 500000 in Llama 3).
        rotary_dim: how many leading channels to rotate (even); None means head_dim.
        Returns x rotated as above: same shape, dtype and device as x.

Notes
    * Compute the angles position_ids * theta_i, and their cos/sin, in float32
      or better, then cast to x's dtype: bfloat16 has 8 significant bits (7 stored), so
      an angle near 300 is already off by about a radian.
    * (batch, seq_len) position ids give (batch, seq_len, d) tables: give them a
      heads axis, (batch, 1, seq_len, d), before multiplying with x.
    * Do not change x in place, and do not hard-code shapes or the device.
    * This is the rope exercise's rotation up to a fixed reordering of the
      channels: with P = [0, 2, 4, ..., 1, 3, 5, ...],
      apply_rope(x[..., P], ...) == interleaved_rope(x)[..., P].

Example (d = 4, base 10000: theta = [1, 0.01]; pairs (x0, x2) and (x1, x3))
    >>> x = torch.tensor([[[[1., 2., 3., 4.], [1., 2., 3., 4.]]]])
    >>> rotate_half(x[0, 0, 0])
    tensor([-3., -4.,  1.,  2.])
    >>> apply_rope(x, torch.tensor([0, 1]))
    tensor([[[[ 1.0000,  2.0000,  3.0000,  4.0000],
              [-1.9841,  1.9599,  2.4624,  4.0198]]]])
    # position 1: (x0, x2) = (1, 3) turned by 1 rad: (1 cos 1 - 3 sin 1, 3 cos 1 + 1 sin 1)
    >>> apply_rope(x, torch.tensor([0, 1]), rotary_dim=2)
    tensor([[[[ 1.0000,  2.0000,  3.0000,  4.0000],
              [-1.1426,  1.9221,  3.0000,  4.0000]]]])
    # only (x0, x1) turns, by 1 rad; channels 2 and 3 pass through

Check it with:  drillpe check rope_neox
"""

import torch


def rotate_half(x):
    # Return cat(-x[..., d/2:], x[..., :d/2]) along the last axis.
    raise NotImplementedError


def apply_rope(x, position_ids, base=10000.0, rotary_dim=None):
    # Rotate the first rotary_dim channels of x by position_ids * theta_i (half-split pairs).
    raise NotImplementedError
