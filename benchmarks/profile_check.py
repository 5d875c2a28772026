"""Where a cold `drillpe check` spends its time, process by process.

    pip install py-spy
    python benchmarks/profile_check.py [--exercise rope] [--runs 3]

Samples `drillpe check EXERCISE --file solutions/EXERCISE.py -q` with
py-spy (`record --subprocesses`, 200 samples a second, raw stacks), so the
CLI, the sandbox's supervisor, the learner's process and the judge are all
profiled in one real run; no drillpe code changes to be measured. Each
process's samples are split into: importing torch, importing typer/rich, and
otherwise the innermost drillpe/grader/reference function on the stack (the
file and function that owns the time). `python -c "import torch"` is timed
in the same run as the floor, and the check's wall time without the profiler.

Sampling slows the processes a little, and a busy machine a lot: compare the
shares within one run, not seconds across machines.
"""

from __future__ import annotations

import argparse
import collections
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
RATE = 200
OWNER = re.compile(r"(\w+) \((?:.*/)?((?:drillpe|graders|solutions)/[\w/]+\.py)")
ROLE = re.compile(r"-m (drillpe[\w.]*)|(supervisor)\.py")


def bucket(frames: list[str]) -> str:
    stack = ";".join(frames)
    if "torch/__init__.py" in stack:
        return "import torch"
    if ("typer/" in stack or "rich/" in stack or "click/" in stack) and "_find_and_load" in stack:
        return "import typer/rich"
    owner = None
    for frame in frames:
        match = OWNER.match(frame)
        if match:
            owner = f"{match.group(2)}:{match.group(1)}"
    if owner:
        return owner
    if any("select" in f or "readline" in f or "wait" in f or "poll" in f
           for f in frames[-2:]):
        return "(waiting)"
    if frames and "supervisor.py" in stack:
        return "supervisor.py:" + frames[-1].split(" (")[0]
    return "(python start-up, other)"


def parse(raw: Path) -> dict[str, collections.Counter]:
    """role -> Counter(bucket -> seconds)."""
    found: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        starts = [i for i, f in enumerate(frames) if f.startswith("process ")]
        if not starts:
            continue
        own = frames[starts[-1]:]  # the innermost process is the one sampled
        match = ROLE.search(own[0])
        role = (match.group(1) or match.group(2)) if match else own[0][:40]
        role = {"drillpe": "cli"}.get(role, role.removeprefix("drillpe."))
        found[role][bucket(own[1:])] += int(count) / RATE
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exercise", default="rope")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--top", type=int, default=6, help="buckets shown per process")
    args = parser.parse_args()
    if shutil.which("py-spy") is None:
        sys.exit("needs py-spy: pip install py-spy")

    profiles: list[dict[str, collections.Counter]] = []
    walls, torch_alone = [], []
    answer = ROOT / "solutions" / f"{args.exercise}.py"
    check = [sys.executable, "-m", "drillpe", "check", args.exercise, "--file", str(answer), "-q"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        env = dict(os.environ, DRILLPE_HOME=str(tmp_path / "home"),
                   DRILLPE_WORKSPACE=str(tmp_path / "ws"), NO_COLOR="1",
                   PYTHONPATH=str(ROOT))
        for index in range(args.runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import torch"], check=True)
            torch_alone.append(time.perf_counter() - start)
            start = time.perf_counter()
            subprocess.run(check, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
            walls.append(time.perf_counter() - start)
            raw = tmp_path / f"profile{index}.txt"
            subprocess.run(["py-spy", "record", "--subprocesses", "--rate", str(RATE),
                            "--format", "raw", "--output", str(raw), "--", *check],
                           env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
            profiles.append(parse(raw))

    torch_s, wall_s = statistics.median(torch_alone), statistics.median(walls)
    print(f"{sys.executable} · {os.cpu_count()} CPUs · drillpe check {args.exercise} on its "
          f"model answer · median of {args.runs} runs")
    print(f"python -c 'import torch'       {torch_s:.3f} s")
    print(f"drillpe check (no profiler)    {wall_s:.3f} s   {wall_s / torch_s:.2f}x import torch")
    print("sampled seconds per process (py-spy, on-CPU and waiting):")
    roles = sorted({role for p in profiles for role in p},
                   key=lambda r: ("cli", "supervisor", "learner", "grading.learner",
                                  "grading.judge").index(r) if r in (
                       "cli", "supervisor", "learner", "grading.learner", "grading.judge")
                   else 9)
    for role in roles:
        totals = [sum(p[role].values()) for p in profiles if role in p]
        print(f"  {role:<16} {statistics.median(totals):6.3f} s")
        keys = collections.Counter()
        for p in profiles:
            keys.update(p.get(role, {}))
        for key, _ in keys.most_common(args.top):
            values = [p[role][key] for p in profiles if key in p.get(role, {})]
            print(f"      {statistics.median(values):6.3f} s  {key}")


if __name__ == "__main__":
    main()
