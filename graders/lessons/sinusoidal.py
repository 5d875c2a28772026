"""`drillpe learn sinusoidal`, computed from the reference's public API
(SinPositionEncoding); `python -m drillpe.devtools lessons` writes the result
to exercises/sinusoidal/lesson.json."""

import math


def join(values, spec="g"):
    return ", ".join(format(float(v), spec) for v in values)


def build(public):
    api = public("sinusoidal")
    length, d_model, small = 32, 32, 4
    table = api.SinPositionEncoding(length, d_model)()  # (L, d_model)
    pe = api.SinPositionEncoding(3, small)()
    # The API does not return w_i; read it back from position 1, where
    # (PE[1, 2i], PE[1, 2i+1]) = (sin w_i, cos w_i). Every w_i <= 1 < pi, so
    # atan2 gives the angle itself.
    w = [math.atan2(float(pe[1, 2 * i]), float(pe[1, 2 * i + 1])) for i in range(small // 2)]
    return {
        "heatmap": {"values": table, "lo": -1.0, "hi": 1.0, "kind": "diverging"},
        "numbers": {"L": str(length), "d": str(d_model), "d_small": str(small),
                    "w": join(w), "pe0": join(pe[0]), "pe1": join(pe[1], ".5f"),
                    "pe2": join(pe[2], ".5f")},
    }
