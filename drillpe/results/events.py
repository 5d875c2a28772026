"""The records of the history, as plain data: one graded attempt, a stretch
of work, the totals of an old progress file, and everything about one
exercise. The history stores them; progress draws figures from them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from drillpe.results.report import ExerciseResult


@dataclass
class Attempt:
    """One graded attempt, as stored."""

    exercise: str
    at: float  # unix time
    passed: bool
    score: float
    error_kind: str | None = None
    # what drillpe hint climbs: the failing checks but those failing only with an
    # earlier one's mistake (ExerciseResult.hint_checks)
    failed_checks: list[str] = field(default_factory=list)
    diagnoses: list[str] = field(default_factory=list)
    duration_s: float | None = None
    hints_used: int = 0  # highest hint level seen in this round (since the last pass)
    revealed: bool = False  # the reference was shown in this round
    source: str = "check"  # check, watch, mock or debug
    session: str | None = None
    seed: int | None = None
    device: str | None = None
    untouched: bool = False  # the file was the exercise's stub, unedited: not a try
    code: str | None = None  # timeline.code_key of the graded source, hex (None: unknown)

    @classmethod
    def from_result(cls, result: ExerciseResult, at: float, **extra: Any) -> Attempt:
        # core checks first: the first failing check picks the hint ladder (drillpe hint);
        # a check failing only with an earlier one's mistake is not kept (hint_checks)
        failed = result.hint_checks
        return cls(exercise=result.exercise, at=at, passed=bool(result.passed),
                   score=float(result.score), error_kind=(result.error or {}).get("kind"),
                   failed_checks=failed, diagnoses=list(result.diagnoses),
                   duration_s=result.duration_s, seed=result.seed, device=result.device,
                   **extra)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Work:
    """A stretch of time spent on one exercise in a watch or mock session."""

    exercise: str
    started_at: float
    seconds: float
    source: str
    session: str | None = None


@dataclass
class Legacy:
    """Totals imported from progress.json (it kept no single attempts)."""

    exercise: str
    attempts: int
    passes: int
    best_score: float | None
    last_result: str | None
    last_at: float | None
    hints_seen: int
    revealed: bool


@dataclass
class Events:
    """Everything recorded about one exercise, oldest first."""

    exercise: str
    attempts: list[Attempt] = field(default_factory=list)
    hints: list[tuple[float, int]] = field(default_factory=list)  # (at, level)
    reveals: list[float] = field(default_factory=list)
    work: list[Work] = field(default_factory=list)
    legacy: Legacy | None = None
