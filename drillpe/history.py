"""What the learner has done: graded attempts, hints seen, reveals.

Kept in ``<home>/progress.json`` and written atomically after every change.
An unreadable file is moved aside (never deleted) and a fresh record begins.
Commands use only the methods of :class:`History`, so the storage can change
without touching them.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from drillpe import places
from drillpe.report import ExerciseResult, write_json

FILENAME = "progress.json"
EMPTY_ENTRY = {"attempts": 0, "passes": 0, "best_score": None, "last_result": None,
               "last_checked": None, "hints_seen": 0, "revealed": False}


class History:
    def __init__(self, home: Path | None = None):
        self.path = (home or places.home()) / FILENAME
        self.warning: str | None = None
        self.data: dict[str, Any] = {"schema": 1, "exercises": {}}
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("exercises"), dict):
                raise ValueError("unexpected layout")
            self.data = data
        except (OSError, ValueError) as exc:
            aside = places.move_to_backup(self.path)
            self.warning = (f"drillpe's progress file was unreadable ({exc}); it was moved to "
                            f"{aside} and a fresh one started.")

    def _entry(self, exercise_id: str) -> dict[str, Any]:
        return self.data["exercises"].setdefault(exercise_id, dict(EMPTY_ENTRY))

    def _save(self) -> None:
        write_json(self.path, self.data)

    # what commands read ---------------------------------------------------
    def exercise_summary(self, exercise_id: str) -> dict[str, Any]:
        """attempts, passes, best_score, last_result, last_checked, hints_seen, revealed."""
        return {**EMPTY_ENTRY, **self.data["exercises"].get(exercise_id, {})}

    def hints_seen(self, exercise_id: str) -> int:
        return self.exercise_summary(exercise_id)["hints_seen"]

    # what commands record ---------------------------------------------------
    def record_check(self, result: ExerciseResult) -> None:
        entry = self._entry(result.exercise)
        entry["attempts"] += 1
        entry["passes"] += int(result.passed)
        best = entry["best_score"]
        entry["best_score"] = result.score if best is None else max(best, result.score)
        entry["last_result"] = "pass" if result.passed else "fail"
        entry["last_checked"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._save()

    def record_hint(self, exercise_id: str, level: int) -> None:
        entry = self._entry(exercise_id)
        entry["hints_seen"] = max(entry["hints_seen"], level)
        self._save()

    def record_reveal(self, exercise_id: str) -> None:
        self._entry(exercise_id)["revealed"] = True
        self._save()
