"""`drillpe bench`, the parent side: grade first, then time the learner's
code and the reference in two child processes, one after the other, and say
what the numbers mean (ratio, share of the copy roofline, recognisable
causes of slowness).

No torch here: it runs in the CLI process. The timing itself lives in
``drillpe.grading.bench_child``; what is timed, in ``bench_specs``.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drillpe.errors import EXIT_FAILED, DrillpeBug, DrillpeError, UsageError
from drillpe.launch import contract, processes
from drillpe.results import textsafety

SCHEMA = 1
LOOP_GROWTH = 0.5  # doubling an axis adds at least this share of torch calls: a loop
LOOP_MIN_CALLS = 8
TABLE_SHARE = 0.2  # shape-only writes above this share of a call are worth caching


class BenchFailed(DrillpeError):
    """The learner's answer cannot be benched (it fails its core checks, or
    crashes or times out at the bench sizes): exit 1, like a failed check."""

    exit_code = EXIT_FAILED


@dataclass
class BenchOptions:
    device: str = "cpu"
    dtype: str = "float32"
    threads: int = 1
    seed: int = 0
    budget_s: float = 2.0
    quick: bool = False
    timeout_s: float = 300.0


@dataclass
class Cause:
    code: str
    message: str


@dataclass
class TargetBench:
    name: str
    call: str
    size: dict[str, int]
    learner: dict[str, Any] | None
    reference: dict[str, Any]
    copy: dict[str, Any] | None = None
    bytes_moved: int | None = None
    error: str | None = None
    causes: list[Cause] = field(default_factory=list)
    trace: dict[str, Any] | None = None
    python_work: dict[str, Any] | None = None
    loop_advice: str | None = None  # the exercise's bench spec says how to avoid the loop

    @property
    def ratio(self) -> float | None:
        """Learner's median time over the reference's (above 1: slower)."""
        if not self.learner:
            return None
        return self.learner["median_s"] / self.reference["median_s"]

    def roofline(self, side: dict[str, Any] | None) -> float | None:
        if not side or not self.copy:
            return None
        return self.copy["median_s"] / side["median_s"]

    def bandwidth_gbs(self, side: dict[str, Any] | None) -> float | None:
        if not side or not self.bytes_moved:
            return None
        return self.bytes_moved / side["median_s"] / 1e9

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "call": self.call, "size": self.size, "error": self.error,
            "learner": self.learner, "reference": self.reference, "copy": self.copy,
            "bytes_moved": self.bytes_moved, "ratio": _round(self.ratio),
            "learner_roofline": _round(self.roofline(self.learner)),
            "reference_roofline": _round(self.roofline(self.reference)),
            "learner_bandwidth_gbs": _round(self.bandwidth_gbs(self.learner)),
            "reference_bandwidth_gbs": _round(self.bandwidth_gbs(self.reference)),
            "copy_bandwidth_gbs": _round(self.bandwidth_gbs(self.copy)),
            "causes": [{"code": c.code, "message": c.message} for c in self.causes],
            "trace": self.trace, "python_work": self.python_work,
        }


@dataclass
class BenchReport:
    exercise: str
    file: str
    options: BenchOptions
    machine: dict[str, Any]
    targets: list[TargetBench]
    score: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "exercise": self.exercise, "file": self.file,
                "device": self.machine.get("device", self.options.device),
                "device_name": self.machine.get("device_name"),
                "torch": self.machine.get("torch"), "threads": self.machine.get("threads"),
                "dtype": self.options.dtype, "quick": self.options.quick,
                "seed": self.options.seed, "score": self.score,
                "targets": [t.to_dict() for t in self.targets]}


def _round(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.4g}")


# --------------------------------------------------------------------------- causes


def explain(target: TargetBench, device: str) -> list[Cause]:
    """Recognisable causes of slowness, from the learner's trace (bench_child)."""
    causes: list[Cause] = []
    work = target.python_work or {}
    trace = target.trace or {}
    base_ops = work.get("base_ops", 0)
    for axis, grown in work.get("axes", {}).items():
        extra = grown["ops"] - base_ops
        if extra >= LOOP_MIN_CALLS and extra >= LOOP_GROWTH * base_ops:
            bench_size = target.size.get(axis)
            causes.append(Cause("bench.python_loop", (
                f"a Python loop over {grown['meaning']}: one call makes {base_ops} torch calls "
                f"at {axis}={grown['base']} and {grown['ops']} at {axis}={grown['size']}; at "
                f"{axis}={bench_size} it made {trace.get('ops', '?')}, each paying Python and "
                f"dispatch overhead (and on a GPU a kernel launch). Work on all "
                f"{grown['meaning']} at once: "
                f"{target.loop_advice or 'use tensor operations instead of looping'}.")))
    written = trace.get("written") or 0
    if target_has_data(target) and written > 0:
        share = trace.get("const_written", 0) / written
        if share >= TABLE_SHARE:
            top = ", ".join(trace.get("const_top", [])[:4])
            causes.append(Cause("bench.table_rebuilt", (
                f"{share:.0%} of the elements one call writes come from work that does not "
                f"depend on the input values ({top}): the angle table, or another tensor that "
                "depends only on "
                "shapes, is rebuilt on every call. Build it once per (length, dim, dtype, "
                "device) and cache it, at its natural size (L, d/2 or L, d) so broadcasting "
                "covers batch and heads instead of materialising a full-size copy.")))
    syncs = trace.get("syncs") or {}
    if syncs:
        names = ", ".join(f"{name} ×{count}" for name, count in sorted(syncs.items()))
        where = ("each waits until the GPU has finished all queued work" if device == "cuda"
                 else "on a GPU each would wait until all queued work has finished")
        causes.append(Cause("bench.host_sync", (
            f"{sum(syncs.values())} host–device synchronisations per call ({names}): "
            f"tensor values handed to Python; {where}. Keep values in tensors (torch.where, "
            "masks) and read shapes from .shape, not from tensor values.")))
    if trace.get("transfers"):
        causes.append(Cause("bench.device_copy", (
            f"{trace['transfers']} tensors move between devices on every call: create "
            "tables and indices directly on the inputs' device (device=x.device).")))
    return causes


def target_has_data(target: TargetBench) -> bool:
    return bool((target.trace or {}).get("has_data_inputs", True))


# --------------------------------------------------------------------------- processes


BENCH_OUTPUT_CAP = 16 * 1024 * 1024


def _run_child(role: str, exercise_id: str, file: Path | None, options: BenchOptions,
               tmpdir: Path) -> dict[str, Any]:
    args = ["--role", role, "--exercise", exercise_id, "--device", options.device,
            "--dtype", options.dtype, "--threads", str(options.threads),
            "--seed", str(options.seed), "--budget", str(options.budget_s)]
    if options.quick:
        args.append("--quick")
    if role == "learner":
        return _run_learner_child(args, exercise_id, file, options, tmpdir)
    out = tmpdir / "reference.json"
    log = tmpdir / "reference.log"
    with open(log, "wb") as fh:
        proc = processes.spawn(processes.module_argv(contract.BENCH, *args, "--out", str(out)),
                               stdout=fh, stderr=subprocess.STDOUT, cwd=tmpdir)
    rc = processes.wait_or_kill(proc, options.timeout_s)
    processes.finished(proc)
    text = log.read_text(errors="replace").strip()
    if rc is None:
        raise DrillpeBug("the reference's bench did not finish")
    _usage_exit(rc, text, exercise_id)
    if rc != 0 or not out.is_file():
        raise DrillpeBug(f"the reference's bench failed (exit {rc}):\n{text[-3000:]}")
    return json.loads(out.read_text())


def _run_learner_child(args: list[str], exercise_id: str, file: Path, options: BenchOptions,
                       tmpdir: Path) -> dict[str, Any]:
    """The learner's side runs sandboxed, like a grade; its result comes back
    on the records fd, capped, and is parsed as untrusted JSON."""
    # deferred: the grade runs only for an answer to time
    from drillpe.launch.runner import COLD, run_sandboxed, stage

    stage_root = COLD.stage_root(tmpdir)
    staged = stage(file, stage_root, exercise_id)
    out = tmpdir / "learner.json"
    argv = processes.module_argv(contract.BENCH, *args, "--file", str(staged),
                                 "--out-fd", str(contract.RECORDS_FD))

    def start(pipes: processes.Pipes, level: str):
        return COLD.start_process(argv, staged=staged, device=options.device,
                                  timeout=options.timeout_s, pipes=pipes, level=level,
                                  hidden=[str(file.parent)], log=tmpdir / "supervisor.log")

    status, text, overflow = run_sandboxed(COLD, start, records=out,
                                           records_cap=BENCH_OUTPUT_CAP, stuck=None,
                                           timeout=options.timeout_s, device=options.device)
    text = textsafety.neutralise(text.strip())
    if status.timed_out:
        raise BenchFailed(
            f"your code did not finish the bench within {options.timeout_s:g} s at the "
            "bench sizes; try `drillpe bench --quick` or a larger --timeout.")
    _usage_exit(status.returncode, text, exercise_id)
    if status.returncode != 0 or overflow:
        why = "its report was too large" if overflow else f"exit {status.returncode}"
        raise BenchFailed(f"your code failed in the bench process ({why}):\n{text[-2000:]}")
    try:
        data = json.loads(out.read_bytes().decode("utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("targets"), list):
            raise ValueError("no targets")
    except (OSError, ValueError) as exc:
        raise BenchFailed(f"the bench process of your code sent no readable result ({exc})"
                          ) from None
    return data


def _usage_exit(rc: int | None, text: str, exercise_id: str) -> None:
    if rc == contract.EXIT_DEVICE_UNAVAILABLE:
        raise UsageError(text.splitlines()[-1] if text else "the device is not available")
    if rc == contract.EXIT_NO_SPEC:
        raise UsageError(text.splitlines()[-1] if text else f"no bench for {exercise_id}")


def measure(exercise_id: str, file: Path, options: BenchOptions, display: str | None = None,
            score: float = 1.0) -> BenchReport:
    """Time an answer that already passed grading (see ``bench``)."""
    with tempfile.TemporaryDirectory(prefix="drillpe-bench-") as tmp:
        tmpdir = Path(tmp)
        # One after the other: side by side they would share the cores.
        learner = _run_child("learner", exercise_id, file.resolve(), options, tmpdir)
        reference = _run_child("reference", exercise_id, None, options, tmpdir)
    targets = []
    for mine, ref in zip(learner["targets"], reference["targets"]):
        trace = dict(mine.get("trace") or {}, has_data_inputs=mine.get("has_data_inputs", True))
        target = TargetBench(
            name=ref["name"], call=ref["call"], size=ref["size"], learner=mine.get("timing"),
            reference=ref["timing"], copy=ref.get("copy"), bytes_moved=ref.get("bytes_moved"),
            error=mine.get("error"), trace=trace if mine.get("trace") else None,
            python_work=mine.get("python_work"), loop_advice=ref.get("loop_advice"))
        if target.error is None:
            target.causes = explain(target, reference.get("device", options.device))
        targets.append(target)
    machine = {k: reference.get(k) for k in ("device", "device_name", "torch", "threads")}
    return BenchReport(exercise=exercise_id, file=display or str(file), options=options,
                       machine=machine, targets=targets, score=score)


def bench(exercise_id: str, file: Path, options: BenchOptions, display: str | None = None,
          grade_timeout: float = 20.0):
    """Grade ``file`` (the usual two processes), then time it if it passes.

    Returns (grading result, BenchReport or None when the answer failed).
    """
    # deferred: the grade runs only for an answer to time
    from drillpe.launch.runner import GradeRequest, grade

    result = grade(GradeRequest(exercise_id=exercise_id, file=file, device=options.device,
                                seed=options.seed, timeout=grade_timeout, display_path=display))
    if not result.passed:
        return result, None
    device = result.device if options.device == "auto" else options.device
    chosen = BenchOptions(**{**options.__dict__, "device": device})
    return result, measure(exercise_id, file, chosen, display, result.score)
