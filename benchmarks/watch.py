"""Save-to-scorecard latency of `drillpe watch` beside a cold `drillpe check`,
both measured in the same run.

    python benchmarks/watch.py [--exercise sinusoidal] [--saves 20] [--cold 5]

Cold: the median wall time of `drillpe check EXERCISE -q` on the reference
solution (a new CLI process, two grading processes, each importing torch).
Watch: one `drillpe watch EXERCISE -q` process, its output on a pipe; the file
is rewritten (a real write, alternating the reference and a wrong answer),
and the latency is the time from the write to the end of the scorecard the
watch prints for it (its status line). The goal is a median at or under
0.3 s where a cold check takes about 1.5 s, so the ratio is printed too:
compare ratios across machines, not seconds. Both are measured once per
isolation level (the namespace sandbox and the guard), in one run, so the
sandbox's cost is the difference.
"""

from __future__ import annotations

import argparse
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WRONG = {"sinusoidal": "concat_layout.py", "learnable": "offset_ignored.py",
         "relative": "sign_flipped.py", "rope": "half_split.py"}
TARGET_S = 0.3
REFERENCE_COLD_S = 1.5


def cold_check(exercise: str, env: dict, cwd: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "drillpe", "check", exercise, "-q"], env=env,
                       cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return times


def read_until_graded(proc: subprocess.Popen, buffer: bytearray, timeout: float) -> float:
    """Wait for the status line that ends a scorecard; returns when it arrived."""
    fd = proc.stdout.fileno()
    deadline = time.perf_counter() + timeout
    while True:
        while b"\n" in buffer:
            line, _, rest = bytes(buffer).partition(b"\n")
            buffer[:] = rest
            if b"grade #" in line:
                return time.perf_counter()
        left = deadline - time.perf_counter()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError("no scorecard from drillpe watch")
        chunk = os.read(fd, 65536)
        if not chunk:
            raise RuntimeError("drillpe watch ended early")
        buffer.extend(chunk)


def write(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def watch_latencies(exercise: str, env: dict, cwd: Path, target: Path, right: str, wrong: str,
                    saves: int) -> tuple[float, dict[str, list[float]]]:
    """(first grade after start, save -> scorecard latencies by answer)."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "drillpe", "watch", exercise, "-q"],
                            env=env, cwd=cwd, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    buffer = bytearray()
    latencies: dict[str, list[float]] = {"right": [], "wrong": []}
    try:
        first = read_until_graded(proc, buffer, 300) - started
        for index in range(saves):
            kind = "wrong" if index % 2 == 0 else "right"
            time.sleep(0.3)  # a learner does not save twice within a grade
            saved = time.perf_counter()
            write(target, wrong if kind == "wrong" else right)
            latencies[kind].append(read_until_graded(proc, buffer, 120) - saved)
    finally:
        try:
            proc.stdin.write(b"q\n")
            proc.stdin.close()
            proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
    write(target, right)
    return first, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exercise", default="sinusoidal", choices=sorted(WRONG))
    parser.add_argument("--saves", type=int, default=20)
    parser.add_argument("--cold", type=int, default=5, help="cold checks to time")
    parser.add_argument("--isolation", default="namespaces,guard",
                        help="DRILLPE_ISOLATION levels to measure, in one run")
    args = parser.parse_args()

    right = (ROOT / "solutions" / f"{args.exercise}.py").read_text(encoding="utf-8")
    wrong = (ROOT / "tests" / "fixtures" / args.exercise / WRONG[args.exercise]).read_text(
        encoding="utf-8")
    print(f"{sys.executable} · {os.cpu_count()} CPUs · exercise {args.exercise}")
    for level in args.isolation.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            ws = tmp_path / "ws"
            ws.mkdir()
            env = dict(os.environ, DRILLPE_HOME=str(tmp_path / "home"),
                       DRILLPE_WORKSPACE=str(ws), NO_COLOR="1", COLUMNS="100",
                       DRILLPE_ISOLATION=level)
            target = ws / f"{args.exercise}.py"
            write(target, right)
            cold = cold_check(args.exercise, env, tmp_path, args.cold)
            first, latencies = watch_latencies(args.exercise, env, tmp_path, target, right,
                                               wrong, args.saves)
        report(level, args, cold, first, latencies)


def report(level: str, args, cold: list[float], first: float,
           latencies: dict[str, list[float]]) -> None:
    every = latencies["right"] + latencies["wrong"]
    cold_median = statistics.median(cold)
    watch_median = statistics.median(every)
    print(f"-- DRILLPE_ISOLATION={level}")
    print(f"cold `drillpe check {args.exercise}`  median {cold_median:6.3f} s   "
          f"({args.cold} runs, min {min(cold):.3f} s)")
    print(f"watch: first grade after start  {first:6.3f} s   (workers importing torch)")
    print(f"watch: save -> scorecard        median {watch_median:6.3f} s   ({len(every)} saves, "
          f"min {min(every):.3f}, max {max(every):.3f})")
    for kind, values in latencies.items():
        if values:
            print(f"         {kind:>5} answer            median {statistics.median(values):6.3f} s")
    ratio = cold_median / watch_median
    scaled = TARGET_S * cold_median / REFERENCE_COLD_S
    print(f"watch is {ratio:.1f}x faster than a cold check; the goal is "
          f"{REFERENCE_COLD_S / TARGET_S:.0f}x ({TARGET_S} s against {REFERENCE_COLD_S} s cold), "
          f"i.e. {scaled:.2f} s on this machine: "
          f"{'met' if watch_median <= max(TARGET_S, scaled) else 'NOT met'}")


if __name__ == "__main__":
    main()
