"""When each process of a cold `drillpe check` starts and ends.

    python benchmarks/timeline_check.py [--exercise rope] [--runs 5]

Runs `drillpe check EXERCISE --file solutions/EXERCISE.py -q` under
`strace -f --seccomp-bpf -e trace=execve,exit_group` (only those two system
calls stop the processes, so the run is barely slowed) and prints, as the
median over the runs, when the CLI spawned the judge, the supervisor and the
learner, when each of them exited, and when the CLI itself did, all counted
from the CLI's start. `python -c "import torch"` is timed in the same run.
The gap between a process's last line of work and its exit_group is the
interpreter's teardown; the gap between a child's exit and the CLI's is
what the CLI does after it (the scorecard, the history).

This is how the judge's teardown was found: it wrote its report 0.39 s
before it exited (an interpreter holding torch tearing itself down), and the
CLI waited for that exit. Linux only; needs strace.
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
LINE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(execve|exit_group)\((.*)")
ROLES = (("grading.judge", "judge"), ("supervisor.py", "supervisor"),
         ("grading.learner", "learner"))


def role_of(args: str) -> str | None:
    for needle, role in ROLES:
        if needle in args:
            return role
    return None


def timeline(trace: Path) -> dict[str, float]:
    """Seconds from the CLI's exec: '<role> start' and '<role> end' for each process."""
    events: dict[str, float] = {}
    roles: dict[str, str] = {}
    start = None
    for line in trace.read_text(errors="replace").splitlines():
        match = LINE.match(line)
        if not match or "resumed" in line or "ENOENT" in line:
            continue
        pid, stamp, call, rest = match.group(1), float(match.group(2)), match.group(3), \
            match.group(4)
        if call == "execve":
            if start is None:
                start, roles[pid] = stamp, "cli"
                events["cli start"] = 0.0
                continue
            role = role_of(rest)
            if role and f"{role} start" not in events and "python" in rest.split(",")[0]:
                roles[pid] = role
                events[f"{role} start"] = stamp - start
        elif pid in roles and start is not None:
            events[f"{roles[pid]} end"] = stamp - start
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exercise", default="rope")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("strace") is None:
        sys.exit("needs strace (Linux)")
    answer = ROOT / "solutions" / f"{args.exercise}.py"
    runs: list[dict[str, float]] = []
    torch_alone = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        env = dict(os.environ, DRILLPE_HOME=str(tmp_path / "home"),
                   DRILLPE_WORKSPACE=str(tmp_path / "ws"), NO_COLOR="1", PYTHONPATH=str(ROOT))
        for index in range(args.runs):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import torch"], check=True)
            torch_alone.append(time.perf_counter() - started)
            trace = tmp_path / f"trace{index}.txt"
            subprocess.run(["strace", "-f", "--seccomp-bpf", "-ttt", "-s", "256", "-e",
                            "trace=execve,exit_group", "-o", str(trace), sys.executable, "-m",
                            "drillpe", "check", args.exercise, "--file", str(answer), "-q"],
                           env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
            runs.append(timeline(trace))
    keys = sorted({k for r in runs for k in r}, key=lambda k: statistics.median(
        r[k] for r in runs if k in r))
    print(f"{sys.executable} · {os.cpu_count()} CPUs · drillpe check {args.exercise} on its "
          f"model answer, under strace · median of {args.runs} runs")
    print(f"python -c 'import torch'   {statistics.median(torch_alone):.3f} s")
    for key in keys:
        values = [r[key] for r in runs if key in r]
        print(f"{key:<18} {statistics.median(values):7.3f} s")


if __name__ == "__main__":
    main()
