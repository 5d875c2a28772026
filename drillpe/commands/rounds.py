"""The practice loop: stats, next, watch, mock interviews (cli.md)."""

from __future__ import annotations

import sys
import time
from typing import Annotated

import typer

from drillpe import render
from drillpe.app import (
    Device,
    LangOpt,
    SeedOpt,
    TimeoutOpt,
    WorkspaceOpt,
    app,
    complete_exercise_id,
    finite,
    open_history,
)
from drillpe.data import catalog, i18n, places
from drillpe.data.limits import MAX_MINUTES, MAX_SEED
from drillpe.errors import EXIT_FAILED, EXIT_OK, UsageError

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


# ---------------------------------------------------------------------------
# stats and next


@app.command(short_help="Your history: tries, passes, time, a calendar.")
def stats(as_json: JsonOpt = False,
          days: Annotated[int, typer.Option("--days", metavar="N", min=7, max=371,
                                            help="Days shown in the calendar.")] = 28,
          lang: LangOpt = None) -> int:
    """History: attempts, passes, time to first pass, time spent, weakest first."""
    # deferred: loaded only when this command runs, so that every start stays fast
    from drillpe.render import practice_views as view
    from drillpe.results import progress
    from drillpe.results.history import Events

    history = open_history()
    now = time.time()
    events = history.events()
    all_events = [events.get(eid) or Events(eid) for eid in catalog.ids()]
    summaries = progress.weakest_first([progress.summarise(e, now) for e in all_events])
    calendar = progress.calendar(list(events.values()), now, days)
    streak = progress.streaks(list(events.values()), now)
    sessions = history.sessions("mock")
    if as_json:
        render.print_json({"schema": 1, "exercises": summaries, "calendar": calendar,
                           "streak": streak, "mock_sessions": sessions})
    else:
        view.stats(summaries, calendar, streak, sessions)
    return EXIT_OK


@app.command("next", short_help="What to practise now, and why (spaced repetition, FSRS).")
def next_(as_json: JsonOpt = False,
          show: Annotated[int, typer.Option("--show", metavar="N", min=1, help="How many to list.")] = 4,
          lang: LangOpt = None) -> int:
    """What to practise now, from your history (spaced repetition), and why."""
    # deferred: loaded only when this command runs, so that every start stays fast
    from drillpe.practice import schedule
    from drillpe.render import practice_views as view

    history = open_history()
    plans, mistakes = schedule.learners_plan(history.events(), time.time())
    if as_json:
        render.print_json({"schema": 1, "next": plans[0].exercise if plans else None,
                           "plan": [p.to_dict() for p in plans], "scheduler": "fsrs",
                           "misconceptions": [m.to_dict() for m in mistakes]})
    else:
        ws = places.workspace(None)
        view.next_list(plans, show, {p.exercise: schedule.started(p.exercise, ws)
                                     for p in plans[:1]})
    return EXIT_OK


# ---------------------------------------------------------------------------
# watch


@app.command(short_help="Re-grade your file on every save (h hint, q quit).")
def watch(
    exercise_ids: Annotated[list[str] | None, typer.Argument(
        metavar="ID...", help="Exercises to watch [default: every started one].",
        autocompletion=complete_exercise_id)] = None,
    device: Annotated[Device, typer.Option("--device", help="Where to run your code and the "
                                           "reference.")] = Device.cpu,
    timeout: TimeoutOpt = 20.0,
    seed: SeedOpt = 0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document per line, per "
                                          "grade (for scripts).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Scorecard table and verdict "
                                        "only.")] = False,
    workspace: WorkspaceOpt = None,
    lang: LangOpt = None,
) -> int:
    """Re-grade learner files every time they are saved (keys: h hint, q quit)."""
    # deferred: loaded only when this command runs, so that every start stays fast
    from drillpe.commands.core import resolve_targets
    from drillpe.launch.runner import GradeRequest, grade
    from drillpe.launch.warm_pool import launcher as warm_launcher
    from drillpe.practice import watch as watching
    from drillpe.practice.keys import Keys
    from drillpe.render import practice_views as view

    targets = resolve_targets(list(exercise_ids or []), None, places.workspace(workspace))
    history = open_history()
    items = [watching.Item(ex.id, path) for ex, path in targets]
    keys = Keys()
    live = keys.is_tty and sys.stdout.isatty() and not as_json

    with warm_launcher() as launcher:
        def grade_item(item: watching.Item):
            return grade(GradeRequest(exercise_id=item.exercise, file=item.path,
                                      device=device.value, seed=seed, timeout=timeout,
                                      display_path=places.display(item.path)), launcher=launcher)

        def show_hint(exercise_id: str):
            # The same ladders and counters as `drillpe hint`: the part the shown grade
            # fails first, and the levels already seen there (in watch or not).
            item = next(i for i in items if i.exercise == exercise_id)
            failing = (history.last_failed_checks(exercise_id) if item.result is None
                       else item.result.hint_checks)
            def seen(part: str) -> int:
                return history.hints_seen(exercise_id, part)

            ladder = catalog.ladder_for(exercise_id, failing, seen=seen)
            level = min(seen(ladder.part) + 1, len(ladder.hints))
            history.record_hint(exercise_id, level, part=ladder.part)
            return view.hint_panel(catalog.get(exercise_id), level, ladder,
                                   then=catalog.next_hint(exercise_id, failing, seen))

        session = watching.Session(items, grade_item, history)
        with keys:
            watching.run(session, keys, live=live, as_json=as_json, quiet=quiet,
                         show_hint=show_hint)
    graded = [i.result for i in items if i.result is not None]
    return EXIT_OK if graded and all(r.passed for r in graded) else EXIT_FAILED


# ---------------------------------------------------------------------------
# mock


mock_app = typer.Typer(help="Timed mock interview: fresh stubs, a countdown, grading, then "
                       "follow-up questions. Without a subcommand: start one, live.",
                       no_args_is_help=False, rich_markup_mode=None)
app.add_typer(mock_app, name="mock",
              short_help="A timed mock interview, then follow-up questions.")

MinutesOpt = Annotated[float | None, typer.Option(
    "--minutes", "-m", metavar="MINUTES", min=0.01, max=MAX_MINUTES, callback=finite, help="Time allowed [default: the exercises' budgets added up].",
    show_default=False)]
ExercisesOpt = Annotated[str | None, typer.Option(
    "--exercises", "-e", metavar="ID,ID", help="These exercises [default: drawn from your "
    "history, favouring weak and never-done ones].", show_default=False)]
CountOpt = Annotated[int | None, typer.Option(
    "--count", "-n", metavar="N", min=1, max=100, help="How many exercises to draw when --exercises is not given "
    "[default: 2].", show_default=False)]
DrawSeedOpt = Annotated[int | None, typer.Option(
    "--seed", metavar="N", min=0, max=MAX_SEED, help="Makes the draw reproducible; also the grading inputs' seed.",
    show_default=False)]
SessionOpt = Annotated[str | None, typer.Option(
    "--session", help="Session id [default: the latest].", show_default=False)]
RoundsOpt = Annotated[str | None, typer.Option(
    "--rounds", metavar="ROUND,ROUND", help="write (the exercises, from stubs) and debug (fix "
    "one planted mistake, then name it from a list) [default: write].", show_default=False)]


def _new_session(minutes: float | None, exercises: str | None, count: int | None,
                 seed: int | None, rounds: str | None = None):
    # deferred: loaded only when this command runs, so that every start stays fast
    from drillpe.practice import mock, schedule

    debug = "debug" in mock.parse_rounds(rounds)
    ids = mock.parse_exercise_list(exercises)
    if ids and count is not None and count != len(ids):
        render.warn(f"--count {count} is ignored: --exercises names {len(ids)}.")
    if not ids:
        count = 2 if count is None else count
        known = list(catalog.load().values())
        if count > len(known):
            raise UsageError(f"--count {count}: there are {len(known)} exercises.")
        history = open_history()
        ids = schedule.pick_for_mock(history.events(), known, count, time.time(), seed)
    try:
        running = mock.load()
    except UsageError:  # no current session, or one that cannot be read: nothing to say
        running = None
    if running is not None and running.state == "running":
        render.warn(catalog.ui("mock_still_running", session=running.id))
    if minutes is None:
        minutes = mock.default_minutes(ids) + (mock.DEBUG_MINUTES if debug else 0)
    return mock.create(ids, minutes, seed, debug=debug)


def _require_terminal() -> None:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("the live mock interview needs a terminal. For scripts: "
                         "drillpe mock start --no-live, then drillpe mock status and "
                         "drillpe mock submit.")


def _live(session) -> int:
    """Countdown and keys; then grading, follow-up questions and the report."""
    # deferred: loaded only when this command runs, so that every start stays fast
    from drillpe.launch.warm_pool import launcher as warm_launcher
    from drillpe.practice import interview
    from drillpe.practice.keys import Keys
    from drillpe.practice.watch import interrupt_on_signals
    from drillpe.render import practice_views as view

    history = open_history()
    view.mock_started(session, live=True)
    # A closed terminal (SIGHUP) leaves like q: the session is on disk, and
    # leaving the block stops the warm workers and any grade under way.
    with interrupt_on_signals(), warm_launcher() as launcher:
        state = interview.Live(session, history, launcher)
        with Keys() as keys:
            try:
                outcome = interview.run_live(state, keys)
            except KeyboardInterrupt:
                outcome = "left"
        if outcome != "left":
            results = state.grade_all()
            debug = interview.grade_debug(session, launcher)
    if outcome == "left":
        # Leaving the block above stopped the warm workers, so a grade still under
        # way ends now; its own cleanup (the run folder, its processes) runs before exit.
        state.wait(interview.JOIN_ON_LEAVE_S)
        view.mock_left(session.id)
        return EXIT_OK
    return _finish(session, results, history, ask=True, debug=debug)


def _finish(session, results, history, ask: bool, as_json: bool = False, debug=None) -> int:
    # deferred: loaded only when this command runs, so that every start stays fast
    from drillpe.practice import interview, mock
    from drillpe.render import practice_views as view

    if session.debug is not None and debug is None:
        debug = interview.grade_debug(session)
    report = interview.submit(session, results, history, time.time(), debug=debug)
    if as_json:
        render.print_json(report)
        return EXIT_OK if report["passed"] else EXIT_FAILED
    if debug is not None and session.debug.get("answer") is None:
        # deferred: loaded only when this command runs, so that every start stays fast
        from drillpe.render.debug_views import without_names

        debug = without_names(debug)  # the codes would answer the question still to come
    for result in [*results.values(), *([debug] if debug is not None else [])]:
        view.out.print(view.scorecard(result, quiet=True))
    if ask:
        interview.ask_followups(session, history, view.ask)
        report = mock.report(session, session.submitted_at)
    view.mock_report(report)
    return EXIT_OK if report["passed"] else EXIT_FAILED


@mock_app.callback(invoke_without_command=True)
def mock(
    ctx: typer.Context,
    minutes: MinutesOpt = None,
    exercises: ExercisesOpt = None,
    count: CountOpt = None,
    seed: DrawSeedOpt = None,
    rounds: RoundsOpt = None,
    lang: LangOpt = None,
) -> int | None:
    """Timed mock interview. Without a subcommand: start one with a live countdown."""
    if ctx.invoked_subcommand is not None:
        return None
    _require_terminal()
    return _live(_new_session(minutes, exercises, count, seed, rounds))


@mock_app.command("start")
def mock_start(
    minutes: MinutesOpt = None,
    exercises: ExercisesOpt = None,
    count: CountOpt = None,
    seed: DrawSeedOpt = None,
    rounds: RoundsOpt = None,
    no_live: Annotated[bool, typer.Option("--no-live", help="Write the files, print the "
                                          "session folder and return (for scripts).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="With --no-live: print the session "
                                          "as JSON.")] = False,
    lang: LangOpt = None,
) -> int:
    """Start a mock interview: fresh stubs in a folder of its own."""
    # deferred: loaded only when this command runs, so that every start stays fast
    from drillpe.practice import mock as mocking
    from drillpe.render import practice_views as view

    if not no_live:
        _require_terminal()
    session = _new_session(minutes, exercises, count, seed, rounds)
    if not no_live:
        return _live(session)
    if as_json:
        render.print_json(mocking.status(session, time.time()))
    else:
        view.mock_started(session, live=False)
    return EXIT_OK


@mock_app.command("resume", short_help="Back to a running session's countdown.")
def mock_resume(session_id: SessionOpt = None, lang: LangOpt = None) -> int:
    """Back to a running session's live countdown (after leaving or a closed terminal)."""
    # deferred: loaded only when this command runs, so that every start stays fast
    from drillpe.practice import mock as mocking

    session = mocking.speak(mocking.load(session_id))
    if session.state != "running":
        raise UsageError(f"mock session {session.id} is already submitted: drillpe mock "
                         "submit shows its report.")
    _require_terminal()
    return _live(session)


@mock_app.command("status")
def mock_status(session_id: SessionOpt = None, as_json: JsonOpt = False,
                lang: LangOpt = None) -> int:
    """Time left and the state of each file."""
    # deferred: loaded only when this command runs, so that every start stays fast
    from drillpe.practice import mock as mocking
    from drillpe.render import practice_views as view

    session = mocking.speak(mocking.load(session_id))
    status = mocking.status(session, time.time())
    if as_json:
        render.print_json(status)
    else:
        view.mock_status(status)
    return EXIT_OK


@mock_app.command("submit", short_help="Grade the session now and record it.")
def mock_submit(
    session_id: SessionOpt = None,
    as_json: JsonOpt = False,
    no_questions: Annotated[bool, typer.Option("--no-questions", help="Do not ask the "
                                               "follow-up questions now.")] = False,
    answer: Annotated[str | None, typer.Option(
        "--answer", metavar="N|CODE", help="The debug round: the mistake planted, as the number "
        "of a choice (drillpe mock status lists them) or its code.", show_default=False)] = None,
    timeout: TimeoutOpt = 20.0,
    lang: LangOpt = None,
) -> int:
    """Grade the session's files as they are now and record the session.
    After the deadline it is still graded, and recorded as over time."""
    # deferred: loaded only when this command runs, so that every start stays fast
    from drillpe.practice import mock as mocking
    from drillpe.render import practice_views as view

    session = mocking.speak(mocking.load(session_id))
    history = open_history()
    if answer is not None:
        _name_debug(session, answer)
    if session.state == "submitted":
        report = mocking.report(session, session.submitted_at)
        if as_json:
            render.print_json(report)
        else:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(session.submitted_at))
            render.warn(catalog.ui("mock_already_submitted", id=session.id, when=when))
            view.mock_report(report, again=True)
        return EXIT_OK if report["passed"] else EXIT_FAILED
    results, debug = _grade_all(session, timeout)
    ask = not (as_json or no_questions) and sys.stdin.isatty()
    return _finish(session, results, history, ask=ask, as_json=as_json, debug=debug)


def _name_debug(session, answer: str) -> None:
    """mock submit --answer: the debug round's answer, given once."""
    # deferred: loaded only when this command runs, so that every start stays fast
    from drillpe.data import debug_material

    if session.debug is None:
        raise UsageError(catalog.ui("mock_no_debug_round", id=session.id))
    if session.debug.get("answer") is not None:
        raise UsageError(catalog.ui("debug_answered", answer=session.debug["answer"],
                                    id=session.debug["exercise"]))
    code = debug_material.answer_code(answer, session.debug["choices"])
    if code is None:
        raise UsageError(catalog.ui("debug_bad_answer", answer=answer,
                                    n=len(session.debug["choices"]),
                                    codes=i18n.listing(session.debug["choices"])))
    session.debug["answer"] = code
    session.save()


def _grade_all(session, timeout: float) -> tuple[dict, object]:
    """Several files: warm workers pay the torch import once for all of them.
    Returns the grades by exercise, and the debug round's (None without one)."""
    # deferred: loaded only when this command runs, so that every start stays fast
    from drillpe.launch.warm_pool import launcher as warm_launcher
    from drillpe.practice import interview

    if len(session.exercises) == 1 and session.debug is None:
        return {eid: interview.grade_file(session, eid, timeout=timeout)
                for eid in session.exercises}, None
    with warm_launcher() as launcher:
        return ({eid: interview.grade_file(session, eid, launcher, timeout=timeout)
                 for eid in session.exercises},
                interview.grade_debug(session, launcher, timeout=timeout))


@mock_app.command("questions", short_help="Answer the follow-up questions left.")
def mock_questions(session_id: SessionOpt = None, lang: LangOpt = None) -> int:
    """Answer a submitted session's follow-up questions not answered yet."""
    # deferred: loaded only when this command runs, so that every start stays fast
    from drillpe.practice import interview
    from drillpe.practice import mock as mocking
    from drillpe.render import practice_views as view

    session = mocking.speak(mocking.load(session_id))
    if session.state != "submitted":
        raise UsageError(f"mock session {session.id} is still running: the questions come "
                         "after drillpe mock submit.")
    if not sys.stdin.isatty():
        raise UsageError("the follow-up questions need a terminal to type answers in.")
    history = open_history()
    interview.ask_followups(session, history, view.ask)
    view.mock_report(mocking.report(session, session.submitted_at))
    return EXIT_OK
