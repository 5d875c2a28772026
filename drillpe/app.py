"""The typer application and what every command module shares (options,
exercise lookup, history). Commands live in ``drillpe/commands/``; exit
codes are decided in ``drillpe.cli.main`` only. No torch here.
"""

from __future__ import annotations

import math
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
import typer.core

from drillpe import __version__, render
from drillpe.data import catalog, i18n
from drillpe.data.limits import MAX_SEED, MAX_TIMEOUT_S, MIN_TIMEOUT_S
from drillpe.errors import UsageError


def _no_type_after_arguments() -> None:
    """typer (0.29) writes a Python type after every argument in --help ("ID <str>",
    "<list[str]>"): noise for a learner. An argument's help says what it is."""
    argument = getattr(typer.core, "TyperArgument", None)
    if argument is not None and hasattr(argument, "display_type_rich"):
        argument.display_type_rich = lambda self, ctx=None: None


_no_type_after_arguments()

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
    "--workspace", "-w", metavar="FOLDER", help="Folder of learner files [default: "
    "$DRILLPE_WORKSPACE, else the nearest drillpe-workspace here or in a folder above, else "
    "./drillpe-workspace].", show_default=False)]


# Option ranges (drillpe.data.limits): a value outside them is a usage error
# (exit 2), never a grade that fails for a reason the learner did not cause.


def finite(value: float | None) -> float | None:
    """A callback for float options: click's ranges let nan through."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


TimeoutOpt = Annotated[float, typer.Option(
    "--timeout", min=MIN_TIMEOUT_S, max=MAX_TIMEOUT_S, callback=finite, metavar="SECONDS",
    help="Seconds allowed to grade each learner file as a whole.")]
SeedOpt = Annotated[int, typer.Option(
    "--seed", min=0, max=MAX_SEED, metavar="N", help="Seed of the random inputs (printed in every report).")]


class Lang(str, Enum):
    en = "en"
    zh = "zh"


def _choose_lang(value: Lang | None) -> Lang | None:
    i18n.choose(value.value if value is not None else None)
    return value


LangOpt = Annotated[Lang | None, typer.Option(
    "--lang", help="Language of exercise texts: en or zh [default: $DRILLPE_LANG, else the "
    "locale].", show_default=False, callback=_choose_lang, is_eager=True)]


def complete_exercise_id(incomplete: str) -> list[str]:
    """Shell completion of exercise ids (drillpe --install-completion)."""
    return [exercise_id for exercise_id in catalog.ids() if exercise_id.startswith(incomplete)]


ExerciseArg = Annotated[str, typer.Argument(metavar="ID", help="Exercise id (see drillpe list).",
                                            autocompletion=complete_exercise_id)]


def exercise_or_usage(exercise_id: str) -> catalog.Exercise:
    try:
        return catalog.get(exercise_id)
    except catalog.UnknownExercise as exc:
        raise UsageError(str(exc)) from None


def open_history():
    # deferred: sqlite3 and the history load only for commands that record
    from drillpe.results.history import History

    history = History(warn=render.warn)
    if history.warning:
        render.warn(history.warning)
    return history


def _version(value: bool) -> None:
    if value:
        print(f"drillpe {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
    lang: LangOpt = None,
) -> None:
    """Practise writing positional encodings from scratch; a hidden reference grades you."""
