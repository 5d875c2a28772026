"""The exercise catalog: every ``exercises/ID/exercise.toml`` and the shared
``exercises/common.toml`` (data, not code).

Light on purpose: the CLI imports this on every start, so no torch here.
"""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from drillpe.data import bundle, i18n


@dataclass(frozen=True)
class ApiItem:
    """One name the learner file must define."""

    name: str
    kind: str  # "function" or "class"
    signature: str | None = None  # functions
    init: str | None = None  # classes
    forward: str | None = None  # classes
    # Parameters without a default that the grader still passes by keyword:
    # their names are part of the API. Every other name without a default is
    # passed by position, and free.
    keyword: tuple[str, ...] = ()

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


# Text fields of a catalog entry; each has a Chinese sibling NAME_zh (drillpe.data.i18n).
TEXT_FIELDS = ("title", "summary", "hints")

def topics() -> tuple[str, ...]:
    """The topics `drillpe list` groups by, in the order of exercises/common.toml
    [topics] (a new topic is a line there, not code)."""
    return tuple(bundle.exercise_data("common").get("topics", {}))


@dataclass(frozen=True)
class Exercise:
    id: str
    topic: str
    difficulty: str
    minutes: int
    seed: bool
    api: tuple[ApiItem, ...]
    texts: dict = field(default_factory=dict, compare=False, hash=False)
    banned: tuple[str, ...] = ()
    banned_modules: tuple[str, ...] = field(default=())
    # `check --consequence` can show this exercise inside a tiny model (its
    # grader declares a consequence check): exercise.toml ``consequence = true``.
    consequence: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(item.name for item in self.api)

    # Texts come out in the language chosen for this process (--lang, $DRILLPE_LANG, locale).
    @property
    def title(self) -> str:
        return i18n.pick(self.texts, "title")

    @property
    def summary(self) -> str:
        return i18n.pick(self.texts, "summary") or ""

    @property
    def hints(self) -> tuple[str, ...]:
        return tuple(i18n.pick(self.texts, "hints") or ())


@dataclass(frozen=True)
class HintLadder:
    """Progressive hints about one part of an exercise (the mask, the table, ...),
    shown when a check of that part is the first to fail; part '' is the
    exercise's general ladder (exercise.toml: ``hints`` and ``[[hint_parts]]``)."""

    part: str
    checks: tuple[str, ...]
    texts: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def name(self) -> str:
        return i18n.pick(self.texts, "name") or ""

    @property
    def hints(self) -> tuple[str, ...]:
        return tuple(i18n.pick(self.texts, "hints") or ())

    def covers(self, check_id: str) -> bool:
        return any(check_id == pattern or (pattern.endswith("*")
                                           and check_id.startswith(pattern[:-1]))
                   for pattern in self.checks)


def hint_ladders(exercise_id: str) -> list[HintLadder]:
    """The general ladder first, then one per ``[[hint_parts]]`` entry."""
    exercise = get(exercise_id)
    ladders = [HintLadder("", (), {k: v for k, v in exercise.texts.items()
                                   if k.removesuffix("_zh") == "hints"})]
    for entry in bundle.exercise_unit(exercise_id).get("hint_parts", []):
        ladders.append(HintLadder(entry["part"], tuple(entry.get("checks", ())),
                                  {k: v for k, v in entry.items()
                                   if k.removesuffix("_zh") in ("name", "hints")}))
    return ladders


def ladder_for(exercise_id: str, failing_checks: list[str] | tuple[str, ...],
               part: str | None = None, seen: Callable[[str], int] | None = None
               ) -> HintLadder:
    """The ladder to climb next: the one named by ``part``, else the part that
    covers the first failing check, else the general one. With ``seen`` (a
    part's levels seen so far), a ladder climbed to its end gives way to the
    next one with a level left, in the order of the failing checks (a check no
    part covers is the general ladder's; where every one is a part's, the
    general ladder comes last), so that a plain `drillpe hint` never repeats a
    last hint while a failing part or the general ladder has hints unseen."""
    ladders = hint_ladders(exercise_id)
    if part is not None:
        for ladder in ladders:
            if ladder.part == part:
                return ladder
        # 'general' is how the CLI names the exercise-wide ladder ('' here)
        known = i18n.listing(["general", *(ladder.part for ladder in ladders[1:])])
        raise LookupError(ui("hint_no_part", id=exercise_id, part=part, parts=known))
    # The first failing check's ladder first: a later check may fail because of it.
    candidates: list[HintLadder] = []
    for check_id in failing_checks:
        ladder = next((lad for lad in ladders[1:] if lad.covers(check_id)), ladders[0])
        if ladder not in candidates:
            candidates.append(ladder)
        if seen is None:
            break
    candidates = candidates or [ladders[0]]
    if seen is not None:
        if ladders[0] not in candidates:
            # every failing check is a part's: the general ladder comes after them (a
            # newcomer's t5_bias never reached it, and its footer sent them to level 3)
            candidates.append(ladders[0])
        for ladder in candidates:
            if seen(ladder.part) < len(ladder.hints):
                return ladder
    return candidates[0]


def next_hint(exercise_id: str, failing_checks: list[str] | tuple[str, ...],
              seen: Callable[[str], int]) -> tuple[HintLadder, int] | None:
    """The ladder and the level a plain `drillpe hint` (``h`` in watch) shows
    next; None when every ladder it would climb is climbed."""
    ladder = ladder_for(exercise_id, failing_checks, seen=seen)
    level = seen(ladder.part) + 1
    return (ladder, level) if level <= len(ladder.hints) else None


class UnknownExercise(LookupError):
    def __init__(self, exercise_id: str, known: list[str]):
        self.exercise_id = exercise_id
        self.suggestions = difflib.get_close_matches(exercise_id.lower(), known, n=3, cutoff=0.5)
        try:
            hint = ui("unknown_exercise_close", names=i18n.listing(self.suggestions)) \
                if self.suggestions else ""
            said = ui("unknown_exercise", id=exercise_id, hint=hint, known=i18n.listing(known))
        except Exception:  # the texts cannot be read: English, as written here
            hint = f" Did you mean {', '.join(self.suggestions)}?" if self.suggestions else ""
            said = f"Unknown exercise '{exercise_id}'.{hint} Known exercises: {', '.join(known)}."
        super().__init__(said)


def _expand_banned(names: list[str], defaults: dict) -> tuple[str, ...]:
    out: list[str] = []
    for name in names:
        if name == "@attention":
            out.extend(defaults.get("attention_banned", []))
        else:
            out.append(name)
    return tuple(out)


SCHEMA = 1


class BadExerciseData(ValueError):
    """An exercise folder that drillpe cannot use: said with the file to fix."""


def _entry(exercise_id: str) -> dict:
    entry = bundle.exercise_unit(exercise_id)
    if entry.get("schema") != SCHEMA:
        raise BadExerciseData(f"exercises/{exercise_id}/exercise.toml: schema must be {SCHEMA}")
    missing = [key for key in ("title", "topic", "difficulty", "minutes", "api")
               if key not in entry]
    if missing:
        raise BadExerciseData(f"exercises/{exercise_id}/exercise.toml lacks {', '.join(missing)}")
    return entry


def _build(eid: str, entry: dict, defaults: dict) -> Exercise:
    texts = {key: value for key, value in entry.items()
             if key.removesuffix("_zh") in TEXT_FIELDS}
    return Exercise(
        id=eid,
        topic=entry["topic"],
        difficulty=entry["difficulty"],
        minutes=int(entry["minutes"]),
        seed=bool(entry.get("seed", False)),
        api=tuple(ApiItem(**{**item, "keyword": tuple(item.get("keyword", ()))})
                  for item in entry["api"]),
        texts=texts,
        banned=_expand_banned(entry.get("banned", []), defaults),
        banned_modules=tuple(defaults.get("banned_modules", [])),
        consequence=bool(entry.get("consequence", False)),
    )


@cache
def _one(exercise_id: str) -> Exercise:
    """One exercise, parsing only its own exercise.toml: a command about one
    exercise need not read the other nine (TOML parsing is most of a start)."""
    return _build(exercise_id, _entry(exercise_id),
                  bundle.exercise_data("common").get("defaults", {}))


@cache
def load() -> dict[str, Exercise]:
    """Every exercise, in the order of their ``order`` fields (then by id)."""
    defaults = bundle.exercise_data("common").get("defaults", {})
    entries = {eid: _entry(eid) for eid in bundle.exercise_ids()}
    exercises: dict[str, Exercise] = {}
    for eid in sorted(entries, key=lambda e: (entries[e].get("order", 1000), e)):
        exercises[eid] = _build(eid, entries[eid], defaults)
    return exercises


def by_topic() -> list[Exercise]:
    """Every exercise grouped by topic (topics() order, unknown topics last), catalog order within."""
    order = {topic: n for n, topic in enumerate(topics())}
    return sorted(load().values(), key=lambda ex: order.get(ex.topic, len(order)))


def topic_title(topic: str) -> str:
    """A topic's display name in the chosen language (common.toml [topics]), else its id."""
    entry = bundle.exercise_data("common").get("topics", {}).get(topic)
    return i18n.pick(entry, "title") if entry else topic


def ui(key: str, **fields: object) -> str:
    """One of drillpe's own sentences (exercises/ui.toml) in the chosen language."""
    template = i18n.pick(bundle.exercise_data("ui")[key], "text")
    if i18n.current() == i18n.DEFAULT:
        return template.format(**fields)
    return _set_in_chinese(template, fields)


_HAN = re.compile(r"[\u4e00-\u9fff]")
_FORMATTER = string.Formatter()


def _set_in_chinese(template: str, fields: dict[str, object]) -> str:
    """``template.format(**fields)``, with a space between a Chinese character of the
    template and a value that begins or ends there with a Latin letter or digit
    (关于 mask 的提示, 关于 sin/cos 表的提示; 关于掩码的提示 and “{id}” as they are)."""
    pieces = list(_FORMATTER.parse(template))
    out = []
    for k, (literal, name, spec, conversion) in enumerate(pieces):
        out.append(literal)
        if name is None:
            continue
        value, _ = _FORMATTER.get_field(name, (), fields)
        text = _FORMATTER.format_field(_FORMATTER.convert_field(value, conversion), spec or "")
        after = pieces[k + 1][0][:1] if k + 1 < len(pieces) else ""
        if text and _HAN.match(literal[-1:]) and text[0].isascii() and text[0].isalnum():
            text = " " + text
        if text and _HAN.match(after) and text[-1].isascii() and text[-1].isalnum():
            text += " "
        out.append(text)
    return "".join(out)


def axis_name(name: str) -> str:
    """A heatmap axis's name (a grader's English word) in the chosen language."""
    if i18n.current() == i18n.DEFAULT:
        return name
    table = bundle.exercise_data("ui").get(f"axis_names_{i18n.current()}", {})
    return table.get(name, name) if isinstance(table.get(name), str) else name


def say_phrases(message: str) -> str:
    """A grader's message with its known prose in the chosen language (ui.toml
    [phrases_LANG]); numbers and the rest stay as the grader wrote them."""
    if i18n.current() == i18n.DEFAULT:
        return message
    for english, translated in _phrases(i18n.current()):
        message = english.sub(translated, message)
    return message


# What a phrase's {case} stands for: a grader's case as api.describe_case writes it
# (B=1 H=1 L=4 D=8), so that " for {case}" is not found in prose (" for what").
_CAPTURES = {"case": r"\w+=\S+(?: \w+=\S+)*"}


@cache
def _phrases(lang: str) -> tuple:
    out = []
    for english, translated in bundle.exercise_data("ui").get(f"phrases_{lang}", {}).items():
        start, end = english.startswith("^"), english.endswith("$")  # anchored (ui.toml)
        pattern = re.escape(english[start:len(english) - end])
        for name in re.findall(r"\\\{(\w+)\\\}", pattern):
            capture = _CAPTURES.get(name, ".+?")
            pattern = pattern.replace(f"\\{{{name}\\}}", f"(?P<{name}>{capture})", 1)
        pattern = ("^" if start else "") + pattern + (r"\Z" if end else "")
        replacement = re.sub(r"\{(\w+)\}", r"\\g<\1>", translated.replace("\\", "\\\\"))
        out.append((re.compile(pattern), replacement))
    return tuple(out)


def ids() -> list[str]:
    return list(load())


def get(exercise_id: str) -> Exercise:
    if load.cache_info().currsize:  # every exercise is parsed already
        exercises = load()
        if exercise_id in exercises:
            return exercises[exercise_id]
    elif exercise_id in bundle.exercise_ids():
        return _one(exercise_id)
    raise UnknownExercise(exercise_id, ids())


@cache
def diagnosis_entries() -> dict[str, dict[str, str]]:
    """Code -> the raw entry: says, fix and their Chinese siblings says_zh, fix_zh.
    The shared codes first (common.toml), then each exercise's own."""
    flat = dict(bundle.exercise_data("common").get("diagnoses", {}))
    owner = dict.fromkeys(flat, "common.toml")
    for eid in load():
        for code, entry in bundle.exercise_unit(eid).get("diagnoses", {}).items():
            if code in flat:  # one code, one meaning: a second entry would hide the first
                raise BadExerciseData(f"exercises/{eid}/exercise.toml: the diagnosis code "
                                      f"{code} is already declared in {owner[code]}")
            flat[code], owner[code] = entry, f"exercises/{eid}/exercise.toml"
    return flat


@dataclass(frozen=True)
class Misconception:
    """One idea a learner can get wrong in several exercises (common.toml
    ``[misconceptions]``): the codes that name it, and the exercises where it can
    recur: those that declare one of the codes, in the order the codes are listed
    (the data says which exercise asks for it most directly), then ``also_in``."""

    id: str
    texts: dict = field(default_factory=dict)
    codes: tuple[str, ...] = ()
    exercises: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return i18n.pick(self.texts, "name")


@cache
def misconceptions() -> dict[str, Misconception]:
    """Every misconception of common.toml, checked: each code is declared by an
    exercise (or common.toml), each exercise of ``also_in`` exists."""
    known = diagnosis_entries()
    owners = {code: eid for eid in load() for code in exercise_diagnoses(eid)}
    out = {}
    for mid, entry in bundle.exercise_data("common").get("misconceptions", {}).items():
        codes = tuple(entry.get("codes", ()))
        also = tuple(entry.get("also_in", ()))
        unknown = [c for c in codes if c not in known] + [e for e in also if e not in load()]
        if unknown or not codes:
            raise BadExerciseData(f"exercises/common.toml: misconception {mid} names "
                                  f"{', '.join(unknown) or 'no codes'}")
        where = [owners[c] for c in codes if c in owners] + list(also)
        out[mid] = Misconception(mid, {k: v for k, v in entry.items() if k.startswith("name")},
                                 codes, tuple(dict.fromkeys(where)))
    return out


def exercise_diagnoses(exercise_id: str) -> dict[str, dict[str, str]]:
    """The codes one exercise declares in its own exercise.toml (raw entries)."""
    return dict(bundle.exercise_unit(exercise_id).get("diagnoses", {}))


def followups(exercise_id: str) -> list[dict[str, str]]:
    """The mock interview's follow-up questions of one exercise (raw entries)."""
    return list(bundle.exercise_unit(exercise_id).get("followups", []))


def check_title(exercise_id: str, check_id: str, english: str) -> str:
    """A check's title in the chosen language: ``[check_titles_zh]`` of the
    exercise (or of common.toml for the checks every exercise has), else the
    grader's English title."""
    if i18n.current() == i18n.DEFAULT:
        return english
    key = f"check_titles_{i18n.current()}"
    for entry in (_unit_or_empty(exercise_id).get(key, {}),
                  bundle.exercise_data("common").get(key, {})):
        title = entry.get(check_id)
        if isinstance(title, str) and title:
            return title
    return english


def _unit_or_empty(exercise_id: str) -> dict:
    try:
        return bundle.exercise_unit(exercise_id)
    except (OSError, LookupError, ValueError):
        return {}


@dataclass(frozen=True)
class CrossCheck:
    """A public implementation the model answer was checked against
    (exercise.toml ``[[crosscheck]]``). ``tests/test_crosscheck.py`` backs each
    claim: it runs the comparison named ``id`` when ``library`` is installed."""

    exercise: str
    id: str
    library: str
    versions: str
    against: str
    tolerance: float
    texts: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def line(self) -> str:
        """The sentence `reveal` and `learn` show, in the chosen language."""
        return ui("crosscheck_line", library=self.library, versions=self.versions,
                  against=self.against, within=i18n.pick(self.texts, "within") or "")


def crosschecks(exercise_id: str) -> list[CrossCheck]:
    """The exercise's ``[[crosscheck]]`` entries, in file order (none: an empty list)."""
    found = []
    for entry in _unit_or_empty(exercise_id).get("crosscheck", []):
        try:
            found.append(CrossCheck(exercise_id, entry["id"], entry["library"],
                                    entry["versions"], entry["against"],
                                    float(entry["tolerance"]),
                                    {k: v for k, v in entry.items()
                                     if k.removesuffix("_zh") == "within"}))
        except (KeyError, TypeError, ValueError) as exc:
            raise BadExerciseData(f"exercises/{exercise_id}/exercise.toml: a [[crosscheck]] "
                                  f"entry lacks or mistypes {exc}") from None
    return found


def learn_page(exercise_id: str) -> dict[str, str] | None:
    """The texts of ``drillpe learn ID`` (raw entries), or None."""
    return bundle.exercise_unit(exercise_id).get("learn")


def diagnoses(lang: str | None = None) -> dict[str, dict[str, str]]:
    """Code -> {"says": sentence, "fix": one-line fix}, in the chosen language."""
    return {code: {"says": i18n.pick(entry, "says", lang), "fix": i18n.pick(entry, "fix", lang)}
            for code, entry in diagnosis_entries().items()}
