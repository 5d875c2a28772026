"""What ``drillpe debug`` shows: the round written, the answer choices, the
scorecard of the debug file (its Why lines held back until the mistake is
named, since they would name it), the answer's outcome."""

from __future__ import annotations

import dataclasses

from rich.text import Text

from drillpe import render
from drillpe.data import catalog, i18n
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


def without_names(result: ExerciseResult) -> ExerciseResult:
    """The result with its checks' diagnosis codes left out: what a scorecard shows
    of a debug file before the mistake is named (its Why lines would name it)."""
    return dataclasses.replace(result, checks=[
        dataclasses.replace(check, diagnosis=[]) for check in result.checks])


def scorecard(result: ExerciseResult, hide_names: bool) -> None:
    render.scorecard(without_names(result) if hide_names else result)


def fix_state(fixed: bool, path: str, exercise_id: str, core_passes: bool = False) -> None:
    """``core_passes``: the scorecard says PASS, yet a known mistake is left (an
    extra check names it): say so, or "PASS" and "not fixed" read as a contradiction."""
    if fixed:
        _say(catalog.ui("debug_fixed"), "green")
    else:
        _say(catalog.ui("debug_not_fixed_extra" if core_passes else "debug_not_fixed",
                        path=path, id=exercise_id), "yellow")


def name_next(exercise_id: str, choices: list[str]) -> None:
    _say(catalog.ui("debug_name_how", id=exercise_id), "bold")
    choice_list(choices)


def ask_choice(count: int) -> str:
    """The answer typed; end of input (Ctrl-D) is an answer left for later."""
    try:
        return out.input(Text(catalog.ui("debug_prompt", n=count), style="bold"))
    except EOFError:
        return ""


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


# ---------------------------------------------------------------- in a mock interview
def prompt_text(count: int) -> str:
    return catalog.ui("debug_prompt", n=count)


def mock_question(path: str, choices: list[str]) -> None:
    out.print()
    _say(catalog.ui("mock_debug_question", path=path), "bold")
    choice_list(choices)


def bad_answer(answer: str, choices: list[str]) -> None:
    _say(catalog.ui("debug_bad_answer", answer=answer, n=len(choices), codes=i18n.listing(choices)),
         "yellow")


def mock_item(path: str, exercise_id: str) -> None:
    line = Text(f"  {catalog.ui('mock_debug_label')} ", style="bold cyan")
    line.append(catalog.ui("mock_debug_item", id=exercise_id))
    out.print(line, soft_wrap=True)
    out.print(Text(f"     {path}"), soft_wrap=True)


def mock_report_line(debug: dict) -> None:
    def word(flag: bool) -> str:
        return catalog.ui("debug_yes" if flag else "debug_no")

    text = catalog.ui("mock_debug_report", id=debug["exercise"], fixed=word(debug["fixed"]),
                      named=word(debug["named"]), code=debug["code"],
                      answer=debug["answer"] or "–", score=f"{debug['score']:.0%}")
    _say(text, "green" if debug["passed"] else "yellow")
