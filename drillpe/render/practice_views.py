"""Output of the practice loop: stats, next, watch, mock interviews.

Views for rich ``Live`` are functions returning renderables, so the same view
is printed once in a pipe and refreshed in place in a terminal.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from drillpe import render
from drillpe.data import catalog, places

# The scorecard's parts come from drillpe.render, so watch and check look alike.
from drillpe.render import scorecard_renderable
from drillpe.results.report import ExerciseResult

out = render.out
STATUS_STYLE = {"failing": "bold red", "revealed": "yellow", "passed": "green", "new": "dim"}
VERDICT_STYLE = {"pass": "bold green", "fail": "bold red", "revealed": "yellow",
                 "not graded": "dim"}


def duration(seconds: float | None) -> str:
    """Compact: 42s, 3m05s, 1h05m, 2d03h."""
    if seconds is None:
        return "–"
    seconds = int(round(abs(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def clock(seconds: float) -> str:
    """A countdown: 12:05, or -03:10 when over time."""
    sign = "-" if seconds < 0 else ""
    seconds = abs(int(seconds))
    return f"{sign}{seconds // 60:02d}:{seconds % 60:02d}"


def when(iso: str | None) -> str:
    """Today's time (19:43), else the date (11-29), else the year too."""
    if not iso:
        return "–"
    moment = datetime.fromisoformat(iso).astimezone()
    today = datetime.now().astimezone()
    if moment.date() == today.date():
        return moment.strftime("%H:%M")
    return moment.strftime("%m-%d" if moment.year == today.year else "%Y-%m-%d")


def _score(score: float | None, passed: bool = False) -> Text:
    if score is None:
        return Text("–", style="dim")
    return Text(f"{score:.0%}" + (" ✓" if passed else ""), style="green" if passed else "yellow")


# ---------------------------------------------------------------------------
# scorecard as a renderable (watch refreshes it in place)


def scorecard(result: ExerciseResult, *, quiet: bool = False,
              verdict_first: bool = False) -> RenderableType:
    return scorecard_renderable(result, quiet=quiet, verdict_first=verdict_first)


# ---------------------------------------------------------------------------
# stats


def stats(summaries: list[dict[str, Any]], days: list[dict[str, Any]], streak: dict[str, int],
          sessions: list[dict[str, Any]]) -> None:
    table = Table(box=box.SIMPLE_HEAD, title="Progress, weakest first", title_justify="left",
                  pad_edge=False)
    table.add_column("exercise", no_wrap=True, style="bold cyan")
    table.add_column("status", no_wrap=True)
    table.add_column("pass/try", justify="right", no_wrap=True)
    table.add_column("1st pass", no_wrap=True)
    table.add_column("best", justify="right", no_wrap=True)
    table.add_column("hints", justify="right", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("last", no_wrap=True)
    for s in summaries:
        first = ("–" if s["attempts_to_first_pass"] is None else
                 f"{duration(s['time_to_first_pass_s'])} ({s['attempts_to_first_pass']})")
        table.add_row(s["exercise"], Text(s["status"], style=STATUS_STYLE.get(s["status"], "")),
                      f"{s['passes']}/{s['attempts']}", first,
                      _score(s["best_score"], s["passes"] > 0),
                      str(s["hints_seen"]) if s["hints_seen"] else "–",
                      duration(s["time_spent_s"]) if s["time_spent_s"] else "–",
                      when(s["last_practised"]))
    table.caption = ("1st pass: time from the first work recorded to the first pass (tries); "
                     "time: checks, hints and sessions less than 15 min apart")
    table.caption_justify = "left"
    out.print(table)
    out.print(calendar(days, streak))
    if sessions:
        out.print(mock_history(sessions))
    if not any(s["attempts"] for s in summaries):
        out.print(Text("Nothing recorded yet: drillpe start ID, then drillpe check ID "
                       "(or drillpe watch, or drillpe mock).", style="dim"))
    else:
        out.print(Text("What to practise now: drillpe next", style="dim"))


def calendar(days: list[dict[str, Any]], streak: dict[str, int]) -> RenderableType:
    """Weeks as rows, oldest first: ■ passed something, ▪ attempted, · hint or
    session only, space nothing."""
    text = Text()
    text.append(f"Last {len(days)} days", style="bold")
    text.append(f"   streak {streak['current']} day{'s' if streak['current'] != 1 else ''}"
                f" · longest {streak['longest']} · active days {streak['active_days']}\n")
    for start in range(0, len(days), 7):
        week = days[start:start + 7]
        text.append(f"  {week[0]['date'][5:]}  ", style="dim")
        for day in week:
            if day["passes"]:
                text.append("■ ", style="green")
            elif day["attempts"]:
                text.append("▪ ", style="yellow")
            elif day["active"]:
                text.append("· ", style="cyan")
            else:
                text.append("  ")
        text.append("\n")
    text.append("  ■ passed  ▪ attempted  · hints or sessions only", style="dim")
    return text


def mock_history(sessions: list[dict[str, Any]]) -> RenderableType:
    table = Table(box=box.SIMPLE_HEAD, title="Mock interviews (latest first)",
                  title_justify="left", pad_edge=False)
    # Everything but the verdicts fits on one line at 80 columns; the verdicts wrap.
    table.add_column("session", no_wrap=True)
    table.add_column("exercises", ratio=1)
    for column in ("score", "used", "over"):
        table.add_column(column, no_wrap=True, justify="right")
    for s in sessions[:5]:
        verdicts = ", ".join(f"{e['exercise']} {e['verdict']}" for e in s["exercises"])
        table.add_row(s["session"], verdicts, _score(s["score"], s["passed"]),
                      duration(s["time_used_s"]),
                      duration(s["over_time_s"]) if s["over_time_s"] else "–")
    return table


# ---------------------------------------------------------------------------
# next


def next_list(plans: list, show: int) -> None:
    if not plans:
        return
    top = plans[0]
    exercise = catalog.get(top.exercise)
    out.print(Text.assemble(("Practise now: ", "bold"), (top.exercise, "bold cyan"),
                            (f" — {exercise.title}", "")), soft_wrap=True)
    out.print(Text(f"  why: {top.reason}", style=""), soft_wrap=True)
    out.print(Text(f"  drillpe start {top.exercise}  (or drillpe reset {top.exercise} for a fresh "
                   f"stub), then drillpe watch {top.exercise}", style="dim"), soft_wrap=True)
    rest = plans[1:show]
    if rest:
        table = Table(box=box.SIMPLE_HEAD, title="Then", title_justify="left")
        table.add_column("id", no_wrap=True)
        table.add_column("due", no_wrap=True)
        table.add_column("why")
        for p in rest:
            due = "now" if p.group in (0, 1, 2) else datetime.fromtimestamp(
                p.due_at).strftime("%Y-%m-%d %H:%M")
            table.add_row(Text(p.exercise, style="bold cyan"), due, p.reason)
        out.print(table)


# ---------------------------------------------------------------------------
# watch


WATCH_KEYS = "h next hint · 1-9 show exercise · q quit"


def watch_started(paths: list[str], live: bool) -> None:
    out.print(Text(f"Watching {', '.join(paths)}: every save is graded. "
                   + ("Keys: " + WATCH_KEYS if live else "Ctrl-C (or a line 'q' on stdin) "
                      "stops."), style="dim"), soft_wrap=True)


class _Lines:
    """Lines already rendered (a part cut to the space left on screen)."""

    def __init__(self, lines: list):
        self.lines = lines

    def __rich_console__(self, console, options):
        for line in self.lines:
            yield from line
            yield Segment.line()


def _one_line(text: Text, width: int) -> Text:
    text = text.copy()
    text.no_wrap = True
    text.truncate(max(width, 1), overflow="ellipsis")
    return text


def _compact_rows(result: ExerciseResult, width: int) -> tuple[list[Text], Text | None]:
    """Failing checks first, two lines each (title and codes; the message), then
    one line for everything that passed or did not run."""
    rows: list[Text] = []
    failing = sorted((c for c in result.checks if c.status in ("fail", "error")),
                     key=lambda c: c.level != "core")
    for check in failing:
        head = Text("✗ " if check.status == "fail" else "! ", style="bold red")
        head.append(check.title, style="bold")
        if check.level == "extra":
            head.append(" (extra)", style="dim")
        if check.diagnosis:
            head.append("  [" + ", ".join(check.diagnosis) + "]", style="magenta")
        rows.append(_one_line(head, width))
        if check.message:
            rows.append(_one_line(Text("    " + " ".join(check.message.split()), style="dim"),
                                  width))
    passing = [c for c in result.checks if c.status == "pass"]
    skipped = [c for c in result.checks if c.status == "skip"]
    rest = Text()
    if passing:
        label = (f"✓ all {len(passing)} checks pass" if not failing and not skipped
                 else f"✓ {len(passing)} pass")
        rest.append(label, style="green")
    if skipped:
        rest.append(("  · " if passing else "") + f"– {len(skipped)} not run", style="dim")
    return rows, (_one_line(rest, width) if rest.plain else None)


def _first_why(result: ExerciseResult) -> Text | None:
    lines = render.diagnosis_lines(result)
    return lines[0] if lines else None


def watch_view(session, status: str, hint_panel: RenderableType | None,
               size: tuple[int, int] | None = None) -> RenderableType:
    """The live watch screen, fitted to the terminal (``size`` = (width, height),
    default the console's): always the watched exercise and file, the grade's
    time, the verdict, the failing checks and the first diagnosis's Why/Fix;
    then, as room allows, the hint asked for, the other diagnoses and the
    learner's traceback. ``q`` prints the whole scorecard."""
    width, height = size or (out.size.width, out.size.height)
    item = session.focused
    head = Text()
    for number, it in enumerate(session.items, 1):
        style = "reverse bold" if it is item else ""
        if getattr(it, "grading", False):
            mark = " …"
        else:
            mark = "" if it.result is None else (" ✓" if it.result.passed else " ✗")
        head.append(f" {number} {it.exercise}{mark} ", style=style)
        head.append(" ")
    head.append(f"  {WATCH_KEYS}", style="dim")
    must: list = [_one_line(head, width), _one_line(Text(status, style="dim"), width)]
    optional: list = []
    if item.result is None:
        must.append(Text(f"Grading {item.exercise}… (the first grade waits for torch to load)",
                         style="dim"))
        return _fit(must, [hint_panel] if hint_panel is not None else [], width, height)
    result = item.result
    verdict = render.verdict_line(result)
    if getattr(item, "grading", False):
        verdict = Text("grading your save… the last grade was: ", style="bold yellow") + verdict
        verdict.stylize("dim", 39)
    must.append(verdict)
    rows, rest = _compact_rows(result, width)
    why = _first_why(result)
    # Room for the rows: whatever the other musts leave; a cut says how many more.
    fixed = sum(len(render_lines_of(part, width)) for part in [*must, why, rest]
                if part is not None)
    room = max(2, height - 1 - fixed)
    if hint_panel is not None:
        # A hint asked for with h is shown: the failing rows give up room for it,
        # down to the first two checks (a "… more failing" line says so).
        wanted = len(render_lines_of(hint_panel, width))
        room = max(min(room, 5), room - wanted)
    if len(rows) > room:
        hidden = sum(1 for r in rows[room - 1:] if not r.plain.startswith("    "))
        rows = rows[:room - 1] + [Text(f"  … {hidden} more failing (q prints the whole "
                                       "scorecard)", style="dim")]
    must.extend(rows)
    if rest is not None:
        must.append(rest)
    if why is not None:
        must.append(why)
    if hint_panel is not None:
        optional.append(hint_panel)
    others = render.diagnosis_lines(result)[1:]
    optional.extend(others)
    tb = next((c for c in result.checks if c.status in ("fail", "error") and c.traceback), None)
    if tb is not None:
        optional.append(Text(f"Your code ({tb.title})", style="bold"))
        optional.append(Text("\n".join("  " + line for line in tb.traceback), style="yellow"))
    if not result.passed:
        optional.append(Text(f"Stuck? h shows a hint for {render.first_failing_title(result)}",
                             style="dim"))
    return _fit(must, optional, width, height)


def render_lines_of(renderable, width: int) -> list:
    return out.render_lines(renderable, out.options.update(width=width, height=None), pad=False)


def _fit(must: list, optional: list, width: int, height: int) -> RenderableType:
    """Everything in ``must``, then the optional parts in order while they fit; the
    first that does not fit is cut, the rest left out."""
    lines: list = []
    for part in must:
        lines.extend(render_lines_of(part, width))
    left = height - 1 - len(lines)
    for part in optional:
        if left <= 0:
            break
        rendered = render_lines_of(part, width)
        if len(rendered) > left:
            rendered = rendered[:max(left - 1, 0)] + [render_lines_of(
                Text("  … (cut to fit the screen)", style="dim"), width)[0]]
        lines.extend(rendered)
        left -= len(rendered)
    return _Lines(lines)


def watch_status(item, started: bool = True, width: int | None = None) -> str:
    """Which file is watched, and when its grade (not this redraw) was made; a
    path too long for ``width`` loses its start, never the times."""
    if getattr(item, "grading", False):
        when_ = "saved, grading…" if item.result is not None else "grading…"
    elif item.result is None:
        when_ = ""
    else:
        at = getattr(item, "graded_at", None)
        stamp = datetime.fromtimestamp(at).strftime("%H:%M:%S") if at else "–"
        latency = (f" ({item.latency_s:.2f} s after the save)" if item.latency_s is not None
                   and item.grades > 1 else " (first grade)")
        when_ = f"graded {stamp}{latency}"
    path = getattr(item, "path", None)
    if path is None:
        return f"{item.exercise} · {when_}" if when_ else item.exercise
    shown = places.display(path)
    room = (width or out.size.width) - len(item.exercise) - len(when_) - 5
    if len(shown) > room:
        shown = "…" + shown[-max(room - 1, 8):]
    return f"{item.exercise}: {shown}" + (f" · {when_}" if when_ else "")


def watch_graded(item, quiet: bool) -> None:
    out.print(scorecard(item.result, quiet=quiet))
    out.print(Text(watch_status(item), style="dim"))
    out.print()


def hint_panel(exercise: catalog.Exercise, level: int,
               ladder: catalog.HintLadder | None = None) -> RenderableType:
    """A hint inside watch or a mock, where ``h`` (not a command) asks for the next."""
    total = len(ladder.hints if ladder is not None else exercise.hints)
    more = (f"h again: level {level + 1} of {total}" if level < total
            else "That was the last hint.")
    return render.hint_panel(exercise, level, ladder, more=more)


def watch_ended(items) -> None:
    graded = [i for i in items if i.result is not None]
    if not graded:
        out.print(Text("Stopped watching.", style="dim"))
        return
    summary = ", ".join(f"{i.exercise} {'PASS' if i.result.passed else 'FAIL'} "
                        f"{i.result.score:.0%}" for i in graded)
    out.print(Text(f"Stopped watching. Last grades: {summary}.", style="dim"), soft_wrap=True)


# ---------------------------------------------------------------------------
# mock interview


def _file_state(fs: dict[str, Any], run: dict[str, Any] | None) -> Text:
    if not fs["exists"]:
        return Text("missing", style="bold red")
    text = Text("edited" if fs["edited"] else "untouched", style="" if fs["edited"] else "dim")
    if fs["parses"] is False:
        text.append(f" · syntax error {fs['syntax_error']}", style="red")
        return text
    if run is not None:
        text.append(" · imports ✓" if run["imports"] else " · imports ✗",
                    style="green" if run["imports"] else "red")
        if run["imports"]:
            text.append(" · runs ✓" if run["runs"] else " · runs ✗",
                        style="green" if run["runs"] else "red")
        if run.get("problem") and fs["edited"]:
            text.append(f" ({run['problem'][:60]})", style="dim")
    return text


def mock_started(session, live: bool) -> None:
    lines = Text()
    lines.append(f"Mock interview {session.id}", style="bold")
    seed = f" · seed {session.seed}" if session.seed is not None else ""
    lines.append(f" · {session.minutes:g} min{seed}\n")
    lines.append("Session folder: ")
    lines.append(f"{session.folder}\n", style="bold")
    for number, eid in enumerate(session.exercises, 1):
        ex = catalog.get(eid)
        lines.append(f"  {number}. {eid}", style="bold cyan")
        lines.append(f" — {ex.title} ({ex.difficulty}, ~{ex.minutes} min): ")
        lines.append(f"{session.path(eid)}\n")
    if not live:
        lines.append("Edit the files, then: drillpe mock status · drillpe mock submit",
                     style="dim")
    out.print(lines, soft_wrap=True)


def mock_status(status: dict[str, Any]) -> None:
    left = status["time_left_s"]
    text = Text()
    text.append(f"Mock interview {status['session']} ({status['state']}): ", style="bold")
    if status["state"] == "submitted":
        text.append("submitted")
    elif left >= 0:
        text.append(f"{clock(left)} left", style="bold green" if left > 120 else "bold yellow")
    else:
        text.append(f"time is up, {duration(-left)} over: drillpe mock submit",
                    style="bold red")
    out.print(text, soft_wrap=True)
    out.print(Text(f"Folder: {status['folder']}", style="dim"), soft_wrap=True)
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("#", no_wrap=True)
    table.add_column("exercise", no_wrap=True)
    table.add_column("file", no_wrap=True)
    table.add_column("state")
    for number, fs in enumerate(status["files"], 1):
        table.add_row(str(number), Text(fs["exercise"], style="bold cyan"),
                      f"{fs['exercise']}.py", _file_state(fs, None))
    out.print(table)


def mock_live_view(session, now: float, files: list[dict[str, Any]], runs: dict[str, Any],
                   grades: dict[str, ExerciseResult], focus: int, message: str | None,
                   hint: RenderableType | None) -> RenderableType:
    left = session.time_left(now)
    style = "bold green" if left > 300 else "bold yellow" if left > 60 else "bold red"
    head = Text()
    head.append(f" {clock(left)} ", style=f"reverse {style}")
    head.append(f"  mock interview {session.id} · {session.minutes:g} min · ")
    head.append(session.folder, style="bold")
    table = Table(box=box.SIMPLE_HEAD, expand=False)
    for column in ("#", "exercise", "file", "state", "graded"):
        table.add_column(column, no_wrap=column != "state")
    for number, fs in enumerate(files, 1):
        eid = fs["exercise"]
        grade = grades.get(eid)
        graded = Text("–", style="dim") if grade is None else Text(
            f"{'PASS' if grade.passed else 'FAIL'} {grade.score:.0%}",
            style="bold green" if grade.passed else "bold red")
        name = Text(f"{eid}", style="bold cyan" + (" reverse" if number - 1 == focus else ""))
        table.add_row(str(number), name, f"{eid}.py", _file_state(fs, runs.get(eid)), graded)
    keys = Text("g grade now · h hint for the selected exercise (counted) · 1-9 select · "
                "s submit · q leave (the clock keeps running; drillpe mock resume)", style="dim")
    parts: list = [head, table, keys]
    if hint is not None:
        parts.append(hint)
    if message:
        parts.append(Text(message, style="yellow"))
    return Group(*parts)


def followup_intro(exercise_id: str, count: int) -> None:
    ex = catalog.get(exercise_id)
    out.print()
    out.print(Text(f"Follow-up questions: {exercise_id} — {ex.title}", style="bold"))
    out.print(Text(f"{count} question{'s' if count != 1 else ''}. Type your answer; an empty "
                   "line ends it. Just Enter (or 'skip') skips.", style="dim"), soft_wrap=True)


def followup_question(number: int, total: int, question: str) -> None:
    out.print()
    out.print(Text.assemble((f"Q{number}/{total} ", "bold magenta"), (question, "bold")),
              soft_wrap=True)


def followup_answer(model: str) -> None:
    out.print(Panel(Text(model), title="Model answer", title_align="left", box=box.ROUNDED,
                    border_style="cyan"))


def ask(prompt: str) -> str:
    return out.input(Text(prompt, style="bold"))


def mock_report(report: dict[str, Any]) -> None:
    table = Table(box=box.SIMPLE_HEAD, title=f"Mock interview {report['session']}",
                  title_justify="left", pad_edge=False)
    for column in ("exercise", "verdict", "score", "hints", "revealed", "answers"):
        table.add_column(column, no_wrap=True)
    table.add_column("diagnoses", overflow="fold")
    for e in report["exercises"]:
        rating = "–" if e["followup_rating"] is None else f"{e['followup_rating']:.0%}"
        table.add_row(Text(e["exercise"], style="bold cyan"),
                      Text(e["verdict"], style=VERDICT_STYLE.get(e["verdict"], "")),
                      f"{e['score']:.0%}", str(e["hints"]), "yes" if e["revealed"] else "no",
                      rating, ", ".join(e["diagnoses"][:3]))
    out.print(table)
    summary = Text()
    summary.append(" PASS " if report["passed"] else " FAIL ",
                   style="bold black on green" if report["passed"] else "bold white on red")
    summary.append(f" score {report['score']:.0%} · time used {duration(report['time_used_s'])} "
                   f"of {report['minutes']:g} min")
    if report["over_time_s"]:
        summary.append(f" · over time by {duration(report['over_time_s'])}", style="bold red")
    out.print(summary)
    pending = sum(1 for e in report["exercises"] for f in e["followups"] if f["answer"] is None
                  and not f["skipped"])
    if pending:
        out.print(Text(f"{pending} follow-up question(s) not answered yet: drillpe mock "
                       "questions (in a terminal), or see them in drillpe mock submit --json.",
                       style="dim"), soft_wrap=True)
    out.print(Text("Recorded in your history: drillpe stats · drillpe next", style="dim"))
