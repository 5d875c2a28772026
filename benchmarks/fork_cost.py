"""What a warm re-grade pays for running in a freshly forked process.

    python benchmarks/fork_cost.py [--exercise rope] [--runs 5]

The warm learner worker (drillpe.grading.warm_worker) forks a new process for
every grade. This runs the learner's side of one grade (drillpe.grading.learner.run
on the model answer, records written to a scratch file, no sandbox) in a process
prepared as the worker prepares itself: once more in that process (the
steady state), then in forked children, each of which runs it twice: its first
run pays for the fork's copy-on-write and first touches, its second does not.
Prints the medians (wall time, and minor page faults from getrusage), in
the same run, so the ratio of a child's first run to the steady state is what
compares across machines. MALLOC_/GLIBC_TUNABLES settings in the environment
apply, which is how allocator settings were compared.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exercise", default="rope")
    parser.add_argument("--runs", type=int, default=5, help="forked children")
    args = parser.parse_args()

    import torch

    from drillpe.grading import learner, warm_worker

    preloaded = warm_worker._single_threaded(warm_worker._preload, "learner")
    warm_worker._single_threaded(warm_worker._warm_up, "learner")
    torch.set_num_threads(1)
    grader = preloaded[args.exercise][0]
    scratch = Path(tempfile.mkdtemp(prefix="drillpe-fork-cost-"))
    # A copy: the learner's side refuses to load a file from drillpe's own folders.
    answer = scratch / f"{args.exercise}.py"
    answer.write_bytes((ROOT / "solutions" / f"{args.exercise}.py").read_bytes())

    def one_run() -> tuple[float, int]:
        records = os.open(scratch / "records", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        stuck = os.open(scratch / "stuck", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        # --run-refused: as in the namespace sandbox, where the warm learner worker runs;
        # without it the guard the first run arms confines this process, and refuses the
        # next run's open of its records file
        argv = ["--exercise", args.exercise, "--file", str(answer),
                "--records-fd", str(records), "--stuck-fd", str(stuck), "--run-refused"]
        learner.prepare_inputs(grader, 0, torch.device("cpu"))  # as the worker has them
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter()
        learner.run(learner.parse_args(argv), grader=grader)
        took = time.perf_counter() - start
        os.close(records)
        os.close(stuck)
        return took, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults

    one_run()
    steady = [one_run() for _ in range(args.runs)]
    first, second = [], []
    for _ in range(args.runs):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            a, b = one_run(), one_run()
            os.write(write, json.dumps([a, b]).encode())
            os._exit(0)
        os.close(write)
        data = b""
        while chunk := os.read(read, 4096):
            data += chunk
        os.close(read)
        os.waitpid(pid, 0)
        a, b = json.loads(data)  # two (seconds, faults) pairs
        first.append(a)
        second.append(b)

    def show(label, rows):
        ms = statistics.median(r[0] for r in rows) * 1e3
        faults = statistics.median(r[1] for r in rows)
        print(f"{label:<34} {ms:7.1f} ms  {faults:7.0f} minor faults")
        return ms

    print(f"{args.exercise}, learner side of one grade on the model answer, median of {args.runs}")
    base = show("same process, again (steady state)", steady)
    once = show("forked child, first run", first)
    show("forked child, second run", second)
    print(f"a forked child's first run costs {once / base:.2f}x the steady state")
    shutil.rmtree(scratch, ignore_errors=True)
    os._exit(0)  # skip tearing down torch


if __name__ == "__main__":
    main()
