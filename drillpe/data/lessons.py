"""What each exercise's code should produce, in plain Python (``drillpe learn``).

The CLI process never imports torch (or numpy), so the small matrices that
``drillpe learn`` draws are computed here with ``math``. Each function cites
the contract formula it implements; tests/test_learn.py pins them
to the float64 references in ``solutions/``. The words around the numbers are
data in ``exercises/ID/exercise.toml`` ([learn]); ``lesson()`` returns the numbers that fill
its ``{placeholders}``, so a worked example can never disagree with the code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from drillpe.data import bundle, catalog, i18n
from drillpe.errors import UsageError

Matrix = list[list[float]]
MASKED = float("-inf")  # an excluded attention logit, drawn as a blank cell


# --------------------------------------------------------------------------- the math


def sinusoidal_table(length: int, d_model: int, base: float = 10000.0) -> Matrix:
    """PE[p, 2i] = sin(p·w_i), PE[p, 2i+1] = cos(p·w_i), w_i = base^(−2i/d_model)."""
    table = []
    for p in range(length):
        row: list[float] = []
        for i in range(d_model // 2):
            angle = p * base ** (-2 * i / d_model)
            row += [math.sin(angle), math.cos(angle)]
        table.append(row)
    return table


def learned_rows(seq_len: int, offset: int, max_len: int) -> Matrix:
    """The lookup x + P[offset : offset + seq_len] as a 0/1 matrix: entry [t, r]
    is 1 when output position t reads table row r (r = offset + t)."""
    if offset < 0 or offset + seq_len > max_len:
        raise ValueError(f"rows {offset}..{offset + seq_len - 1} do not fit in {max_len}")
    return [[1.0 if r == offset + t else 0.0 for r in range(max_len)] for t in range(seq_len)]


def shaw_relative_index(length_q: int, length_k: int, k: int) -> list[list[int]]:
    """Shaw et al.: table row clamp(j − pos_i, −K, K) + K, pos_i = i + (Lk − Lq)."""
    shift = length_k - length_q
    return [[max(-k, min(k, j - (i + shift))) + k for j in range(length_k)]
            for i in range(length_q)]


def rope_thetas(dim: int, base: float = 10000.0) -> list[float]:
    """θ_i = base^(−2i/dim), i = 0 .. dim/2 − 1 (RoPE's inverse frequencies)."""
    return [base ** (-2 * i / dim) for i in range(dim // 2)]


def rope_angles(positions: Sequence[int], dim: int, base: float = 10000.0) -> Matrix:
    """The angle p·θ_i by which pair i turns at position p: (len(positions), dim/2)."""
    thetas = rope_thetas(dim, base)
    return [[p * t for t in thetas] for p in positions]


def rope_rotate(x: Sequence[float], p: int, base: float = 10000.0) -> list[float]:
    """Interleaved RoPE at position p: y[2i] = x[2i]·cos − x[2i+1]·sin,
    y[2i+1] = x[2i+1]·cos + x[2i]·sin, angle p·θ_i."""
    y = []
    for i, theta in enumerate(rope_thetas(len(x), base)):
        c, s = math.cos(p * theta), math.sin(p * theta)
        y += [x[2 * i] * c - x[2 * i + 1] * s, x[2 * i + 1] * c + x[2 * i] * s]
    return y


def neox_angles(positions: Sequence[int], dim: int, base: float = 10000.0) -> Matrix:
    """Half-split RoPE's per-channel angles: p·cat(θ, θ), shape (len(positions), dim)."""
    return [row + row for row in rope_angles(positions, dim, base)]


def neox_rotate(x: Sequence[float], p: int, base: float = 10000.0) -> list[float]:
    """Half-split RoPE: y = x·cos + rotate_half(x)·sin, rotate_half(x) = cat(−x2, x1);
    pair i is (x[i], x[i + d/2])."""
    half = len(x) // 2
    y = [0.0] * len(x)
    for i, theta in enumerate(rope_thetas(len(x), base)):
        c, s = math.cos(p * theta), math.sin(p * theta)
        y[i] = x[i] * c - x[i + half] * s
        y[i + half] = x[i + half] * c + x[i] * s
    return y


def alibi_slopes(n_heads: int) -> list[float]:
    """m_h = 2^(−8(h+1)/n) for n a power of two; otherwise, with p = 2^floor(log2 n),
    slopes(p) + slopes(2p)[0::2][: n − p] (Press et al., ofirpress get_slopes)."""
    def power_of_two(n: int) -> list[float]:
        return [2 ** (-8 * (h + 1) / n) for h in range(n)]

    p = 2 ** int(math.floor(math.log2(n_heads)))
    if p == n_heads:
        return power_of_two(n_heads)
    return power_of_two(p) + power_of_two(2 * p)[0::2][: n_heads - p]


def alibi_bias(length_q: int, length_k: int, slope: float, causal: bool = True) -> Matrix:
    """−m·|pos_i − j| with pos_i = i + (Lk − Lq); with causal, keys j > pos_i are −inf."""
    shift = length_k - length_q
    # 0.0 - ...: distance 0 gives 0, not -0.0, in the worked example.
    return [[MASKED if causal and j > i + shift else 0.0 - slope * abs(i + shift - j)
             for j in range(length_k)] for i in range(length_q)]


def t5_bucket(relative_position: int, bidirectional: bool = True, num_buckets: int = 32,
              max_distance: int = 128) -> int:
    """HF T5Attention._relative_position_bucket for one r = key − query: half the
    buckets (per direction) exact, the rest log-spaced up to max_distance."""
    bucket, n, r = 0, num_buckets, relative_position
    if bidirectional:
        n //= 2
        bucket += n if r > 0 else 0
        r = abs(r)
    else:
        r = -min(r, 0)
    max_exact = n // 2
    if r < max_exact:
        return bucket + r
    large = max_exact + int(math.log(r / max_exact) / math.log(max_distance / max_exact)
                            * (n - max_exact))
    return bucket + min(large, n - 1)


def t5_bucket_matrix(length_q: int, length_k: int, **kwargs) -> list[list[int]]:
    """Bucket of (query i, key j), both counted from 0: t5_bucket(j − i)."""
    return [[t5_bucket(j - i, **kwargs) for j in range(length_k)] for i in range(length_q)]


def rope_inv_freq(head_dim: int, base: float = 10000.0, scaling: dict | None = None
                  ) -> tuple[list[float], float]:
    """(inv_freq, attention_factor) for RoPE context extension, as HF
    modeling_rope_utils (linear, yarn, llama3) and rotary-embedding-torch (ntk)."""
    kind = (scaling or {}).get("type", "none")
    if kind == "ntk":  # static NTK-aware: stretch the base, not the positions
        base = base * scaling["factor"] ** (head_dim / (head_dim - 2))
    inv = rope_thetas(head_dim, base)
    if kind in ("none", "ntk"):
        return inv, 1.0
    factor = scaling["factor"]
    if kind == "linear":
        return [f / factor for f in inv], 1.0
    if kind == "yarn":
        return _yarn(inv, head_dim, base, scaling), (0.1 * math.log(factor) + 1 if factor > 1
                                                    else 1.0)
    if kind == "llama3":
        return _llama3(inv, scaling), 1.0
    raise ValueError(f"unknown rope scaling type {kind!r}")


def yarn_correction_range(head_dim: int, base: float, scaling: dict) -> tuple[int, int]:
    """YaRN's ramp bounds in pair index: floor/ceil of d·ln(L/(2π·β))/(2 ln base)
    for β = beta_fast, beta_slow (HF truncate=True), clipped to [0, d − 1]."""
    length = scaling["original_max_position_embeddings"]

    def dim_for(rotations: float) -> float:
        return head_dim * math.log(length / (rotations * 2 * math.pi)) / (2 * math.log(base))

    low = math.floor(dim_for(scaling.get("beta_fast", 32)))
    high = math.ceil(dim_for(scaling.get("beta_slow", 1)))
    return max(low, 0), min(high, head_dim - 1)


def _yarn(inv: list[float], head_dim: int, base: float, scaling: dict) -> list[float]:
    # Pairs below `low` turn fast enough to keep (extrapolate); above `high` they
    # are interpolated (÷ factor); a linear ramp in the pair index joins them.
    low, high = yarn_correction_range(head_dim, base, scaling)
    high = high + 0.001 if low == high else high
    out = []
    for i, f in enumerate(inv):
        ramp = min(1.0, max(0.0, (i - low) / (high - low)))
        out.append(f / scaling["factor"] * ramp + f * (1 - ramp))
    return out


def _llama3(inv: list[float], scaling: dict) -> list[float]:
    # Bands by wavelength 2π/f: short ones kept, long ones ÷ factor, a smooth mix between.
    factor, old = scaling["factor"], scaling["original_max_position_embeddings"]
    low_f, high_f = scaling["low_freq_factor"], scaling["high_freq_factor"]
    out = []
    for f in inv:
        wavelength = 2 * math.pi / f
        if wavelength < old / high_f:
            out.append(f)
        elif wavelength > old / low_f:
            out.append(f / factor)
        else:
            smooth = (old / wavelength - low_f) / (high_f - low_f)
            out.append((1 - smooth) * f / factor + smooth * f)
    return out


def rope_2d_angles(rows: Sequence[int], cols: Sequence[int], head_dim: int,
                   base: float = 10000.0) -> Matrix:
    """Axial 2-D RoPE: pair i < d/4 turns by row·θ_i, pair d/4 + i by col·θ_i,
    θ_i = base^(−2i/(d/2)); shape (n_patches, head_dim/2)."""
    thetas = rope_thetas(head_dim // 2, base)
    return [[r * t for t in thetas] + [c * t for t in thetas] for r, c in zip(rows, cols)]


# --------------------------------------------------------------------------- lessons


@dataclass(frozen=True)
class Heatmap:
    """A matrix to draw. Non-finite cells are masked; labels default to indices."""

    values: Matrix
    lo: float
    hi: float
    kind: str = "sequential"  # or "diverging" (signed values around 0)
    log: bool = False
    integer: bool = False
    row_labels: tuple[str, ...] = ()
    col_labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Lesson:
    heatmap: Heatmap
    numbers: dict[str, str] = field(default_factory=dict)  # fills [learn]'s {placeholders}


def _num(values: Sequence[float], spec: str = ".4f") -> str:
    return ", ".join(format(v, spec) for v in values)


def _sinusoidal() -> Lesson:
    length, d_model, small = 32, 32, 4
    pe = sinusoidal_table(3, small)
    return Lesson(Heatmap(sinusoidal_table(length, d_model), -1.0, 1.0, "diverging"),
                  {"L": str(length), "d": str(d_model), "d_small": str(small),
                   "w": _num(rope_thetas(small), "g"), "pe0": _num(pe[0], "g"),
                   "pe1": _num(pe[1], ".5f"), "pe2": _num(pe[2], ".5f")})


def _learnable() -> Lesson:
    seq_len, offset, max_len = 8, 6, 24
    late = max_len - seq_len // 2  # an offset that runs past the end of the table
    return Lesson(Heatmap(learned_rows(seq_len, offset, max_len), 0.0, 1.0),
                  {"L": str(seq_len), "offset": str(offset), "max_len": str(max_len),
                   "first": str(offset), "last": str(offset + seq_len - 1),
                   "last_t": str(seq_len - 1), "late": str(late),
                   "late_last": str(late + seq_len - 1)})


def _relative() -> Lesson:
    length, k, (sq, sk, sk_k) = 16, 4, (3, 5, 2)
    small = shaw_relative_index(sq, sk, sk_k)
    return Lesson(Heatmap(shaw_relative_index(length, length, k), 0, 2 * k, integer=True),
                  {"L": str(length), "K": str(k), "top": str(2 * k), "sq": str(sq),
                   "sk": str(sk), "sK": str(sk_k),
                   "pos": ", ".join(str(i + sk - sq) for i in range(sq)),
                   "small": "\n".join("  " + " ".join(map(str, row)) for row in small)})


def _rotation_example(rotate: Callable) -> dict[str, str]:
    x, p, small = [1.0, 2.0, 3.0, 4.0], 1, 4
    y = rotate(x, p)
    return {"d_small": str(small), "theta": _num(rope_thetas(small), "g"), "x": _num(x, "g"),
            "p": str(p), "y": _num(y), "norm_x": f"{math.hypot(*x):.4f}",
            "norm_y": f"{math.hypot(*y):.4f}"}


def _rope() -> Lesson:
    length, dim = 32, 64
    cos = [[math.cos(a) for a in row] for row in rope_angles(range(length), dim)]
    return Lesson(Heatmap(cos, -1.0, 1.0, "diverging"),
                  {"L": str(length), "d": str(dim), "pairs": str(dim // 2),
                   **_rotation_example(rope_rotate)})


def _rope_neox() -> Lesson:
    length, dim = 32, 32
    cos = [[math.cos(a) for a in row] for row in neox_angles(range(length), dim)]
    numbers = _rotation_example(neox_rotate)
    numbers["y_interleaved"] = _rotation_example(rope_rotate)["y"]
    return Lesson(Heatmap(cos, -1.0, 1.0, "diverging"),
                  {"L": str(length), "d": str(dim), "half": str(dim // 2), **numbers})


def _alibi() -> Lesson:
    heads, more, length, query = 8, 12, 16, 3
    slopes, slopes_more = alibi_slopes(heads), alibi_slopes(more)
    assert slopes_more[:heads] == slopes  # the example says "the 8 above, then ..."
    bias = alibi_bias(length, length, slopes[0])
    return Lesson(Heatmap(bias, -slopes[0] * (length - 1), 0.0),
                  {"L": str(length), "heads": str(heads), "more": str(more),
                   "m": f"{slopes[0]:g}", "slopes": _num(slopes, ".3g"),
                   "exps": _num([-math.log2(m) for m in slopes], "g"),
                   "extra": _num(slopes_more[heads:], ".4g"),
                   "extra_exps": _num([-math.log2(m) for m in slopes_more[heads:]], "g"),
                   "qi": str(query), "row": _num(bias[query][:query + 1], "g")})


def _t5_bias() -> Lesson:
    length, n_buckets, max_distance = 32, 32, 128
    # Away from exact powers of two past max_exact (16, 32, 64), where float32
    # implementations may round the log bucket down: the grader accepts both.
    distances = [-1000, -20, -8, -7, -1, 0, 1, 7, 8, 9, 20, 50, 100, 1000]
    buckets = [t5_bucket(r) for r in distances]
    widths = [max(len(str(r)), len(str(b))) + 2 for r, b in zip(distances, buckets)]
    half = n_buckets // 2
    return Lesson(Heatmap(t5_bucket_matrix(length, length), 0, n_buckets - 1, integer=True),
                  {"L": str(length), "nb": str(n_buckets), "md": str(max_distance),
                   "r": "".join(f"{r:>{w}}" for r, w in zip(distances, widths)),
                   "bucket": "".join(f"{b:>{w}}" for b, w in zip(buckets, widths)),
                   "max_exact": str(half // 2), "below": str(half - 1), "above": str(half),
                   "top": str(n_buckets - 1)})


SCALINGS: dict[str, dict | None] = {
    "none": None,
    "linear": {"type": "linear", "factor": 8.0},
    "ntk": {"type": "ntk", "factor": 8.0},
    "yarn": {"type": "yarn", "factor": 8.0, "original_max_position_embeddings": 4096,
             "beta_fast": 32, "beta_slow": 1},
    "llama3": {"type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 8192},
}


def _rope_scaling() -> Lesson:
    head_dim, base, factor, dims = 128, 10000.0, 8.0, [0, 16, 24, 32, 40, 48, 63]
    plain = rope_inv_freq(head_dim, base)[0]
    freqs = {name: rope_inv_freq(head_dim, base, s) for name, s in SCALINGS.items()}
    # Drawn as the slowdown θ(none)/θ(method): each method's change shows,
    # instead of being lost in the 4-decade fall of θ_i itself.
    slowdown = [[p / f for f, p in zip(freqs[name][0], plain)] for name in SCALINGS]
    numbers = {name: "".join(f"{inv[i]:>9.3g}" for i in dims) for name, (inv, _) in freqs.items()}
    yarn, llama = SCALINGS["yarn"], SCALINGS["llama3"]
    low, high = yarn_correction_range(head_dim, base, yarn)
    llama_len = llama["original_max_position_embeddings"]
    numbers.update({
        "head_dim": str(head_dim), "base": f"{base:g}", "factor": f"{factor:g}",
        "dims": "".join(f"{i:>9}" for i in dims), "yarn_len": str(yarn["original_max_position_embeddings"]),
        "yarn_low": str(low), "yarn_high": str(high), "yarn_attn": f"{freqs['yarn'][1]:.4f}",
        "llama_len": str(llama_len), "short": f"{llama_len / llama['high_freq_factor']:g}",
        "long": f"{llama_len / llama['low_freq_factor']:g}"})
    return Lesson(Heatmap(slowdown, 1.0, factor, log=True, row_labels=tuple(SCALINGS)), numbers)


def _rope_2d() -> Lesson:
    side, head_dim, base, (r, c) = 4, 32, 10000.0, (2, 3)
    grid = [(row, col) for row in range(side) for col in range(side)]
    ang = rope_2d_angles([row for row, _ in grid], [col for _, col in grid], head_dim, base)
    quarter, patch = head_dim // 4, ang[grid.index((r, c))]
    return Lesson(Heatmap(ang, 0.0, max(max(row) for row in ang),
                          row_labels=tuple(f"({row},{col})" for row, col in grid)),
                  {"d": str(head_dim), "g": str(side), "base": f"{base:g}",
                   "theta": _num(rope_thetas(head_dim // 2, base)[:3], ".4g"),
                   "r": str(r), "c": str(c), "quarter": str(quarter),
                   "quarter1": str(quarter + 1), "row_part": _num(patch[:2], ".4g"),
                   "col_part": _num(patch[quarter:quarter + 2], ".4g")})


LESSONS: dict[str, Callable[[], Lesson]] = {
    "sinusoidal": _sinusoidal, "learnable": _learnable, "relative": _relative, "rope": _rope,
    "rope_neox": _rope_neox, "alibi": _alibi, "t5_bias": _t5_bias,
    "rope_scaling": _rope_scaling, "rope_2d": _rope_2d,
}
TEXT_FIELDS = ("formula", "example", "title", "rows", "cols", "legend", "notice")


def lesson(exercise_id: str) -> Lesson:
    if exercise_id not in LESSONS:
        raise UsageError(f"there is no lesson for {exercise_id} yet.")
    return LESSONS[exercise_id]()


def labels(lang: str | None = None) -> dict[str, str]:
    """Section headings of the lesson page, in the chosen language."""
    entry = bundle.exercise_data("common")["learn_labels"]
    return {name: i18n.pick(entry, name, lang) for name in entry if not name.endswith("_zh")}


def texts(exercise_id: str, numbers: dict[str, str], lang: str | None = None) -> dict[str, str]:
    """The lesson's texts in the chosen language, {placeholders} filled with numbers."""
    entry = catalog.learn_page(exercise_id)
    if entry is None:
        raise UsageError(f"there is no lesson for {exercise_id} yet.")
    return {name: i18n.pick(entry, name, lang).strip("\n").format_map(numbers)
            for name in TEXT_FIELDS}
