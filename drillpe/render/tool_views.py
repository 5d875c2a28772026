"""Output of `drillpe bench` and `drillpe doctor`, and rich renderings of a
report for Jupyter. rich decides colour as everywhere (none when stdout is
not a terminal, or with NO_COLOR)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from drillpe import render

# --------------------------------------------------------------------------- bench


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


def _size(size: dict[str, int]) -> str:
    return " ".join(f"{k}={v}" for k, v in size.items())


def _ratio_text(ratio: float) -> Text:
    if ratio >= 1.15:
        return Text(f"{ratio:.2f}× slower", style="bold red" if ratio >= 2 else "yellow")
    if ratio <= 1 / 1.15:
        return Text(f"{1 / ratio:.2f}× faster", style="green")
    return Text(f"{ratio:.2f}× (same)", style="green")


def _row(table: Table, label: Text, side: dict | None, target, ratio: Text | str = "") -> None:
    if not side:
        return
    bandwidth = target.bandwidth_gbs(side)
    roofline = target.roofline(side)
    table.add_row(label, _ms(side["median_s"]), _spread(side), str(side["runs"]), ratio,
                  "–" if bandwidth is None else f"{bandwidth:.3g}",
                  "–" if roofline is None else f"{roofline:.1%}")


def _spread(side: dict) -> str:
    low, high = _ms(side["q1_s"]), _ms(side["q3_s"])
    low_value, low_unit = low.split(" ")
    high_value, high_unit = high.split(" ")
    return f"{low_value}–{high}" if low_unit == high_unit else f"{low}–{high}"


def bench(report, *, quiet: bool = False) -> None:
    out = render.out
    machine = report.machine
    where = machine.get("device_name") or machine.get("device", "cpu")
    threads = machine.get("threads")
    if machine.get("device") == "cpu" and threads:
        where += f", {threads} thread{'s' if threads != 1 else ''}"
    for target in report.targets:
        head = Text.assemble((f"{report.exercise} · {target.call}", "bold"),
                             f" · {report.options.dtype} {_size(target.size)} · {where}"
                             f" · torch {machine.get('torch')}")
        if report.options.quick:
            head.append(" · --quick: small inputs, not a measurement", style="yellow")
        out.print(head, soft_wrap=True)
        if target.error:
            out.print(Text("Your code failed at the bench sizes:", style="bold red"))
            out.print(Text("\n".join("  " + line for line in target.error.splitlines()),
                           style="yellow"))
            continue
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        for column in ("", "median", "q1–q3", "runs", "vs reference", "GB/s", "of copy"):
            table.add_column(column, justify="left" if not column else "right", no_wrap=True)
        _row(table, Text("yours", style="bold cyan"), target.learner, target,
             _ratio_text(target.ratio))
        _row(table, Text("reference"), target.reference, target, "1.00×")
        _row(table, Text("copy", style="dim"), target.copy, target)
        out.print(table)
        out.print(_verdict(target), soft_wrap=True)
        if not quiet:
            if target.causes:
                out.print(Text("What costs time", style="bold"))
                for cause in target.causes:
                    line = Text("• ", style="magenta")
                    line.append(cause.code, style="bold magenta")
                    line.append(f": {cause.message}")
                    out.print(line, soft_wrap=False)
            out.print(Text(_footnote(target), style="dim"), soft_wrap=False)
        out.print()


def _verdict(target) -> Text:
    ratio = target.ratio
    text = Text()
    if ratio >= 1.15:
        text.append(f"Yours takes {ratio:.2f}× the reference's time", style="bold")
    elif ratio <= 1 / 1.15:
        text.append(f"Yours is {1 / ratio:.2f}× faster than the reference", style="bold")
    else:
        text.append("Yours is as fast as the reference (within 15%)", style="bold")
    mine = target.roofline(target.learner)
    if mine is not None:
        text.append(f"; it reaches {mine:.1%} of the copy roofline")
    text.append(".")
    if target.causes and ratio >= 1.15:
        text.append(" The causes drillpe recognises are below.")
    return text


def _footnote(target) -> str:
    parts = ["Medians of repeated runs after warm-up; q1–q3: the middle half of the runs."]
    if target.copy:
        parts.append(
            f"The call reads and writes {target.bytes_moved / 1e6:.3g} MB; 'copy' is a plain "
            "copy (clone) of the same bytes, measured in this run: the practical roofline. "
            f"The reference reaches {target.roofline(target.reference):.1%} of it.")
    return " ".join(parts)


def bench_refused(result) -> None:
    render.error(f"{result.exercise} does not pass its core checks yet (score "
                 f"{result.score:.0%}): drillpe bench times correct answers only. "
                 f"See `drillpe check {result.exercise}`.")
    for check in result.checks:
        if check.level == "core" and check.status != "pass":
            line = Text(f"  ✗ {check.title}", style="red")
            if check.diagnosis:
                line.append("  [" + ", ".join(check.diagnosis) + "]", style="magenta")
            render.err.print(line, soft_wrap=True)


# --------------------------------------------------------------------------- doctor


def doctor(rows: list[tuple[str, str, str]]) -> None:
    """rows: (what, status 'ok'/'warn'/'fail', detail)."""
    styles = {"ok": ("✓", "green"), "warn": ("!", "yellow"), "fail": ("✗", "bold red")}
    table = Table(box=box.SIMPLE_HEAD, title="drillpe doctor", title_justify="left",
                  pad_edge=False)
    table.add_column("")
    table.add_column("what", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for what, status, detail in rows:
        mark, style = styles[status]
        table.add_row(Text(mark, style=style), what, detail)
    render.out.print(table)
    problems = sum(status == "fail" for _, status, _ in rows)
    if problems:
        render.out.print(Text(f"{problems} problem{'s' if problems > 1 else ''} found.",
                              style="bold red"))
    else:
        render.out.print(Text("Everything drillpe needs is in place.", style="green"))


# --------------------------------------------------------------------------- Jupyter


def capture(draw: Callable[..., Any], *args: Any, html: bool, width: int = 110,
            **kwargs: Any) -> str:
    """What ``draw`` prints to drillpe's console, as text or as HTML (for a
    notebook), without touching the real standard output."""
    recorder = Console(file=io.StringIO(), record=True, width=width, highlight=False,
                       force_terminal=html, color_system="truecolor" if html else None)
    saved = render.out
    render.out = recorder
    try:
        draw(*args, **kwargs)
    finally:
        render.out = saved
    if html:
        return recorder.export_html(inline_styles=True, code_format=(
            '<pre style="font-family:Menlo,\'DejaVu Sans Mono\',consolas,monospace;'
            'font-size:12px;line-height:1.3">{code}</pre>'))
    return recorder.export_text()
