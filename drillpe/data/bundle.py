"""Where the shipped exercises, solutions, graders and oracles live, and reading them.

An exercise is one folder, ``exercises/ID/``: ``exercise.toml`` (catalog entry,
hints, diagnoses, follow-ups, learn page) and the stubs ``stub.py`` and
``stub.LANG.py``. What all exercises share is ``exercises/common.toml``;
drillpe's own sentences are ``exercises/ui.toml``.

``solutions/ID.py`` is the model answer (what ``reveal`` shows);
``graders/oracles/ID.py``, where an exercise has one, is what the judge compares
with: the float64 building blocks and the switches that reproduce known
mistakes. Learner code may read ``graders/`` but neither of those two.

A wheel carries them inside the package (``drillpe/_data``, via hatchling's
force-include); an editable install or a plain checkout has them at the top of
the source tree. Everything else asks this module, never a hard-coded path.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from drillpe.data import i18n

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

_PACKAGE = Path(__file__).resolve().parent.parent  # drillpe/
_KINDS = ("exercises", "solutions", "graders")


@cache
def data_root() -> Path:
    packaged = _PACKAGE / "_data"
    if (packaged / "exercises" / "common.toml").is_file():
        return packaged
    source_tree = _PACKAGE.parent
    if (source_tree / "exercises" / "common.toml").is_file():
        return source_tree
    raise FileNotFoundError(
        f"drillpe cannot find its exercises: looked in {packaged} and {source_tree}. "
        "Reinstall drillpe (pip install .) from a complete checkout."
    )


def exercises_dir() -> Path:
    return data_root() / "exercises"


def _toml(path: Path) -> dict[str, Any]:
    with open(path, "rb") as fh:
        return tomllib.load(fh)


@cache
def exercise_data(name: str) -> dict[str, Any]:
    """exercises/NAME.toml, parsed once per process: ``common`` or ``ui``."""
    return _toml(exercises_dir() / f"{name}.toml")


def exercise_ids() -> list[str]:
    """Every folder of exercises/ that holds an exercise.toml, by name."""
    return sorted(p.parent.name for p in exercises_dir().glob("*/exercise.toml"))


@cache
def exercise_unit(exercise_id: str) -> dict[str, Any]:
    """exercises/ID/exercise.toml, parsed once per process."""
    return _toml(exercises_dir() / exercise_id / "exercise.toml")


def solutions_dir() -> Path:
    return data_root() / "solutions"


def graders_dir() -> Path:
    return data_root() / "graders"


def oracles_dir() -> Path:
    """graders/oracles: hidden from learner code wherever solutions_dir() is."""
    return graders_dir() / "oracles"


def fast_dir() -> Path:
    """graders/fast: the production implementations `drillpe bench` times a
    learner's code against; hidden from learner code like the oracles."""
    return graders_dir() / "fast"


def secret_dirs() -> list[Path]:
    """What learner code must never read: the model answers, the oracles, the
    fast references, and each debug round's material (its base is a correct
    answer: a reviewer's file ran it and passed, in the sandbox too)."""
    return [solutions_dir(), oracles_dir(), fast_dir(),
            *sorted(exercises_dir().glob("*/debug"))]


def stub_path(exercise_id: str, lang: str | None = None) -> Path:
    """The stub in the chosen language: exercises/ID/stub.py, or its twin stub.LANG.py."""
    lang = lang or i18n.current()
    folder = exercises_dir() / exercise_id
    if lang != i18n.DEFAULT:
        twin = folder / f"stub.{lang}.py"
        if twin.is_file():
            return twin
    return folder / "stub.py"


def stub_paths(exercise_id: str) -> list[Path]:
    """The stub in every language: stub.py and its twins stub.LANG.py."""
    folder = exercises_dir() / exercise_id
    return [folder / "stub.py"] + sorted(folder.glob("stub.*.py"))


def is_stub(exercise_id: str, text: str) -> bool:
    """Whether ``text`` is the exercise's stub, unedited, in any language."""
    for path in stub_paths(exercise_id):
        try:
            if path.read_text(encoding="utf-8") == text:
                return True
        except OSError:
            continue
    return False


def solution_path(exercise_id: str) -> Path:
    return solutions_dir() / f"{exercise_id}.py"


def grader_path(exercise_id: str) -> Path:
    return graders_dir() / f"{exercise_id}.py"


def oracle_path(exercise_id: str) -> Path:
    return oracles_dir() / f"{exercise_id}.py"


def fast_path(exercise_id: str) -> Path:
    return fast_dir() / f"{exercise_id}.py"
