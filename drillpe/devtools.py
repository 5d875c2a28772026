"""Developer commands: ``python -m drillpe.devtools lessons [ID ...] [--check]``
and ``python -m drillpe.devtools check [ID ...]``.

``check`` proves for each exercise what a contributor must keep true, as
rustlings' dev check does: the stub fails as untouched, the model answer
passes with no diagnosis, every text has its Chinese sibling (and the stub
its twin), every diagnosis code of the exercise has a learner file under
``tests/fixtures/ID/`` that expects it (in a checkout), and the learn page is
up to date. The test suite asserts more (tests/test_catalog.py,
tests/test_i18n.py, tests/test_fixtures.py); this is the quick answer while
writing an exercise.

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
import contextlib
import math
import random
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from types import ModuleType, SimpleNamespace

import torch

from drillpe.data import bundle, catalog, check_lists, debug_material, lessons
from drillpe.grading.common import load_grader
from drillpe.grading.loading import load_module
from drillpe.launch.runner import GradeRequest, grade

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


def check_rows(exercise_id: str) -> list[dict[str, str]]:
    """What exercises/ID/checks.json must hold: the grader's checks, in order."""
    return [{"id": c.id, "title": c.title, "level": c.level}
            for c in load_grader(exercise_id).checks]


def check_list_path(exercise_id: str):
    return bundle.exercises_dir() / exercise_id / check_lists.FILE


def check_list_stale(exercise_id: str) -> bool:
    path = check_list_path(exercise_id)
    return not path.is_file() or path.read_text(encoding="utf-8") != \
        check_lists.encode(check_rows(exercise_id))


def write_check_list(exercise_id: str) -> None:
    check_list_path(exercise_id).write_text(check_lists.encode(check_rows(exercise_id)),
                                            encoding="utf-8")


# --------------------------------------------------------------------------- check

FIXTURE_HEADER = re.compile(r"^#\s*expect:\s*(pass|fail)\b(.*)$", re.M)


def fixture_expectation(path) -> tuple[bool, set[str]] | None:
    """(passes, the exact set of diagnosis codes) a fixture's header expects, or None."""
    found = FIXTURE_HEADER.search(path.read_text(encoding="utf-8", errors="replace"))
    return None if found is None else (found.group(1) == "pass", set(found.group(2).split()))


def _missing_siblings(entry: dict, where: str) -> list[str]:
    return [f"{where}: {key}_zh is missing" for key, value in entry.items()
            if not key.endswith("_zh") and isinstance(value, (str, list))
            and f"{key}_zh" not in entry and key in TRANSLATED]


TRANSLATED = {"title", "summary", "hints", "says", "fix", "question", "answer", "formula",
              "example", "rows", "cols", "legend", "notice"}


def problems(exercise_id: str) -> list[str]:
    """What keeps one exercise from being complete; [] when nothing does. Every
    grade runs in one pair of warm workers (one torch import each, not two per grade)."""
    # deferred: the warm workers start only for a check
    from drillpe.launch.warm_pool import launcher

    with launcher() as pool:
        return _problems(exercise_id, pool)


def _problems(exercise_id: str, pool) -> list[str]:
    found: list[str] = []
    unit = bundle.exercise_unit(exercise_id)
    found += _missing_siblings(unit, "exercise.toml")
    for code, entry in unit.get("diagnoses", {}).items():
        found += _missing_siblings(entry, f"[diagnoses] {code}")
    for n, entry in enumerate(unit.get("followups", []), start=1):
        found += _missing_siblings(entry, f"[[followups]] {n}")
    found += _missing_siblings(unit.get("learn") or {}, "[learn]")
    if not (bundle.exercises_dir() / exercise_id / "stub.zh.py").is_file():
        found.append(f"exercises/{exercise_id}/stub.zh.py is missing")
    for what, path in (("stub", bundle.stub_path(exercise_id, "en")),
                       ("model answer", bundle.solution_path(exercise_id))):
        result = grade(GradeRequest(exercise_id, path, timeout=60, display_path=str(path)),
                       launcher=pool)
        codes = set(result.diagnoses)
        if what == "stub" and (result.passed or "api.not_implemented" not in codes):
            found.append(f"the stub should fail as untouched; it got passed={result.passed}, "
                         f"{sorted(codes)}")
        if what == "model answer" and (not result.passed or codes):
            found.append(f"the model answer should pass with no diagnosis; it got "
                         f"passed={result.passed}, {sorted(codes)}")
    fixtures = bundle.data_root() / "tests" / "fixtures" / exercise_id
    if (bundle.data_root() / "tests").is_dir():
        alone: set[str] = set()  # codes some fixture expects on their own
        for path in sorted(fixtures.glob("*.py")):
            expected = fixture_expectation(path)
            if expected and len(expected[1]) == 1:
                alone |= expected[1]
        for code in unit.get("diagnoses", {}):
            if code not in alone:
                found.append(f"no fixture under tests/fixtures/{exercise_id}/ is headed "
                             f"'# expect: fail {code}'")
    found += debug_problems(exercise_id, pool)
    if check_list_stale(exercise_id):
        found.append(f"exercises/{exercise_id}/{check_lists.FILE} is out of date: "
                     f"{lessons.WRITE_COMMAND} {exercise_id}")
    if not (bundle.graders_dir() / "bench" / f"{exercise_id}.py").is_file():
        found.append(f"graders/bench/{exercise_id}.py is missing (what `drillpe bench` times)")
    elif not bundle.fast_path(exercise_id).is_file():
        found.append(f"graders/fast/{exercise_id}.py is missing (the production code `drillpe "
                     "bench` times learners against; without it they race the float64 model "
                     "answer)")
    else:
        found += [f"graders/fast/{exercise_id}.py: {d}" for d in fast_differences(exercise_id)]
        found += [f"graders/bench/{exercise_id}.py: {name} has no production_note (how the "
                  "production code does the call, in a sentence or two, for a learner slower "
                  "than it)" for name in unexplained_targets(exercise_id)]
    if builder_path(exercise_id).is_file():
        found += [f"lesson: {d}" for d in differences(exercise_id)]
    elif unit.get("learn"):
        found.append(f"[learn] has texts but graders/lessons/{exercise_id}.py does not exist")
    return found


def debug_problems(exercise_id: str, pool=None) -> list[str]:
    """The debug round's material (exercises/ID/debug/): a variant for each of the
    exercise's codes; each variant graded fails with exactly its code, and the base
    passes with no diagnosis (in warm workers: one torch import for them all;
    ``pool``: workers already started)."""
    # deferred: the warm workers start only when an exercise has material to grade
    from drillpe.launch.warm_pool import launcher

    folder = f"exercises/{exercise_id}/debug"
    if exercise_id not in debug_material.exercise_ids():
        return [f"{folder}/variants.toml is missing (the debug round's material)"]
    try:
        variants = debug_material.variants(exercise_id)
        texts = [(v, debug_material.debug_text(v, "en")) for v in variants]
    except (OSError, debug_material.BadMaterial) as exc:
        return [f"{folder}: {exc}"]
    found = [f"{folder}/variants.toml has no variant for {code}"
             for code in bundle.exercise_unit(exercise_id).get("diagnoses", {})
             if code not in debug_material.codes(exercise_id)]
    with tempfile.TemporaryDirectory() as scratch, \
            (contextlib.nullcontext(pool) if pool is not None else launcher()) as pool:
        path = Path(scratch) / f"{exercise_id}.debug.py"
        for variant, text in [(None, debug_material.fixed_text(exercise_id, "en")), *texts]:
            path.write_text(text, encoding="utf-8")
            result = grade(GradeRequest(exercise_id, path, timeout=60), launcher=pool)
            codes = set(result.diagnoses)
            if variant is None and (not result.passed or codes):
                found.append(f"{folder}/base.py should pass with no diagnosis; it got "
                             f"passed={result.passed}, {sorted(codes)}")
            elif variant is not None and codes != {variant.code}:
                found.append(f"{folder}/variants.toml variant {variant.number} should fail "
                             f"with {variant.code} alone; it got {sorted(codes)}")
    return found


def unexplained_targets(exercise_id: str) -> list[str]:
    """The bench targets whose spec does not say how the production code does the call."""
    # deferred: the bench's specs import torch
    from drillpe.grading.bench_specs import targets

    return [target.name for target in targets(exercise_id) if not target.production_note]


def fast_differences(exercise_id: str) -> list[str]:
    """Where the production implementation `drillpe bench` times learners
    against (graders/fast/ID.py) disagrees with the model answer, on every
    bench target at its quick size, in float32 and bfloat16, on the bench's
    own inputs (the bench checks learners' outputs with the same compare).
    A target that builds a module gives both sides the same weights, by
    shape or by name (bench_specs.seed_parameters)."""
    # deferred: the bench's timing module, only for this check
    from drillpe.grading.bench_child import compare, fingerprint, load_fast, rebuild
    from drillpe.grading.bench_specs import size_for, targets
    from drillpe.grading.common import load_solution

    fast, truth = load_fast(exercise_id), load_solution(exercise_id)
    found = []
    cpu = torch.device("cpu")
    for target in targets(exercise_id):
        size = size_for(target, "cpu", quick=True)
        for dtype in (torch.float32, torch.bfloat16):
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                x = rebuild(target, size, cpu, dtype, 0, 1.25, 12345)
                torch.manual_seed(0)
                mine = fingerprint(target.prepare(fast, x, size)(), set(), random.Random(0))
                torch.manual_seed(0)
                problem = mine.get("problem") or compare(
                    mine, target.prepare(truth, x, size)(), str(dtype).split(".")[-1])
            if problem:
                found.append(f"{target.call} in {dtype}: {problem}")
    return found


def main(argv: Sequence[str] | None = None, say: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(prog="python -m drillpe.devtools",
                                     description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    cmd = commands.add_parser("lessons", help="regenerate exercises/ID/lesson.json from the "
                              "references (graders/lessons/ID.py)")
    cmd.add_argument("ids", nargs="*", metavar="ID", help="exercises (default: all)")
    cmd.add_argument("--check", action="store_true",
                     help="write nothing; exit 1 if a committed lesson.json is out of date")
    cmd = commands.add_parser("check", help="prove each exercise complete: stub fails, model "
                              "answer passes, texts in both languages, a fixture per code")
    cmd.add_argument("ids", nargs="*", metavar="ID", help="exercises (default: all)")
    args = parser.parse_args(argv)
    known = catalog.ids()
    unknown = [i for i in args.ids if i not in known]
    if unknown:
        parser.error(f"unknown exercise {', '.join(unknown)} (known: {', '.join(known)})")
    if args.command == "check":
        failing = 0
        for exercise_id in args.ids or known:
            found = problems(exercise_id)
            failing += bool(found)
            say(f"{exercise_id}: " + ("ok" if not found else "\n  ".join(["not ready", *found])))
        return 1 if failing else 0
    stale = 0
    for exercise_id in args.ids or known:  # every exercise has a check list
        if args.check:
            if check_list_stale(exercise_id):
                stale += 1
                say(f"{exercise_id}: {check_lists.FILE} out of date")
        else:
            write_check_list(exercise_id)
    ids = args.ids or [i for i in known if builder_path(i).is_file()]
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
