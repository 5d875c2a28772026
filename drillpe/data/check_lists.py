"""Each exercise's checks as data: ``exercises/ID/checks.json``, the id, title
and level of every check ``graders/ID.py`` declares, in order.

The CLI process reads it without torch: to answer a file that does not parse
at once (drillpe.launch.quick), and to name the check a running grade has
reached. ``python -m drillpe.devtools lessons`` writes it from the grader;
``tests/test_catalog.py`` and ``devtools check`` fail when it is out of date.
"""

from __future__ import annotations

import json
from functools import cache

from drillpe.data import bundle

FILE = "checks.json"


@cache
def checks(exercise_id: str) -> tuple[dict[str, str], ...]:
    """({"id", "title", "level"}, ...) of the exercise's own checks; () when the
    file is missing or unreadable (callers then fall back to the child's report)."""
    try:
        data = json.loads((bundle.exercises_dir() / exercise_id / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    rows = data.get("checks") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        return ()
    return tuple({"id": str(r["id"]), "title": str(r["title"]), "level": str(r["level"])}
                 for r in rows if isinstance(r, dict) and {"id", "title", "level"} <= set(r))


def encode(rows: list[dict[str, str]]) -> str:
    return json.dumps({"schema": 1, "note": "written by python -m drillpe.devtools lessons "
                       "from graders/ID.py; do not edit", "checks": rows},
                      indent=1, ensure_ascii=False) + "\n"
