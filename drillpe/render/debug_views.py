"""What ``drillpe debug`` shows: the round written, the answer choices, the
scorecard of the debug file (its Why lines held back until the mistake is
named, since they would name it), the answer's outcome."""

from __future__ import annotations

import dataclasses

from rich.text import Text

from drillpe import render
from drillpe.data import catalog
from drillpe.results.report import ExerciseResult

out = render.out


def _say(message: str, style: str = "") -> None:
    out.print(Text(message, style=style), soft_wrap=True)


def written(exercise: catalog.Exercise, path: str, backup: str | None,
            choices: list[str]) -> None:
    if backup:
        _say(catalog.ui("moved", backup=backup), "yellow")
    _say(catalog.ui("debug_wrote", path=path, title=exercise.title, id=exercise.id))
    _say(catalog.ui("debug_task", id=exercise.id), "bold")
    _say(catalog.ui("debug_name_how", id=exercise.id), "dim")
    choice_list(choices)


def choice_list(choices: list[str]) -> None:
    """The numbered choices, each code with what it means in the chosen language."""
    texts = catalog.diagnoses()
    _say(catalog.ui("debug_choices"), "bold")
    for number, code in enumerate(choices, start=1):
        line = Text(f"  {number}. ", style="cyan")
        line.append(code, style="bold")
        says = texts.get(code, {}).get("says")
        if says:
            line.append(f"  {says}", style="dim")
        out.print(line, soft_wrap=True)


def scorecard(result: ExerciseResult, hide_names: bool) -> None:
    """The scorecard; with ``hide_names`` the checks' diagnosis codes are left out,
    so that the Why lines do not give the answer away."""
    if hide_names:
        result = dataclasses.replace(result, checks=[
            dataclasses.replace(check, diagnosis=[]) for check in result.checks])
    render.scorecard(result)


def fix_state(fixed: bool, path: str, exercise_id: str) -> None:
    if fixed:
        _say(catalog.ui("debug_fixed"), "green")
    else:
        _say(catalog.ui("debug_not_fixed", path=path, id=exercise_id), "yellow")


def name_next(exercise_id: str, choices: list[str]) -> None:
    _say(catalog.ui("debug_name_how", id=exercise_id), "bold")
    choice_list(choices)


def ask_choice(count: int) -> str:
    return out.input(Text(catalog.ui("debug_prompt", n=count), style="bold"))


def answered(named: bool, answer: str, code: str) -> None:
    if named:
        _say(catalog.ui("debug_named_right", code=code), "green")
    else:
        _say(catalog.ui("debug_named_wrong", answer=answer, code=code), "red")
    entry = catalog.diagnoses().get(code)
    if entry:
        line = Text("• ", style="magenta")
        line.append(code, style="bold magenta")
        line.append(f": {entry['says']}\n  ")
        line.append(catalog.ui("fix"), style="bold")
        line.append(entry["fix"])
        out.print(line, soft_wrap=True)


def round_done(fixed: bool, named: bool) -> None:
    def word(flag: bool) -> str:
        return catalog.ui("debug_yes" if flag else "debug_no")

    _say(catalog.ui("debug_round_done", fixed=word(fixed), named=word(named)),
         "bold green" if fixed and named else "bold")
