"""Developer commands: ``python -m drillpe.devtools lessons [ID ...] [--check]``.

``lessons`` regenerates ``exercises/ID/lesson.json``, the data ``drillpe learn``
draws (heatmap and worked numbers), for the named exercises or all of them.
Each is computed with torch by ``graders/lessons/ID.py``, whose ``build(public)``
calls only the reference's public API: ``public("ID")`` returns the names of
``[[api]]`` in ``exercises/ID/exercise.toml``, taken from ``solutions/ID.py``,
and nothing else. So every formula is written once, in the reference.
``--check`` writes nothing: it rebuilds in memory, says which files differ
from what they would be now (numbers exactly, heatmap cells within 1e-9) and
exits 1 if any does. ``tests/test_learn.py`` runs the same comparison.

This module imports torch and the references. The CLI process never imports
it (``tests/test_no_torch_in_cli.py``), nor does anything a learner's process
loads; ``drillpe.data.lessons`` reads the files it writes.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from functools import cache
from types import ModuleType, SimpleNamespace

import torch

from drillpe.data import bundle, catalog, lessons
from drillpe.grading.loading import load_module

TOLERANCE = 1e-9  # on heatmap cells and bounds; numbers and everything else compare exactly
HEATMAP_DEFAULTS = {"kind": "sequential", "log": False, "integer": False, "row_labels": (),
                    "col_labels": ()}


def builder_path(exercise_id: str):
    return bundle.graders_dir() / "lessons" / f"{exercise_id}.py"


@cache
def _reference(exercise_id: str) -> ModuleType:
    return load_module(bundle.solutions_dir() / f"{exercise_id}.py",
                       f"drillpe_lesson_reference_{exercise_id}")


def public(exercise_id: str) -> SimpleNamespace:
    """The reference's public API for one exercise: only its [[api]] names."""
    module = _reference(exercise_id)
    return SimpleNamespace(**{name: getattr(module, name)
                              for name in catalog.get(exercise_id).names})


def _cell(value: float, integer: bool) -> float:
    value = float(value)
    if integer and math.isfinite(value):
        if value != round(value):
            raise ValueError(f"an integer heatmap has the cell {value}")
        return int(value)
    return value


def to_lesson(built: dict) -> lessons.Lesson:
    """A builder's dict ({"heatmap": {...}, "numbers": {...}}) as a Lesson; the
    heatmap's values may be a tensor, masked cells -inf."""
    heat = {**HEATMAP_DEFAULTS, **built["heatmap"]}
    values = heat.pop("values")
    if isinstance(values, torch.Tensor):
        values = values.tolist()
    integer = heat["integer"]
    numbers = built["numbers"]
    wrong = {k: v for k, v in numbers.items() if not isinstance(v, str)}
    if wrong:
        raise TypeError(f"numbers must be formatted strings: {wrong}")
    return lessons.Lesson(
        lessons.Heatmap([[_cell(v, integer) for v in row] for row in values],
                        _cell(heat["lo"], integer), _cell(heat["hi"], integer), heat["kind"],
                        bool(heat["log"]), integer, tuple(heat["row_labels"]),
                        tuple(heat["col_labels"])),
        dict(numbers))


def build(exercise_id: str) -> lessons.Lesson:
    """The exercise's lesson, computed now from its reference (same seed every time)."""
    module = load_module(builder_path(exercise_id), f"drillpe_lesson_builder_{exercise_id}")
    torch.manual_seed(0)
    with torch.no_grad():
        return to_lesson(module.build(public))


def differences(exercise_id: str, fresh: lessons.Lesson | None = None) -> list[str]:
    """How the committed lesson.json differs from a fresh build; [] when it does not."""
    if not lessons.path(exercise_id).is_file():
        return [f"exercises/{exercise_id}/{lessons.FILE} is missing"]
    fresh = fresh or build(exercise_id)
    old = lessons.lesson(exercise_id)
    out = []
    for key in sorted(set(old.numbers) | set(fresh.numbers)):
        if old.numbers.get(key) != fresh.numbers.get(key):
            out.append(f"numbers[{key!r}]: {old.numbers.get(key)!r} now {fresh.numbers.get(key)!r}")
    a, b = old.heatmap, fresh.heatmap
    for name in ("kind", "log", "integer", "row_labels", "col_labels"):
        if getattr(a, name) != getattr(b, name):
            out.append(f"heatmap.{name}: {getattr(a, name)!r} now {getattr(b, name)!r}")
    for name in ("lo", "hi"):
        if not _close(getattr(a, name), getattr(b, name)):
            out.append(f"heatmap.{name}: {getattr(a, name)!r} now {getattr(b, name)!r}")
    shape_a = (len(a.values), len(a.values[0]) if a.values else 0)
    shape_b = (len(b.values), len(b.values[0]) if b.values else 0)
    if shape_a != shape_b:
        out.append(f"heatmap shape {shape_a} now {shape_b}")
    else:
        cells = [(i, j, x, y) for i, (ra, rb) in enumerate(zip(a.values, b.values))
                 for j, (x, y) in enumerate(zip(ra, rb)) if not _close(x, y)]
        if cells:
            i, j, x, y = cells[0]
            out.append(f"{len(cells)} heatmap cells differ, first [{i}, {j}]: {x!r} now {y!r}")
    return out


def _close(x: float, y: float) -> bool:
    if not (math.isfinite(x) and math.isfinite(y)):
        return x == y
    return abs(x - y) <= TOLERANCE


def write(exercise_id: str) -> lessons.Lesson:
    fresh = build(exercise_id)
    lessons.path(exercise_id).write_text(lessons.encode(exercise_id, fresh), encoding="utf-8")
    return fresh


def main(argv: Sequence[str] | None = None, say: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(prog="python -m drillpe.devtools",
                                     description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    cmd = commands.add_parser("lessons", help="regenerate exercises/ID/lesson.json from the "
                              "references (graders/lessons/ID.py)")
    cmd.add_argument("ids", nargs="*", metavar="ID", help="exercises (default: all)")
    cmd.add_argument("--check", action="store_true",
                     help="write nothing; exit 1 if a committed lesson.json is out of date")
    args = parser.parse_args(argv)
    known = catalog.ids()
    unknown = [i for i in args.ids if i not in known]
    if unknown:
        parser.error(f"unknown exercise {', '.join(unknown)} (known: {', '.join(known)})")
    ids = args.ids or [i for i in known if builder_path(i).is_file()]
    stale = 0
    for exercise_id in ids:
        if not builder_path(exercise_id).is_file():
            parser.error(f"graders/lessons/{exercise_id}.py does not exist")
        if args.check:
            found = differences(exercise_id)
            stale += bool(found)
            say(f"{exercise_id}: " + ("up to date" if not found else "out of date\n  "
                                      + "\n  ".join(found)))
        else:
            write(exercise_id)
            say(f"wrote exercises/{exercise_id}/{lessons.FILE}")
    if stale:
        say(f"{stale} lesson file(s) out of date; run: {lessons.WRITE_COMMAND}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
