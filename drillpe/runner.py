"""Grades one learner file: starts the judge and the learner process side by
side, bounds the learner by the timeout, and returns the judge's report.

No torch in this module: it runs in the CLI process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from drillpe.errors import DrillpeBug, UsageError
from drillpe.report import ExerciseResult

EXIT_DEVICE_UNAVAILABLE = 4  # drillpe.grading.common.EXIT_DEVICE_UNAVAILABLE
OUTPUT_CAP = 64 * 1024  # bytes of the learner's printed output that are read
OUTPUT_SHOWN = 2000  # characters of it kept in the report
JUDGE_GRACE_S = 120.0
MEMORY_LIMIT = 8 * 1024**3  # address space of the learner process on the CPU


@dataclass
class GradeRequest:
    exercise_id: str
    file: Path
    device: str = "cpu"
    seed: int = 0
    timeout: float = 20.0
    display_path: str | None = None


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    package_parent = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # keep the workspace free of __pycache__
    env["PYTHONHASHSEED"] = "0"
    env.setdefault("PYTHONWARNINGS", "ignore::UserWarning")
    return env


def limit_address_space() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    except (ImportError, ValueError, OSError):
        pass


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            data = fh.read(OUTPUT_CAP)
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return text if len(text) <= OUTPUT_SHOWN else "…" + text[-OUTPUT_SHOWN:]


class ColdProcess:
    """A grading process as :func:`grade` drives it; here a fresh ``python -m``.

    drillpe.warm provides the same four methods for processes forked from a
    warm worker, so both paths share one grading loop.
    """

    def __init__(self, popen: subprocess.Popen):
        self.popen = popen
        self.pid = popen.pid

    def wait(self, timeout: float | None = None) -> int:
        """The exit status; raises subprocess.TimeoutExpired after ``timeout``."""
        return self.popen.wait(timeout=timeout)

    def kill_group(self) -> None:
        _kill_group(self.popen)

    def kill(self) -> None:
        self.popen.kill()
        self.popen.wait()

    def send_end(self, info: dict) -> None:
        """Tell the judge how the learner process ended (one JSON line)."""
        try:
            self.popen.stdin.write(json.dumps(info).encode() + b"\n")
            self.popen.stdin.close()
        except BrokenPipeError:
            pass


class ColdLauncher:
    """Starts each grading process from scratch (each imports torch)."""

    def start_judge(self, args: list[str], log: Path, cwd: Path) -> ColdProcess:
        with open(log, "wb") as fh:
            return ColdProcess(subprocess.Popen(
                [sys.executable, "-m", "drillpe.grading.judge", *args],
                stdin=subprocess.PIPE, stdout=fh, stderr=fh, env=child_env(), cwd=cwd))

    def start_learner(self, args: list[str], log: Path, cwd: Path, limit_memory: bool
                      ) -> ColdProcess:
        with open(log, "wb") as fh:
            return ColdProcess(subprocess.Popen(
                [sys.executable, "-m", "drillpe.grading.learner", *args],
                stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT, env=child_env(),
                cwd=cwd, start_new_session=True,
                preexec_fn=limit_address_space if limit_memory else None))


def grade(request: GradeRequest, launcher=None) -> ExerciseResult:
    """Grade one file. ``launcher`` starts the two processes: cold by default,
    or forked from warm workers (drillpe.warm.WarmLauncher)."""
    launcher = launcher or ColdLauncher()
    learner_file = request.file.resolve()
    common = ["--exercise", request.exercise_id, "--file", str(learner_file),
              "--device", request.device, "--seed", str(request.seed)]
    with tempfile.TemporaryDirectory(prefix="drillpe-") as tmp:
        tmpdir = Path(tmp)
        outdir = tmpdir / "out"
        outdir.mkdir()
        report_path = tmpdir / "report.json"
        judge_log = tmpdir / "judge.log"
        learner_log = tmpdir / "learner.log"
        judge = launcher.start_judge([*common, "--outdir", str(outdir), "--report",
                                      str(report_path)], judge_log, tmpdir)
        started = time.monotonic()
        # The learner dumps where its code is shortly before the kill.
        deadline = time.time() + request.timeout - min(0.3, request.timeout / 4)
        learner = launcher.start_learner([*common, "--outdir", str(outdir), "--deadline",
                                          repr(deadline)], learner_log, learner_file.parent,
                                         request.device == "cpu")
        timed_out = False
        try:
            returncode = learner.wait(timeout=request.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            learner.kill_group()
            returncode = learner.wait()
        else:
            learner.kill_group()  # threads or children the learner left behind
        duration = time.monotonic() - started

        if returncode == EXIT_DEVICE_UNAVAILABLE and not timed_out:
            judge.kill()
            raise UsageError(_tail(learner_log).strip().splitlines()[-1])
        judge.send_end({"returncode": returncode, "timed_out": timed_out,
                        "timeout_s": request.timeout})
        try:
            judge_rc = judge.wait(timeout=JUDGE_GRACE_S + request.timeout)
        except subprocess.TimeoutExpired:
            judge.kill()
            raise DrillpeBug("the judge process did not finish") from None

        judge_text = judge_log.read_text(errors="replace")
        if judge_rc == EXIT_DEVICE_UNAVAILABLE:
            raise UsageError(judge_text.strip().splitlines()[-1])
        if judge_rc != 0 or not report_path.is_file():
            raise DrillpeBug(f"grading {request.exercise_id} failed inside drillpe "
                             f"(judge exit {judge_rc}):\n{judge_text[-3000:]}")
        result = ExerciseResult.from_dict(json.loads(report_path.read_text()))
        result.duration_s = round(duration, 2)
        result.output = _tail(learner_log)
        result.file = request.display_path or str(request.file)
        return result
