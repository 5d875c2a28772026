"""Grading: runs in child processes only (it imports torch).

Graders import their API from here: ``from drillpe.grading import Grader, Fail, ...``.
"""

from drillpe.grading.api import (
    Case,
    Check,
    Env,
    ExceptionOut,
    Fail,
    Grader,
    JudgeContext,
    ObjectOut,
    Rand,
    TensorOut,
    assert_close,
    attempt,
    diagnose,
    diagnose_pairs,
    exception_failure,
    expect_tensor,
    expect_tuple,
    heatmap,
    is_close,
    learner_exception,
    mismatch,
    type_name,
)

__all__ = [
    "Case",
    "Check",
    "Env",
    "ExceptionOut",
    "Fail",
    "Grader",
    "JudgeContext",
    "ObjectOut",
    "Rand",
    "TensorOut",
    "assert_close",
    "attempt",
    "diagnose",
    "diagnose_pairs",
    "exception_failure",
    "expect_tensor",
    "expect_tuple",
    "heatmap",
    "is_close",
    "learner_exception",
    "mismatch",
    "type_name",
]
