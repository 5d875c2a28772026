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
from drillpe.results.report import times as _times

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


def _ratio_text(ratio: float | None) -> Text:
    if ratio is None:
        return Text("")
    if ratio >= 1.15:
        return Text(f"{_times(ratio)}× slower", style="bold red" if ratio >= 2 else "yellow")
    if ratio <= 1 / 1.15:
        return Text(f"{_times(1 / ratio)}× faster", style="green")
    return Text("same", style="green")


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
        asked = report.options.dtype
        head = Text.assemble((f"{report.exercise} · {target.call}", "bold"),
                             f" · {target.dtype or asked} {_size(target.size)} · {where}"
                             f" · torch {machine.get('torch')}")
        if report.options.quick:
            head.append(" · --quick: small inputs, not a measurement", style="yellow")
        if target.dtype and target.dtype != asked:
            head.append(f" · --dtype {asked} does not apply: the call takes no tensors and "
                        f"returns {target.dtype}, as the exercise asks", style="yellow")
        out.print(head)  # wrapped at the terminal's width, between words
        if target.error:
            out.print(Text("Your code failed at the bench sizes:", style="bold red"))
            out.print(Text("\n".join("  " + line for line in target.error.splitlines()),
                           style="yellow"))
            continue
        if target.refused:
            out.print(Text("Refused: drillpe does not report a time for your code, because",
                           style="bold red"))
            for reason in target.refused:
                code, _, message = reason.partition(": ")
                line = Text("• ", style="red")
                line.append(code, style="bold red")
                line.append(f": {message}")
                out.print(line, soft_wrap=False)
            out.print()
            continue
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        for column in ("", "median", "q1–q3", "calls", "vs prod.", "GB/s", "of copy"):
            table.add_column(column, justify="left" if not column else "right", no_wrap=True)
        _row(table, Text("yours", style="bold cyan"), target.learner, target,
             _ratio_text(target.ratio))
        _row(table, Text("production"), target.reference, target, "1.00×")
        if target.compiled:
            ratio = target.compiled["median_s"] / target.reference["median_s"]
            _row(table, Text("compiled"), target.compiled, target, f"{_times(ratio)}×")
        if target.learner_copy:
            _row(table, Text("copy (yours)", style="dim"), target.learner_copy, target)
        _row(table, Text("copy (prod.)", style="dim"), target.copy, target)
        out.print(table)
        out.print(_verdict(target))
        # under a faster verdict too: what the production code keeps that yours may not
        # (a reviewer's alibi, its scores in bfloat16, read 1.39x faster than production's
        # float32 scores, with nothing to say why)
        ratio = target.ratio or 1.0
        if target.production_note and not quiet and (not 1 / SLOWER < ratio < SLOWER
                                                     or _more_passes(target)):
            note = Text("How the production code does it: ", style="bold")
            note.append(target.production_note[:1].upper() + target.production_note[1:])
            out.print(note)
        busy = _busy(target)
        if busy:
            out.print(Text(busy, style="yellow"))
        if target.compile_error:
            out.print(Text(f"torch.compile is not available here: {target.compile_error}",
                           style="yellow"))
        if not quiet:
            gap = _gap(target)
            if gap or target.causes:
                out.print(Text("Where the time goes", style="bold"))
            for line_text in gap:
                out.print(Text("• " + line_text), soft_wrap=False)
            for cause in target.causes:
                line = Text("• ", style="magenta")
                line.append(cause.code, style="bold magenta")
                line.append(f": {cause.message}")
                out.print(line, soft_wrap=False)
            out.print(Text(_footnote(target, machine.get("allocator")), style="dim"),
                      soft_wrap=False)
        out.print()


SLOWER = 1.15  # a ratio from which the verdict calls yours slower
# Under a "same" verdict the production note is shown where yours makes this many times
# the production code's passes over memory: a newcomer's rope_neox read "same" with 4.2
# passes against 2.5, and the note it was not shown made it 1.22x faster
MORE_PASSES = 1.5


def _more_passes(target) -> bool:
    mine, best = target.passes(target.trace), target.passes(target.reference_trace)
    return mine is not None and best is not None and mine >= MORE_PASSES * best


def _verdict(target) -> Text:
    text = Text()
    mine, best = target.roofline(target.learner), target.roofline(target.reference)
    ratio = target.ratio
    if mine is not None and best is not None:
        text.append(f"Yours reaches {mine:.1%} of the copy roofline", style="bold")
        text.append(f"; a production implementation reaches {best:.1%}")
        if target.compiled:
            text.append(f" ({target.roofline(target.compiled):.1%} through torch.compile)")
        text.append(".")
    elif ratio >= SLOWER:
        text.append(f"Yours takes {_times(ratio)}× the production implementation's time.",
                    style="bold")
    elif ratio <= 1 / SLOWER:
        text.append(f"Yours is {_times(1 / ratio)}× faster than the production implementation.",
                    style="bold")
    else:
        text.append("Yours is as fast as the production implementation (within 15%).",
                    style="bold")
    if mine is None:
        text.append(" No plain copy bounds this call (its time is not one pass over bytes "
                    "it must read and write), so times are compared.")
    return text


BUSY_SPREAD = 1.5  # a copy whose q3 is this many times its q1 was not measured alone


def _wide(side) -> bool:
    return bool(side) and side["q1_s"] > 0 and side["q3_s"] / side["q1_s"] > BUSY_SPREAD


def _busy(target) -> str | None:
    """A copy's time hardly varies on a quiet machine: when its middle half
    is wide, other processes took the cores, and the shares say so. Where no copy
    bounds the call, the two sides' own spreads say it (a newcomer's "1.44× slower",
    its middle half 5.2–12.1 ms, came with no word of it, and three reruns said "same")."""
    for copy in (target.learner_copy, target.copy):
        if _wide(copy):
            return (f"The machine was busy: a plain copy's middle half spans {_ms(copy['q1_s'])}"
                    f"–{_ms(copy['q3_s'])}. Shares this noisy are not a measurement; run "
                    "again when the machine is quieter (or with a larger --budget).")
    if not target.copy:
        for name, side in (("your code's", target.learner),
                           ("the production code's", target.reference)):
            if _wide(side):
                return (f"The times were noisy: {name} middle half spans {_ms(side['q1_s'])}"
                        f"–{_ms(side['q3_s'])}. A ratio this noisy is not a measurement; run "
                        "again when the machine is quieter (or with a larger --budget).")
    return None


# A side whose share is under this fraction of what its passes over memory allow
# spends the rest on other work, and the gap says so.
PASSES_EXPLAIN = 0.8
REST = ("what a copy does not do (arithmetic, each call's own work such as allocating the "
        "outputs and dispatching kernels, memory touched out of order)")


def _bound(passes: float | None, share: float | None) -> float | None:
    """The share ``passes`` passes over memory allow, where the side reaches well under
    it (else None: the passes explain its gap)."""
    if passes is None or share is None or passes <= 0:
        return None
    bound = min(1.0, 1 / passes)
    return bound if share < PASSES_EXPLAIN * bound else None


def _gap(target) -> list[str]:
    """Where the distance to the roofline goes, for each side, from the traces: the
    passes over memory, and what they leave unexplained."""
    lines = []
    mine, best = target.passes(target.trace), target.passes(target.reference_trace)
    if mine is not None and best is not None and target.copy:
        line = (f"yours writes {mine:.1f}× the bytes of its output per call, the production "
                f"code {best:.1f}×: every intermediate tensor (a product, a cat, a stack, a "
                "cast) is one more pass over memory")
        share = target.roofline(target.learner)
        bound = _bound(mine, share)
        if bound is None:
            line += ", and at these sizes memory, not arithmetic, sets the time."
        else:
            line += (f". Writing {mine:.1f}× allows about {bound:.0%} of the roofline at most, "
                     f"and yours reaches {share:.1%}: the rest goes to {REST}.")
        lines.append(line)
    share = target.roofline(target.reference)
    if share is not None and share < 0.9:
        line = f"the production code's own {1 - share:.0%} gap to the roofline: "
        if best is not None and best > 1.05:
            line += (f"it makes {best:.1f} passes where a fused kernel makes one (eager torch "
                     "runs one kernel per operation; torch.compile, or a hand-written kernel, "
                     "fuses them)")
            bound = _bound(best, share)
            if bound is not None:
                line += f"; {best:.1f} passes allow about {bound:.0%}, and the rest goes to {REST}"
        else:
            line += ("one pass, as the copy makes; the rest is work per call (allocating the "
                     "output, dispatch) and arithmetic the copy does not do")
        lines.append(line + ".")
    return lines


def _footnote(target, allocator: str | None = None) -> str:
    inputs = (" on inputs of their own with values no earlier call saw"
              if (target.trace or {}).get("has_data_inputs", True) else "")
    parts = [f"Medians over timed phases, each a run of calls{inputs}; q1–q3: the middle "
             "half of the phases. Each phase is timed from outside the process that ran it."]
    if allocator == "freed memory kept":
        parts.append("Both processes are set to keep the memory a call frees for the next "
                     "call, as a caching allocator does, so that a call does not pay for "
                     "faulting in pages the C library gave back to the system.")
    if target.checked_outputs:
        parts.append(f"{target.checked_outputs} timed outputs, drawn at random where your "
                     "code could not see which, matched the reference.")
    if target.copy:
        parts.append(
            f"The call reads and writes {target.bytes_moved / 1e6:.3g} MB; 'copy' is a plain "
            "copy (clone) of the same bytes on fresh inputs, the practical roofline, measured "
            "in each process taking turns with the code it bounds ('copy (yours)' beside "
            "yours, 'copy (prod.)' beside the production code): the production code's share "
            "is against its own, yours against the faster of the two, and 'vs prod.' "
            "compares the shares (the two run in different processes).")
    dtype = f"in {target.dtype}" if target.dtype else "in the inputs' dtype"
    parts.append(f"'production': {target.production}, {dtype} "
                 "(the float64 model answer is what grading compares with)"
                 + ("; 'compiled': the same through torch.compile." if target.compiled else "."))
    return " ".join(parts)


def bench_refused(result, file: str | None = None) -> None:
    """``file``: the --file given, which the check it suggests must grade too (without
    it a newcomer's `drillpe check rope` graded the workspace file, which passed)."""
    # the score counts the exercise's checks: a file that passes them all can still
    # fail a core check of the file itself (the rules check), which the lines below name
    score = f" (score {result.score:.0%})" if result.score < 1 else ""
    command = f"drillpe check {result.exercise}" + (f" --file {file}" if file else "")
    render.error(f"{result.exercise} does not pass its core checks yet{score}: drillpe "
                 f"bench times correct answers only. See `{command}`.")
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
