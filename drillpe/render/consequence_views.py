"""`drillpe check ID --consequence`: what the learner's bug does to a tiny model.

The report's ``consequence`` (drillpe.grading.tiny_stack computes it in the
judge) drawn as two terminal plots that fit 80 columns, in block characters
(eighths of a cell, so a bar rises smoothly): how far the learner's final
hidden states are from the reference's at each position (log scale, the 10%
line dotted across), and the first layer's attention by relative distance,
the learner's and the reference's on one scale. A one-line reading comes
first. Colour only where rich gives it (a terminal without NO_COLOR).
"""

from __future__ import annotations

import math

from rich.console import Group
from rich.text import Text

from drillpe import render
from drillpe.data import catalog
from drillpe.results.report import ExerciseResult

BLOCKS = " ▁▂▃▄▅▆▇█"
COLUMNS = 64  # plot cells; with the gutter and the axis the plots are 72 wide
GUTTER = 7
DISTANCES = 64  # attention is drawn for distances 0 .. 63, where its shape is
FLOOR = 1e-4  # the bottom of each log scale (divergence: 0.01%)


def _pool(values: list[float | None], cells: int, how: str = "max") -> list[float | None]:
    """``values`` squeezed into ``cells`` columns: the max (divergence: the
    worst position of the cell) or the mean; a non-finite value wins (None)."""
    if len(values) <= cells:
        return list(values)
    out: list[float | None] = []
    for c in range(cells):
        part = values[c * len(values) // cells:(c + 1) * len(values) // cells]
        if any(v is None for v in part):
            out.append(None)
        else:
            out.append(max(part) if how == "max" else sum(part) / len(part))
    return out


def _share(v: float, low: float, high: float) -> float:
    """Where v sits between low (0) and high (1) on a log scale."""
    return (math.log10(v) - math.log10(low)) / (math.log10(high) - math.log10(low))


def _height(v: float | None, low: float, high: float, rows: int) -> int:
    """The bar's height in eighths of a cell, on a log scale from low to high."""
    if v is None:
        return rows * 8
    if v <= low:
        return 0
    share = _share(v, low, high)
    # up to the next eighth: a value just over a line inks the row above it
    return max(1, min(rows * 8, math.ceil(share * rows * 8 - 1e-9)))


def _percent(v: float) -> str:
    return f"{v * 100:.3g}%" if v < 10 else f"{v:.0f}×"


def _bars(values: list[float | None], *, low: float, high: float, rows: int,
          style, labels: dict[int, str], mark_row: int | None = None) -> Text:
    """A bar chart, rows top to bottom; ``labels`` puts a label at a row's left,
    ``mark_row`` dots a line across the empty cells of that row."""
    heights = [_height(v, low, high, rows) for v in values]
    text = Text()
    for row in range(rows):
        base = (rows - 1 - row) * 8  # eighths below this row
        text.append(labels.get(row, "").rjust(GUTTER - 1) + " ", style="dim")
        text.append("┤" if row in labels else "│", style="dim")
        for v, h in zip(values, heights):
            fill = min(8, max(0, h - base))
            if fill == 0 and row == mark_row:
                text.append("┄", style="dim")
            else:
                text.append(BLOCKS[fill], style=style(v) if fill else "")
        text.append("\n")
    text.right_crop(1)
    return text


def _axis(n: int, last: int, name: str) -> Text:
    """The x axis under a plot: a rule, ticks every 16 cells, and its name."""
    ticks = [" "] * (GUTTER + 1 + COLUMNS + 6)
    for cell in range(0, COLUMNS + 1, 16):
        label = str(min(last, round(cell * n / COLUMNS)))
        at = GUTTER + min(cell, COLUMNS - 1) + 1 - (len(label) // 2 if cell else 0)
        ticks[at:at + len(label)] = label
    line = " " * GUTTER + "└" + "─" * COLUMNS
    width = GUTTER + 1 + COLUMNS
    return Text(line + "\n" + "".join(ticks).rstrip() + "\n" + f"{name} →".rjust(width),
                style="dim")


def _decades(low: float, high: float, per: int) -> tuple[float, float, int]:
    """(low, high, rows) widened to whole powers of ten, ``per`` rows a decade,
    so that every decade is as tall as the next and each power of ten falls on
    the bottom edge of a row."""
    lo, hi = math.floor(math.log10(low) + 1e-9), math.ceil(math.log10(high) - 1e-9)
    hi = max(hi, lo + 1)
    return 10.0 ** lo, 10.0 ** hi, (hi - lo) * per


def _row_of(value: float, low: float, high: float, rows: int) -> int:
    """The row (from the top) whose bottom edge is at ``value`` on the log scale:
    a bar above the value has ink in that row, a bar at or below it has none."""
    return rows - 1 - min(rows - 1, max(0, round(_share(value, low, high) * rows)))


def _scale_labels(low: float, high: float, rows: int) -> dict[int, str]:
    """A label on the rows whose bottom edge is a power of ten, and the top."""
    labels = {0: _percent(high)}
    for exponent in range(round(math.log10(low)), round(math.log10(high))):
        labels.setdefault(_row_of(10.0 ** exponent, low, high, rows), _percent(10.0 ** exponent))
    return labels


def reading(data: dict) -> str:
    """The one line that says what the plots show."""
    first = data.get("from_position")
    worst = data.get("max_divergence")
    threshold = data.get("threshold", 0.1)
    if first is not None:
        values = data.get("divergence") or []
        over = sum(1 for v in values if v is None or v > threshold)
        return catalog.ui("consequence_from", position=first, threshold=_percent(threshold),
                          worst=_percent(worst) if worst is not None else "NaN/inf",
                          over=over, total=len(values))
    if not worst:
        return catalog.ui("consequence_identical")
    return catalog.ui("consequence_within", threshold=_percent(threshold), worst=_percent(worst))


def divergence_plot(data: dict) -> Group:
    values = data["divergence"]
    finite = [v for v in values if v is not None]
    threshold = data.get("threshold", 0.1)
    high = max([1.0, *finite])
    # The scale starts a decade below the smallest error shown (at most 1%, at
    # least FLOOR): a wrong convention's 5% and 20% must not both look full.
    smallest = min((v for v in finite if v > 0), default=FLOOR)
    low = min(threshold / 10, max(FLOOR, 10.0 ** (math.floor(math.log10(smallest)) - 1)))
    low, high, rows = _decades(low, high, 3 if high / low <= 1e3 else 2)
    cells = _pool(values, COLUMNS)
    mark = _row_of(threshold, low, high, rows)

    def style(v):
        return "red" if v is None or v > threshold else "green"

    title = Text(catalog.ui("consequence_divergence_title", threshold=_percent(threshold)),
                 style="bold")
    return Group(title, _bars(cells, low=low, high=high, rows=rows, style=style,
                              labels=_scale_labels(low, high, rows), mark_row=mark),
                 _axis(len(values), len(values) - 1, catalog.ui("consequence_position")))


def attention_plot(data: dict) -> Group:
    attention = data.get("attention") or {}
    reference = (attention.get("reference") or [])[:DISTANCES]
    yours = attention.get("yours")
    yours = yours[:DISTANCES] if yours else None
    shown = [v for v in (*reference, *(yours or [])) if v is not None and v > 0]
    low, high, rows = _decades(max(max(shown, default=1.0) * 1e-3, 1e-6),
                               max(shown, default=1.0), 2)
    labels = _scale_labels(low, high, rows)
    parts = [Text(catalog.ui("consequence_attention_title", distances=len(reference) - 1),
                  style="bold")]
    for name, series, colour in (("consequence_yours", yours, "yellow"),
                                 ("consequence_reference", reference, "cyan")):
        parts.append(Text(catalog.ui(name), style=colour))
        if series is None:
            parts.append(Text(catalog.ui("consequence_no_weights"), style="dim"))
            continue
        parts.append(_bars(series, low=low, high=high, rows=rows,
                           style=lambda v, c=colour: c, labels=labels))
    parts.append(_axis(len(reference), len(reference) - 1, catalog.ui("consequence_distance")))
    return Group(*parts)


def consequence_renderable(result: ExerciseResult) -> Group:
    """What `check --consequence` shows after the scorecard for one result."""
    data = result.consequence
    header = Text(catalog.ui("consequence_heading", id=result.exercise), style="bold")
    if result.passed:
        return Group(header, Text(catalog.ui("consequence_passed")))
    if data is None:
        why = (result.error or {}).get("message") or catalog.ui("consequence_not_run")
        return Group(header, Text(catalog.ui("consequence_cannot_run", why=why)))
    if data.get("status") != "ok":
        return Group(header, Text(catalog.ui("consequence_crashed", why=data.get("message", ""))))
    stack = data.get("stack") or {}
    return Group(
        header,
        Text(catalog.ui("consequence_stack", layers=stack.get("layers", "?"),
                        d_model=stack.get("d_model", "?"), heads=stack.get("heads", "?"),
                        length=stack.get("length", "?")), style="dim"),
        Text(reading(data), style="bold red" if data.get("from_position") is not None
             else "green"),
        Text(""),
        divergence_plot(data),
        Text(""),
        attention_plot(data),
    )


def show(result: ExerciseResult) -> None:
    """Print it under the scorecard."""
    render.out.print(consequence_renderable(result))
