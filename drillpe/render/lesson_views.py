"""Output of `drillpe learn`: formula, worked example, heatmap, what to notice,
and the same heatmap as a PNG (matplotlib, the optional `plot` extra).

Colour as everywhere in drillpe: rich decides (none in a pipe or with
NO_COLOR); without colour, cells become characters (or digits, for small
integer tables), so `drillpe learn rope | cat` is still a picture.
"""

from __future__ import annotations

import math
from pathlib import Path

from rich.console import Group
from rich.rule import Rule
from rich.text import Text

from drillpe import render
from drillpe.data import catalog
from drillpe.data.lessons import Heatmap, Lesson
from drillpe.errors import UsageError
from drillpe.render import HEAT_CHARS  # the scorecard's ramp, light to dark
from drillpe.render.cjk_wrap import Wrapped

out = render.out

# Anchor colours of matplotlib's coolwarm and viridis, so terminal and PNG agree.
DIVERGING = ((59, 76, 192), (141, 176, 254), (221, 221, 221), (244, 154, 123), (180, 4, 38))
SEQUENTIAL = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))
LEGEND_CELLS = 24


def fraction(value: float, heat: Heatmap) -> float | None:
    """Where value sits between lo (0) and hi (1); None for a masked cell."""
    if not math.isfinite(value):
        return None
    if heat.log:
        lo, hi, value = math.log(heat.lo), math.log(heat.hi), math.log(max(value, heat.lo))
    else:
        lo, hi = heat.lo, heat.hi
    return 0.5 if hi == lo else min(1.0, max(0.0, (value - lo) / (hi - lo)))


def _rgb(t: float, anchors: tuple) -> tuple[int, int, int]:
    scaled = t * (len(anchors) - 1)
    k = min(int(scaled), len(anchors) - 2)
    a, b, w = anchors[k], anchors[k + 1], scaled - k
    return tuple(round(x + (y - x) * w) for x, y in zip(a, b))


def _digits(heat: Heatmap) -> bool:
    # Small integer tables (table rows, 0/1 lookups) read best as the numbers themselves.
    return heat.integer and 0 <= heat.lo and heat.hi <= 9


def _cell(value: float, heat: Heatmap, color: bool, width: int) -> tuple[str, str]:
    t = fraction(value, heat)
    if t is None:
        return "·".rjust(width), "dim"
    if color:
        r, g, b = _rgb(t, DIVERGING if heat.kind == "diverging" else SEQUENTIAL)
        if not _digits(heat):
            return " " * width, f"on rgb({r},{g},{b})"
        ink = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "white"
        return str(int(value)).rjust(width), f"{ink} on rgb({r},{g},{b})"
    if _digits(heat):
        return str(int(value)).rjust(width), ""
    return HEAT_CHARS[round(t * (len(HEAT_CHARS) - 1))] * width, ""


def _labels(labels: tuple[str, ...], n: int) -> list[str]:
    return list(labels) if labels else [str(i) for i in range(n)]


def layout(heat: Heatmap, width: int) -> tuple[int, int, int]:
    """(gutter, cell width, column step) so that the grid fits in `width` columns."""
    rows, cols = len(heat.values), len(heat.values[0])
    gutter = max(len(label) for label in _labels(heat.row_labels, rows)) + 1
    room = max(8, width - gutter)
    if 2 * cols <= room:
        return gutter, 2, 1
    return gutter, 1, math.ceil(cols / room)


def grid(heat: Heatmap, color: bool, width: int) -> tuple[Text, int]:
    """The heatmap with row labels and a line of column ticks; returns (text, step)."""
    gutter, cell, step = layout(heat, width)
    shown = range(0, len(heat.values[0]), step)
    col_labels = _labels(heat.col_labels, len(heat.values[0]))
    every = 4 if cell == 2 else 8  # a tick every 8 or 16 characters stays legible
    ticks = [" "] * (gutter + len(shown) * cell + 8)
    for d, c in enumerate(shown):
        if d % every == 0:
            at = gutter + (d + 1) * cell - len(col_labels[c])  # right-aligned, as numbers are
            ticks[at:at + len(col_labels[c])] = col_labels[c]
    text = Text()  # no base style: it would dim every cell
    text.append("".join(ticks).rstrip() + "\n", style="dim")
    for label, row in zip(_labels(heat.row_labels, len(heat.values)), heat.values):
        text.append(label.rjust(gutter - 1) + " ", style="dim")
        for c in shown:
            chars, style = _cell(row[c], heat, color, cell)
            text.append(chars, style=style)
        text.append("\n")
    return text, step


def legend(heat: Heatmap, texts: dict, labels: dict, color: bool) -> Text:
    """Colour bar (or character ramp) with min and max, and what a cell means."""
    text = Text(f"{heat.lo:g} ")
    if color:
        for k in range(LEGEND_CELLS):
            r, g, b = _rgb(k / (LEGEND_CELLS - 1), DIVERGING if heat.kind == "diverging"
                           else SEQUENTIAL)
            text.append(" ", style=f"on rgb({r},{g},{b})")
    elif _digits(heat):
        text = Text(f"{heat.lo:g} … ")
    else:
        text.append(f"[{HEAT_CHARS}]")
    text.append(f" {heat.hi:g}  {texts['legend']}")
    if heat.log:
        text.append(f" ({labels['log']})")
    if any(not math.isfinite(v) for row in heat.values for v in row):
        text.append(f" · {labels['masked']}")
    return text


def _range(labels: tuple[str, ...], n: int) -> str:
    if labels and n <= 6:
        return ", ".join(labels)
    names = _labels(labels, n)
    return f"{names[0]}..{names[-1]}"


def page(exercise_id: str, title: str, lesson: Lesson, texts: dict, labels: dict, *,
         color: bool | None = None, width: int | None = None) -> Group:
    color = (out.color_system is not None and not out.no_color) if color is None else color
    heat = lesson.heatmap
    block, step = grid(heat, color, width or out.width)
    axes = labels["axes"].format(
        rows=texts["rows"], cols=texts["cols"],
        rows_range=_range(heat.row_labels, len(heat.values)),
        cols_range=_range(heat.col_labels, len(heat.values[0])))
    if step > 1:
        axes += " · " + labels["sampled"].format(step=step)
    indent = "\n".join("  " + line for line in texts["example"].splitlines())
    return Group(
        Rule(Text(f"{exercise_id} · {title}", style="bold"), align="left"),
        Text(labels["formula"], style="bold"),
        Text("\n".join("  " + line for line in texts["formula"].splitlines()), style="cyan"),
        Text(labels["example"], style="bold"),
        Text(indent),
        Text(labels["heatmap"], style="bold"),
        Text(texts["title"]),
        Text(axes, style="dim"),
        block,
        legend(heat, texts, labels, color),
        Text(),
        Text(labels["notice"], style="bold"),
        Wrapped(texts["notice"].strip()),
        *(Wrapped(claim.line, style="dim") for claim in catalog.crosschecks(exercise_id)),
        Text(labels["next"].format(id=exercise_id), style="dim"),
    )


def show(*args, **kwargs) -> None:
    out.print(page(*args, **kwargs))


def written(labels: dict, path: str, english: bool) -> None:
    out.print(Text(labels["wrote"].format(path=path), style="bold"), soft_wrap=True)
    if english:
        out.print(Text(labels["png_english"], style="dim"), soft_wrap=True)


# --------------------------------------------------------------------------- PNG


def _cjk_font(font_manager) -> str | None:
    wanted = ("CJK", "Han Sans", "WenQuanYi", "SimHei", "YaHei", "PingFang", "Heiti", "Sans SC")
    for font in font_manager.fontManager.ttflist:
        if any(w in font.name for w in wanted):
            return font.name
    return None


def write_png(path: Path, heat: Heatmap, texts: dict, english_texts: dict, lang: str) -> bool:
    """Draw the heatmap into a PNG (title, axis labels, colour bar). Returns True
    when the labels fell back to English (Chinese asked for, no CJK font)."""
    try:  # the optional `plot` extra; imported here only, so the CLI stays light
        # deferred: matplotlib loads only for --png
        import matplotlib
        from matplotlib import font_manager
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.colors import LogNorm, Normalize
        from matplotlib.figure import Figure
        from matplotlib.ticker import FormatStrFormatter, NullFormatter
    except ImportError:
        raise UsageError("--png needs matplotlib, which is not installed. Install it with: "
                         "pip install 'drillpe[plot]'") from None
    english = False
    rc = {}
    if lang != "en":
        font = _cjk_font(font_manager)
        if font is None:
            texts, english = english_texts, True
        else:
            rc = {"font.sans-serif": [font, "DejaVu Sans"], "axes.unicode_minus": False}
    rows, cols = len(heat.values), len(heat.values[0])
    values = [[v if math.isfinite(v) else math.nan for v in row] for row in heat.values]
    cmap = matplotlib.colormaps["coolwarm" if heat.kind == "diverging" else "viridis"]
    norm = LogNorm(heat.lo, heat.hi) if heat.log else Normalize(heat.lo, heat.hi)
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=(8, min(7.0, max(3.0, 7.5 * rows / cols + 1.2))), dpi=110)
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        image = ax.imshow(values, cmap=cmap.with_extremes(bad="white"), norm=norm,
                          aspect="auto", interpolation="nearest")
        ax.set_title(texts["title"], fontsize=10, wrap=True)
        ax.set_xlabel(texts["cols"])
        ax.set_ylabel(texts["rows"])
        if heat.row_labels:
            ax.set_yticks(range(rows), heat.row_labels, fontsize=8)
        bar = fig.colorbar(image, ax=ax, label=texts["legend"])
        if heat.log:  # four plain ticks, not matplotlib's 6×10^0 labels
            bar.set_ticks([heat.lo * (heat.hi / heat.lo) ** (k / 3) for k in range(4)])
            bar.ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
            bar.ax.yaxis.set_minor_formatter(NullFormatter())
        fig.tight_layout()
        try:
            fig.savefig(path, format="png")
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    return english
