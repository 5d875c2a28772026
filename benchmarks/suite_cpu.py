"""Where the test suite's CPU goes: every process a pytest run starts, by kind and by
the test that started it.

    python benchmarks/suite_cpu.py [--out FILE.json] [PYTEST ARGS...]

Runs `python -m pytest PYTEST ARGS` (the README's test command when none are given)
from the checkout, while a thread here reads /proc every 30 ms: each process's command
line, parent and CPU time (user + system, the last value seen before it ended, so a
process that ends between two reads is undercounted by up to 30 ms of CPU). A small
pytest plugin (this file, loaded with `-p suite_cpu`) writes when each test starts and
ends in each xdist worker; a process is charged to the test that was running in the
worker it descends from when it started. Processes whose ancestry leaves the worker
(the sandbox's holder outlives its parent by design) are charged to "(one of)" the tests
running in any worker when they started, or "(unknown)" outside every test.

Prints the wall time, the CPU of each kind of process (how many, the total, the
median), and the tests whose processes took the most CPU. The kinds are told apart by
command line: warm workers (they import torch once; the forks they make per grade are
counted apart), the cold judge and learner processes of a grade, the bench's timing
processes, the CLI, and pytest's own processes. The figures explain the suite's time
on a given machine; compare them with a run of the same machine, not with seconds
measured elsewhere.
"""

from __future__ import annotations

import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
# (kind, a part of the command line), first match wins
KINDS = (
    ("warm worker", "drillpe.grading.warm_worker"),
    ("bench timing", "drillpe.grading.bench_child"),
    ("cold judge", "drillpe.grading.judge"),
    ("cold learner", "drillpe.grading.learner"),
    ("CLI", "-m drillpe "),
    ("pytest", "-m pytest"),
    ("pytest", "exec(eval(sys.stdin.readline()))"),  # an xdist worker
)
# A forked copy of a warm worker (one grade) has the worker's command line; the worker
# itself imports torch and the graders, a fork seldom takes this much CPU
WORKER_CPU_S = 0.8
# the kinds whose processes import torch: the report names the tests that start them
HEAVY = ("warm worker", "bench timing", "cold judge", "cold learner")


# --------------------------------------------------------------------------- the plugin


_LOG: list = []


def _log_file():
    if not _LOG:
        folder = os.environ.get("SUITE_CPU_LOG")
        _LOG.append(open(Path(folder) / f"{os.getpid()}.jsonl", "a", buffering=1)
                    if folder else None)
    return _LOG[0]


def _own_cpu() -> float:
    usage = os.times()
    return usage.user + usage.system


def pytest_runtest_logstart(nodeid, location):
    log = _log_file()
    if log is not None:
        log.write(json.dumps(["start", nodeid, time.time(), _own_cpu()]) + "\n")


def pytest_runtest_logfinish(nodeid, location):
    log = _log_file()
    if log is not None:
        log.write(json.dumps(["end", nodeid, time.time(), _own_cpu()]) + "\n")


# --------------------------------------------------------------------------- the sampler


def _boot_time() -> float:
    with open("/proc/stat") as fh:
        return float(next(line for line in fh if line.startswith("btime")).split()[1])


def _read(pid: str):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return (cmd, (int(fields[11]) + int(fields[12])) / TICK, int(fields[1]), int(fields[19]))


def sample(seen: dict, stop: threading.Event, ours: int) -> None:
    """(pid, start) -> [command line, CPU s, parent pid, start in ticks], until ``stop``."""
    while not stop.is_set():
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == ours:
                continue
            found = _read(pid)
            if found is None:
                continue
            cmd, cpu, parent, start = found
            old = seen.get((pid, start))
            if old is not None:  # an ended process (a zombie) shows no command line
                cmd, cpu = cmd or old[0], max(cpu, old[1])
            seen[(pid, start)] = [cmd, cpu, parent, start]
        time.sleep(0.03)


# --------------------------------------------------------------------------- the report


def kind_of(cmd: str, cpu: float) -> str | None:
    for kind, part in KINDS:
        if part in cmd:
            if kind == "warm worker" and cpu < WORKER_CPU_S:
                return "warm fork (a grade)"
            return kind
    return "other python" if "python" in cmd else None


def spans(folder: Path) -> tuple[dict[int, list], dict[str, list]]:
    """xdist worker pid -> [(start, end, test id)]; test id -> [wall s, the worker's own
    CPU s during the test]."""
    found: dict[int, list] = {}
    own: dict[str, list] = {}
    for path in folder.glob("*.jsonl"):
        started, runs = {}, []
        for line in path.read_text().splitlines():
            what, node, at, cpu = json.loads(line)
            if what == "start":
                started[node] = (at, cpu)
            elif node in started:
                began, cpu_began = started.pop(node)
                runs.append((began, at, node))
                own[node] = [at - began, cpu - cpu_began]
        found[int(path.stem)] = runs
    return found, own


def _during(began: float, ended: float, at: float) -> bool:
    """Whether a process that started ``at`` started while a test ran, 50 ms either
    side: its start is read from /proc in clock ticks after the boot time, the test's
    with time.time()."""
    return began - 0.05 <= at <= ended + 0.05


def report(seen: dict, tests: dict[int, list], own: dict[str, list], wall: float) -> dict:
    boot = _boot_time()
    procs = {int(pid): {"cmd": v[0], "cpu": v[1], "parent": v[2], "at": boot + v[3] / TICK}
             for (pid, _), v in seen.items()}

    def test_of(pid: int, at: float) -> str:
        for _ in range(30):
            if pid in tests or pid not in procs:
                break
            pid = procs[pid]["parent"]
        for began, ended, node in tests.get(pid, ()):
            if _during(began, ended, at):
                return node.split("[")[0], node
        # its ancestry left the worker (a holder reparented): the tests running when it
        # started, on any worker, one of which started it
        running = sorted({node.split("[")[0] for runs in tests.values()
                          for began, ended, node in runs if _during(began, ended, at)})
        name = "(one of) " + " | ".join(running) if running else "(unknown)"
        return name, name

    kinds: dict[str, list] = collections.defaultdict(list)
    by_test: dict[str, float] = collections.Counter()
    by_node: dict[str, float] = collections.Counter()  # the same, per parametrised test
    by_kind: dict[str, dict] = collections.defaultdict(lambda: collections.defaultdict(list))
    for pid, proc in procs.items():
        kind = kind_of(proc["cmd"], proc["cpu"])
        if kind is None:
            continue
        kinds[kind].append(proc["cpu"])
        if kind != "pytest":
            test, node = test_of(pid, proc["at"])
            by_test[test] += proc["cpu"]
            by_node[node] += proc["cpu"]
            by_kind[kind][test].append(proc["cpu"])
    in_process: dict[str, float] = collections.Counter()
    for node, (_, cpu) in own.items():
        in_process[node.split("[")[0]] += cpu
    return {"wall_s": round(wall, 1),
            "kinds": {k: {"processes": len(v), "cpu_s": round(sum(v), 1),
                          "median_s": round(statistics.median(v), 2)}
                      for k, v in sorted(kinds.items(), key=lambda kv: -sum(kv[1]))},
            "tests": {k: round(v, 1) for k, v in by_test.most_common(25)},
            # which tests start the processes of each costly kind: [how many, CPU s]
            "kinds_by_test": {
                kind: {test: [len(v), round(sum(v), 1)]
                       for test, v in sorted(rows.items(), key=lambda kv: -sum(kv[1]))[:12]}
                for kind, rows in by_kind.items() if kind in HEAVY},
            # the tests' own work, in the xdist worker's process (no process started)
            "in_process_tests": {k: round(v, 1) for k, v in in_process.most_common(15)},
            # a test that holds its worker while neither it nor its processes run (a
            # wait, a sleep, a timeout) leaves a core idle: wall less all that CPU
            "idle_tests": dict(sorted(
                ((node, [round(w, 1), round(w - c - by_node.get(node, 0.0), 1)])
                 for node, (w, c) in own.items()), key=lambda kv: -kv[1][1])[:15])}


def main() -> int:
    args = sys.argv[1:]
    out = None
    if args[:1] == ["--out"]:
        out, args = Path(args[1]), args[2:]
    if not Path("/proc/self/stat").exists():
        print("suite_cpu reads /proc: Linux only", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="suite-cpu-") as folder:
        env = dict(os.environ, SUITE_CPU_LOG=folder,
                   PYTHONPATH=os.pathsep.join([str(ROOT), str(Path(__file__).parent)]))
        seen: dict = {}
        stop = threading.Event()
        reader = threading.Thread(target=sample, args=(seen, stop, os.getpid()), daemon=True)
        reader.start()
        began = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", "pytest", "-p", "suite_cpu", *args],
                               cwd=ROOT, env=env)
        wall = time.perf_counter() - began
        stop.set()
        reader.join()
        result = report(seen, *spans(Path(folder)), wall=wall)
    print(f"\npytest exit {code}, {result['wall_s']} s on the wall")
    print(f"{'processes':>10} {'CPU s':>8} {'median':>7}  kind")
    for kind, row in result["kinds"].items():
        print(f"{row['processes']:>10} {row['cpu_s']:>8} {row['median_s']:>7}  {kind}")
    print("\nCPU of the processes each test started (s), the 25 largest:")
    for test, cpu in result["tests"].items():
        print(f"{cpu:8.1f}  {test}")
    for kind, rows in result["kinds_by_test"].items():
        print(f"\n{kind}: the tests that start the most (processes, CPU s):")
        for test, (count, cpu) in rows.items():
            print(f"{count:5} {cpu:8.1f}  {test}")
    print("\nThe tests whose own work (in the pytest worker) took the most CPU (s):")
    for test, cpu in result["in_process_tests"].items():
        print(f"{cpu:8.1f}  {test}")
    print("\nThe tests that hold their worker idle the longest (wall s, wall less the CPU "
          "of the worker and of the processes started):")
    for test, (held, idle) in result["idle_tests"].items():
        print(f"{held:6} {idle:6}  {test[:160]}")
    if out is not None:
        out.write_text(json.dumps(result, indent=1))
    return code


if __name__ == "__main__":
    sys.exit(main())
