"""Wall time of drillpe's commands beside baselines measured in the same run.

    python benchmarks/startup.py [--repeat N] [--exercise rope]

Prints the median of N runs for: a one-command typer app that prints a rich
table (benchmarks/baseline_app.py, the floor for any typer/rich CLI), `python -c "import torch"` (the floor
for anything that grades), the same import leaving with os._exit (grading's
processes skip Python's teardown of torch, 0.3-0.6 s, and this baseline
does too: against it, the check's own cost shows), torch imported the way
drillpe's grading processes import it (drillpe.grading: the garbage
collector paused, numpy's OpenBLAS on one thread), `drillpe --help`,
`drillpe list`, `drillpe start`, `drillpe check EXERCISE` on the reference
solution (with the namespace sandbox, and again with DRILLPE_ISOLATION=guard:
the sandbox's cost), and each as a ratio to its baselines. Ratios, not
seconds, are what to compare across machines.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str], env: dict, cwd: Path, repeat: int) -> float:
    if isinstance(cmd, tuple):  # (argv, extra environment)
        cmd, env = cmd[0], dict(env, **cmd[1])
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--exercise", default="rope")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        # the checkout this file is in, not whatever drillpe is installed
        env = dict(os.environ, DRILLPE_HOME=str(tmp_path / "home"),
                   DRILLPE_WORKSPACE=str(tmp_path / "ws"), NO_COLOR="1",
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
                                                            os.environ.get("PYTHONPATH")])))
        (tmp_path / "ws").mkdir()
        shutil.copy(ROOT / "solutions" / f"{args.exercise}.py",
                    tmp_path / "ws" / f"{args.exercise}.py")
        py = sys.executable
        drillpe = [py, "-m", "drillpe"]
        rows = [
            ("baseline typer+rich app (benchmarks/baseline_app.py)",
             [py, str(ROOT / "benchmarks" / "baseline_app.py")], None),
            ("python -c 'import torch'", [py, "-c", "import torch"], None),
            ("the same, without torch's teardown", [py, "-c", "import torch, os; os._exit(0)"],
             None),
            # drillpe.grading imports torch with the collector paused and numpy's
            # OpenBLAS on one thread, as every grading process starts
            ("torch as grading imports it", [py, "-c", "import drillpe.grading, os; os._exit(0)"],
             (2,)),
            ("drillpe --help", [*drillpe, "--help"], (0,)),
            ("drillpe list", [*drillpe, "list"], (0,)),
            ("drillpe list --lang zh", [*drillpe, "list", "--lang", "zh"], (0,)),
            ("drillpe learn rope", [*drillpe, "learn", "rope"], (0,)),
            ("drillpe hint alibi --lang zh", [*drillpe, "hint", "alibi", "--lang", "zh"], (0,)),
            ("drillpe start sinusoidal --force", [*drillpe, "start", "sinusoidal", "--force"],
             (0,)),
            (f"drillpe check {args.exercise} (reference, sandboxed)",
             ([*drillpe, "check", args.exercise], {"DRILLPE_ISOLATION": "namespaces"}), (1, 2)),
            (f"drillpe check {args.exercise} (reference, guard)",
             ([*drillpe, "check", args.exercise], {"DRILLPE_ISOLATION": "guard"}), (1, 2)),
        ]
        results = [(label, timed(cmd, env, tmp_path, args.repeat), base)
                   for label, cmd, base in rows]
    width = max(len(label) for label, _, _ in results)
    print(f"median of {args.repeat} runs, {sys.executable}")
    for label, seconds, bases in results:
        ratios = "; ".join(f"{seconds / results[b][1]:5.2f}x {results[b][0]}" for b in bases or ())
        print(f"{label:<{width}}  {seconds:6.3f} s  {ratios}".rstrip())


if __name__ == "__main__":
    main()
