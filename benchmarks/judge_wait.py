"""How long a warm grade waits for its judge under the guard, answered on the judge
child's word or once the child is gone, taking turns in one pool.

    python benchmarks/judge_wait.py [--grades 12] [--exercise rope ...]

Grades each exercise's model answer and a wrong answer from tests/fixtures in turn
on one set of warm workers (DRILLPE_ISOLATION=guard), each grade twice: once with
the judge answered as soon as its child says its report is written (where the
learner's code cannot read the child's memory: no CAP_SYS_PTRACE), once with it
answered when the kernel has reaped the child (as for root). Prints the medians of
the time `WarmJudge.finish` waits (the learner's end sent -> the judge's answer)
and of whole grades (`runner.grade`), each way. Both ways run in the same pool,
taking turns, so the machine's drift falls on both alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WRONG = {"rope": "half_split.py", "t5_bias": "direction_flipped.py",
         "relative": "sign_flipped.py"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grades", type=int, default=12, help="grades each way per exercise")
    parser.add_argument("--exercise", nargs="*", default=sorted(WRONG), choices=sorted(WRONG))
    args = parser.parse_args()
    os.environ["DRILLPE_ISOLATION"] = "guard"
    sys.path.insert(0, str(ROOT))  # the checkout this file is in
    # deferred: from the checkout, once sys.path has it
    from drillpe.launch import lifeline, warm_pool
    from drillpe.launch.runner import GradeRequest, grade

    finish, waits = warm_pool.WarmJudge.finish, []

    def timed(self, end, timeout, early=False):
        start = time.perf_counter()
        try:
            return finish(self, end, timeout, early)
        finally:
            waits.append(time.perf_counter() - start)

    warm_pool.WarmJudge.finish = timed
    found: dict[tuple[str, bool], list[tuple[float, float]]] = {}
    with warm_pool.launcher() as pool:
        for exercise in args.exercise:
            files = [ROOT / "solutions" / f"{exercise}.py",
                     ROOT / "tests" / "fixtures" / exercise / WRONG[exercise]]
            for path in files:  # the judge worker keeps an exercise's results after its first
                grade(GradeRequest(exercise, path, timeout=60), launcher=pool)
            for index in range(args.grades):
                for early in (False, True):
                    lifeline.reaches_private = lambda early=early: not early
                    time.sleep(0.3)  # as saves come
                    start = time.perf_counter()
                    grade(GradeRequest(exercise, files[index % 2], timeout=60), launcher=pool)
                    found.setdefault((exercise, early), []).append(
                        (waits[-1], time.perf_counter() - start))
    print(f"{sys.executable} · {os.cpu_count()} CPUs · guard · {args.grades} grades each way "
          "(right and wrong answers alternating)")
    for exercise in args.exercise:
        for early in (False, True):
            rows = found[(exercise, early)]
            print(f"{exercise:<9} {'on its word' if early else 'once gone  '}  judge's wait "
                  f"median {statistics.median(w for w, _ in rows) * 1000:6.1f} ms, grade "
                  f"median {statistics.median(t for _, t in rows) * 1000:6.1f} ms")


if __name__ == "__main__":
    main()
