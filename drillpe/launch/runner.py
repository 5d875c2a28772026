"""Grades one learner file: stages a copy, starts the judge and the
sandboxed learner process side by side, bounds the learner by the timeout,
hands the judge what the learner sent, and returns the judge's report.

No torch in this module: it runs in the CLI process. Which processes are
started, and how, is drillpe.launch's business (cold by default, or forked
from warm workers: drillpe.launch.warm_pool).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import secrets
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from drillpe.data import bundle, files
from drillpe.data.limits import MAX_LEARNER_FILE
from drillpe.errors import DrillpeBug, UsageError
from drillpe.launch import contract, leftovers, lifeline, processes, quick, sandbox, warm_pool
from drillpe.launch.cold import ColdLauncher
from drillpe.launch.processes import LearnerStatus, Pipes
from drillpe.launch.record_watch import RecordProgress
from drillpe.results import textsafety
from drillpe.results.report import ExerciseResult

OUTPUT_SHOWN = 2000  # characters of the learner's printed output kept in the report
SUPERVISOR_GRACE_S = 5.0  # beyond the timeout, for the supervisor's own kill and report
JUDGE_WAIT_S = 120.0


@dataclass
class GradeRequest:
    exercise_id: str
    file: Path
    device: str = "cpu"
    seed: int = 0
    timeout: float = 20.0
    display_path: str | None = None
    # Also run the learner's encoding in a tiny model (report: ``consequence``).
    consequence: bool = False
    # Told how far the grade has got, for a status line: ("running", None) when
    # the learner's code starts, ("check", index into the exercise's check list)
    # as its checks run, ("judging", None) at the end. Called from other threads.
    progress: Callable[[str, int | None], None] | None = None


COLD = ColdLauncher()


def stage(file: Path, stage_root: Path, exercise_id: str) -> Path:
    """Copy the learner's file, read once, into a folder of its own: the judge
    reads and the learner process imports the same bytes, whatever happens
    to the original meanwhile, and nothing beside it can shadow a module."""
    try:
        data = files.read_regular(file, MAX_LEARNER_FILE + 1)
    except (FileNotFoundError, ValueError):
        raise UsageError(files.not_a_file(file)) from None
    except OSError as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror}") from None
    if len(data) > MAX_LEARNER_FILE:
        raise UsageError(f"{file} is larger than {MAX_LEARNER_FILE // 2**20} MiB: not a "
                         "learner file")
    folder = stage_root / secrets.token_hex(8)
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)  # readable by the sandbox's unprivileged user
    target = folder / f"{exercise_id}.py"
    with open(target, "wb") as fh:
        fh.write(data)
    os.chmod(target, 0o644)
    return target


RUN_PREFIX = "drillpe-run-"
STALE_RUN_S = 2 * 3600  # longer than any grade can last (--timeout is at most 3600 s)


def sweep_stale_runs(now: float | None = None) -> None:
    """Remove this user's grade and warm-pool folders left by a drillpe that was
    killed (SIGKILL leaves no chance to clean up): they hold a staged copy of a
    learner's file. A grade folder goes once no grade could still be using it, a
    pool folder once the process that made it has ended."""
    now = time.time() if now is None else now
    root = Path(tempfile.gettempdir())
    with contextlib.suppress(OSError):
        for entry in os.scandir(root):
            # anything there may be the learner's: a folder 3000 deep made rmtree
            # raise RecursionError, which no grade may die of
            with contextlib.suppress(OSError, ValueError, RecursionError):
                if not entry.name.startswith((RUN_PREFIX, warm_pool.POOL_PREFIX)) \
                        or not entry.is_dir(follow_symlinks=False):
                    continue
                st = entry.stat(follow_symlinks=False)
                if st.st_uid != os.getuid():
                    continue
                if entry.name.startswith(RUN_PREFIX):
                    if now - st.st_mtime > STALE_RUN_S:
                        leftovers.remove_tree(entry.path)
                elif (owner := warm_pool.owner(entry.name)) and processes.gone(owner):
                    warm_pool.remove_pool_folder(Path(entry.path))


def grade(request: GradeRequest, launcher=None) -> ExerciseResult:
    """Grade one file. ``launcher`` starts the processes: cold by default, or
    forked from warm workers (drillpe.launch.warm_pool.WarmPool)."""
    launcher = launcher or COLD
    sweep_stale_runs()
    run_dir = Path(tempfile.mkdtemp(prefix=RUN_PREFIX))
    folders = {run_dir: leftovers.identity(run_dir)}
    try:
        with lifeline.private_while(), processes.leftovers_ended():
            return _grade(request, launcher, run_dir, folders)
    finally:
        # Only once no process of the learner's is left: a reviewer's kept swapping a
        # folder and a FIFO in its staged folder until rmtree's open blocked on the FIFO.
        # (A warm grade may be answered while its child is still exiting: settle waits.)
        try:
            settle = getattr(launcher, "settle", None)
            if settle is not None:
                settle()
        finally:
            for folder, made in reversed(folders.items()):
                leftovers.remove_tree(folder, made)


def _grade(request: GradeRequest, launcher, run_dir: Path,
           folders: dict[Path, tuple[int, int] | None]) -> ExerciseResult:
    """``folders``: the grade's folders and their identities (leftovers.identity),
    where this one stages the file too, for grade() to remove."""
    staged = stage(request.file, launcher.stage_root(run_dir), request.exercise_id)
    folders[staged.parent] = leftovers.identity(staged.parent)
    started = time.monotonic()
    answered = quick.syntax_failure(request.exercise_id, staged.read_bytes(),
                                    file=request.display_path or str(request.file),
                                    device=request.device, seed=request.seed)
    if answered is not None:
        answered.duration_s = round(time.monotonic() - started, 2)
        return answered
    job = contract.Grade(request.exercise_id, str(staged), request.device, request.seed,
                         consequence=request.consequence)
    judge = launcher.start_judge(job, run_dir)
    try:
        _tell(request, "running", None)
        status, output, overflow = _run_learner(launcher, judge, job, run_dir, request)
        duration = time.monotonic() - started
        _tell(request, "judging", None)
        end = contract.LearnerEnd(
            returncode=status.returncode, timed_out=status.timed_out,
            timeout_s=request.timeout, memory_exceeded=status.memory_exceeded,
            memory_limit=sandbox.memory_limit(), records_overflow=overflow,
            harm=status.harm)
        report = _judge(launcher, judge, job, run_dir, end, status.isolation, folders)
    finally:
        judge.kill()
    result = ExerciseResult.from_dict(report)
    result.duration_s = round(duration, 2)
    result.output = _shown(output)
    result.file = request.display_path or str(request.file)
    result.isolation = status.isolation
    return textsafety.neutralise_result(result)


def _tell(request: GradeRequest, stage: str, index: int | None) -> None:
    if request.progress is not None:
        try:
            request.progress(stage, index)
        except Exception:  # a status line never breaks a grade
            pass


def _shown(output: str) -> str:
    return output if len(output) <= OUTPUT_SHOWN else "…" + output[-OUTPUT_SHOWN:]


def _learner_folder(file: Path) -> list[str]:
    """The learner's own folder is hidden from its code (other answers, the
    history it could rewrite), unless it is a shipped exercise folder, which
    holds nothing secret and the catalog the learner process reads."""
    folder = file.resolve().parent
    if folder.parent == bundle.exercises_dir().resolve():
        return []
    return [str(folder)]


def _run_learner(launcher, judge, job: contract.Grade, run_dir: Path, request: GradeRequest
                 ) -> tuple[LearnerStatus, str, bool]:
    def start(pipes: Pipes, level: str):
        # The learner dumps where its code is shortly before the kill.
        deadline = time.time() + request.timeout - min(1.0, request.timeout / 4)
        return launcher.start_learner(job, run_dir, pipes, request.timeout, deadline, level,
                                      hidden=_learner_folder(request.file),
                                      judge_private=judge.private_signal)

    watch = None
    if request.progress is not None:
        watch = RecordProgress(lambda index: _tell(request, "check", index)).feed
    return run_sandboxed(launcher, start, records=run_dir / contract.RECORDS_FILE,
                         records_cap=contract.MAX_RECORDS_BYTES,
                         stuck=run_dir / contract.STUCK_FILE, timeout=request.timeout,
                         device=job.device, watch=watch)


RUN_FILES = (contract.RECORDS_FILE, contract.STUCK_FILE, contract.REPORT_FILE)


def _run_dir_changed(run_dir: Path, folders: dict[Path, tuple[int, int] | None]) -> bool:
    """Whether something other than drillpe put or changed entries in the run
    folder, or moved another folder into the place of one of the grade's (only
    the learner's code can, and only without the sandbox)."""
    if any(leftovers.identity(folder) != made for folder, made in folders.items()):
        return True
    try:
        entries = list(os.scandir(run_dir))
        if run_dir.stat().st_mode & 0o777 != 0o700:  # as mkdtemp made it: chmod is harm too
            return True
    except OSError:
        return True
    for entry in entries:
        name = entry.name
        if name == "stage":
            ok = entry.is_dir(follow_symlinks=False)
        elif name in RUN_FILES or (name.endswith(".log") and name.count(".") == 1) or \
                (name.startswith(".") and name.endswith(".tmp")):  # the judge mid-write
            ok = entry.is_file(follow_symlinks=False)
        else:
            ok = False
        if not ok:
            return True
    return False


def _harmed_report(job: contract.Grade, why: str) -> dict:
    """A failed report decided here: what the run left cannot be trusted."""
    sentence = f"what the learner process sent cannot be trusted: {why}"
    return {"exercise": job.exercise, "file": job.file, "device": job.device, "passed": False,
            "score": 0.0, "duration_s": 0.0, "seed": job.seed,
            "error": {"kind": "rules", "message": sentence},
            "checks": [{"id": "rules.allowed", "title": "Follows the exercise's rules",
                        "level": "core", "status": "fail", "message": sentence,
                        "diagnosis": ["rules.tampering"], "case": None}]}


def run_sandboxed(launcher, start, *, records: Path, records_cap: int, stuck: Path | None,
                  timeout: float, device: str, watch: Callable[[bytes], None] | None = None,
                  marks=None) -> tuple[LearnerStatus, str, bool]:
    """Run a learner-side process once (twice when the namespace sandbox
    cannot be built here, or cannot reach the GPU, and drillpe falls back to
    the guard). ``start(pipes, level)`` starts it. Returns its status, what
    it printed, and whether its records overflowed."""
    retried_device = False
    while True:
        choice = launcher.isolation()
        if marks is not None:
            marks.marks.clear()  # a second try (the guard after the sandbox) starts afresh
        pipes = Pipes.open(records, records_cap, stuck, watch, marks)
        try:
            handle = start(pipes, choice.level)
        except BaseException:
            pipes.abandon()
            raise
        pipes.started()
        try:
            status = handle.wait(timeout + SUPERVISOR_GRACE_S)
        except subprocess.TimeoutExpired:  # the supervisor itself did not end in time
            status = LearnerStatus(isolation=choice.level, returncode=-9, timed_out=True)
        finally:
            handle.kill()
            pipes.finish()
        if status.setup_error:
            if status.isolation == "namespaces" and not sandbox.strict():
                launcher.namespaces_failed(status.setup_error)
                continue
            if sandbox.strict():
                raise UsageError(f"{sandbox.ISOLATION_ENV}=namespaces, but the sandbox cannot "
                                 f"be built here: {status.setup_error}")
            raise DrillpeBug(f"the learner process could not be started: {status.setup_error}")
        if status.returncode == contract.EXIT_DEVICE_UNAVAILABLE and not status.timed_out:
            if status.isolation == "namespaces" and device != "cpu" and not retried_device \
                    and not sandbox.strict():
                # The GPU is there for the judge but not inside the sandbox: the
                # sandbox is what drillpe gives up, and the report says so.
                retried_device = True
                launcher.namespaces_failed("CUDA is not reachable from inside it")
                continue
            lines = pipes.output.strip().splitlines()
            raise UsageError(lines[-1] if lines else "the device is not available")
        return status, pipes.output, pipes.records_overflow


def _judge(launcher, judge, job: contract.Grade, run_dir: Path, end: contract.LearnerEnd,
           isolation: str, folders: dict[Path, tuple[int, int] | None]) -> dict:
    """The judge's report. A judge that was stopped or killed is resumed or, in
    the namespace sandbox, replaced by a fresh one: the learner's harm is never
    drillpe's failure. Without the sandbox only the learner's code could have done
    it, so the resumed judge is told, and a killed one's file fails here
    (rules.tampering)."""
    report_path = run_dir / contract.REPORT_FILE
    harmed = "your code stopped or killed drillpe's judge process"
    # A warm judge answers when its child says its report is written, before the
    # kernel has torn the child down, wherever the learner's code cannot read the
    # secret that word carries from the child's memory: inside the namespace
    # sandbox, or under the guard without CAP_SYS_PTRACE (a reviewer's, as root,
    # read it through /proc/PID/mem and had a report it planted read first).
    early = isolation == "namespaces" or not lifeline.reaches_private()
    for attempt in range(2):
        if judge.resume() and isolation == "guard" and not end.harm:
            end = dataclasses.replace(end, harm=harmed)
        rc = judge.finish(end, JUDGE_WAIT_S, early=early)
        if isolation == "guard" and _run_dir_changed(run_dir, folders):
            return _harmed_report(job, "your code changed drillpe's run folder")
        if rc == 0 and report_path.is_file():
            try:
                data = report_path.read_bytes()
                # The run folder is the user's: the judge's digest, on a channel of
                # drillpe's own, says whether the file holds what the judge wrote. Only
                # a process outside this grade's sandbox can have changed it: whatever
                # it wrote decides nothing, and the grade fails.
                expected = judge.report_sha256
                if expected is None:
                    return _harmed_report(job, "drillpe's judge ended without the digest "
                                               "of its report")
                if hashlib.sha256(data).hexdigest() != expected:
                    return _harmed_report(job, "another process replaced drillpe's report "
                                               "after its judge wrote it")
                return json.loads(data.decode("utf-8"))
            except (OSError, ValueError) as exc:
                raise DrillpeBug(f"the judge's report cannot be read: {exc}") from None
        text = judge.log_tail()
        if rc == contract.EXIT_DEVICE_UNAVAILABLE:
            lines = text.strip().splitlines()
            raise UsageError(lines[-1] if lines else "the device is not available")
        if attempt == 0 and (rc is None or rc < 0):
            judge.kill()
            if isolation == "guard":
                # Only the learner's code can have done it here, and a fresh judge would
                # start dumpable for a moment beside what of that code outlived its process:
                # a reviewer's fork chain opened its digest pipe then and put a planted
                # report's digest in it (a forged pass). The file fails here instead.
                return _harmed_report(job, harmed)
            judge = COLD.start_judge(job, run_dir)
            continue
        raise DrillpeBug(f"grading {job.exercise} failed inside drillpe (judge exit {rc}):\n"
                         f"{text[-3000:]}")
    raise AssertionError("unreachable")
