"""The ``drillpe`` command line (cli.md). Commands stay thin: places,
catalog, runner and render do the work; errors become exit codes in
:func:`main` only. Nothing here imports torch: grading runs in children.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import click
import typer

from drillpe import __version__, catalog, places, render, resources
from drillpe.errors import EXIT_BUG, EXIT_FAILED, EXIT_OK, DrillpeBug, DrillpeError, UsageError
from drillpe.report import write_atomic

app = typer.Typer(
    name="drillpe",
    help="Practise writing positional encodings from scratch; a hidden reference grades you.",
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

class Device(str, Enum):
    cpu = "cpu"
    cuda = "cuda"
    auto = "auto"


WorkspaceOpt = Annotated[Path | None, typer.Option(
    "--workspace", "-w", help="Folder of learner files [default: $DRILLPE_WORKSPACE or "
    "./drillpe-workspace].", show_default=False)]


def _exercise(exercise_id: str) -> catalog.Exercise:
    try:
        return catalog.get(exercise_id)
    except catalog.UnknownExercise as exc:
        raise UsageError(str(exc)) from None


def _progress():
    from drillpe.progress import Progress

    progress = Progress()
    if progress.warning:
        render.warn(progress.warning)
    return progress


def _version(value: bool) -> None:
    if value:
        print(f"drillpe {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """Practise writing positional encodings from scratch; a hidden reference grades you."""


@app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    workspace: WorkspaceOpt = None,
) -> int:
    """Every exercise: id, title, difficulty, whether started, best result."""
    ws = places.workspace(workspace)
    progress = _progress()
    rows = []
    for ex in catalog.load().values():
        entry = progress.peek(ex.id) or {}
        rows.append({
            "id": ex.id, "title": ex.title, "topic": ex.topic, "difficulty": ex.difficulty,
            "minutes": ex.minutes, "started": places.learner_file(ex.id, ws).is_file(),
            "best": entry.get("best_score"), "passed": bool(entry.get("passes")),
            "attempts": entry.get("attempts", 0),
        })
    if as_json:
        print(json.dumps({"schema": 1, "exercises": rows}, indent=2))
    else:
        render.exercise_list(rows)
    return EXIT_OK


@app.command()
def start(
    exercise_id: Annotated[str, typer.Argument(metavar="ID", help="Exercise id (see drillpe list).")],
    workspace: WorkspaceOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file, after moving "
                                        "it to a backup beside it.")] = False,
) -> int:
    """Write the stub <workspace>/ID.py. Never overwrites your work."""
    exercise = _exercise(exercise_id)
    ws = places.workspace(workspace)
    target = places.learner_file(exercise.id, ws)
    backup = None
    if target.exists():
        if not force:
            raise UsageError(
                f"{places.display(target)} already exists; your work is kept. Check it with "
                f"`drillpe check {exercise.id}`, or start over with `drillpe start {exercise.id} "
                "--force` (your file is moved to a backup first).")
        backup = places.display(places.move_to_backup(target))
    write_atomic(target, resources.stub_path(exercise.id).read_text(encoding="utf-8"))
    render.started(exercise, places.display(target), backup)
    return EXIT_OK


@app.command()
def reset(
    exercise_id: Annotated[str, typer.Argument(metavar="ID")],
    workspace: WorkspaceOpt = None,
) -> int:
    """Put a fresh stub in place, moving your file to a backup first."""
    exercise = _exercise(exercise_id)
    target = places.learner_file(exercise.id, places.workspace(workspace))
    backup = places.display(places.move_to_backup(target)) if target.exists() else None
    write_atomic(target, resources.stub_path(exercise.id).read_text(encoding="utf-8"))
    render.started(exercise, places.display(target), backup)
    return EXIT_OK


def _targets(ids: list[str], file: Path | None, ws: Path) -> list[tuple[catalog.Exercise, Path]]:
    if file is not None:
        if len(ids) > 1:
            raise UsageError("--file grades one exercise: give at most one ID with it.")
        exercise_id = ids[0] if ids else file.stem
        if not ids and exercise_id not in catalog.load():
            raise UsageError(f"cannot tell which exercise {file} is for; name it: "
                             f"drillpe check ID --file {file}")
        if not file.is_file():
            raise UsageError(f"no such file: {file}")
        return [(_exercise(exercise_id), file)]
    if not ids:
        found = [(ex, places.learner_file(ex.id, ws)) for ex in catalog.load().values()
                 if places.learner_file(ex.id, ws).is_file()]
        if not found:
            raise UsageError(f"nothing to check: no started exercises in {places.display(ws)}. "
                             "Start one with: drillpe start ID")
        return found
    targets = []
    for exercise_id in ids:
        exercise = _exercise(exercise_id)
        path = places.learner_file(exercise.id, ws)
        if not path.is_file():
            raise UsageError(f"no learner file for {exercise.id} at {places.display(path)}. "
                             f"Run `drillpe start {exercise.id}` first.")
        targets.append((exercise, path))
    return targets


@app.command()
def check(
    exercise_ids: Annotated[list[str] | None, typer.Argument(
        metavar="[ID]...", help="Exercises to grade [default: every started one].")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Grade this file as the (single) ID.")] = None,
    device: Annotated[Device, typer.Option(
        "--device", help="Where to run your code and the reference.")] = Device.cpu,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document (cli.md).")] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=0.5, help="Seconds allowed to grade "
                                           "each learner file as a whole.")] = 20.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random inputs "
                                      "(printed in every report).")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Scorecard table and verdict only.")] = False,
    workspace: WorkspaceOpt = None,
) -> int:
    """Grade learner files against the hidden references."""
    from drillpe.report import document
    from drillpe.runner import GradeRequest, grade

    ws = places.workspace(workspace)
    targets = _targets(list(exercise_ids or []), file, ws)
    progress = _progress()
    results = []
    for exercise, path in targets:
        result = grade(GradeRequest(exercise_id=exercise.id, file=path, device=device.value, seed=seed,
                                    timeout=timeout, display_path=places.display(path)))
        results.append(result)
        progress.record_check(result)
        if not as_json:
            render.scorecard(result, quiet=quiet)
    progress.save()
    if as_json:
        print(json.dumps(document(results), indent=2, ensure_ascii=False))
    else:
        render.summary(results)
    return EXIT_OK if all(r.passed for r in results) else EXIT_FAILED


@app.command()
def hint(
    exercise_id: Annotated[str, typer.Argument(metavar="ID")],
    level: Annotated[int | None, typer.Option("--level", "-l", min=1, help="Show this level "
                                              "[default: the next one you have not seen].")] = None,
) -> int:
    """Progressive hints: level 1 is the idea, the last level is nearly the code."""
    exercise = _exercise(exercise_id)
    total = len(exercise.hints)
    progress = _progress()
    if level is None:
        seen = (progress.peek(exercise.id) or {}).get("hints_seen", 0)
        level = min(seen + 1, total)
    if level > total:
        raise UsageError(f"{exercise.id} has {total} hint levels (1 to {total}).")
    render.hint(exercise, level)
    progress.record_hint(exercise.id, level)
    progress.save()
    return EXIT_OK


@app.command()
def reveal(
    exercise_id: Annotated[str, typer.Argument(metavar="ID")],
    diff: Annotated[bool, typer.Option("--diff", help="Show how your file differs from the "
                                       "reference.")] = False,
    raw: Annotated[bool, typer.Option("--raw", help="Plain source only, for redirecting to a "
                                      "file.")] = False,
    workspace: WorkspaceOpt = None,
) -> int:
    """Show the reference solution."""
    exercise = _exercise(exercise_id)
    source = resources.solution_path(exercise.id).read_text(encoding="utf-8")
    if diff:
        path = places.learner_file(exercise.id, places.workspace(workspace))
        if not path.is_file():
            raise UsageError(f"no learner file for {exercise.id} at {places.display(path)} "
                             "to compare with.")
        render.reveal_diff(exercise, path.read_text(encoding="utf-8", errors="replace"), source,
                           places.display(path))
    elif raw:
        render.reveal_raw(source)
    else:
        render.reveal(exercise, source)
    progress = _progress()
    progress.record_reveal(exercise.id)
    progress.save()
    return EXIT_OK


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and map every outcome to cli.md's exit codes."""
    try:
        code = app(args=argv, prog_name="drillpe", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except click.exceptions.Abort:
        render.error("aborted")
        code = EXIT_FAILED
    except DrillpeBug as exc:
        render.error(str(exc))
        code = EXIT_BUG
    except DrillpeError as exc:
        render.error(str(exc))
        code = exc.exit_code
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:  # anything unexpected is drillpe's fault, said plainly
        import traceback

        traceback.print_exc()
        render.error(str(DrillpeBug(f"unexpected {type(exc).__name__}: {exc}")))
        code = EXIT_BUG
    sys.exit(code if isinstance(code, int) else EXIT_OK)
