"""All terminal output lives here: scorecards, lists, hints, reveals.

rich decides colour: none when stdout is not a terminal or NO_COLOR is set.
"""

from __future__ import annotations

import difflib
import io
import json
import math
import signal
import sys
import textwrap
import tokenize
from collections.abc import Iterable

from rich import box
from rich.cells import cell_len
from rich.console import Console, Group
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from drillpe.data import catalog, check_lists, i18n
from drillpe.render.cjk_wrap import Broken, Wrapped, has_cjk
from drillpe.results.report import GATE_IDS, CheckResult, ExerciseResult

STATUS_STYLE = {"pass": ("✓", "green"), "fail": ("✗", "bold red"), "error": ("!", "bold red"),
                "skip": ("–", "dim")}
HEAT_CHARS = " .:-=+*#%@"
STATUS_COLOUR = {"passed": "green", "failing": "red", "revealed": "yellow", "new": "dim"}


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """`drillpe list | head -1`: the reader left early, which is not a failure.
        Exit as a process killed by SIGPIPE does (141), like other command-line
        tools, instead of rich's 1 (drillpe's "failed")."""
        try:
            super().on_broken_pipe()
        except SystemExit:
            raise SystemExit(128 + signal.SIGPIPE) from None


def console(stderr: bool = False) -> Console:
    return _Console(stderr=stderr, highlight=False, soft_wrap=False)


out = console()
err = console(stderr=True)


# Messages carry paths and commands to copy: never wrap them mid-word. On a
# terminal rich breaks lines between words (a path stays whole unless it is wider
# than the screen); in a pipe a message is one line, for grep and scripts.
def error(message: str) -> None:
    err.print(Text(_label("error_label", "error: "), style="bold red") + Text(message),
              soft_wrap=not err.is_terminal)


def note(message: str) -> None:
    out.print(Text(message, style="dim"), soft_wrap=not out.is_terminal)


def warn(message: str) -> None:
    err.print(Text(_label("warning_label", "warning: "), style="yellow") + Text(message),
              soft_wrap=not err.is_terminal)


def _label(key: str, english: str) -> str:
    """"error: " in the chosen language ("错误：" before a Chinese message); English
    when the texts themselves cannot be read, which may be what went wrong."""
    try:
        return catalog.ui(key)
    except Exception:
        return english


# ---------------------------------------------------------------------------
# list


def level_name(difficulty: str) -> str:
    """easy / medium / hard in the chosen language (the JSON keeps the English id)."""
    try:
        return catalog.ui(f"level_{difficulty}")
    except KeyError:
        return difficulty


def _progress(row: dict) -> Text:
    status = row.get("status", "new")
    if status == "new":
        return Text(catalog.ui("status_started"), style="cyan") if row["started"] else Text("–", style="dim")
    text = Text(catalog.ui(f"status_{status}"), style=STATUS_COLOUR.get(status, ""))
    if row["best"] is not None:
        text += Text(f" {row['best']:.0%}", style="green" if row["passed"] else "yellow")
    return text


def exercise_list(rows: list[dict]) -> None:
    """A table per topic (rows arrive grouped, in catalog.topics() order), with fixed
    column widths so the tables line up as one."""
    id_width = max(len(row["id"]) for row in rows) + 2
    out.print(Text(catalog.ui("list_title"), style="italic"))
    out.print()
    topic = None
    table = None
    for row in rows:
        if row["topic"] != topic:
            if table is not None:
                out.print(table)
                out.print()
            topic = row["topic"]
            table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False, show_edge=False,
                          show_header=table is None, title_justify="left",
                          title=Text(catalog.topic_title(topic), style="bold magenta"))
            table.add_column("id", no_wrap=True, width=id_width)
            table.add_column(catalog.ui("list_col_title"), ratio=1, overflow="fold")
            table.add_column(catalog.ui("list_col_level"), no_wrap=True, width=6)
            minutes = catalog.ui("list_col_minutes")
            table.add_column(minutes, no_wrap=True, justify="right",
                             width=max(3, cell_len(minutes)))
            table.add_column(catalog.ui("list_col_progress"), no_wrap=True,
                             width=13)  # "revealed 100%"
        title = Text(row["title"]) + (Text(" ★", style="yellow") if row.get("seed") else Text())
        table.add_row(Text(row["id"], style="bold cyan"), title, level_name(row["difficulty"]),
                      str(row["minutes"]), _progress(row))
    if table is not None:
        out.print(table)
    out.print(Text(catalog.ui("list_footer"), style="dim"))


# ---------------------------------------------------------------------------
# scorecard


def _status(check: CheckResult) -> Text:
    if check.status not in STATUS_STYLE:
        return Text(check.status)
    mark, style = STATUS_STYLE[check.status]
    return Text(f"{mark} {catalog.ui('card_' + check.status)}", style=style)


def _checks_table(result: ExerciseResult) -> Table:
    table = Table(box=box.SIMPLE_HEAD, expand=False, pad_edge=False, show_edge=False)
    table.add_column(catalog.ui("card_col_status"), no_wrap=True)
    table.add_column(catalog.ui("card_col_check"), ratio=2, min_width=16)
    table.add_column(catalog.ui("card_col_level"), no_wrap=True)
    table.add_column(catalog.ui("card_col_message"), ratio=3, overflow="fold")
    for group in _skip_runs(result.checks):
        check = group[0]
        if len(group) > 1:  # checks that could not run for one reason: one row, not a wall
            core = sum(c.level == "core" for c in group)
            table.add_row(_status(check), catalog.ui("card_checks_run", n=len(group), core=core),
                          Text(catalog.ui("check_level_" + ("both" if 0 < core < len(group) else check.level)), style="dim"),
                          Text(catalog.say_phrases(check.message), style="dim"))
            continue
        level = Text(catalog.ui(f"check_level_{check.level}") if check.level in ("core", "extra") else check.level, style="dim" if check.level == "extra" else "")
        message = Text(catalog.say_phrases(check.message))
        if check.diagnosis:
            message.append("  [" + ", ".join(check.diagnosis) + "]", style="magenta")
        # Chinese breaks between characters (rich would break it only at the spaces)
        table.add_row(_status(check), _title(result, check), level,
                      Broken(message) if has_cjk(message.plain) else message)
    return table


def traceback_block(result: ExerciseResult, check: CheckResult) -> list[Text]:
    """Where a failing check stopped in the learner's code: its heading, then the lines."""
    title = catalog.check_title(result.exercise, check.id, check.title)
    return [Text(catalog.ui("card_your_code", title=title), style="bold"),
            Text("\n".join("  " + line for line in check.traceback), style="yellow")]


def _title(result: ExerciseResult, check: CheckResult) -> Wrapped:
    # Chinese titles break between characters (rich would cut a long run of them short)
    return Wrapped(catalog.check_title(result.exercise, check.id, check.title), brackets=True)


def _skip_runs(checks: list[CheckResult]) -> list[list[CheckResult]]:
    """The checks in order, consecutive skipped ones with the same reason grouped."""
    groups: list[list[CheckResult]] = []
    for check in checks:
        last = groups[-1] if groups else None
        if last and check.status == "skip" and last[0].status == "skip" and \
                last[0].message == check.message:
            last.append(check)
        else:
            groups.append([check])
    return groups


def verdict_line(result: ExerciseResult) -> Text:
    core = [c for c in result.checks if c.level == "core"]
    core_ok = sum(c.status == "pass" for c in core)
    scored = [c for c in result.checks if c.id not in GATE_IDS]
    scored_ok = sum(c.status == "pass" for c in scored)
    text = Text()
    if result.passed:
        text.append(" PASS ", style="bold black on green")
    else:
        text.append(" FAIL ", style="bold white on red")
    not_run = sum(c.status == "skip" for c in core)  # behind a failing gate: not failures
    failing = len(core) - core_ok - not_run
    # "every core check passes" only when every one ran (a GPU lost mid-grade leaves
    # core checks not run, and the verdict a FAIL)
    core_text = (catalog.ui("core_ok") if not failing and not not_run
                 else catalog.ui("core_none_failing") if not failing
                 else catalog.ui("core_failing_one") if failing == 1
                 else catalog.ui("core_failing", n=failing))
    # A file that every exercise check passes can still fail a gate (the rules check):
    # its score reads 100%, so the verdict names what fails (a newcomer took "FAIL ...
    # score 100%" for a contradiction)
    gates = [catalog.check_title(result.exercise, c.id, c.title) for c in core
             if c.id in GATE_IDS and c.status in ("fail", "error")]
    if gates and len(gates) == failing and scored and scored_ok == len(scored):
        core_text += catalog.ui("failing_gates", titles=i18n.listing(gates))
    if not_run:
        core_text += catalog.ui("core_not_run", n=not_run)
    # A pass with failing extra checks (offsets, other dtypes, cross lengths) says so:
    # those are the follow-ups an interviewer asks next.
    extra_failing = sum(c.level == "extra" and c.status in ("fail", "error")
                        for c in result.checks)
    if extra_failing and result.passed:
        core_text += catalog.ui("extra_failing", n=extra_failing)
    text.append(catalog.ui("score", id=result.exercise, score=f"{result.score:.0%}",
                           passed=scored_ok, total=len(scored), core=core_text))
    text.append(f" · {result.device}{catalog.ui('seed', seed=result.seed)} · "
                f"{result.duration_s:.2f} s", style="dim")
    if result.isolation == "guard":  # README "How grading works": what the guard does not hide
        text.append(catalog.ui("not_sandboxed"), style="dim")
    return text


def verdict(result: ExerciseResult) -> Broken:
    """verdict_line, broken only between its parts ("1.09 s" stays whole)."""
    return Broken(verdict_line(result), parts="·")


def diagnosis_lines(result: ExerciseResult) -> list[Group]:
    """Why and Fix of each diagnosis. Code in them is never broken across lines
    where it fits one (cjk_wrap.Broken): a fix copied from the terminal is code."""
    texts = catalog.diagnoses()
    lines = []
    for code in result.diagnoses:
        entry = texts.get(code)
        line = Text("• ", style="magenta")
        line.append(code, style="bold magenta")
        if not entry:
            lines.append(Group(line))
            continue
        line.append(f": {entry['says']}")
        fix = Text("  ")
        fix.append(catalog.ui("fix"), style="bold")
        fix.append(entry["fix"])
        lines.append(Group(Broken(line, hang=2), Broken(fix, hang=4)))
    return lines


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


def _heat_level(v: float, top: float) -> int:
    """0 (no error) to 9 (the largest), on a log scale spanning 4 decades below the top."""
    if top <= 0 or v <= 0:
        return 0
    return max(1, min(9, int(round(9 * (math.log10(v) - math.log10(top) + 4) / 4))))


def _heat_style(level: int) -> str:
    # Dark grey (no error) through red to yellow: brightness grows with the error.
    t = level / 9
    return f"on rgb({int(30 + 225 * t)},{int(30 + 200 * t * t)},30)"


def heat_text(values: list[list[float]], color: bool, rows: int | None = None,
              cols: int | None = None) -> Text:
    """|yours - expected| as a block: in colour, brighter = further off; in
    characters, denser = further off. Rows carry the index they start at in
    the tensor (``rows`` x ``cols`` pooled into the grid), and a line of
    column ticks (every 4th cell) sits on top."""
    flat = [v for row in values for v in row if _finite(v)]
    top = max(flat) if flat else 0.0
    n_rows, n_cols = len(values), len(values[0]) if values else 0
    rows, cols = rows or n_rows, cols or n_cols
    gutter = len(str(rows - 1)) + 1
    ticks = [" "] * (gutter + 2 * n_cols + 8)
    for c in range(0, n_cols, 4):
        label = str(c * cols // n_cols)
        at = gutter + 2 * c
        ticks[at:at + len(label)] = label
    text = Text("".join(ticks).rstrip() + "\n", style="dim")
    for r, row in enumerate(values):
        text.append(str(r * rows // n_rows).rjust(gutter - 1) + " ", style="dim")
        for v in row:
            if not _finite(v):  # NaN or inf in your output (null in the JSON): shown as "!!"
                text.append("!!", style="bold magenta" if color else "")
                continue
            level = _heat_level(v, top)
            if color:
                text.append("  ", style=_heat_style(level))
            else:
                text.append(HEAT_CHARS[level] * 2)
        text.append("\n")
    text.right_crop(1)
    return text


def heat_legend(top: float, color: bool) -> Text:
    """The scale, as `drillpe learn` draws one: low end, ramp, high end, meaning."""
    text = Text(f"{top / 1e4:.2g} " if top > 0 else "0 ", style="dim")
    if color:
        for level in range(10):
            text.append("  ", style=_heat_style(level))
        text.append(f" {top:.3g}  " + catalog.ui("heat_brighter"), style="dim")
    else:
        text.append(f"[{HEAT_CHARS}]", style="dim")
        text.append(f" {top:.3g}  " + catalog.ui("heat_denser"), style="dim")
    return text


def _heatmap(check: CheckResult, color: bool, exercise: str = "") -> Group | None:
    heat = check.heatmap
    if not heat or not heat.get("values"):
        return None
    values = heat["values"]
    flat = [v for row in values for v in row if _finite(v)]
    bad = sum(1 for row in values for v in row if not _finite(v))
    # The judge draws a larger failing case when the first one is too small to show much.
    case = catalog.ui("heat_case", case=heat["case"]) if heat.get("case") else ""
    title = Text(catalog.ui("heat_title", title=catalog.check_title(exercise, check.id, check.title),
                            case=case, rows_axis=catalog.axis_name(heat["axes"][0]),
                            rows=heat["rows"] - 1,
                            cols_axis=catalog.axis_name(heat["axes"][1]), cols=heat["cols"] - 1)
                 + (catalog.ui("heat_bad", n=bad) if bad else ""), style="dim")
    return Group(title, heat_text(values, color, heat.get("rows"), heat.get("cols")),
                 heat_legend(max(flat, default=0.0), color))


def scorecard_renderable(result: ExerciseResult, *, quiet: bool = False,
                         color: bool | None = None, verdict_first: bool = False,
                         unrecorded: bool = False) -> Group:
    """The whole scorecard as one renderable (watch redraws it in place, with
    ``verdict_first``: a live view taller than the terminal is cut at the
    bottom, and the verdict must stay in sight). ``unrecorded``: a grade kept out
    of the history (check --file), whose hints a plain `drillpe hint` cannot pick."""
    try:
        title = catalog.get(result.exercise).title
    except LookupError:
        title = result.exercise
    parts: list = [
        Rule(Text(f"{result.exercise} · {title}", style="bold"), align="left"),
        Text(catalog.ui("card_file", path=result.file), style="dim"),
        *([verdict(result)] if verdict_first else []),
        _checks_table(result),
    ]
    if not quiet:
        # The evidence first (heatmap, tracebacks, prints), then Why and Fix right
        # above the verdict: on a short terminal the explanation is what stays in sight.
        heated = next((c for c in result.checks if c.heatmap), None)
        block = _heatmap(heated, exercise=result.exercise,
                         color=out.color_system is not None if color is None else color
                         ) if heated else None
        if block:
            parts.append(block)
        shown: list[list[str]] = []
        # each distinct traceback once, three at most; where a timeout stopped the code first
        for check in sorted(result.checks, key=lambda c: "runtime.timeout" not in c.diagnosis):
            if check.status in ("fail", "error") and check.traceback and \
                    check.traceback not in shown and len(shown) < 3:
                shown.append(check.traceback)
                parts += traceback_block(result, check)
        if result.output.strip():
            printed = result.output.strip().splitlines()[-10:]
            parts.append(Text("Your code printed (last lines)", style="bold"))
            parts.append(Text("\n".join("  " + line for line in printed), style="dim"))
        diagnoses = diagnosis_lines(result)
        if diagnoses:
            parts.append(Text(catalog.ui("why"), style="bold"))
            parts.extend(diagnoses)
    if not verdict_first:
        parts.append(verdict(result))
    if not result.passed and not quiet:
        parts.append(Text(_stuck(result, unrecorded), style="dim"))
    return Group(*parts)


def _stuck(result: ExerciseResult, unrecorded: bool) -> str:
    if not unrecorded:  # a plain `drillpe hint` reads the ladder off this recorded grade
        return catalog.ui("stuck", id=result.exercise)
    # it would read the workspace file's grade: name this grade's ladder
    part = catalog.ladder_for(result.exercise, result.hint_checks).part or "general"
    return catalog.ui("stuck_part", id=result.exercise, part=part)


class Progress:
    """A transient status line while something slow runs, on a terminal only
    (nothing in a pipe or with --json): drawn by rich on its own thread and
    erased when done, so the scorecard that follows is all that stays."""

    def __init__(self, enabled: bool = True, announce: bool = False):
        self.enabled = enabled and out.is_terminal
        # announce: for a wait of many seconds, where no status line can be drawn the
        # first thing said goes to stderr as one plain line (a newcomer piping `drillpe
        # bench` saw nothing for 15 s and took it for a hang); stdout stays the result's
        self.announce = enabled and announce and not out.is_terminal
        self.status = None
        self.prefix = ""

    def __enter__(self) -> Progress:
        if self.enabled:
            self.status = out.status("", spinner="dots")
            self.status.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None

    def say(self, text: str) -> None:
        if self.announce:
            self.announce = False
            err.print(Text(text), soft_wrap=not err.is_terminal, highlight=False)
        if self.status is not None:
            self.status.update(Text(text, style="dim", no_wrap=True, overflow="ellipsis"))

    def grading(self, exercise_id: str, number: int = 1, total: int = 1, device: str = "cpu"):
        """The callback a GradeRequest takes: stages and the check reached."""
        rows = check_lists.checks(exercise_id)
        which = f" ({number} of {total})" if total > 1 else ""
        head = catalog.ui("progress_grading", id=exercise_id, which=which)
        self.say(head + (catalog.ui("progress_device", device=device) if device != "cpu"
                         else "…"))

        def told(stage: str, index: int | None) -> None:
            if stage == "check" and index is not None and 0 <= index < len(rows):
                self.say(head + catalog.ui("progress_check", n=index + 1, total=len(rows),
                                           title=catalog.check_title(
                                               exercise_id, rows[index]["id"],
                                               rows[index]["title"])))
            elif stage in ("running", "judging"):
                self.say(head + catalog.ui(f"progress_{stage}"))

        return told if self.status is not None else None


def scorecard(result: ExerciseResult, *, quiet: bool = False, unrecorded: bool = False) -> None:
    out.print(scorecard_renderable(result, quiet=quiet, unrecorded=unrecorded))
    out.print()


def summary(results: Iterable[ExerciseResult]) -> None:
    results = list(results)
    if len(results) < 2:
        return
    passed = sum(r.passed for r in results)
    out.print(Text(catalog.ui("passed_count", passed=passed, total=len(results)), style="bold"))


# ---------------------------------------------------------------------------
# start, hint, reveal


def started(exercise: catalog.Exercise, path: str, backup: str | None,
            check_as: str | None = None) -> None:
    """``start`` and ``reset``: where the stub went; ``check_as``, what follows
    `drillpe check` in the next command (the id, and -w where it was named)."""
    if backup:
        out.print(Text(catalog.ui("moved", backup=backup), style="yellow"),
                  soft_wrap=True)
    out.print(Text.assemble((catalog.ui("wrote"), ""), (path, "bold"), (f" — {exercise.title}", "")),
              soft_wrap=True)
    out.print(Text(catalog.ui("budget", minutes=exercise.minutes,
                              difficulty=level_name(exercise.difficulty),
                              id=check_as or exercise.id), style="dim"),
              soft_wrap=True)


def new_workspace_note(here: str, others: list[str], exercise_id: str) -> None:
    """``start`` made a workspace while others hold started files: the one written to
    last is named, and up to three more after it."""
    said = catalog.ui("new_workspace", here=here, other=others[0], id=exercise_id)
    if len(others) > 1:
        shown = others[1:4] + (["…"] if len(others) > 4 else [])
        said += catalog.ui("new_workspace_also", also=i18n.listing(shown))
    # the terminal folds it: the paths copy whole
    out.print(Text(said, style="yellow"), soft_wrap=True)


def reset_all(done: list[tuple[str, str | None]]) -> None:
    """``reset --all``: each exercise and where its file went."""
    out.print(Wrapped(catalog.ui("reset_all_done", n=len(done))))
    for exercise_id, backup in done:
        out.print(catalog.ui("reset_all_kept", id=exercise_id, backup=backup) if backup
                  else Text(catalog.ui("reset_all_fresh", id=exercise_id), style="dim"),
                  soft_wrap=True)


def hint_blocks(text: str) -> list[tuple[bool, str]]:
    """A hint as (is code, text) blocks. Paragraphs are separated by blank lines; one
    whose lines are all indented by 4 spaces is code (given back dedented).
    Consecutive code paragraphs make one block (the blank lines between two
    functions stay)."""
    blocks: list[tuple[bool, list[str]]] = []
    paragraph: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.strip():
            paragraph.append(line)
            continue
        if paragraph:
            code = all(row.startswith("    ") for row in paragraph)
            if code and blocks and blocks[-1][0]:
                blocks[-1][1].extend(["", *paragraph])
            else:
                blocks.append((code, paragraph))
            paragraph = []
    return [(code, textwrap.dedent("\n".join(rows)) if code else "\n".join(rows))
            for code, rows in blocks]


def hint_body(text: str) -> Group:
    """A hint inside a panel (watch, a mock): code shown as Python, wrapped to the panel."""
    parts: list = []
    for code, body in hint_blocks(text):
        if parts:
            parts.append(Text())  # a blank line between blocks
        if code:
            from rich.syntax import Syntax  # pulls in pygments: only for a hint with code

            parts.append(Syntax(body, "python", word_wrap=True))
        else:
            parts.append(Wrapped(body))  # Chinese breaks between characters
    return Group(*parts)


def ladder_about(ladder: catalog.HintLadder) -> str:
    """What a footer calls the hints of ``ladder``: "about the mask", "the general hints"."""
    return (catalog.ui("hint_then_part", part=ladder.name or ladder.part) if ladder.part
            else catalog.ui("hint_then_general"))


def _ladder_hints(exercise: catalog.Exercise, ladder: catalog.HintLadder | None
                  ) -> tuple[str, ...]:
    """The hints of ``ladder``, or of the exercise's general ladder without one."""
    return ladder.hints if ladder is not None else exercise.hints


def _hint_heading(exercise: catalog.Exercise, level: int, ladder: catalog.HintLadder | None,
                  more: str | None, plain_part: str, general_seen: int | None = None,
                  then: tuple[catalog.HintLadder, int] | None = None,
                  failing: bool = False) -> tuple[str, str]:
    """(title, the line that says what comes next) of one hint. The title names its
    ladder: the exercise's general one, or the part it is about. ``plain_part``: the
    ladder a plain `drillpe hint ID` climbs now; the general one is named when it is
    not. ``then``: that ladder and the level it would show; at the end of this
    ladder, the footer names it when it is another one. ``failing``: the last grade
    named failing checks (then, with nothing left to climb, every ladder about them
    is climbed). ``general_seen``: the
    general ladder's levels seen (history); otherwise the last hint of a part's
    ladder points on to the general one's next level only when it is not seen yet."""
    total = len(_ladder_hints(exercise, ladder))
    part = ladder.part if ladder is not None else ""
    parts = [other.part for other in catalog.hint_ladders(exercise.id)[1:]]
    if more is None:
        # the command that shows the next hint of this same ladder
        asked = (f"{exercise.id} --part {part or 'general'}" if part or plain_part
                 else exercise.id)
        if level < total:
            more = catalog.ui("hint_next", id=asked, next=level + 1, total=total)
        elif then is not None and then[0].part != part:
            following, at = then
            more = catalog.ui("hint_last_part_then" if part else "hint_last_general_then",
                              id=exercise.id, part=ladder.name or part if ladder else "",
                              then=ladder_about(following), next=at,
                              total=len(following.hints))
        else:
            general = len(exercise.hints)
            # a part's ladder is shorter than the general one, whose last level is
            # nearly the whole answer: a plain `drillpe hint` never got there
            unseen = general_seen is not None and general_seen <= level
            if part and general > level and unseen:
                more = catalog.ui("hint_last_part", id=exercise.id, part=ladder.name or part,
                                  next=level + 1)
            elif not part and parts and not failing:
                # the general ladder's code is the exercise's main function only: a
                # newcomer who pasted it wondered where the rest was. Not where a grade
                # says what fails: every ladder about it is climbed, and this footer sent
                # helper-145 to the hints of a rope table that passed
                more = catalog.ui("hint_last_general", id=exercise.id, first=parts[0],
                                  parts=i18n.listing(parts))
            else:
                more = catalog.ui("hint_last", id=exercise.id)
    title = catalog.ui("hint_title", id=exercise.id, level=level, total=total)
    if part:
        title += catalog.ui("hint_about", part=ladder.name or part)
    else:  # a newcomer could not tell which ladder a plain hint was on
        if parts:
            title += catalog.ui("hint_general", parts=i18n.listing(parts))
    return title, more


PANEL_SUBTITLE_MAX = 60  # cells: the "Next: ..." line fits an 80-column panel's border


def hint_panel(exercise: catalog.Exercise, level: int, ladder: catalog.HintLadder | None = None,
               more: str | None = None, plain_part: str = "",
               then: tuple[catalog.HintLadder, int] | None = None) -> Panel:
    """One hint in a panel (watch, a mock), titled with its ladder."""
    title, more = _hint_heading(exercise, level, ladder, more, plain_part, then=then)
    body = hint_body(_ladder_hints(exercise, ladder)[level - 1])
    if cell_len(more) > PANEL_SUBTITLE_MAX:
        # a subtitle is one line, cut at the panel's edge: a long footer (the parts
        # whose hints cover the rest) lost its command; inside the panel it wraps
        body = Group(body, Text(), Wrapped(more, style="dim"))
        more = None
    return Panel(body, title=title, title_align="left", subtitle=more, subtitle_align="right",
                 box=box.ROUNDED)


def hint(exercise: catalog.Exercise, level: int, ladder: catalog.HintLadder | None = None,
         plain_part: str = "", general_seen: int | None = None,
         then: tuple[catalog.HintLadder, int] | None = None, failing: bool = False) -> None:
    """`drillpe hint`: a heading and a rule, then prose wrapped to the terminal and code
    outside any box, never broken by drillpe: a line copied from the terminal is
    the line of Python (inside a panel a long line wrapped into two, borders
    included, and no longer parsed)."""
    title, more = _hint_heading(exercise, level, ladder, None, plain_part, general_seen, then,
                                failing)
    # a rule's title would be cut at the width; its bracket of parts stays whole
    out.print(Wrapped(title, style="bold", brackets=True))
    out.print(Rule(style="dim"))
    for at, (code, body) in enumerate(hint_blocks(_ladder_hints(exercise, ladder)[level - 1])):
        if at:
            out.print()
        if code:
            from rich.syntax import Syntax  # pulls in pygments: only for a hint with code

            # ANSI colours on the terminal's own background: readable on a light one too
            text = Syntax(body, "python", theme="ansi_dark",
                          background_color="default").highlight(body)
            text.rstrip()
            out.print(text, soft_wrap=True)  # the terminal folds a long line; a copy joins it
        else:
            out.print(Wrapped(body, brackets=True))
    out.print(Rule(style="dim"))
    # the terminal folds it: a command in it copies whole (wrapped, it broke mid-command)
    out.print(Text(more, style="dim"), soft_wrap=True)


def reveal(exercise: catalog.Exercise, source: str) -> None:
    from rich.syntax import Syntax  # pulls in pygments: only when highlighting

    out.print(Panel(Syntax(source, "python", line_numbers=True, word_wrap=True),
                    title=f"{exercise.id} · model answer", title_align="left",
                    box=box.ROUNDED))
    crosscheck_lines(exercise.id)


def crosscheck_lines(exercise_id: str) -> None:
    """Which public implementations the reference was checked against (exercise.toml
    ``[[crosscheck]]``), one dim line each; nothing where there are none."""
    for claim in catalog.crosschecks(exercise_id):
        out.print(Wrapped(claim.line, style="dim"))


def reveal_raw(source: str) -> None:
    sys.stdout.write(source)
    sys.stdout.flush()


DOCSTRING = '"""..."""'


def code_lines(source: str) -> list[tuple[int, str]]:
    """(line number, text) of the code in ``source``, for ``reveal --diff``:
    comments and blank lines left out, trailing spaces dropped, and every
    docstring (a string standing alone as a statement) collapsed to the one
    line DOCSTRING. A file that does not tokenize keeps its lines as they are."""
    lines = source.splitlines()
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        tokens = []
    cut: dict[int, int] = {}  # 0-based line -> the column its comment starts at
    collapsed: dict[int, str] = {}  # a docstring's first line -> its one-line form
    dropped: set[int] = set()  # the rest of a docstring's lines
    at_start = True  # the next token starts a statement
    significant = [t for t in tokens if t.type not in (tokenize.COMMENT, tokenize.NL)]
    follows = {id(t): n for t, n in zip(significant, significant[1:])}
    for tok in tokens:
        if tok.type == tokenize.COMMENT:
            row = tok.start[0] - 1
            cut[row] = min(cut.get(row, tok.start[1]), tok.start[1])
            continue
        if tok.type == tokenize.NL:
            continue
        nxt = follows.get(id(tok))
        if (tok.type == tokenize.STRING and at_start and nxt is not None
                and nxt.type in (tokenize.NEWLINE, tokenize.ENDMARKER)):
            first, last = tok.start[0] - 1, tok.end[0] - 1
            collapsed[first] = lines[first][:tok.start[1]] + DOCSTRING
            dropped.update(range(first + 1, last + 1))
        at_start = tok.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)
    out = []
    for row, line in enumerate(lines):
        if row in dropped:
            continue
        text = collapsed.get(row, line[:cut[row]] if row in cut else line).rstrip()
        if text.strip():
            out.append((row + 1, text))
    return out


def reveal_diff(exercise: catalog.Exercise, learner: str, reference: str, learner_name: str
                ) -> None:
    """The learner's code against the model answer's, code only (code_lines), as a
    unified diff whose hunks name the lines of each file they start at."""
    mine, theirs = code_lines(learner), code_lines(reference)
    a, b = [text for _, text in mine], [text for _, text in theirs]
    groups = list(difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(3))
    if not groups:
        out.print("Your code is the same as the reference's (comments, blank lines and "
                  "docstrings aside).")
        return

    def line_no(numbered: list[tuple[int, str]], index: int) -> int:
        if index < len(numbered):
            return numbered[index][0]
        return numbered[-1][0] + 1 if numbered else 1

    text = Text()
    text.append("code only: comments and blank lines left out, docstrings shown as "
                f"{DOCSTRING}\n", style="dim")
    text.append(f"--- {learner_name}\n+++ reference/{exercise.id}.py\n", style="bold")
    for group in groups:
        _, i1, _, j1, _ = group[0]
        text.append(f"@@ your line {line_no(mine, i1)}, reference line {line_no(theirs, j1)} @@\n",
                    style="cyan")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for line in a[i1:i2]:
                    text.append(f" {line}\n")
                continue
            for line in a[i1:i2]:
                text.append(f"-{line}\n", style="red")
            for line in b[j1:j2]:
                text.append(f"+{line}\n", style="green")
    out.print(text, end="", soft_wrap=True)  # a wrapped line would lose its +/- marker


# --------------------------------------------------------------------------- JSON


def print_json(document, *, indent: int | None = 2) -> None:
    """One strict JSON document on stdout: a float that is not finite (JSON
    has no NaN or Infinity) is written as null, and text is escaped to ASCII
    when stdout cannot encode it (a latin-1 terminal)."""
    print(json.dumps(_strict(document), indent=indent, allow_nan=False,
                     ensure_ascii=not _stdout_speaks_unicode()), flush=True)


def _strict(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(item) for item in value]
    return value


def _stdout_speaks_unicode() -> bool:
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "").replace("_", "")
    return encoding.startswith("utf")
