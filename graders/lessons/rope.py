"""`drillpe learn rope`, computed from the reference's public API (RoPE);
`python -m drillpe.devtools lessons` writes the result to
exercises/rope/lesson.json."""

import math

import torch


def join(values, spec="g"):
    return ", ".join(format(float(v), spec) for v in values)


def turned_units(rope, length, dim):
    """(cos, sin) of every pair's angle at positions 0 .. length - 1, each (length, dim/2).
    The API does not return its angle table; RoPE of the unit vector (1, 0) in every
    interleaved pair (x[2i], x[2i+1]) gives (cos, sin) of the angle back."""
    q = torch.zeros(1, 1, length, dim, dtype=torch.float64)
    q[..., 0::2] = 1.0
    y = rope(q, q)[0][0, 0]
    return y[:, 0::2], y[:, 1::2]


def rotation_example(rope, x, p):
    """x rotated at position p: RoPE of a sequence whose row p is x."""
    q = torch.zeros(1, 1, p + 1, len(x), dtype=torch.float64)
    q[0, 0, p] = torch.tensor(x, dtype=torch.float64)
    return rope(q, q)[0][0, 0, p].tolist()


def build(public):
    api = public("rope")
    length, dim, small, x, p = 32, 64, 4, [1.0, 2.0, 3.0, 4.0], 1
    cos, _ = turned_units(api.RoPE, length, dim)
    # θ_i is the angle at position 1 (every θ_i <= 1 < π, so atan2 returns it as is).
    c1, s1 = turned_units(api.RoPE, 2, small)
    theta = [math.atan2(s, c) for c, s in zip(c1[1].tolist(), s1[1].tolist())]
    y = rotation_example(api.RoPE, x, p)
    return {
        "heatmap": {"values": cos, "lo": -1.0, "hi": 1.0, "kind": "diverging"},
        "numbers": {"L": str(length), "d": str(dim), "pairs": str(dim // 2),
                    "d_small": str(small), "theta": join(theta), "x": join(x), "p": str(p),
                    "y": join(y, ".4f"), "norm_x": f"{math.hypot(*x):.4f}",
                    "norm_y": f"{math.hypot(*y):.4f}"},
    }
