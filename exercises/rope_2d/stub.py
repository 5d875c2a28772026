"""drillpe exercise: axial 2-D RoPE for image patches (ViT, lucidrains layout).

A ViT cuts an image into a grid of patches; patch n sits at row rows[n] and
column cols[n]. Axial 2-D RoPE gives each axis its own half of the head
dimension: split head_dim = d into two halves of h = d/2 channels.

  * the first half,  x[..., :h], gets the ordinary 1-D RoPE of the row index,
  * the second half, x[..., h:], gets the ordinary 1-D RoPE of the column index.

Within each half the pairs are interleaved, (z[2i], z[2i+1]) for
i = 0 .. h/2 - 1 (as in the RoFormer paper and GPT-J's rotate_every_two; not
the half-split [z[:h/2] | z[h/2:]] of GPT-NeoX), and the frequencies are those
of a 1-D RoPE over the h channels of that half:

    theta_i  = base ** (-2i / h)            (h = head_dim / 2, not head_dim)
    a        = rows[n] for the first half, cols[n] for the second half
    y[2i]    = z[2i]   * cos(a theta_i) - z[2i+1] * sin(a theta_i)
    y[2i+1]  = z[2i+1] * cos(a theta_i) + z[2i]   * sin(a theta_i)

This is lucidrains rotary-embedding-torch's
RotaryEmbedding(dim=head_dim // 2).get_axial_freqs(H, W) with its interleaved
rotation (the layout EVA-02 uses). The patch at (0, 0) is left unchanged,
norms are kept, and the dot product of a rotated q at (r1, c1) with a rotated
k at (r2, c2) depends only on (r1 - r2, c1 - c2).

API
    apply_rope_2d(x, rows, cols, base=10000.0) -> Tensor
        x:    (batch, heads, n_patches, head_dim), head_dim divisible by 4.
        rows: (n_patches,) integer tensor, the row index of each patch.
        cols: (n_patches,) integer tensor, the column index of each patch.
              rows and cols are shared by every batch element and head. They
              can come in any order (shuffled, a crop, an irregular set of
              patches): use them as given, do not assume a row-major grid.
        base: the frequency base (the grader uses several, e.g. 100.0 and
              10000.0: do not hard-code it).
        Returns the rotated x: same shape, dtype (also bfloat16/float16) and
        device as x.

Notes
    * Compute the angles in float32 or better (indices go up to a few
      thousand), then return x's dtype.
    * Do not hard-code the batch, heads, n_patches, head_dim, base or device;
      do not change x in place.
    * A regular H x W grid in row-major order is
      rows = torch.arange(H).repeat_interleave(W), cols = torch.arange(W).repeat(H).

Example (head_dim = 4, so h = 2 and theta = [1])
    >>> x = torch.tensor([[[[1., 2., 3., 4.], [1., 2., 3., 4.]]]])   # 2 patches
    >>> apply_rope_2d(x, rows=torch.tensor([0, 1]), cols=torch.tensor([0, 2]))
    tensor([[[[ 1.0000,  2.0000,  3.0000,  4.0000],
              [-1.1426,  1.9221, -4.8856,  1.0633]]]])
    # patch (0, 0): unchanged. Patch (row 1, col 2): the pair (1, 2) turns by
    # 1 * 1 = 1 rad, (1 cos 1 - 2 sin 1, 2 cos 1 + 1 sin 1); the pair (3, 4)
    # turns by 2 * 1 = 2 rad, (3 cos 2 - 4 sin 2, 4 cos 2 + 3 sin 2).

Check it with:  drillpe check rope_2d
"""

import torch


def apply_rope_2d(x, rows, cols, base=10000.0):
    # Rotate x[..., :h] by the row index and x[..., h:] by the column index (h = head_dim / 2).
    raise NotImplementedError
