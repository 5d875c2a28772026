"""Output of the attempt timeline: ``history ID``, ``diff ID [A] [B]``,
``replay ID`` (one screen per attempt, fitted to the terminal like watch's),
and the timeline line of each exercise in a mock's report."""

from __future__ import annotations

import difflib
from datetime import datetime

from rich import box
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from drillpe import render
from drillpe.data import catalog
from drillpe.render import practice_views as pv
from drillpe.render.cjk_wrap import Wrapped
from drillpe.results.report import ExerciseResult
from drillpe.results.timeline import Entry

out = render.out


def stamp(at: float) -> str:
    return datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S")


def change_text(entry: Entry) -> Text:
    """How the diagnoses changed from the attempt before: "fixed rope.half_split,
    now attention.mask_ignored"; "still ..." when nothing changed."""
    ui = catalog.ui
    text = Text()
    parts: list[tuple[str, str]] = []
    if entry.number == 1:
        if entry.diagnoses:
            parts.append((", ".join(entry.diagnoses), "magenta"))
    else:
        if entry.fixed:
            parts.append((ui("tl_fixed", codes=", ".join(entry.fixed)), "green"))
        if entry.new:
            parts.append((ui("tl_now", codes=", ".join(entry.new)), "magenta"))
        if not entry.fixed and not entry.new and entry.diagnoses:
            parts.append((ui("tl_still", codes=", ".join(entry.diagnoses)), "dim"))
    if entry.untouched:
        parts.append((ui("tl_untouched"), "dim"))
    elif entry.same_as is not None:
        parts.append((ui("tl_same_code", number=entry.same_as), "dim"))
    if entry.source_state != "kept":
        parts.append((ui(f"tl_source_{entry.source_state}"), "dim"))
    for number, (words, style) in enumerate(parts):
        if number:
            text.append(ui("tl_sep"))
        text.append(words, style=style)
    return text


def origin_word(entry: Entry) -> str:
    word = catalog.ui(f"tl_origin_{entry.origin}") if entry.origin in ("check", "watch", "mock") \
        else entry.origin
    return word if entry.counted else catalog.ui("tl_in_round", origin=word)


def history(exercise_id: str, entries: list[Entry]) -> None:
    ui = catalog.ui
    if not entries:
        out.print(Wrapped(ui("tl_nothing", id=exercise_id)))
        return
    title = (ui("tl_title_one", id=exercise_id) if len(entries) == 1
             else ui("tl_title", id=exercise_id, n=len(entries)))
    table = Table(box=box.SIMPLE_HEAD, title=title,
                  title_justify="left", pad_edge=False)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column(ui("tl_col_when"), no_wrap=True)
    table.add_column(ui("tl_col_how"), no_wrap=True)
    table.add_column(ui("col_verdict"), no_wrap=True)
    table.add_column(ui("col_score"), justify="right", no_wrap=True)
    table.add_column(ui("tl_col_change"), overflow="fold")
    for entry in entries:
        table.add_row(str(entry.number), datetime.fromtimestamp(entry.at).strftime("%m-%d %H:%M:%S"),
                      origin_word(entry), _verdict(entry), f"{entry.score:.0%}",
                      change_text(entry))
    out.print(table)
    out.print(Wrapped(ui("tl_footer", id=exercise_id), style="dim"))


def _verdict(entry: Entry) -> Text:
    if entry.passed:
        return Text("✓ " + pv.verdict_word("pass"), style="green")
    return Text("✗ " + pv.verdict_word("fail"), style="red")


def label(entry: Entry | None, exercise_id: str) -> str:
    if entry is None:
        return catalog.ui("tl_answer_label", id=exercise_id)
    return catalog.ui("tl_attempt_label", n=entry.number, at=stamp(entry.at),
                      origin=origin_word(entry))


def diff(left_name: str, left: str, right_name: str, right: str, code_only: bool) -> None:
    """A unified diff of two sources; ``code_only`` (against the model answer)
    leaves comments, blank lines and docstrings out, as ``reveal --diff`` does."""
    if code_only:
        a = [line for _, line in render.code_lines(left)]
        b = [line for _, line in render.code_lines(right)]
    else:
        a, b = left.splitlines(), right.splitlines()
    lines = list(difflib.unified_diff(a, b, left_name, right_name, lineterm=""))
    if not lines:
        out.print(Wrapped(catalog.ui("tl_same", a=left_name, b=right_name)))
        return
    text = Text()
    if code_only:
        text.append(catalog.ui("tl_code_only") + "\n", style="dim")
    for line in lines:
        style = ("bold" if line.startswith(("---", "+++")) else "cyan" if line.startswith("@@")
                 else "red" if line.startswith("-") else "green" if line.startswith("+") else "")
        text.append(line + "\n", style=style)
    out.print(text, end="", soft_wrap=True)  # a wrapped line would lose its +/- marker


# replay --------------------------------------------------------------------------


def _head(entry: Entry, total: int, exercise_id: str) -> Text:
    head = Text()
    head.append(catalog.ui("tl_replay_head", id=exercise_id, n=entry.number, total=total),
                style="bold")
    head.append(f" · {stamp(entry.at)} · {origin_word(entry)}", style="dim")
    return head


def _summary(entry: Entry) -> Text:
    """What an attempt without a kept report shows: its verdict and score."""
    text = _verdict(entry)
    text.append(f"  {entry.score:.0%}")
    text.append("  " + catalog.ui("tl_no_report"), style="dim")
    return text


def replay_view(entry: Entry, total: int, result: ExerciseResult | None,
                size: tuple[int, int] | None = None) -> RenderableType:
    """One attempt, fitted to the terminal (``size`` = (width, height)): always
    the attempt's place and time, the keys, how the diagnoses changed, the
    verdict, the failing checks and the first Why/Fix; then, as room allows,
    the other diagnoses and the learner's traceback."""
    width, height = size or (out.size.width, out.size.height)
    exercise_id = entry.exercise
    must: list = [pv._one_line(_head(entry, total, exercise_id), width),
                  pv._one_line(Text(catalog.ui("tl_replay_keys"), style="dim"), width)]
    change = change_text(entry)
    if change.plain:
        must.extend(pv._lines(change, width, 2))
    if result is None:
        must.append(_summary(entry))
        return pv._fit(must, [], width, height)
    must.append(render.verdict(result))
    rows, rest = pv._compact_rows(result, width)
    why = pv._first_why(result)
    fixed = sum(len(pv.render_lines_of(part, width)) for part in [*must, why, rest]
                if part is not None)
    room = max(2, height - 1 - fixed)
    if len(rows) > room:
        hidden = sum(1 for r in rows[room - 1:] if not r.plain.startswith("    "))
        rows = rows[:room - 1] + [Text(catalog.ui("tl_more", n=hidden, id=exercise_id),
                                         style="dim")]
    must.extend(rows)
    if rest is not None:
        must.append(rest)
    if why is not None:
        must.append(why)
    optional: list = list(render.diagnosis_lines(result)[1:])
    tb = next((c for c in result.checks if c.status in ("fail", "error") and c.traceback), None)
    if tb is not None:
        optional += render.traceback_block(result, tb)
    return pv._fit(must, optional, width, height)


def replay_printed(entries: list[Entry], results: list[ExerciseResult | None]) -> None:
    """Without a terminal: every attempt one after another, each with its scorecard."""
    if not entries:
        return
    out.print(Wrapped(catalog.ui("tl_replay_no_tty", id=entries[0].exercise), style="dim"))
    for entry, result in zip(entries, results):
        out.print()
        out.print(_head(entry, len(entries), entry.exercise))
        change = change_text(entry)
        if change.plain:
            out.print(change)
        if result is None:
            out.print(_summary(entry))
        else:
            out.print(render.scorecard_renderable(result))  # with Why/Fix, as on screen
