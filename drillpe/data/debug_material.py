"""The debug round's material and state (``drillpe debug``; README, "The debug round").

Material, shipped with each exercise in ``exercises/ID/debug/``:

- ``base.py``: a correct answer written the way a candidate writes one (float32
  where float32 is enough, one straightforward formulation), never the model
  answer; the code part only, no module docstring.
- ``variants.toml``: ``[[variant]]`` entries, each naming one diagnosis code (the
  exercise's own ``[diagnoses]`` or a common one) and the edits that put exactly
  that mistake into the base: ``find`` and ``replace``, a string each or lists of
  equal length; every ``find`` occurs exactly once in the base. The edits read
  like a candidate's code: no comment points at them.

A debug file is the stub's docstring in the learner's language (its last line
names ``drillpe debug ID --check`` instead of ``drillpe check ID``) followed by
the edited base, so the two languages differ only in the docstring.

State: ``<home>/debug.json`` holds the open round of each exercise (the code
behind it, the file, the answer choices, the answer once given), written
atomically. The code is not in the learner's workspace, only in drillpe's home.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from drillpe.data import bundle, catalog, places
from drillpe.data.files import write_json

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

STATE_FILENAME = "debug.json"
CHOICES = 5  # answer choices offered: the right code and four others
# Common codes no debug file carries as "the one mistake to find", and why (README,
# "The debug round", lists them; tests/test_debug.py holds every other code to a variant).
NOT_DEBUG_MATERIAL = {
    "syntax.error": "the file does not parse: Python points at the line itself",
    "import.error": "the file fails before any check runs: the traceback names the line",
    "runtime.exception": "a crash names its line; no mistake to find behind it",
    "runtime.timeout": "a slow or endless loop is no wrong value to find",
    "runtime.memory": "depends on the machine's memory limit",
    "runtime.exit": "the process ends: nothing is graded",
    "rules.banned_api": "calling the library's own implementation is a rule broken, not a bug",
    "rules.uses_reference": "reaching drillpe's reference is a rule broken, not a bug",
    "rules.tampering": "patching torch or the grader is a rule broken, not a bug",
    "rules.module_not_allowed": "a module outside the allowed list is a rule broken, not a bug",
    "api.not_implemented": "the untouched stub: there is nothing to debug",
    "api.missing_symbol": "a missing name is found by reading the error, not by debugging",
    "output.mismatch": "the catch-all for a mistake without a name: nothing to name",
    "device.hardcoded_cuda": "what it does depends on whether the machine has a GPU",
    "output.wrong_device": "shows only on a GPU machine",
}


@dataclass(frozen=True)
class Variant:
    exercise: str
    code: str
    number: int  # its place among the exercise's variants, from 1
    finds: tuple[str, ...]
    replaces: tuple[str, ...]


class BadMaterial(ValueError):
    """A variants.toml that does not fit its base (a drillpe bug)."""


def folder(exercise_id: str) -> Path:
    return bundle.exercises_dir() / exercise_id / "debug"


def exercise_ids() -> list[str]:
    """The exercises that have debug material."""
    return [e for e in bundle.exercise_ids() if (folder(e) / "variants.toml").is_file()]


@cache
def base(exercise_id: str) -> str:
    return (folder(exercise_id) / "base.py").read_text(encoding="utf-8")


@cache
def variants(exercise_id: str) -> tuple[Variant, ...]:
    path = folder(exercise_id) / "variants.toml"
    with open(path, "rb") as fh:
        entries = tomllib.load(fh).get("variant", [])
    found = []
    for number, entry in enumerate(entries, start=1):
        finds, replaces = entry.get("find"), entry.get("replace")
        finds = [finds] if isinstance(finds, str) else finds
        replaces = [replaces] if isinstance(replaces, str) else replaces
        if (not isinstance(entry.get("code"), str) or not isinstance(finds, list)
                or not isinstance(replaces, list) or len(finds) != len(replaces) or not finds):
            raise BadMaterial(f"{path}: variant {number} needs code, find and replace")
        found.append(Variant(exercise_id, entry["code"], number, tuple(finds), tuple(replaces)))
    return tuple(found)


def codes(exercise_id: str) -> list[str]:
    """The codes this exercise's variants carry, each once, in file order."""
    return list(dict.fromkeys(v.code for v in variants(exercise_id)))


def code_text(variant: Variant) -> str:
    """The base with the variant's edits made (each ``find`` must occur exactly once)."""
    text = base(variant.exercise)
    for find, replace in zip(variant.finds, variant.replaces):
        if text.count(find) != 1:
            raise BadMaterial(f"{variant.exercise} variant {variant.number} ({variant.code}): "
                              f"{find!r} occurs {text.count(find)} times in base.py")
        text = text.replace(find, replace)
    return text


def header(exercise_id: str, lang: str | None = None) -> str:
    """The stub's module docstring in ``lang``, pointing at the debug round's check."""
    stub = bundle.stub_path(exercise_id, lang).read_text(encoding="utf-8")
    match = re.match(r'\s*("""|\'\'\')(.*?)\1', stub, re.S)
    if match is None:
        raise BadMaterial(f"the stub of {exercise_id} has no module docstring")
    return match.group(0).replace(f"drillpe check {exercise_id}",
                                  f"drillpe debug {exercise_id} --check")


def debug_text(variant: Variant, lang: str | None = None) -> str:
    return header(variant.exercise, lang) + "\n\n" + code_text(variant)


def fixed_text(exercise_id: str, lang: str | None = None) -> str:
    """The debug file with its mistake fixed: the docstring and the base."""
    return header(exercise_id, lang) + "\n\n" + base(exercise_id)


def debug_file(exercise_id: str, workspace: Path) -> Path:
    """<workspace>/ID.debug.py: never the learner's own ID.py."""
    return workspace / f"{exercise_id}.debug.py"


def draw(exercise_id: str | None, rng: random.Random) -> Variant:
    """A variant of the exercise (any exercise with material when None), at random."""
    exercise_id = exercise_id or rng.choice(exercise_ids())
    return rng.choice(variants(exercise_id))


def choices(variant: Variant, rng: random.Random, count: int = CHOICES) -> list[str]:
    """The answer choices: the variant's code and others of the same exercise, shuffled."""
    others = [c for c in codes(variant.exercise) if c != variant.code]
    picked = rng.sample(others, min(count - 1, len(others))) + [variant.code]
    rng.shuffle(picked)
    return picked


def answer_code(answer: str, choices: list[str]) -> str | None:
    """What an answer names: a choice's number (from 1) or a diagnosis code; None
    for anything else."""
    answer = answer.strip()
    if answer.isdigit() and 1 <= int(answer) <= len(choices):
        return choices[int(answer) - 1]
    return answer if answer in catalog.diagnosis_entries() else None


# -------------------------------------------------------------------- state
def _state_path() -> Path:
    return places.home() / STATE_FILENAME


def rounds() -> dict[str, dict[str, Any]]:
    """The open round of each exercise (the latest written), by exercise id."""
    try:
        data = json.loads(_state_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    found = data.get("rounds") if isinstance(data, dict) else None
    if not isinstance(found, dict):
        return {}
    # a hand-edited or damaged entry is left out (that exercise has no open round)
    return {k: v for k, v in found.items() if isinstance(v, dict)
            and all(isinstance(v.get(key), str) for key in ("code", "file", "id"))
            and isinstance(v.get("choices"), list) and v["code"] in v["choices"]
            and all(isinstance(c, str) for c in v["choices"])
            and isinstance(v.get("started_at"), (int, float))}


def save_round(exercise_id: str, entry: dict[str, Any]) -> None:
    known = rounds()
    known[exercise_id] = entry
    places.home().mkdir(parents=True, exist_ok=True)
    write_json(_state_path(), {"schema": 1, "rounds": known})


def latest_round() -> str | None:
    """The exercise of the round written last, if any."""
    known = rounds()
    if not known:
        return None
    return max(known, key=lambda e: float(known[e].get("started_at") or 0))
