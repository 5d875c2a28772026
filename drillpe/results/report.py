"""The structured grading report: what the judge writes and the CLI renders.

Versioned (``SCHEMA``) and plain JSON, so scripts can rely on it (see the
README's JSON section). No torch here: the CLI reads reports.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA = 1
STATUSES = ("pass", "fail", "error", "skip")
ERROR_KINDS = ("syntax", "import", "missing_symbol", "timeout", "crash", "not_implemented", "rules")


@dataclass
class CheckResult:
    id: str
    title: str
    level: str  # "core" or "extra"
    status: str  # one of STATUSES
    message: str = ""
    diagnosis: list[str] = field(default_factory=list)
    case: dict[str, Any] | None = None
    # Optional extras for the scorecard: the learner's own traceback lines,
    # and a small |yours - expected| grid for a failing tensor check.
    traceback: list[str] = field(default_factory=list)
    heatmap: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if not out["traceback"]:
            del out["traceback"]
        if out["heatmap"] is None:
            del out["heatmap"]
        return out


@dataclass
class ExerciseResult:
    exercise: str
    file: str
    device: str
    passed: bool
    score: float
    duration_s: float
    error: dict[str, str] | None
    checks: list[CheckResult]
    seed: int = 0
    output: str = ""  # what the learner's code printed (trimmed)
    # How the learner's code was isolated for this grade: "namespaces", "guard"
    # (drillpe.launch.sandbox says what each guarantees).
    isolation: str = ""
    # Only when the grade asked for it (`check --consequence`): the learner's
    # encoding inside a tiny model next to the reference's (README: "What your
    # bug does to a model"). Absent from the JSON otherwise.
    consequence: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["checks"] = [c.to_dict() for c in self.checks]
        if out["consequence"] is None:
            del out["consequence"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExerciseResult:
        checks = [CheckResult(**c) for c in data.get("checks", [])]
        known = set(cls.__dataclass_fields__)
        fields = {k: v for k, v in data.items() if k != "checks" and k in known}
        return cls(checks=checks, **fields)

    def to_json(self, indent: int | None = 2) -> str:
        """This report as JSON: one entry of ``drillpe check --json``'s results."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @property
    def failing_checks(self) -> list[CheckResult]:
        """The checks that failed or errored, core ones first (in report order
        within each level): the first of them picks hints and what a view names."""
        failing = [c for c in self.checks if c.status in ("fail", "error")]
        return sorted(failing, key=lambda c: c.level != "core")

    @property
    def hint_checks(self) -> list[str]:
        """The ids of the failing checks hints should be about, in ``failing_checks``
        order: a check that fails only with mistakes an earlier failing check names
        is left out. Its own code is right for what it was given (rope's attention
        handed a half-split RoPE is judged "rope.half_split"), and its part's hints
        sent a newcomer to fix an attention that was not wrong. A code of a generic
        family (a failed import, a wrong shape, a plain mismatch) names no mistake
        and proves nothing inherited."""
        kept: list[str] = []
        named: set[str] = set()
        for check in self.failing_checks:
            own = {code for code in check.diagnosis
                   if code.split(".")[0] not in GENERIC_FAMILIES}
            if own and own <= named:
                continue
            kept.append(check.id)
            named |= own
        return kept

    @property
    def diagnoses(self) -> list[str]:
        seen: list[str] = []
        for check in self.checks:
            for code in check.diagnosis:
                if code not in seen:
                    seen.append(code)
        return seen


# Diagnosis codes that say what went wrong without naming a mistake of the
# exercise's (syntax.error, output.mismatch, api.not_implemented, ...).
GENERIC_FAMILIES = frozenset({"api", "syntax", "import", "runtime", "output", "device", "input",
                              "rules"})

# Gate checks every exercise has (the file imports, follows the rules, defines
# the API). They decide the verdict like any core check but are not part of
# the score, which measures the exercise's own checks.
GATE_IDS = ("file.loads", "rules.allowed", "device.not_hardcoded", "api.names", "run.finished")


def times(ratio: float) -> str:
    """A ratio as drillpe writes it everywhere (the bench's table, the sentence under
    it, its causes): three figures, and whole numbers from 100 (a newcomer's table said
    "1.69e+03x", the sentence "1693.82x")."""
    return f"{ratio:,.0f}" if ratio >= 99.95 else f"{ratio:.3g}"


def summarise(checks: list[CheckResult]) -> tuple[bool, float]:
    """passed = every core check passes; score = share of the exercise's own
    checks (core and extra, gates excluded) that pass.

    Skipped checks (not run because an earlier problem made them meaningless)
    count as not passed, so an untouched stub scores 0, not 'n/a'.
    """
    core = [c for c in checks if c.level == "core"]
    passed = bool(core) and all(c.status == "pass" for c in core)
    scored = [c for c in checks if c.id not in GATE_IDS]
    score = sum(c.status == "pass" for c in scored) / len(scored) if scored else float(passed)
    return passed, round(score, 4)


def document(results: list[ExerciseResult]) -> dict[str, Any]:
    return {"schema": SCHEMA, "results": [r.to_dict() for r in results]}
