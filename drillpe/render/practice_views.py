"""Output of the practice loop: stats, next, watch, mock interviews.

Views for rich ``Live`` are functions returning renderables, so the same view
is printed once in a pipe and refreshed in place in a terminal.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from drillpe import render
from drillpe.data import catalog, places

# The scorecard's parts come from drillpe.render, so watch and check look alike.
from drillpe.render import debug_views, scorecard_renderable
from drillpe.render.cjk_wrap import Broken, Wrapped
from drillpe.results.progress import BURST_GAP_S
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


def reveal_counts(exercise_id: str, since_pass_s: float | None, *, aside: bool = False) -> None:
    """Whether the reveal just recorded counts against the learner's round (``next``
    rates such a round Again): not when it looks back at a pass ``since_pass_s`` ago.
    ``aside``: on stderr (after --raw, whose stdout is the source alone)."""
    ui = catalog.ui
    if since_pass_s is None:
        text = ui("reveal_counts", id=exercise_id)
    else:
        when = ui("reveal_just_now") if since_pass_s < 60 else \
            ui("reveal_ago", ago=duration(since_pass_s))
        text = ui("reveal_looks_back", id=exercise_id, when=when)
    (render.err if aside else out).print(Wrapped(text, style="dim"))


def limit(minutes: float) -> str:
    """A session's limit: "45 min", or where it is not whole minutes (a script's
    --minutes 0.05), a duration like the time used beside it ("3s", not "0.05 min")."""
    ui = catalog.ui
    if float(minutes).is_integer():
        return ui("mock_limit_minutes", minutes=f"{minutes:g}")
    return duration(minutes * 60)


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


def status_word(status: str) -> str:
    """failing / revealed / passed / new / started in the chosen language."""
    return catalog.ui(f"status_{status}")


def stats(summaries: list[dict[str, Any]], days: list[dict[str, Any]], streak: dict[str, int],
          sessions: list[dict[str, Any]], today: str | None = None) -> None:
    ui = catalog.ui
    table = Table(box=box.SIMPLE_HEAD, title=ui("stats_title"), title_justify="left",
                  pad_edge=False, show_edge=False, padding=(0, 1, 0, 0))  # fits 80 columns
    table.add_column(ui("stats_col_exercise"), no_wrap=True, style="bold cyan")
    table.add_column(ui("stats_col_status"), no_wrap=True)
    table.add_column(ui("stats_col_tries"), justify="right", no_wrap=True)
    table.add_column(ui("stats_col_first"), no_wrap=True)
    table.add_column(ui("stats_col_best"), justify="right", no_wrap=True)
    table.add_column(ui("stats_col_hints"), justify="right", no_wrap=True)
    table.add_column(ui("stats_col_time"), justify="right", no_wrap=True)
    table.add_column(ui("stats_col_last"), no_wrap=True)
    for s in summaries:
        first = ("–" if s["attempts_to_first_pass"] is None else
                 f"{duration(s['time_to_first_pass_s'])} ({s['attempts_to_first_pass']})")
        # hint levels seen, and ◆ when the reference was revealed (it counts as failed in next)
        helped = Text(str(s["hints_seen"]) if s["hints_seen"] else "–")
        if s.get("revealed"):
            helped.append(" " + REVEALED_MARK, style="bold yellow")
        table.add_row(s["exercise"],
                      Text(status_word(s["status"]), style=STATUS_STYLE.get(s["status"], "")),
                      f"{s['passes']}/{s['attempts']}", first,
                      _score(s["best_score"], s["passes"] > 0),
                      helped,
                      duration(s["time_spent_s"]) if s["time_spent_s"] else "–",
                      when(s["last_practised"]))
    table.caption = ui("stats_caption", burst=int(BURST_GAP_S))
    table.caption_justify = "left"
    out.print(table)
    out.print(calendar(days, streak, today))
    if sessions:
        out.print(mock_history(sessions))
    if not any(s["attempts"] or s["last_practised"] for s in summaries):  # hints count
        out.print(Text(ui("stats_nothing"), style="dim"), soft_wrap=True)
    else:
        out.print(Text(ui("stats_next"), style="dim"))


REVEALED_MARK = "◆"
CELL_W = 3  # a calendar cell: " ■ ", or "[■]" for today


def _pad(label: str, width: int = CELL_W) -> str:
    return label + " " * max(0, width - cell_len(label))


def calendar(days: list[dict[str, Any]], streak: dict[str, int],
             today: str | None = None) -> RenderableType:
    """Weeks as rows from Monday to Sunday, oldest first, under weekday labels:
    ■ passed something, ▪ attempted, · hint or session only, a faint □ nothing;
    today (the last day, or ``today``) in brackets. Days outside the range are blank."""
    ui = catalog.ui
    text = Text()
    text.append(ui("calendar_title", days=len(days)), style="bold")
    text.append(ui("calendar_streak", current=streak["current"], longest=streak["longest"],
                   active=streak["active_days"]) + "\n")
    if not days:
        return text
    today = today or days[-1]["date"]
    first = date.fromisoformat(days[0]["date"])
    by_date = {d["date"]: d for d in days}
    monday = first - timedelta(days=first.weekday())
    last = date.fromisoformat(days[-1]["date"])
    text.append(" " * 9)
    for label in ui("calendar_weekdays").split():
        text.append(_pad(label), style="dim")
    text.append("\n")
    week = monday
    while week <= last:
        text.append(f"  {week.isoformat()[5:]}  ", style="dim")
        for offset in range(7):
            day = (week + timedelta(days=offset)).isoformat()
            cell = by_date.get(day)
            if cell is None:
                text.append(" " * CELL_W)
                continue
            if cell["passes"]:
                mark, style = "■", "green"
            elif cell["attempts"]:
                mark, style = "▪", "yellow"
            elif cell["active"]:
                mark, style = "·", "cyan"
            else:
                mark, style = "□", "dim"
            if day == today:
                text.append("[", style="bold")
                text.append(mark, style=style + " bold")
                text.append("]", style="bold")
            else:
                text.append(f" {mark} ", style=style)
        text.append("\n")
        week += timedelta(days=7)
    text.append("  " + ui("calendar_legend"), style="dim")
    return text


def mock_history(sessions: list[dict[str, Any]]) -> RenderableType:
    ui = catalog.ui
    table = Table(box=box.SIMPLE_HEAD, title=ui("mock_history_title"),
                  title_justify="left", pad_edge=False)
    # Everything but the verdicts fits on one line at 80 columns; the verdicts wrap.
    table.add_column(ui("col_session"), no_wrap=True)
    table.add_column(ui("col_exercises"), ratio=1)
    for column in ("score", "used", "over"):
        table.add_column(ui(f"col_{column}"), no_wrap=True, justify="right")
    for s in sessions[:5]:
        verdicts = ", ".join(f"{e['exercise']} {verdict_word(e['verdict'])}"
                             for e in s["exercises"])
        table.add_row(s["session"], verdicts, _score(s["score"], s["passed"]),
                      duration(s["time_used_s"]),
                      duration(s["over_time_s"]) if s["over_time_s"] else "–")
    return table


def verdict_word(verdict: str) -> str:
    """pass / fail / revealed / not graded in the chosen language."""
    try:
        return catalog.ui("verdict_" + verdict.replace(" ", "_"))
    except KeyError:
        return verdict


# ---------------------------------------------------------------------------
# next


def next_list(plans: list, show: int, started: dict[str, bool] | None = None) -> None:
    """``started``: exercise id -> whether a learner file exists for it (a stub never
    started is not offered a reset)."""
    if not plans:
        return
    ui = catalog.ui
    top = plans[0]
    exercise = catalog.get(top.exercise)
    out.print(Text.assemble((ui("next_now"), "bold"), (top.exercise, "bold cyan"),
                            (f" — {exercise.title}", "")), soft_wrap=True)
    out.print(Wrapped(ui("next_why", reason=top.reason)))  # between words, at any width
    key = "next_do_started" if (started or {}).get(top.exercise) else "next_do_new"
    out.print(Text(ui(key, id=top.exercise), style="dim"), soft_wrap=True)
    rest = plans[1:show]
    if rest:
        table = Table(box=box.SIMPLE_HEAD, title=ui("next_then"), title_justify="left")
        table.add_column("id", no_wrap=True)
        table.add_column(ui("next_col_due"), no_wrap=True)
        table.add_column(ui("next_col_why"))
        for p in rest:
            due = ui("next_due_now") if p.group in (0, 1, 2) else datetime.fromtimestamp(
                p.due_at).strftime("%Y-%m-%d %H:%M")
            table.add_row(Text(p.exercise, style="bold cyan"), due, p.reason)
        out.print(table)


# ---------------------------------------------------------------------------
# watch


def _watch_keys() -> str:
    return catalog.ui("watch_keys")


def watch_started(paths: list[str], live: bool) -> None:
    out.print(Text(f"Watching {', '.join(paths)}: every save is graded. "
                   + ("Keys: " + _watch_keys() if live else "Ctrl-C (or a line 'q' on stdin) "
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


def _lines(text: Text, width: int, most: int) -> list[Text]:
    """``text`` wrapped at ``width``, at most ``most`` lines, the last cut with …"""
    lines = text.wrap(out, max(width, 1))
    if len(lines) <= most:
        return list(lines)
    kept = list(lines[:most])
    kept[-1] = _one_line(kept[-1] + Text(" " + " ".join(line.plain for line in lines[most:]),
                                         style=text.style), width)
    return kept


def _compact_rows(result: ExerciseResult, width: int, message_lines: int = 1
                  ) -> tuple[list[Text], Text | None]:
    """Failing checks first: a line of title and codes, then up to
    ``message_lines`` of the message; then one line for everything that passed
    or did not run."""
    rows: list[Text] = []
    failing = result.failing_checks
    for check in failing:
        head = Text("✗ " if check.status == "fail" else "! ", style="bold red")
        head.append(catalog.check_title(result.exercise, check.id, check.title), style="bold")
        if check.level == "extra":
            head.append(f" ({catalog.ui('check_level_extra')})", style="dim")
        if check.diagnosis:
            head.append("  [" + ", ".join(check.diagnosis) + "]", style="magenta")
        rows.append(_one_line(head, width))
        if check.message:
            said = catalog.say_phrases(" ".join(check.message.split()))
            rows.extend(_lines(Text("    " + said, style="dim"),
                               width, message_lines))
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
    head.append(f"  {_watch_keys()}", style="dim")
    must: list = [_one_line(head, width), _one_line(Text(status, style="dim"), width)]
    optional: list = []
    if item.result is None:
        must.append(Text(catalog.ui("watch_first", id=item.exercise), style="dim"))
        return _fit(must, [hint_panel] if hint_panel is not None else [], width, height)
    result = item.result
    verdict = render.verdict_line(result)
    if getattr(item, "grading", False):
        verdict = Text(catalog.ui("watch_stale"), style="bold yellow") + verdict
        verdict.stylize("dim", 39)
    must.append(Broken(verdict, parts="·"))  # "1.09 s" stays whole
    rows, rest = _compact_rows(result, width)
    roomy, _ = _compact_rows(result, width, message_lines=2)  # the expected value too
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
    if len(roomy) <= room:
        rows = roomy
    if len(rows) > room:
        hidden = sum(1 for r in rows[room - 1:] if not r.plain.startswith("    "))
        rows = rows[:room - 1] + [Text(catalog.ui("watch_more", n=hidden), style="dim")]
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
        optional += render.traceback_block(result, tb)
    if not result.passed:
        optional.append(Text(catalog.ui("watch_stuck"), style="dim"))
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
                Text(catalog.ui("watch_cut"), style="dim"), width)[0]]
        lines.extend(rendered)
        left -= len(rendered)
    return _Lines(lines)


def watch_status(item, started: bool = True, width: int | None = None) -> str:
    """Which file is watched, and when its grade (not this redraw) was made; a
    path too long for ``width`` loses its start, never the times."""
    if getattr(item, "grading", False):
        when_ = catalog.ui("watch_grading_save" if item.result is not None else "watch_grading")
    elif item.result is None:
        when_ = ""
    else:
        at = getattr(item, "graded_at", None)
        stamp = datetime.fromtimestamp(at).strftime("%H:%M:%S") if at else "–"
        latency = (catalog.ui("watch_latency", s=f"{item.latency_s:.2f}")
                   if item.latency_s is not None and item.grades > 1
                   else catalog.ui("watch_first_grade"))
        when_ = catalog.ui("watch_graded", at=stamp) + latency
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
               ladder: catalog.HintLadder | None = None,
               then: tuple[catalog.HintLadder, int] | None = None) -> RenderableType:
    """A hint inside watch or a mock, where ``h`` (not a command) asks for the next;
    ``then``: the ladder and level the next ``h`` shows (see render._hint_heading)."""
    total = len(ladder.hints if ladder is not None else exercise.hints)
    part = ladder.part if ladder is not None else ""
    if level < total:
        more = catalog.ui("hint_again", next=level + 1, total=total)
    elif then is not None and then[0].part != part:
        following, at = then
        more = catalog.ui("hint_again_then", then=render.ladder_about(following), next=at,
                          total=len(following.hints))
    else:
        more = catalog.ui("hint_was_last")
    return render.hint_panel(exercise, level, ladder, more=more)


def watch_ended(items, full: bool = False) -> None:
    """After watching: with ``full`` (the live screen, which showed a compact
    card) the whole scorecard of every graded file, then one line of verdicts."""
    graded = [i for i in items if i.result is not None]
    if full:
        for item in graded:
            out.print(scorecard(item.result))
            out.print()
    if not graded:
        out.print(Text(catalog.ui("watch_stopped"), style="dim"))
        return
    summary = ", ".join(f"{i.exercise} {'PASS' if i.result.passed else 'FAIL'} "
                        f"{i.result.score:.0%}" for i in graded)
    out.print(Text(catalog.ui("watch_stopped_grades", grades=summary), style="dim"))


# ---------------------------------------------------------------------------
# mock interview

FAILING_W = 22  # the failing check's title under FAIL x% in the live view


def _short(text: str, width: int) -> str:
    return text if cell_len(text) <= width else text[:width - 1].rstrip() + "…"


def _file_state(fs: dict[str, Any], run: dict[str, Any] | None, grading: bool = False) -> Text:
    ui = catalog.ui
    if not fs["exists"]:
        return Text(ui("mock_state_missing"), style="bold red")
    text = Text(ui("mock_state_edited") if fs["edited"] else ui("mock_state_untouched"),
                style="" if fs["edited"] else "dim")
    if fs.get("unreadable"):
        text.append(ui("mock_state_unreadable", error=fs["unreadable"]), style="red")
        return text
    if fs["parses"] is False:
        text.append(ui("mock_state_syntax", error=fs["syntax_error"]), style="red")
        return text
    if grading:
        text.append(" · " + ui("mock_grading_cell"), style="yellow")
        return text
    if run is not None:
        text.append(ui("mock_state_imports_ok") if run["imports"] else ui("mock_state_imports_bad"),
                    style="green" if run["imports"] else "red")
        if run["imports"]:
            text.append(ui("mock_state_runs_ok") if run["runs"] else ui("mock_state_runs_bad"),
                        style="green" if run["runs"] else "red")
        if run.get("problem") and fs["edited"]:
            text.append(f" ({run['problem'][:60]})", style="dim")
    return text


def mock_started(session, live: bool) -> None:
    ui = catalog.ui
    # Sentences are wrapped by rich between words; each path is on a line of its own,
    # never wrapped (a terminal narrower than it cuts it, but nothing else).
    head = Text(ui("mock_title", id=session.id), style="bold")
    seed = ui("seed", seed=session.seed) if session.seed is not None else ""
    head.append(ui("mock_minutes", limit=limit(session.minutes)) + seed)
    out.print(head)
    out.print(Text(ui("mock_folder").rstrip()))
    out.print(Text(f"  {session.folder}", style="bold"), soft_wrap=True)
    for number, eid in enumerate(session.exercises, 1):
        ex = catalog.get(eid)
        line = Text(f"  {number}. {eid}", style="bold cyan")
        line.append(ui("mock_item", title=ex.title, difficulty=render.level_name(ex.difficulty),
                       minutes=ex.minutes).rstrip())
        out.print(line)
        out.print(Text(f"     {session.path(eid)}"), soft_wrap=True)
    if session.debug:
        debug_views.mock_item(str(Path(session.folder) / f"{session.debug['exercise']}.debug.py"),
                              session.debug["exercise"])
    if not live:
        out.print(Text(ui("mock_edit_then"), style="dim"))


def mock_status(status: dict[str, Any]) -> None:
    ui = catalog.ui
    left = status["time_left_s"]
    text = Text()
    text.append(ui("mock_status_title", id=status["session"],
                   state=ui(f"mock_state_{status['state']}")), style="bold")
    if status["state"] == "submitted":  # "(submitted): submitted" said it twice
        text.append(ui("mock_status_submitted"))
    elif left >= 0:
        text.append(ui("mock_left_time", clock=clock(left)),
                    style="bold green" if left > 120 else "bold yellow")
    else:
        text.append(ui("mock_time_over", over=duration(-left)), style="bold red")
    out.print(text, soft_wrap=True)
    out.print(Text(ui("mock_status_folder", folder=status["folder"]), style="dim"),
              soft_wrap=True)
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("#", no_wrap=True)
    table.add_column(ui("col_exercise"), no_wrap=True)
    table.add_column(ui("col_file"), no_wrap=True)
    table.add_column(ui("col_state"))
    for number, fs in enumerate(status["files"], 1):
        table.add_row(str(number), Text(fs["exercise"], style="bold cyan"),
                      f"{fs['exercise']}.py", _file_state(fs, None))
    out.print(table)
    if status.get("debug"):
        debug_views.mock_item(status["debug"]["file"], status["debug"]["exercise"])
        if not status["debug"]["answered"]:
            debug_views.choice_list(status["debug"]["choices"])


def _graded_cell(entry: dict[str, Any] | None) -> Text:
    """PASS/FAIL and the score; under a FAIL, the first failing check, short."""
    if entry is None:
        return Text("–", style="dim")
    text = Text(f"{'PASS' if entry['passed'] else 'FAIL'} {entry['score']:.0%}",
                style="bold green" if entry["passed"] else "bold red")
    if not entry["passed"] and entry.get("failing"):
        text.append("\n" + _short(entry["failing"], FAILING_W), style="red")
    return text


def mock_live_view(session, now: float, files: list[dict[str, Any]], runs: dict[str, Any],
                   graded: dict[str, dict[str, Any]], focus: int, message: str | None,
                   hint: RenderableType | None, grading: frozenset[str] = frozenset()
                   ) -> RenderableType:
    """``graded``: exercise id -> mock.graded_entry (what 'g' showed last);
    ``grading``: the exercises whose grade is running now (the clock goes on)."""
    ui = catalog.ui
    left = session.time_left(now)
    style = "bold green" if left > 300 else "bold yellow" if left > 60 else "bold red"
    head = Text()
    head.append(f" {clock(left)} ", style=f"reverse {style}")
    head.append(ui("mock_live_title", id=session.id, limit=limit(session.minutes)))
    folder = Text(f"{session.folder}", style="bold")
    # one column names the exercise and its file (ID.py in the folder above)
    table = Table(box=box.SIMPLE_HEAD, expand=False)
    for key in ("#", "file", "state", "graded"):
        table.add_column(key if key == "#" else ui(f"col_{key}"), no_wrap=key != "state")
    for number, fs in enumerate(files, 1):
        eid = fs["exercise"]
        name = Text(f"{eid}.py", style="bold cyan" + (" reverse" if number - 1 == focus else ""))
        table.add_row(str(number), name, _file_state(fs, runs.get(eid), eid in grading),
                      _graded_cell(graded.get(eid)))
    keys = Text(ui("mock_keys"), style="dim")
    parts: list = [head, folder, table, keys]
    if hint is not None:
        parts.append(hint)
    if message:
        parts.append(Text(message, style="yellow"))
    return Group(*parts)


def mock_left(session_id: str) -> None:
    # rich wraps it between words (the terminal would cut a word in two)
    out.print(Text(catalog.ui("mock_left", id=session_id)))


def followup_intro(exercise_id: str, count: int) -> None:
    ex = catalog.get(exercise_id)
    out.print()
    out.print(Text(catalog.ui("followup_title", id=exercise_id, title=ex.title), style="bold"))
    out.print(Text(catalog.ui("followup_how", count=count), style="dim"))


def followup_question(number: int, total: int, question: str) -> None:
    out.print()
    out.print(Wrapped(question, style="bold", lead=(f"Q{number}/{total} ", "magenta")))


def followup_answer(model: str) -> None:
    out.print(Panel(Wrapped(model), title=catalog.ui("followup_model"), title_align="left",
                    box=box.ROUNDED, border_style="cyan"))


def followup_bad_rating(answer: str) -> None:
    out.print(Text(catalog.ui("followup_rating_bad", answer=answer), style="yellow"))


def rating_prompt() -> str:
    return catalog.ui("followup_rating")


def ask(prompt: str) -> str:
    return out.input(Text(prompt, style="bold"))


def mock_report(report: dict[str, Any], again: bool = False) -> None:
    """The session's report; ``again``: shown once more for a session submitted before
    (nothing was graded or recorded this time)."""
    ui = catalog.ui
    table = Table(box=box.SIMPLE_HEAD, title=ui("mock_title", id=report["session"]),
                  title_justify="left", pad_edge=False)
    for column in ("exercise", "verdict", "score", "hints", "revealed", "answers"):
        table.add_column(ui(f"col_{column}"), no_wrap=True)
    table.add_column(ui("col_diagnoses"), overflow="fold")
    for e in report["exercises"]:
        rating = "–" if e["followup_rating"] is None else f"{e['followup_rating']:.0%}"
        table.add_row(Text(e["exercise"], style="bold cyan"),
                      Text(verdict_word(e["verdict"]),
                           style=VERDICT_STYLE.get(e["verdict"], "")),
                      f"{e['score']:.0%}", str(e["hints"]), ui("yes") if e["revealed"] else ui("no"),
                      rating, ", ".join(e["diagnoses"][:3]))
    out.print(table)
    _mock_timelines(report)
    if report.get("debug"):
        debug_views.mock_report_line(report["debug"])
    summary = Text()
    summary.append(" PASS " if report["passed"] else " FAIL ",
                   style="bold black on green" if report["passed"] else "bold white on red")
    summary.append(ui("mock_report_summary", score=f"{report['score']:.0%}",
                      used=duration(report["time_used_s"]), limit=limit(report["minutes"])))
    if report["over_time_s"]:
        summary.append(ui("mock_report_over", over=duration(report["over_time_s"])),
                       style="bold red")
    out.print(summary)
    pending = sum(1 for e in report["exercises"] for f in e["followups"] if f["answer"] is None
                  and not f["skipped"])
    if pending:
        out.print(Text(ui("mock_report_pending", n=pending), style="dim"))
    out.print(Text(ui("mock_report_recorded_before" if again else "mock_report_recorded"),
                   style="dim"))


def _mock_timelines(report: dict[str, Any]) -> None:
    """Each exercise's grades in the round, oldest first (the attempt timeline):
    rope: ✗ 40% → ✗ 60% (fixed rope.half_split) → ✓ 100%."""
    shown = [e for e in report.get("exercises", []) if e.get("timeline")]
    if not shown:
        return
    ui = catalog.ui
    out.print(Text(ui("tl_mock_title"), style="bold"))
    for e in shown:
        line = Text(f"  {e['exercise']}: ", style="bold cyan")
        for number, step in enumerate(e["timeline"]):
            if number:
                line.append(" → ", style="dim")
            line.append(("✓ " if step["passed"] else "✗ ") + f"{step['score']:.0%}",
                        style="green" if step["passed"] else "red")
            bits = ([ui("tl_fixed", codes=", ".join(step["fixed"]))] if step.get("fixed")
                    else []) + ([ui("tl_now", codes=", ".join(step["new"]))]
                                if step.get("new") and number else [])
            if bits:
                line.append(" (" + ui("tl_sep").join(bits) + ")", style="dim")
        out.print(line)
