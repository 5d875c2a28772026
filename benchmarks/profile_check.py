"""Where a cold `drillpe check` spends its time, process by process.

    python benchmarks/profile_check.py [--exercise rope] [--runs 3]

Runs `drillpe check EXERCISE --file solutions/EXERCISE.py -q` under
`strace -f` (Linux, strace installed), recording only process starts, exits
and file opens, and reads the timeline of every process off it: when it was
started (execve), when it began and finished importing torch (the opens of
torch/__init__.py and of the first file after torch's own), when it opened
the files that mark its work (the grader, the learner's staged copy, the
report) and when it exited. No drillpe code is changed to measure this, so
the figures are what a user's run does, plus strace's overhead (the same
for every process; compare shares, not seconds). A plain `python -c "import
torch"` is timed in the same run as the floor.

The printed timeline is the median over the runs, in seconds from the CLI's
start.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$")
OPENED = re.compile(r'open(?:at)?\((?:[^,]+, )?"([^"]+)"')


def role(argv: str) -> str | None:
    """Which drillpe process an execve line starts, from its argv."""
    for module, name in (("drillpe.grading.learner", "learner"),
                         ("drillpe.grading.judge", "judge"),
                         ("drillpe.launch.supervisor", "supervisor"),
                         ('"drillpe"', "cli")):
        if module in argv:
            return name
    return None


def parse(trace: Path) -> dict[str, dict[str, float]]:
    """role -> {event: seconds from the CLI's start}."""
    pids: dict[str, str] = {}
    events: dict[str, dict[str, float]] = {}
    origin = None
    for raw in trace.read_text(errors="replace").splitlines():
        match = LINE.match(raw)
        if not match:
            continue
        pid, stamp, call = match.group(1), float(match.group(2)), match.group(3)
        if origin is None:
            origin = stamp
        at = stamp - origin
        if call.startswith("execve(") and "= 0" in call.split(")")[-1] or \
                (call.startswith("execve(") and "resumed" not in call and "ENOENT" not in call):
            name = role(call)
            if name and name not in events:
                pids[pid] = name
                events[name] = {"exec": at}
            continue
        name = pids.get(pid)
        if name is None:
            continue
        mine = events[name]
        if call.startswith("exit_group(") or call.startswith("+++ exited"):
            mine.setdefault("exit", at)
            continue
        opened = OPENED.search(call)
        if not opened or "ENOENT" in call:
            continue
        path = opened.group(1)
        if path.endswith("torch/__init__.py"):
            mine.setdefault("torch import starts", at)
        elif "torch" in mine and "torch import ends" not in mine:
            pass
        if "torch import starts" in mine and "/torch/" not in path and path.endswith(".py") \
                and "site-packages" not in path and "torch import ends" not in mine:
            mine["torch import ends"] = at
        if re.search(r"graders/[a-z0-9_]+\.py$", path):
            mine.setdefault("opens its grader", at)
        if path.endswith("report.json"):
            mine.setdefault("writes report.json", at)
    return events


def traced_run(exercise: str, env: dict, cwd: Path, out: Path) -> float:
    argv = ["strace", "-f", "-ttt", "-qq", "-e", "trace=execve,openat,exit_group",
            "-o", str(out), sys.executable, "-m", "drillpe", "check", exercise, "--file",
            str(ROOT / "solutions" / f"{exercise}.py"), "-q"]
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exercise", default="rope")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("strace") is None:
        sys.exit("needs strace (Linux): apt install strace")

    runs: list[dict[str, dict[str, float]]] = []
    walls, torch_alone = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        env = dict(os.environ, DRILLPE_HOME=str(tmp_path / "home"),
                   DRILLPE_WORKSPACE=str(tmp_path / "ws"), NO_COLOR="1",
                   PYTHONPATH=str(ROOT))
        for index in range(args.runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import torch"], check=True)
            torch_alone.append(time.perf_counter() - start)
            trace = tmp_path / f"trace{index}.txt"
            walls.append(traced_run(args.exercise, env, tmp_path, trace))
            runs.append(parse(trace))

    print(f"{sys.executable} · {os.cpu_count()} CPUs · drillpe check {args.exercise} "
          f"(model answer) under strace, median of {args.runs} runs")
    print(f"python -c 'import torch' (no strace)   {statistics.median(torch_alone):.3f} s")
    print(f"drillpe check, wall under strace      {statistics.median(walls):.3f} s")
    print("seconds from the CLI's start:")
    for name in ("cli", "supervisor", "learner", "judge"):
        keys = sorted({key for run in runs for key in run.get(name, {})},
                      key=lambda key: statistics.median(run[name][key] for run in runs
                                                        if key in run.get(name, {})))
        if not keys:
            continue
        parts = []
        for key in keys:
            values = [run[name][key] for run in runs if key in run.get(name, {})]
            parts.append(f"{key} {statistics.median(values):.3f}")
        print(f"  {name:<10} " + " · ".join(parts))


if __name__ == "__main__":
    main()
