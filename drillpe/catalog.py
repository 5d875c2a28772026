"""The exercise catalog, read from ``exercises/catalog.toml`` (data, not code).

Light on purpose: the CLI imports this on every start, so no torch here.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import cache

from drillpe import resources

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class ApiItem:
    """One name the learner file must define."""

    name: str
    kind: str  # "function" or "class"
    signature: str | None = None  # functions
    init: str | None = None  # classes
    forward: str | None = None  # classes

    def signatures(self) -> dict[str, str]:
        """Map 'RoPE' / 'Cls.__init__' / 'Cls.forward' to the declared parameter list."""
        if self.kind == "function":
            return {self.name: self.signature or "()"}
        out = {}
        if self.init is not None:
            out[f"{self.name}.__init__"] = self.init
        if self.forward is not None:
            out[f"{self.name}.forward"] = self.forward
        return out


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    topic: str
    difficulty: str
    minutes: int
    summary: str
    seed: bool
    hints: tuple[str, ...]
    api: tuple[ApiItem, ...]
    banned: tuple[str, ...] = ()
    banned_modules: tuple[str, ...] = field(default=())

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(item.name for item in self.api)


class UnknownExercise(LookupError):
    def __init__(self, exercise_id: str, known: list[str]):
        self.exercise_id = exercise_id
        self.suggestions = difflib.get_close_matches(exercise_id, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(
            f"Unknown exercise '{exercise_id}'.{hint} Known exercises: {', '.join(known)}."
        )


def _expand_banned(names: list[str], defaults: dict) -> tuple[str, ...]:
    out: list[str] = []
    for name in names:
        if name == "@attention":
            out.extend(defaults.get("attention_banned", []))
        else:
            out.append(name)
    return tuple(out)


@cache
def load() -> dict[str, Exercise]:
    with open(resources.catalog_path(), "rb") as fh:
        raw = tomllib.load(fh)
    defaults = raw.get("defaults", {})
    exercises: dict[str, Exercise] = {}
    for entry in raw["exercise"]:
        api = tuple(ApiItem(**item) for item in entry.get("api", []))
        exercises[entry["id"]] = Exercise(
            id=entry["id"],
            title=entry["title"],
            topic=entry["topic"],
            difficulty=entry["difficulty"],
            minutes=int(entry["minutes"]),
            summary=entry.get("summary", ""),
            seed=bool(entry.get("seed", False)),
            hints=tuple(entry.get("hints", ())),
            api=api,
            banned=_expand_banned(entry.get("banned", []), defaults),
            banned_modules=tuple(defaults.get("banned_modules", [])),
        )
    return exercises


def ids() -> list[str]:
    return list(load())


def get(exercise_id: str) -> Exercise:
    exercises = load()
    if exercise_id not in exercises:
        raise UnknownExercise(exercise_id, list(exercises))
    return exercises[exercise_id]


@cache
def diagnoses() -> dict[str, dict[str, str]]:
    """Code -> {"says": sentence, "fix": one-line fix}."""
    with open(resources.exercises_dir() / "diagnoses.toml", "rb") as fh:
        raw = tomllib.load(fh)
    flat: dict[str, dict[str, str]] = {}
    for section in raw.values():
        flat.update(section)
    return flat
