"""The production RoPE that `drillpe bench rope` times yours against.

Hidden from learner code like the oracles (bundle.fast_dir()). Not the
grading reference: that stays float64 (solutions/rope.py, graders/oracles/).
This one works in the inputs' dtype, the way a serving stack writes it:

- the rotation table is built once per (length, dim, device) in float64,
  then kept as complex64 (L, d/2) cos + i·sin: it broadcasts over batch and
  heads, so no call rebuilds or materialises it;
- an interleaved pair (x[2i], x[2i+1]) is a complex number, and rotating it
  by an angle is one complex multiply: view the input as complex, multiply
  by the table, view the result as real. One kernel reads x once and writes
  the output once: the traffic of a copy, the least any kernel can move.
- bfloat16/float16 go through float32 (torch has no complex bf16 multiply on
  the CPU): two extra passes (up- and down-cast) that a fused kernel
  (torch.compile, or a hand-written CUDA kernel) would not make.
"""

import torch

BASE = 10000.0
_TABLES: dict = {}


def rotation_table(length: int, dim: int, device: torch.device) -> torch.Tensor:
    """(length, dim/2) complex64 e^{i p θ_j}, built in float64 once and kept."""
    key = (length, dim, str(device))
    table = _TABLES.get(key)
    if table is None:
        theta = BASE ** (-torch.arange(0, dim, 2, dtype=torch.float64, device=device) / dim)
        angles = torch.arange(length, dtype=torch.float64, device=device)[:, None] * theta
        table = torch.polar(torch.ones_like(angles), angles).to(torch.complex64)
        _TABLES[key] = table
    return table


def rotate(x: torch.Tensor) -> torch.Tensor:
    table = rotation_table(x.shape[-2], x.shape[-1], x.device)
    work = x if x.dtype == torch.float32 else x.float()
    pairs = torch.view_as_complex(work.contiguous().unflatten(-1, (-1, 2)))
    out = torch.view_as_real(pairs * table).flatten(-2)
    return out if out.dtype == x.dtype else out.to(x.dtype)


def RoPE(q, k):
    return rotate(q), rotate(k)


def rotate_real(x: torch.Tensor) -> torch.Tensor:
    """The same rotation in real arithmetic: slower eager (four products and
    a stack, each a pass over memory), but what torch.compile fuses into one
    loop; its complex support is thinner."""
    key = ("real", x.shape[-2], x.shape[-1], str(x.device))
    if key not in _TABLES:  # cos and sin as real tensors: compiled code stays real
        table = rotation_table(x.shape[-2], x.shape[-1], x.device)
        _TABLES[key] = (table.real.contiguous(), table.imag.contiguous())
    cos, sin = _TABLES[key]
    pairs = x.float().unflatten(-1, (-1, 2))
    even, odd = pairs[..., 0], pairs[..., 1]
    out = torch.stack([even * cos - odd * sin, odd * cos + even * sin], dim=-1)
    return out.flatten(-2).to(x.dtype)


def rope_real(q, k):
    return rotate_real(q), rotate_real(k)


# What `drillpe bench --compile` passes through torch.compile in place of a name.
COMPILE = {"RoPE": rope_real}
