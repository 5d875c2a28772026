"""The everyday commands: list, start, reset, check, hint, reveal (cli.md)."""

from __future__ import annotations

import dataclasses
import os
import re
import time
from pathlib import Path
from typing import Annotated

import typer

from drillpe import render
from drillpe.app import (
    Device,
    ExerciseArg,
    LangOpt,
    SeedOpt,
    TimeoutOpt,
    WorkspaceOpt,
    app,
    complete_exercise_id,
    exercise_or_usage,
    open_history,
)
from drillpe.data import bundle, catalog, files, i18n, places
from drillpe.data.files import write_atomic
from drillpe.data.limits import MAX_LEARNER_FILE
from drillpe.errors import EXIT_FAILED, EXIT_OK, UsageError
from drillpe.render import consequence_views


@app.command("list", short_help="Every exercise, by topic, with your progress.")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    workspace: WorkspaceOpt = None,
    lang: LangOpt = None,
) -> int:
    """Every exercise: id, title, difficulty, whether started, best result."""
    ws = places.workspace(workspace)
    history = open_history()
    rows = []
    for ex in catalog.by_topic():
        entry = history.exercise_summary(ex.id)
        rows.append({
            "id": ex.id, "title": ex.title, "topic": ex.topic, "seed": ex.seed,
            "difficulty": ex.difficulty,
            "minutes": ex.minutes, "started": places.learner_file(ex.id, ws).is_file(),
            "best": entry.get("best_score"), "passed": bool(entry.get("passes")),
            "attempts": entry.get("attempts", 0), "status": entry.get("status", "new"),
            "last_practised": entry.get("last_practised"),
        })
    if as_json:
        render.print_json({"schema": 1, "exercises": rows})
    else:
        render.exercise_list(rows)
    return EXIT_OK


@app.command()
def start(
    exercise_id: ExerciseArg,
    workspace: WorkspaceOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file, after moving "
                                        "it to a backup beside it.")] = False,
    lang: LangOpt = None,
) -> int:
    """Write the stub <workspace>/ID.py. Never overwrites your work."""
    exercise = exercise_or_usage(exercise_id)
    ws = places.workspace(workspace)
    target = places.learner_file(exercise.id, ws)
    if target.exists():
        if not force:
            raise UsageError(catalog.ui("start_exists", path=places.display(target),
                                        id=exercise.id))
    # a new workspace, found from the folder alone, where others exist: from another
    # folder, a newcomer's `start` quietly began a second one (check, hint and bench say
    # where the first is); one named with -w or DRILLPE_WORKSPACE is meant
    others = places.other_workspaces(ws) if _implicit(workspace) and not ws.is_dir() else []
    render.started(exercise, places.display(target), _put_stub(exercise, target),
                   _check_as(exercise.id, workspace, ws))
    places.remember_start(exercise.id, target)
    if others:
        render.new_workspace_note(places.display(ws), [places.display(o) for o in others],
                                  exercise.id)
    return EXIT_OK


def _implicit(workspace: Path | None) -> bool:
    """Whether the workspace is the one the folder alone finds (no -w, no DRILLPE_WORKSPACE)."""
    return workspace is None and not os.environ.get(places.WORKSPACE_ENV)


def _check_as(exercise_id: str, workspace: Path | None, ws: Path) -> str:
    """What follows `drillpe check` in the next command: -w where the workspace was
    named (helper-144's `start -w` was told to run a check that graded another file)."""
    return exercise_id if _implicit(workspace) else f"{exercise_id} -w {places.display(ws)}"


@app.command()
def reset(
    exercise_id: Annotated[str | None, typer.Argument(
        metavar="ID", help="Exercise id (see drillpe list); none with --all.",
        autocompletion=complete_exercise_id, show_default=False)] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every started exercise of the workspace, "
                                       "each file moved to a backup first.")] = False,
    workspace: WorkspaceOpt = None,
    lang: LangOpt = None,
) -> int:
    """Put a fresh stub in place, moving your file to a backup first."""
    ws = places.workspace(workspace)
    if all_:
        if exercise_id is not None:
            raise UsageError("--all resets every started exercise: give no ID with it.")
        started = [ex for ex in catalog.load().values()
                   if places.learner_file(ex.id, ws).is_file()]
        if not started:
            raise UsageError(catalog.ui("reset_all_none", folder=places.display(ws)))
        done = [(ex.id, _put_stub(ex, places.learner_file(ex.id, ws))) for ex in started]
        for ex in started:
            places.remember_start(ex.id, places.learner_file(ex.id, ws))
        render.reset_all(done)
        return EXIT_OK
    if exercise_id is None:
        raise UsageError("give an exercise id (drillpe reset ID), or --all for every started "
                         "exercise of the workspace.")
    exercise = exercise_or_usage(exercise_id)
    target = places.learner_file(exercise.id, ws)
    render.started(exercise, places.display(target), _put_stub(exercise, target),
                   _check_as(exercise.id, workspace, ws))
    places.remember_start(exercise.id, target)
    return EXIT_OK


def _put_stub(exercise: catalog.Exercise, target: Path) -> str | None:
    """Write the stub to ``target``; a file already there is moved to a backup
    first (unless it is the untouched stub itself). Returns the backup's path."""
    stub = bundle.stub_path(exercise.id).read_text(encoding="utf-8")
    if not target.exists():
        write_atomic(target, stub)
        return None
    if _starts(target, len(stub.encode()) + 1) == stub:  # the untouched stub: nothing to keep
        return None
    if not target.is_file():
        raise UsageError(f"{places.display(target)} is not a file; move it away first.")
    return places.display(places.replace_keeping_backup(target, stub))


def _starts(path: Path, size: int) -> str | None:
    """The first ``size`` bytes of a regular file as text; None for anything else
    (a FIFO would block a plain read, a huge sparse file fill the memory)."""
    try:
        return files.read_regular(path, size).decode("utf-8", errors="replace")
    except (OSError, ValueError):
        return None


def _is_empty(path: Path) -> bool:
    start = _starts(path, 4096)
    return start is not None and not start.strip() and len(start) < 4096


def _what_next(history, workspace: Path) -> str:
    """After a pass: what `drillpe next` says to practise now, and why (one answer to
    "what now?": a newcomer was told one exercise by check and another by next once
    a review was due). Only on a pass: the schedule costs about 40 ms (fsrs)."""
    # deferred: loaded only when this command runs, so that every start stays fast
    from drillpe.practice import schedule

    plans, _ = schedule.learners_plan(history.events(), time.time())
    top = plans[0] if plans else None
    if top is None or top.group == 3:  # nothing due and nothing new
        return catalog.ui("pass_next_all")
    started = schedule.started(top.exercise, workspace)
    return catalog.ui("pass_next_started" if started else "pass_next", id=top.exercise,
                      why=top.reason)


def resolve_targets(ids: list[str], file: Path | None, ws: Path) -> list[tuple[catalog.Exercise, Path]]:
    for given in ids:
        if given.endswith(".py") or "/" in given or "\\" in given:
            stem = Path(given).stem
            example = stem if stem in catalog.load() else "ID"
            raise UsageError(f"{given} looks like a path: give the exercise id "
                             f"(drillpe check {example}), or grade a file with --file "
                             f"(drillpe check {example} --file {given}).")
    if file is not None:
        if len(ids) > 1:
            raise UsageError("--file grades one exercise: give at most one ID with it.")
        if not file.is_file():
            raise UsageError(files.not_a_file(file))
        exercise_id = ids[0] if ids else _exercise_of(file)
        if exercise_id is None:
            raise UsageError(f"cannot tell which exercise {file} is for; name it: "
                             f"drillpe check ID --file {file}")
        return [(exercise_or_usage(exercise_id), file)]
    if not ids:
        found = [(ex, places.learner_file(ex.id, ws)) for ex in catalog.load().values()
                 if places.learner_file(ex.id, ws).is_file()]
        if not found:
            elsewhere = [p for ex in catalog.load().values()
                         for p in places.started_elsewhere(ex.id, places.learner_file(ex.id, ws))]
            if elsewhere:
                raise UsageError(f"nothing to check in {places.display(ws)}: your exercises were "
                                 f"started in {elsewhere[0].parent}. "
                                 + _started_at(elsewhere[0].parent))
            raise UsageError(f"nothing to check: no started exercises in {places.display(ws)}. "
                             "Start one with: drillpe start ID")
        return found
    targets = []
    for exercise_id in dict.fromkeys(ids):  # `check rope rope` grades rope once
        exercise = exercise_or_usage(exercise_id)
        path = places.learner_file(exercise.id, ws)
        if not path.is_file():
            raise UsageError(files.not_a_file(path) if path.exists()
                             else missing_file(exercise.id, path))
        targets.append((exercise, path))
    return targets


STUB_SAYS = re.compile(r"drillpe check ([a-z][a-z0-9_]*)")


def _exercise_of(file: Path) -> str | None:
    """The exercise a file is for: its name (rope.py, rope.backup-….py), else the
    `drillpe check ID` line every stub carries."""
    known = catalog.load()
    stem = file.name.split(".")[0]
    if stem in known:
        return stem
    text = _starts(file, 20000) or ""
    for match in STUB_SAYS.finditer(text):
        if match.group(1) in known:
            return match.group(1)
    return None


def missing_file(exercise_id: str, path: Path) -> str:
    """Why there is no learner file at ``path``, and where it is when it was
    started in another folder: never advice to `start` again, which would
    leave the learner with two files."""
    elsewhere = places.started_elsewhere(exercise_id, path)
    if elsewhere:
        return (f"no {exercise_id}.py in {places.display(path.parent)} here: you started "
                f"{exercise_id} at {elsewhere[0]}. " + _started_at(elsewhere[0].parent))
    return (f"no learner file for {exercise_id} at {places.display(path)} (nor in a "
            f"{places.DEFAULT_WORKSPACE} folder above this one). Start it with "
            f"`drillpe start {exercise_id}`.")


def _started_at(folder: Path) -> str:
    return f"Work there (cd {folder.parent}), or pass -w {folder}"


@app.command()
def check(
    exercise_ids: Annotated[list[str] | None, typer.Argument(
        metavar="ID...", help="Exercises to grade [default: every started one].",
        autocompletion=complete_exercise_id)] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Grade this file instead (the exercise: ID, else the file's name or stub).")] = None,
    device: Annotated[Device, typer.Option(
        "--device", help="Where to run your code and the reference.")] = Device.cpu,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document (the README's JSON section).")] = False,
    timeout: TimeoutOpt = 20.0,
    seed: SeedOpt = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Scorecard table and verdict only.")] = False,
    consequence: Annotated[bool, typer.Option("--consequence", help="Also run your encoding in a tiny model next to the reference and plot where they part (rope, rope_neox, alibi).")] = False,
    workspace: WorkspaceOpt = None,
    lang: LangOpt = None,
) -> int:
    """Grade learner files against the hidden references."""
    # deferred: loaded only when this command runs, so that every start stays fast
    from drillpe.launch.runner import GradeRequest, grade
    from drillpe.results.report import document

    ws = places.workspace(workspace)
    if consequence:  # before looking for files: the option is wrong for these whatever they hold
        _consequence_or_usage([exercise_or_usage(i) for i in exercise_ids or []])
    targets = resolve_targets(list(exercise_ids or []), file, ws)
    if consequence and (exercise_ids or file is not None):
        _consequence_or_usage([exercise for exercise, _ in targets])
    # Every started exercise (no ID): the tiny model for those that have one, a plain
    # grade for the others.
    history = open_history()
    results = []
    for number, (exercise, path) in enumerate(targets, start=1):
        with render.Progress(enabled=not as_json) as status:
            result = grade(GradeRequest(
                exercise_id=exercise.id, file=path, device=device.value, seed=seed,
                timeout=timeout, display_path=places.display(path),
                consequence=consequence and exercise.consequence,
                progress=status.grading(exercise.id, number, len(targets), device.value)))
        results.append(result)
        # Your progress is your workspace file's: a scratch file graded with --file (a
        # mistake tried on purpose, someone else's answer) is not recorded as your attempt.
        mine = places.learner_file(exercise.id, ws)
        recorded = path.resolve() == mine.resolve()
        if recorded:  # the tiny model's series are for this screen, not the timeline
            history.record_check(dataclasses.replace(result, consequence=None), file=path)
        if not as_json:
            render.scorecard(result, quiet=quiet, unrecorded=not recorded)
            if consequence and exercise.consequence:
                consequence_views.show(result)
            if recorded and _is_empty(path):
                render.note(catalog.ui("empty_file", path=places.display(path), id=exercise.id))
            elif result.passed and not quiet:
                render.note(_what_next(history, ws))
            if not recorded:
                render.note(catalog.ui("not_recorded", path=places.display(path),
                                       mine=places.display(mine)))
    if as_json:
        render.print_json(document(results))
    else:
        render.summary(results)
    return EXIT_OK if all(r.passed for r in results) else EXIT_FAILED


def _consequence_or_usage(exercises: list[catalog.Exercise]) -> None:
    """--consequence is for the exercises whose grader has a tiny model (exercise.toml)."""
    for exercise in exercises:
        if not exercise.consequence:
            ids = i18n.listing([e.id for e in catalog.by_topic() if e.consequence])
            raise UsageError(catalog.ui("consequence_unsupported", ids=ids, id=exercise.id))


@app.command(short_help="The next hint for what is failing.")
def hint(
    exercise_id: ExerciseArg,
    level: Annotated[int | None, typer.Option("--level", "-l", metavar="N", min=1, help="Show this level "
                                              "[default: the next one you have not seen].")] = None,
    part: Annotated[str | None, typer.Option(
        "--part", metavar="PART", help="Hints about this part of the exercise (mask, table, ...) [default: the "
        "part your last check failed first; 'general' for the exercise as a whole].",
        show_default=False)] = None,
    lang: LangOpt = None,
) -> int:
    """Progressive hints about what is failing: level 1 is the idea, the last is nearly code."""
    exercise = exercise_or_usage(exercise_id)
    history = open_history()
    failing = history.last_failed_checks(exercise.id)

    def seen(ladder_part: str) -> int:
        return history.hints_seen(exercise.id, ladder_part)

    try:
        ladder = catalog.ladder_for(exercise.id, failing, part="" if part == "general" else part,
                                    seen=seen)
    except LookupError as exc:
        raise UsageError(str(exc)) from None
    total = len(ladder.hints)
    if level is None:
        level = min(seen(ladder.part) + 1, total)
    if level > total:
        raise UsageError(_no_such_level(exercise.id, level, ladder))
    general_seen = seen("")
    history.record_hint(exercise.id, level, part=ladder.part)
    # what a plain `drillpe hint` shows after this one: the footer names it
    then = catalog.next_hint(exercise.id, failing, seen)
    plain = then[0] if then else catalog.ladder_for(exercise.id, failing, seen=seen)
    render.hint(exercise, level, ladder, plain_part=plain.part, general_seen=general_seen,
                then=then, failing=bool(failing))
    return EXIT_OK


def _no_such_level(exercise_id: str, level: int, ladder: catalog.HintLadder) -> str:
    """Which ladders do reach ``level``: the part of the last failing check was
    picked without --part, and a newcomer asked for the general ladder's level 3."""
    total = len(ladder.hints)
    said = (catalog.ui("hint_no_level_part", id=exercise_id, total=total, part=ladder.part)
            if ladder.part else catalog.ui("hint_no_level", id=exercise_id, total=total))
    others = [other.part or "general" for other in catalog.hint_ladders(exercise_id)
              if other.part != ladder.part and len(other.hints) >= level]
    if others:
        said += catalog.ui("hint_level_elsewhere", level=level, parts=i18n.listing(others),
                           id=exercise_id, first=others[0])
    return said


@app.command()
def reveal(
    exercise_id: ExerciseArg,
    diff: Annotated[bool, typer.Option("--diff", help="Show how your code differs from the "
                                       "reference's (comments and docstrings aside).")] = False,
    file: Annotated[Path | None, typer.Option(
        "--file", help="With --diff: compare this file instead of your workspace file.")] = None,
    raw: Annotated[bool, typer.Option("--raw", help="Plain source only, for redirecting to a "
                                      "file.")] = False,
    workspace: WorkspaceOpt = None,
    lang: LangOpt = None,
) -> int:
    """Show the model answer (the reference solution)."""
    exercise = exercise_or_usage(exercise_id)
    if file is not None and not diff:
        raise UsageError(f"--file goes with --diff: drillpe reveal {exercise.id} --diff --file {file}")
    source = bundle.solution_path(exercise.id).read_text(encoding="utf-8")
    history = open_history()
    now = history.clock()
    # deferred: reveal's own reading of the history and its note (not at the CLI's start)
    from drillpe.render import practice_views
    from drillpe.results.events import Events
    from drillpe.results.progress import look_back

    passed_at = look_back(history.events(exercise.id).get(exercise.id, Events(exercise.id)), now)
    if diff:
        path = file if file is not None else places.learner_file(exercise.id,
                                                                  places.workspace(workspace))
        try:
            mine = files.read_regular(path, MAX_LEARNER_FILE).decode("utf-8", errors="replace")
        except FileNotFoundError:
            # a file named with --file is that file, as for check; the workspace's
            # may have been started in another folder
            raise UsageError(files.not_a_file(path) if file is not None
                             else missing_file(exercise.id, path)) from None
        except (OSError, ValueError):
            raise UsageError(files.not_a_file(path)) from None
        render.reveal_diff(exercise, mine, source, places.display(path))
    elif raw:
        render.reveal_raw(source)
    else:
        render.reveal(exercise, source)
    history.record_reveal(exercise.id, at=now)
    # after --raw on stderr: its stdout is the source alone, for a file
    practice_views.reveal_counts(exercise.id, None if passed_at is None else now - passed_at,
                                 aside=raw)
    return EXIT_OK
