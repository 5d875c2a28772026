"""Grading: runs in child processes only (it imports torch).

Graders import their API from here: ``from drillpe.grading import Grader, Fail, ...``.

Every grading process starts here, so torch is imported here first, the cheap
way (benchmarks/startup.py measures it):

- with the cyclic garbage collector paused. Importing torch makes some 200,000
  objects, none of them garbage, and the collector walked them over and over
  while they were made: about a fifth of the import's CPU on a 2-core machine.
  They are then frozen (``gc.freeze``): no later collection walks them either,
  and a warm worker's forked children do not copy their pages to do so.
- with numpy's OpenBLAS on one thread, unless the environment says otherwise.
  torch imports numpy, and OpenBLAS starts a thread per core that spins while
  the import goes on. drillpe's graders run torch on one thread anyway, and a
  bench's ``--threads`` is torch's.
"""

import contextlib
import gc
import os
import sys


@contextlib.contextmanager
def kept_for_life():
    """Whatever the block makes lives as long as the process: build it with the
    collector paused, then freeze it, so no later collection walks it (and a
    forked child's collections do not write to, and so copy, its pages)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if collecting:
            gc.enable()


if "torch" not in sys.modules:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    with kept_for_life():
        import torch  # noqa: F401

from drillpe.grading.api import (  # noqa: E402  (torch first, the cheap way)
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
    argmax_index,
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
    naming,
    type_name,
    unravel,
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
    "argmax_index",
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
    "naming",
    "type_name",
    "unravel",
]
