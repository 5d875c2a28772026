"""drillpe exercise: rotary position embedding (RoPE, Su et al. 2021), interleaved pairs.

RoPE encodes position by *rotating* q and k instead of adding a vector to
them. Split the head dimension d into pairs (x[2i], x[2i+1]),
i = 0 .. d/2 - 1 (interleaved pairs, as in the RoFormer paper and GPT-J's
rotate_every_two; not the half-split [x[:d/2] | x[d/2:]] of GPT-NeoX/HF Llama).
At position p (p = 0 .. seq_len - 1) the pair is turned by the angle p * theta_i:

    theta_i  = 10000 ** (-2i / d)
    y[2i]    = x[2i]   * cos(p theta_i) - x[2i+1] * sin(p theta_i)
    y[2i+1]  = x[2i+1] * cos(p theta_i) + x[2i]   * sin(p theta_i)

Position 0 is left unchanged, norms are kept, and the dot product of a
rotated q at position m with a rotated k at position n depends only on m - n.

API
    sinusoidal_position_embedding(batch_size, nums_head, max_len, output_dim, device)
        -> (batch_size, nums_head, max_len, output_dim) float32 table on `device`, with
           [..., p, 2i] = sin(p theta_i) and [..., p, 2i+1] = cos(p theta_i)
           (theta_i uses d = output_dim).
    RoPE(q, k) -> (q_rotated, k_rotated)
        q, k: (batch, heads, seq_len, head_dim), same seq_len, head_dim even.
        Outputs have the same shape, dtype (also bfloat16/float16) and device as the inputs.
    attention(q, k, v, mask=None, dropout=None, use_RoPE=True) -> (output, weights)
        q, k, v: (batch, heads, seq_len, head_dim). If use_RoPE, first q, k = RoPE(q, k).
        weights = softmax(q @ k^T / sqrt(head_dim)) over the keys (last axis), where
        positions with mask == 0 are excluded (mask broadcasts to (batch, heads, L, L));
        if dropout is given it is a callable applied to the weights, and the weights
        returned are the ones after dropout. output = weights @ v.
        Same dtype and device as the inputs.

Notes
    * Compute the angles in float32 or better (positions go up to 2048), then
      return the inputs' dtype.
    * Do not hard-code the batch, heads, length, head_dim or device.
    * torch.nn.functional.scaled_dot_product_attention and nn.MultiheadAttention
      are not allowed: write the attention yourself.

Example (d = 4, theta = [1, 0.01])
    >>> q = torch.tensor([[[[1., 2., 3., 4.], [1., 2., 3., 4.]]]])   # positions 0 and 1
    >>> RoPE(q, q)[0]
    tensor([[[[ 1.0000,  2.0000,  3.0000,  4.0000],
              [-1.1426,  1.9221,  2.9599,  4.0298]]]])
    # position 1, first pair: (1 cos 1 - 2 sin 1, 2 cos 1 + 1 sin 1)

Check it with:  drillpe check rope
"""

import math  # noqa: F401  (for the 1/sqrt(d) scale)

import torch


def sinusoidal_position_embedding(batch_size, nums_head, max_len, output_dim, device):
    # Return the (batch_size, nums_head, max_len, output_dim) sin/cos table on `device`.
    raise NotImplementedError


def RoPE(q, k):
    # Rotate every pair (2i, 2i+1) of q and k by p * theta_i; return (q_rotated, k_rotated).
    raise NotImplementedError


def attention(q, k, v, mask=None, dropout=None, use_RoPE=True):
    # Return (softmax(q k^T / sqrt(d), masked) [dropout] @ v, weights), RoPE first if use_RoPE.
    raise NotImplementedError
