"""Where the shipped exercises, solutions and graders live.

A wheel carries them inside the package (``drillpe/_data``, via hatchling's
force-include); an editable install or a plain checkout has them at the top of
the source tree. Everything else asks this module, never a hard-coded path.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from drillpe import i18n

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

_PACKAGE = Path(__file__).resolve().parent
_KINDS = ("exercises", "solutions", "graders")


@cache
def data_root() -> Path:
    packaged = _PACKAGE / "_data"
    if (packaged / "exercises" / "catalog.toml").is_file():
        return packaged
    source_tree = _PACKAGE.parent
    if (source_tree / "exercises" / "catalog.toml").is_file():
        return source_tree
    raise FileNotFoundError(
        f"drillpe cannot find its exercises: looked in {packaged} and {source_tree}. "
        "Reinstall drillpe (pip install .) from a complete checkout."
    )


def exercises_dir() -> Path:
    return data_root() / "exercises"


@cache
def exercise_data(name: str) -> dict[str, Any]:
    """exercises/NAME.toml, parsed once per process (catalog, diagnoses, ui, ...)."""
    with open(exercises_dir() / f"{name}.toml", "rb") as fh:
        return tomllib.load(fh)


def solutions_dir() -> Path:
    return data_root() / "solutions"


def graders_dir() -> Path:
    return data_root() / "graders"


def stub_path(exercise_id: str, lang: str | None = None) -> Path:
    """The stub in the chosen language: exercises/ID.py, or its twin exercises/zh/ID.py."""
    lang = lang or i18n.current()
    if lang != i18n.DEFAULT:
        twin = exercises_dir() / lang / f"{exercise_id}.py"
        if twin.is_file():
            return twin
    return exercises_dir() / f"{exercise_id}.py"


def solution_path(exercise_id: str) -> Path:
    return solutions_dir() / f"{exercise_id}.py"


def grader_path(exercise_id: str) -> Path:
    return graders_dir() / f"{exercise_id}.py"
