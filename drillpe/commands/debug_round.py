"""``drillpe debug``: the debug round (README, "The debug round").

A correct answer with one realistic mistake in it is written to
``<workspace>/ID.debug.py`` (never the learner's ``ID.py``; a file already
there is moved to a backup first). The learner fixes it and grades it with
``drillpe debug ID --check``, and names the mistake with ``--answer`` (a
number from the choices shown, or the code), or at the prompt that follows a
passing check on a terminal. The material is ``drillpe.data.debug_material``.

History: every ``--check`` is an attempt with source ``debug`` (so ``drillpe
hint ID`` reads its failing checks as usual; stats and next do not count it as
a try of the exercise), and the round is a session of kind ``debug`` whose
report says what the mistake was, what was answered, and whether it is fixed;
it is written again whenever that changes.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from drillpe import render
from drillpe.app import (
    LangOpt,
    TimeoutOpt,
    WorkspaceOpt,
    app,
    complete_exercise_id,
    exercise_or_usage,
    open_history,
)
from drillpe.data import catalog, i18n, places
from drillpe.data import debug_material as material
from drillpe.data.files import write_atomic
from drillpe.data.limits import MAX_SEED
from drillpe.errors import EXIT_FAILED, EXIT_OK, UsageError
from drillpe.render import debug_views as view

SESSION_KIND = "debug"


@app.command(short_help="Fix one planted mistake in a correct answer, then name it.")
def debug(
    exercise_id: Annotated[str | None, typer.Argument(
        metavar="ID", help="Exercise id [default: write: one drawn at random; --check and "
        "--answer: the latest round].", autocompletion=complete_exercise_id,
        show_default=False)] = None,
    check: Annotated[bool, typer.Option("--check", help="Grade your fix of the debug "
                                        "file.")] = False,
    answer: Annotated[str | None, typer.Option(
        "--answer", metavar="N|CODE", help="Name the mistake: the number of a choice, or "
        "its code.", show_default=False)] = None,
    seed: Annotated[int | None, typer.Option(
        "--seed", metavar="N", min=0, max=MAX_SEED, help="Makes the draw (exercise, "
        "mistake, choices) reproducible.", show_default=False)] = None,
    timeout: TimeoutOpt = 20.0,
    workspace: WorkspaceOpt = None,
    lang: LangOpt = None,
) -> int:
    """Write <workspace>/ID.debug.py, a correct answer with one mistake a candidate
    makes; fix it (--check) and name it (--answer). Your ID.py is never touched."""
    if check and answer is not None:
        raise UsageError(catalog.ui("debug_check_and_answer"))
    if check:
        return _check(_open_round(exercise_id), timeout)
    if answer is not None:
        return _answer(_open_round(exercise_id), answer)
    return _write(exercise_id, seed, places.workspace(workspace))


def _write(exercise_id: str | None, seed: int | None, ws: Path) -> int:
    available = material.exercise_ids()
    if exercise_id is not None:
        exercise = exercise_or_usage(exercise_id)
        if exercise.id not in available:
            raise UsageError(catalog.ui("debug_no_material", id=exercise.id,
                                        ids=i18n.listing(available)))
    rng = random.Random(seed)
    variant = material.draw(exercise_id, rng)
    exercise = catalog.get(variant.exercise)
    choices = material.choices(variant, rng)
    path = material.debug_file(exercise.id, ws)
    text = material.debug_text(variant, i18n.current())
    backup = None
    if path.exists() or path.is_symlink():
        if not path.is_file():
            raise UsageError(catalog.ui("debug_not_a_file", path=places.display(path)))
        backup = places.display(places.replace_keeping_backup(path, text))
    else:
        write_atomic(path, text)
    now = time.time()
    material.save_round(exercise.id, {
        "id": f"debug-{exercise.id}-{int(now * 1000)}", "exercise": exercise.id,
        "code": variant.code, "variant": variant.number, "file": str(path.resolve()),
        "choices": choices, "started_at": now, "answer": None, "named": None,
        "fixed": False, "checks": 0, "seed": seed,
    })
    view.written(exercise, places.display(path), backup, choices)
    return EXIT_OK


def _open_round(exercise_id: str | None) -> dict:
    rounds = material.rounds()
    if exercise_id is None:
        exercise_id = material.latest_round()
        if exercise_id is None:
            raise UsageError(catalog.ui("debug_no_rounds"))
    exercise = exercise_or_usage(exercise_id)
    entry = rounds.get(exercise.id)
    if entry is None:
        raise UsageError(catalog.ui("debug_no_round", id=exercise.id))
    return dict(entry, exercise=exercise.id)


def _check(entry: dict, timeout: float) -> int:
    # deferred: loaded only when this command runs, so that every start stays fast
    from drillpe.launch.runner import GradeRequest, grade

    exercise_id, path = entry["exercise"], Path(entry["file"])
    if not path.is_file():
        raise UsageError(catalog.ui("debug_file_missing", path=places.display(path),
                                    id=exercise_id))
    with render.Progress() as status:
        result = grade(GradeRequest(exercise_id=exercise_id, file=path, timeout=timeout,
                                    display_path=places.display(path),
                                    progress=status.grading(exercise_id)))
    history = open_history()
    history.record_check(result, source=SESSION_KIND, session=entry["id"], file=path)
    entry["fixed"] = bool(result.passed and not result.diagnoses)
    entry["checks"] = int(entry.get("checks") or 0) + 1
    view.scorecard(result, hide_names=entry.get("named") is None)
    view.fix_state(entry["fixed"], places.display(path), exercise_id,
                   core_passes=bool(result.passed))
    _save(entry, history)
    if entry.get("named") is None and entry["fixed"] and _interactive():
        view.choice_list(entry["choices"])
        while reply := view.ask_choice(len(entry["choices"])).strip():
            if material.answer_code(reply, entry["choices"]) is not None:
                return _answer(entry, reply, history)
            view.bad_answer(reply, entry["choices"])
    if entry.get("named") is None:
        view.name_next(exercise_id, entry["choices"])
    else:
        view.round_done(entry["fixed"], bool(entry["named"]))
    return EXIT_OK if entry["fixed"] else EXIT_FAILED


def _answer(entry: dict, given: str, history=None) -> int:
    exercise_id, choices = entry["exercise"], entry["choices"]
    if entry.get("named") is not None:
        raise UsageError(catalog.ui("debug_answered", answer=entry.get("answer"),
                                    id=exercise_id))
    code = _chosen_code(given.strip(), choices)
    entry["answer"], entry["named"] = code, code == entry["code"]
    entry["answered_at"] = time.time()
    _save(entry, history or open_history())
    view.answered(entry["named"], code, entry["code"])
    if entry.get("fixed"):
        view.round_done(True, entry["named"])
    else:
        view.fix_state(False, places.display(Path(entry["file"])), exercise_id)
    return EXIT_OK if entry["named"] else EXIT_FAILED


def _chosen_code(given: str, choices: list[str]) -> str:
    code = material.answer_code(given, choices)
    if code is not None:
        return code
    raise UsageError(catalog.ui("debug_bad_answer", answer=given, n=len(choices),
                                codes=i18n.listing(choices)))


def _save(entry: dict, history) -> None:
    """The round's state file, and its session in the history with its attempts."""
    material.save_round(entry["exercise"], entry)
    named, fixed = entry.get("named"), bool(entry.get("fixed"))
    attempts = [a for a in history.events(entry["exercise"]).get(
        entry["exercise"], _no_events(entry["exercise"])).attempts if a.session == entry["id"]]
    report = {
        "schema": 1, "kind": SESSION_KIND, "id": entry["id"], "exercise": entry["exercise"],
        "code": entry["code"], "answer": entry.get("answer"), "named": named, "fixed": fixed,
        "checks": entry.get("checks", 0), "file": entry["file"],
        "started_at": entry["started_at"], "answered_at": entry.get("answered_at"),
    }
    score = (float(fixed) + float(bool(named))) / 2
    history.record_session(entry["id"], SESSION_KIND, entry["started_at"], time.time(),
                           score, report, attempts=attempts)


def _no_events(exercise_id: str):
    # deferred: the history's record types load with the history itself
    from drillpe.results.events import Events

    return Events(exercise_id)


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()
