"""Answers the CLI gives without starting a child: a file that does not parse
is failed at once, with a caret under the error, instead of after a torch
import and a row of checks that could not run.

The report has the judge's shape and words (drillpe.grading.judge for a
syntax error): the same JSON, the same exit code. It can only fail a file,
never pass one, so it needs none of the judge's evidence.
"""

from __future__ import annotations

import ast
import warnings

from drillpe.data import check_lists
from drillpe.launch.contract import caret_lines, syntax_message
from drillpe.results.report import CheckResult, ExerciseResult, summarise

NOT_PARSED = "not run: your file does not parse"  # every row's cause, as the judge says it


def syntax_failure(exercise_id: str, source: bytes, *, file: str, device: str, seed: int
                   ) -> ExerciseResult | None:
    """A failed report for a file Python cannot parse; None when it parses (or
    when this exercise's check list is missing: then the judge answers)."""
    rows = check_lists.checks(exercise_id)
    if not rows:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences: the judge's business
            ast.parse(source)
        return None
    except SyntaxError as exc:
        message = f"syntax error: {syntax_message(exc)}"
        tb = caret_lines(exc)
    except (ValueError, RecursionError, MemoryError):
        return None  # a NUL byte, deep nesting: worded by the judge
    checks = [
        CheckResult(id="file.loads", title="Your file imports", level="core", status="fail",
                    message=message, diagnosis=["syntax.error"], traceback=tb),
        CheckResult(id="rules.allowed", title="Follows the exercise's rules", level="core",
                    status="skip", message=NOT_PARSED),
        CheckResult(id="device.not_hardcoded", title="No hard-coded CUDA device", level="core",
                    status="skip", message=NOT_PARSED),
        CheckResult(id="api.names", title="Defines the exercise's names and signatures",
                    level="core", status="skip", message=NOT_PARSED),
        *(CheckResult(id=r["id"], title=r["title"], level=r["level"], status="skip",
                      message=NOT_PARSED) for r in rows),
    ]
    passed, score = summarise(checks)
    return ExerciseResult(exercise=exercise_id, file=file, device=device, passed=passed,
                          score=score, duration_s=0.0,
                          error={"kind": "syntax", "message": message}, checks=checks,
                          seed=seed)
