"""`drillpe learn rope_2d`, computed from the reference's public API
(apply_rope_2d); `python -m drillpe.devtools lessons` writes the result to
exercises/rope_2d/lesson.json."""

import torch


def join(values, spec=".4g"):
    return ", ".join(format(float(v), spec) for v in values)


def pair_angles(apply_rope_2d, rows, cols, head_dim, base):
    """The angle each interleaved pair turns by, (n_patches, head_dim/2). The API
    does not return it: rotating the unit vector (1, 0) in every pair gives
    (cos, sin) back, and atan2 the angle. It returns the angle itself only below π,
    which a small grid keeps (checked: a wrapped angle would come out negative)."""
    x = torch.zeros(1, 1, len(rows), head_dim, dtype=torch.float64)
    x[..., 0::2] = 1.0
    y = apply_rope_2d(x, torch.tensor(rows), torch.tensor(cols), base)[0, 0]
    angles = torch.atan2(y[:, 1::2], y[:, 0::2])
    assert (angles >= 0).all(), "an angle above π: use a smaller grid"
    return angles


def build(public):
    api = public("rope_2d")
    side, head_dim, base, (r, c) = 4, 32, 10000.0, (2, 3)
    grid = [(row, col) for row in range(side) for col in range(side)]
    ang = pair_angles(api.apply_rope_2d, [row for row, _ in grid], [col for _, col in grid],
                      head_dim, base)
    quarter, patch = head_dim // 4, ang[grid.index((r, c))]
    # θ_i is the angle of the column pairs of patch (0, 1).
    theta = ang[grid.index((0, 1)), quarter:]
    return {
        "heatmap": {"values": ang, "lo": 0.0, "hi": ang.max().item(),
                    "row_labels": [f"({row},{col})" for row, col in grid]},
        "numbers": {"d": str(head_dim), "g": str(side), "base": f"{base:g}",
                    "theta": join(theta[:3]), "r": str(r), "c": str(c),
                    "quarter": str(quarter), "quarter1": str(quarter + 1),
                    "row_part": join(patch[:2]), "col_part": join(patch[quarter:quarter + 2])},
    }
