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


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    package_parent = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # keep the workspace free of __pycache__
    env["PYTHONHASHSEED"] = "0"
    env.setdefault("PYTHONWARNINGS", "ignore::UserWarning")
    return env


def _limit_memory() -> None:
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


def grade(request: GradeRequest) -> ExerciseResult:
    learner_file = request.file.resolve()
    common = ["--exercise", request.exercise_id, "--file", str(learner_file),
              "--device", request.device, "--seed", str(request.seed)]
    env = _child_env()
    with tempfile.TemporaryDirectory(prefix="drillpe-") as tmp:
        tmpdir = Path(tmp)
        outdir = tmpdir / "out"
        outdir.mkdir()
        report_path = tmpdir / "report.json"
        judge_log = tmpdir / "judge.log"
        learner_log = tmpdir / "learner.log"
        with open(judge_log, "wb") as jlog, open(learner_log, "wb") as llog:
            judge = subprocess.Popen(
                [sys.executable, "-m", "drillpe.grading.judge", *common,
                 "--outdir", str(outdir), "--report", str(report_path)],
                stdin=subprocess.PIPE, stdout=jlog, stderr=jlog, env=env, cwd=tmpdir)
            started = time.monotonic()
            learner = subprocess.Popen(
                [sys.executable, "-m", "drillpe.grading.learner", *common,
                 "--outdir", str(outdir)],
                stdin=subprocess.DEVNULL, stdout=llog, stderr=subprocess.STDOUT, env=env,
                cwd=learner_file.parent, start_new_session=True,
                preexec_fn=_limit_memory if request.device == "cpu" else None)
            timed_out = False
            try:
                returncode = learner.wait(timeout=request.timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(learner)
                returncode = learner.wait()
            else:
                _kill_group(learner)  # threads or children the learner left behind
            duration = time.monotonic() - started

            if returncode == EXIT_DEVICE_UNAVAILABLE and not timed_out:
                judge.kill()
                judge.wait()
                raise UsageError(_tail(learner_log).strip().splitlines()[-1])
            try:
                judge.stdin.write(json.dumps({"returncode": returncode, "timed_out": timed_out,
                                              "timeout_s": request.timeout}).encode() + b"\n")
                judge.stdin.close()
            except BrokenPipeError:
                pass
            try:
                judge_rc = judge.wait(timeout=JUDGE_GRACE_S + request.timeout)
            except subprocess.TimeoutExpired:
                judge.kill()
                judge.wait()
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
