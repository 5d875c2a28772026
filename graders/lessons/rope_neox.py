"""`drillpe learn rope_neox`, computed from the reference's public API
(apply_rope), with the interleaved result from the rope exercise's (RoPE) for
contrast; `python -m drillpe.devtools lessons` writes the result to
exercises/rope_neox/lesson.json."""

import math

import torch


def join(values, spec="g"):
    return ", ".join(format(float(v), spec) for v in values)


def cos_per_channel(apply_rope, positions, dim):
    """(cos of each channel's angle, (len(positions), dim); sin of each pair's
    angle, (len(positions), dim/2)). The API does not return its cos table:
    rotating the unit vector with 1 in every channel of the first half gives
    (cos, sin) in (first half, second half); with 1 in the second half,
    (−sin, cos). So each channel's cos is read from the channel itself."""
    half = dim // 2
    first = torch.zeros(1, 1, len(positions), dim, dtype=torch.float64)
    first[..., :half] = 1.0
    second = 1.0 - first
    ids = torch.tensor(positions)
    y1, y2 = apply_rope(first, ids)[0, 0], apply_rope(second, ids)[0, 0]
    return torch.cat([y1[:, :half], y2[:, half:]], -1), y1[:, half:]


def build(public):
    api, interleaved = public("rope_neox"), public("rope")
    length, dim, small, x, p = 32, 32, 4, [1.0, 2.0, 3.0, 4.0], 1
    cos, _ = cos_per_channel(api.apply_rope, list(range(length)), dim)
    # θ_i is the angle at position 1 (every θ_i <= 1 < π, so atan2 returns it as is).
    cos_small, sin_small = cos_per_channel(api.apply_rope, [0, 1], small)
    theta = [math.atan2(s, c) for c, s in zip(cos_small[1, :small // 2].tolist(),
                                              sin_small[1].tolist())]
    xt = torch.tensor(x, dtype=torch.float64)
    y = api.apply_rope(xt.view(1, 1, 1, -1), torch.tensor([p]))[0, 0, 0].tolist()
    # rope's RoPE rotates positions 0 .. L − 1: x goes in row p.
    q = torch.zeros(1, 1, p + 1, len(x), dtype=torch.float64)
    q[0, 0, p] = xt
    y_interleaved = interleaved.RoPE(q, q)[0][0, 0, p].tolist()
    return {
        "heatmap": {"values": cos, "lo": -1.0, "hi": 1.0, "kind": "diverging"},
        "numbers": {"L": str(length), "d": str(dim), "half": str(dim // 2),
                    "d_small": str(small), "theta": join(theta), "x": join(x), "p": str(p),
                    "y": join(y, ".4f"), "y_interleaved": join(y_interleaved, ".4f")},
    }
