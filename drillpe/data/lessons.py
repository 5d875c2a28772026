"""What each exercise's code should produce, as data (``drillpe learn``).

``exercises/ID/lesson.json`` holds one exercise's heatmap (values, bounds, kind,
log scale, integer cells, labels) and the numbers, already formatted, that
fill the ``{placeholders}`` of its words in ``exercises/ID/exercise.toml``
([learn]). Those files are generated, never typed: ``graders/lessons/ID.py``
computes them with torch from the reference's public API, and the developer
command ``python -m drillpe.devtools lessons`` writes them (``--check``
compares). So the formulas are written once, in ``solutions/``; this module
only reads the result. The CLI process never imports torch (or numpy).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from drillpe.data import bundle, catalog, i18n
from drillpe.errors import UsageError

Matrix = list[list[float]]
MASKED = float("-inf")  # an excluded attention logit, drawn as a blank cell; null in JSON
FILE = "lesson.json"
WRITE_COMMAND = "python -m drillpe.devtools lessons"


@dataclass(frozen=True)
class Heatmap:
    """A matrix to draw. Non-finite cells are masked; labels default to indices."""

    values: Matrix
    lo: float
    hi: float
    kind: str = "sequential"  # or "diverging" (signed values around 0)
    log: bool = False
    integer: bool = False
    row_labels: tuple[str, ...] = ()
    col_labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Lesson:
    heatmap: Heatmap
    numbers: dict[str, str] = field(default_factory=dict)  # fills [learn]'s {placeholders}


TEXT_FIELDS = ("formula", "example", "title", "rows", "cols", "legend", "notice")


def path(exercise_id: str) -> Path:
    return bundle.exercises_dir() / exercise_id / FILE


def lesson(exercise_id: str) -> Lesson:
    """The exercise's lesson, read from its generated lesson.json."""
    try:
        text = path(exercise_id).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"there is no lesson for {exercise_id} yet (exercises/{exercise_id}/"
                         f"{FILE} is missing; a developer writes it with: {WRITE_COMMAND} "
                         f"{exercise_id}).") from None
    return decode(json.loads(text))


def decode(data: dict) -> Lesson:
    """A Lesson from lesson.json's contents (null cells are masked)."""
    heat = data["heatmap"]
    values = [[MASKED if v is None else v for v in row] for row in heat["values"]]
    return Lesson(Heatmap(values, heat["lo"], heat["hi"], heat["kind"], heat["log"],
                          heat["integer"], tuple(heat["row_labels"]), tuple(heat["col_labels"])),
                  dict(data["numbers"]))


def encode(exercise_id: str, lesson: Lesson) -> str:
    """lesson.json's text: a note on where it comes from, the numbers, then the heatmap
    with one matrix row per line (masked cells as null, integer maps as integers)."""
    heat = lesson.heatmap
    note = (f"written by {WRITE_COMMAND} {exercise_id} from graders/lessons/{exercise_id}.py "
            "and the reference; do not edit")

    def cell(v: float) -> object:
        if not math.isfinite(v):
            return None
        return int(v) if heat.integer else float(v)

    def dump(value: object) -> str:
        return json.dumps(value, ensure_ascii=False)

    fields = {"kind": heat.kind, "lo": heat.lo, "hi": heat.hi, "log": heat.log,
              "integer": heat.integer, "row_labels": list(heat.row_labels),
              "col_labels": list(heat.col_labels)}
    rows = ",\n".join("      " + dump([cell(v) for v in row]) for row in heat.values)
    numbers = ",\n".join(f"    {dump(k)}: {dump(v)}" for k, v in lesson.numbers.items())
    return "".join([
        "{\n",
        f'  "generated": {dump(note)},\n',
        '  "numbers": {\n', numbers, "\n  },\n",
        '  "heatmap": {\n',
        "".join(f"    {dump(k)}: {dump(v)},\n" for k, v in fields.items()),
        '    "values": [\n', rows, "\n    ]\n  }\n}\n"])


def labels(lang: str | None = None) -> dict[str, str]:
    """Section headings of the lesson page, in the chosen language."""
    entry = bundle.exercise_data("common")["learn_labels"]
    return {name: i18n.pick(entry, name, lang) for name in entry if not name.endswith("_zh")}


def texts(exercise_id: str, numbers: dict[str, str], lang: str | None = None) -> dict[str, str]:
    """The lesson's texts in the chosen language, {placeholders} filled with numbers."""
    entry = catalog.learn_page(exercise_id)
    if entry is None:
        raise UsageError(f"there is no lesson for {exercise_id} yet.")
    return {name: i18n.pick(entry, name, lang).strip("\n").format_map(numbers)
            for name in TEXT_FIELDS}
