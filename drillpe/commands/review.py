"""The attempt timeline: history, diff, replay (cli.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from drillpe import render
from drillpe.app import (
    ExerciseArg,
    LangOpt,
    app,
    complete_exercise_id,
    exercise_or_usage,
    open_history,
)
from drillpe.data import bundle, catalog, places
from drillpe.data.files import write_atomic
from drillpe.errors import EXIT_OK, UsageError


@app.command(short_help="Every graded attempt of an exercise, and how it changed.")
def history(
    exercise_id: Annotated[str | None, typer.Argument(
        metavar="ID", help="Exercise id (see drillpe list); with --export, optional (all).",
        autocompletion=complete_exercise_id, show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document (README: "
                                          "the attempt timeline).")] = False,
    export: Annotated[Path | None, typer.Option(
        "--export", metavar="FILE", help="Write the attempts (of ID, else all) with their "
        "sources and reports to FILE, one JSON object a line.")] = None,
    import_: Annotated[Path | None, typer.Option(
        "--import", metavar="FILE", help="Add the attempts of an exported FILE; those already "
        "here are skipped.")] = None,
    lang: LangOpt = None,
) -> int:
    """Every graded attempt of ID in order: time, verdict, score, diagnoses and how
    they changed. The source of each attempt is kept (drillpe diff, drillpe replay)."""
    # deferred: loaded only when this command runs, so that every start stays fast
    from drillpe.render import timeline_views as view
    from drillpe.results import timeline

    if export is not None and import_ is not None:
        raise UsageError("--export and --import go one at a time.")
    if import_ is not None:
        if exercise_id is not None:
            raise UsageError("--import adds every attempt in the file: give no ID with it.")
        return _import(import_)
    if exercise_id is None and export is None:
        raise UsageError("give an exercise id: drillpe history ID (or --export FILE, or "
                         "--import FILE)")
    exercise = exercise_or_usage(exercise_id) if exercise_id is not None else None
    history = open_history()
    if export is not None:
        rows = list(history.export_rows(exercise.id if exercise else None))
        text = "".join(timeline.export_line(r) + "\n" for r in rows)
        backup = None
        try:
            if export.is_file():  # an earlier export is kept, never overwritten
                backup = places.replace_keeping_backup(export, text)
            elif export.exists():
                raise UsageError(f"{export} is not a file; choose another name.")
            else:
                write_atomic(export, text)
        except OSError as exc:
            raise UsageError(f"cannot write {export} ({exc.strerror or exc})") from None
        render.note(catalog.ui("tl_exported", n=len(rows), path=places.display(export)))
        if backup is not None:
            render.note(catalog.ui("moved", backup=places.display(backup)))
        return EXIT_OK
    entries = history.timeline(exercise.id)
    if as_json:
        render.print_json({"schema": 1, "exercise": exercise.id,
                           "attempts": [e.to_dict(_iso) for e in entries]})
    else:
        view.history(exercise.id, entries)
    return EXIT_OK


def _iso(at: float) -> str:
    # deferred: the one place a timestamp is written for JSON
    from datetime import datetime, timezone

    return datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="milliseconds")


def _import(path: Path) -> int:
    # deferred: loaded only when this command runs, so that every start stays fast
    from drillpe.results import timeline

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path} ({getattr(exc, 'strerror', None) or exc})"
                         ) from None
    rows = []
    known = set(catalog.ids())
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append(timeline.import_line(line, known))
        except ValueError as exc:
            raise UsageError(catalog.ui("tl_bad_import", path=places.display(path), line=number,
                                        why=exc)) from None
    added, skipped = open_history().import_rows(rows)
    render.note(catalog.ui("tl_imported", added=added, skipped=skipped,
                           path=places.display(path)))
    return EXIT_OK


Spec = Annotated[str | None, typer.Argument(
    metavar="A", help="An attempt (1 is the first, -1 the last) or 'answer' (the model "
    "answer, once you have passed or revealed it) [default: the last two].",
    show_default=False)]


@app.command(short_help="Code diff between two attempts (default: the last two).",
             context_settings={"ignore_unknown_options": True})
def diff(
    exercise_id: ExerciseArg,
    a: Spec = None,
    b: Annotated[str | None, typer.Argument(
        metavar="B", help="The other attempt, or 'answer' [default: the last].",
        show_default=False)] = None,
    lang: LangOpt = None,
) -> int:
    """Code diff between two attempts of ID (default: the last two), or between an
    attempt and the model answer ('answer') once you have passed or revealed it.
    Attempts are numbered as drillpe history shows them; -1 is the last."""
    # deferred: loaded only when this command runs, so that every start stays fast
    from drillpe.render import timeline_views as view
    from drillpe.results.timeline import BadIndex, pick

    exercise = exercise_or_usage(exercise_id)
    for spec in (a, b):
        if spec is not None and spec.startswith("--"):
            raise UsageError(f"no such option: {spec}")
    history = open_history()
    entries = history.timeline(exercise.id)
    if a is None:
        kept = [e for e in entries if e.code_sha is not None]
        if len(kept) < 2:
            raise UsageError(catalog.ui("tl_need_two" if kept else "tl_need_any",
                                        id=exercise.id))
        chosen = kept[-2:]
    else:
        chosen = []
        for spec in (a, b if b is not None else "-1"):
            try:
                place = pick(spec, len(entries))
            except BadIndex:
                raise UsageError(catalog.ui("tl_bad_index", spec=spec, id=exercise.id,
                                            n=len(entries))) from None
            chosen.append(None if place is None else entries[place])
    if None in chosen and not history.passed_or_revealed(exercise.id):
        raise UsageError(catalog.ui("tl_answer_locked", id=exercise.id))
    texts = []
    for entry in chosen:
        if entry is None:
            texts.append(bundle.solution_path(exercise.id).read_text(encoding="utf-8"))
            continue
        text = history.text(entry.code_sha)
        if text is None:
            raise UsageError(catalog.ui("tl_no_source", n=entry.number, id=exercise.id,
                                        why=catalog.ui(f"tl_source_{entry.source_state}")))
        texts.append(text)
    view.diff(view.label(chosen[0], exercise.id), texts[0], view.label(chosen[1], exercise.id),
              texts[1], code_only=None in chosen)
    return EXIT_OK


@app.command(short_help="Step through the attempts of an exercise (← →, q quits).")
def replay(
    exercise_id: ExerciseArg,
    start: Annotated[str | None, typer.Option(
        "--from", metavar="N", help="Start at this attempt (1 is the first, -1 the last).",
        show_default=False)] = None,
    lang: LangOpt = None,
) -> int:
    """Step through the attempts of ID in a terminal view, each with its scorecard:
    ← and → move, Home and End jump, q quits. Without a terminal, every attempt is
    printed one after another."""
    # deferred: loaded only when this command runs, so that every start stays fast
    from drillpe.practice import replay as player
    from drillpe.practice.keys import Keys
    from drillpe.render import timeline_views as view
    from drillpe.results.timeline import BadIndex, pick

    exercise = exercise_or_usage(exercise_id)
    history = open_history()
    entries = history.timeline(exercise.id)
    if not entries:
        view.history(exercise.id, entries)
        return EXIT_OK
    place = None
    if start is not None:
        try:
            place = pick(start, len(entries))
        except BadIndex:
            place = -1
        if place is None or place < 0:
            raise UsageError(catalog.ui("tl_bad_start", spec=start, id=exercise.id,
                                        n=len(entries)))
    with Keys(arrows=True) as keys:
        player.run(entries, history.report, keys, place)
    return EXIT_OK
