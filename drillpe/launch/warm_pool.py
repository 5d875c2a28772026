"""Warm grading for watch mode and mock interviews: two long-lived workers
(drillpe.grading.warm_worker) that have torch and the graders imported already and
fork a fresh child for every grade. No torch here (CLI process).

The learner worker lives in the sandbox (drillpe.launch.sandbox), under its
supervisor, for the pool's lifetime: its memory limit covers the worker and
every child it forks, and each grade's child gets the same fds, limits and
deadline as a cold learner process. The judge worker is trusted and forks
judges as the cold launcher starts them. :class:`WarmPool` offers the
methods of drillpe.launch.cold.ColdLauncher, so drillpe.launch.runner.grade runs
the same loop, files and report either way; a worker that dies or falls out
of step is replaced before the next grade.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from drillpe.errors import DrillpeBug
from drillpe.launch import contract, leftovers, processes, sandbox
from drillpe.launch.cold import hidden_places

READY_TIMEOUT_S = 120.0  # importing torch on a slow, busy machine
SETTLE_GRACE_S = 5.0  # beyond a grade's timeout, for the worker to kill and clear up
REPLY_TIMEOUT_S = 30.0  # forking is quick; only a wedged worker takes longer
WORKER_GRACE_S = 5.0


class WorkerGone(Exception):
    """The worker process ended (or never started); the pool restarts it."""


def _send(sock: socket.socket, message: dict, fds: list[int] = ()) -> None:
    contract.send_message(sock, message, fds)


def _receive(sock: socket.socket, timeout: float | None) -> dict:
    readable, _, _ = select.select([sock], [], [], timeout)
    if not readable:
        raise TimeoutError
    message, fds = contract.receive_message(sock)
    for fd in fds:
        os.close(fd)
    if message is None:
        raise WorkerGone("learner")
    return message


# --------------------------------------------------------------------------- judge worker


class _JudgeWorker:
    """The warm judge worker and its JSON-line channel."""

    def __init__(self, logdir: Path):
        self.log_path = logdir / "warm-judge.log"
        with open(self.log_path, "ab") as log:
            self.proc = processes.spawn(
                processes.module_argv(contract.WORKER, "judge", private=True),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=log, cwd=logdir)
        self._buffer = b""
        self.ready = False
        self.busy = False

    def send(self, message: dict) -> None:
        try:
            self.proc.stdin.write(json.dumps(message).encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            raise WorkerGone("judge") from None

    def reply(self, timeout: float | None) -> dict:
        fd = self.proc.stdout.fileno()
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            readable, _, _ = select.select([fd], [], [], left)
            if not readable:
                raise TimeoutError("judge")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise WorkerGone("judge")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def wait_ready(self) -> None:
        if self.ready:
            return
        try:
            message = self.reply(READY_TIMEOUT_S)
        except TimeoutError:
            raise WorkerGone("judge") from None
        if not message.get("ready"):
            raise WorkerGone("judge")
        self.ready = True

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        processes.kill(self.proc)
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


class WarmJudge:
    """A judge child forked by the judge worker, driven like cold.ColdJudge.

    The worker's answer with the child's pid is read when the pid is first
    needed, not when the request is sent: the runner starts the learner
    meanwhile, so the two workers fork their children side by side."""

    # Forked from a worker that is private from its start: nothing to wait for.
    private_signal = None

    def __init__(self, worker: _JudgeWorker, log: Path):
        self.worker = worker
        self._pid: int | None = None
        self._lost = False  # the worker never said which child it forked
        self.log = log
        self.returncode: int | None = None
        self._end_sent = False
        # what the child's report hashes to, when it said so (finish): the runner
        # reads the report only if the file still holds those bytes
        self.report_sha256: str | None = None

    @property
    def pid(self) -> int:
        """The child's pid; raises WorkerGone when the worker did not say it
        forked one (it is then replaced before the next grade)."""
        if self._pid is None:
            if self._lost:
                raise WorkerGone("judge")
            try:
                self._pid = int(self.worker.reply(REPLY_TIMEOUT_S)["pid"])
            except (WorkerGone, TimeoutError, KeyError, ValueError):
                self._lost = True
                self.worker.busy = True  # out of step: replaced before the next grade
                raise WorkerGone("judge") from None
        return self._pid

    def resume(self) -> bool:
        try:
            pid = self.pid
        except WorkerGone:
            return False  # no child to resume: finish finds the worker gone
        was = processes.stopped(pid)
        try:
            os.kill(pid, 18)  # SIGCONT
        except OSError:
            pass
        return was

    def finish(self, end: contract.LearnerEnd, timeout: float, early: bool = False
               ) -> int | None:
        """``early``: the status the judge child says once its report is written, with
        the report's digest, before the kernel has torn down its forked copy of the
        worker (10-15 ms), where the learner's code cannot read the secret the word
        carries (runner._judge says where); otherwise the status the kernel gives once
        the child is gone, with the digest it said. The CLI reads the report only if it
        still hashes to that digest."""
        self._end_sent = True
        try:
            _ = self.pid  # the fork's answer comes first on the channel
            self.worker.send({"end": json.loads(end.line()), "early": early})
            message = self.worker.reply(timeout)
        except (WorkerGone, TimeoutError):
            self.kill()
            self.worker.busy = True  # out of step: replaced before the next grade
            return None
        self.returncode = int(message["returncode"])
        digest = message.get("report_sha256")
        self.report_sha256 = digest if isinstance(digest, str) else None
        self.worker.busy = False
        return self.returncode

    def kill(self) -> None:
        if self.returncode is not None:
            return
        try:
            os.kill(self.pid, 9)
        except WorkerGone:
            return  # no child was forked
        except OSError:
            pass
        if not self._end_sent:
            self._end_sent = True
            try:
                self.worker.send({"end": {}})
                self.returncode = int(self.worker.reply(REPLY_TIMEOUT_S)["returncode"])
                self.worker.busy = False
            except (WorkerGone, TimeoutError, KeyError, ValueError):
                self.worker.busy = True

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


# --------------------------------------------------------------------------- learner worker


class _LearnerWorker:
    """The warm learner worker, in its sandbox, and its control socket."""

    def __init__(self, pool_dir: Path, stage_root: Path, level: str,
                 hidden: frozenset[str] = frozenset()):
        self.level = level
        self.hidden = hidden  # folders of learner files it hides, beyond hidden_places()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock = ours
        self.output = processes.TextSink(head=0, tail=8 * 1024)
        out_r, out_w = os.pipe()
        self.plan = plan = sandbox.plan(
            # private before it imports torch (a second), as the judges are: a process
            # of the same user could otherwise take its control socket meanwhile
            level=level, argv=processes.module_argv(
                contract.WORKER, "learner", *(["--private-tmp"] if level == "namespaces" else []),
                private=True),
            cwd=str(stage_root), stage_dir=str(stage_root), device="auto", deadline_s=None,
            fds={}, hidden=hidden_places(sorted(hidden)))
        try:
            self.supervised = processes.Supervised(
                plan, {"records": theirs.fileno(), "output": out_w}, pool_dir / "supervisor.log")
        finally:
            theirs.close()
            os.close(out_w)
        self.drain = processes.Drain({out_r: self.output})
        self.drain.start()
        self.ready = False
        self.busy = False
        self.failure: processes.LearnerStatus | None = None

    def wait_ready(self) -> None:
        if self.ready:
            return
        try:
            message = _receive(self.sock, READY_TIMEOUT_S)
        except (TimeoutError, WorkerGone, OSError):
            raise WorkerGone("learner") from None
        if not message.get("ready"):
            raise WorkerGone("learner")
        self.ready = True

    def status(self) -> processes.LearnerStatus:
        """The supervisor's account, once the worker is gone."""
        if self.failure is None:
            try:
                self.failure = self.supervised.wait(WORKER_GRACE_S)
            except subprocess.TimeoutExpired:
                self.supervised.kill()
                self.failure = processes.LearnerStatus(isolation=self.level, returncode=-9)
        return self.failure

    def alive(self) -> bool:
        return self.supervised.proc.poll() is None

    def log_tail(self) -> str:
        return self.output.text()[-2000:]

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
        self.supervised.kill()
        self.drain.finish(1.0)


class WarmLearner:
    """One grade in the learner worker, driven like a cold Supervised."""

    def __init__(self, pool: WarmPool, worker: _LearnerWorker):
        self.pool = pool
        self.worker = worker
        self.done = False

    def wait(self, timeout: float) -> processes.LearnerStatus:
        worker = self.worker
        deadline = time.monotonic() + timeout
        # (not done when something else ends the wait, Ctrl-C: kill() then takes the
        # sandbox down with the grade's child before its folders are removed)
        try:
            message = _receive(worker.sock, timeout)
        except TimeoutError:
            # The worker did not answer in time (stopped by its child?): the
            # whole sandbox goes, and the next grade gets a new one.
            self.done = True
            self.pool.retire_learner()
            return processes.LearnerStatus(isolation=worker.level, returncode=-9, timed_out=True)
        except (WorkerGone, OSError, ValueError):  # ValueError: not JSON, not framed
            self.done = True
            status = worker.status()
            self.pool.retire_learner()
            return processes.LearnerStatus(
                isolation=worker.level, returncode=status.returncode
                if status.returncode is not None and status.returncode < 0 else -9,
                memory_exceeded=status.memory_exceeded, setup_error=status.setup_error)
        self.done = True
        returncode = message.get("returncode") if isinstance(message, dict) else None
        if type(returncode) is not int or type(message.get("timed_out", False)) is not bool:
            # Not what the worker sends: the channel is not the worker's alone any more.
            self.pool.retire_learner()
            return processes.LearnerStatus(isolation=worker.level, returncode=-9,
                                           harm="the warm learner worker's channel "
                                                "carried a reply it never sends")
        if message.get("early") is True:
            # The child said its run is over (the namespace sandbox only): its records
            # and output have ended, and the judge may start its last pass while the
            # kernel tears the child down. The worker says "gone" once it is, and the
            # grade's folders wait for that (WarmPool.settle).
            self.pool.unsettled = (worker, deadline)
            return processes.LearnerStatus(isolation=worker.level, returncode=returncode,
                                           timed_out=False)
        worker.busy = False
        if message.get("leaving") is True:  # its sandbox was changed: the next grade gets a new one
            self.pool.retire_learner()
        return processes.LearnerStatus(isolation=worker.level, returncode=returncode,
                                       timed_out=message.get("timed_out", False))

    def kill(self) -> None:
        if not self.done:
            self.pool.retire_learner()


# --------------------------------------------------------------------------- the pool


POOL_PREFIX = "drillpe-warm-"


def pool_prefix() -> str:
    """The pool folder's name carries its owner (pid namespace, pid and start time):
    a grade's sweep removes the folder of a drillpe that was killed (sweep_stale_runs).
    A pid means something else in another pid namespace sharing this /tmp."""
    pid, start = processes.own_identity()
    return f"{POOL_PREFIX}{_pid_namespace()}-{pid}-{start}-"


def _pid_namespace() -> int:
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


def owner(folder_name: str) -> processes.Identity | None:
    """The (pid, start time) in a pool folder's name, if it was made in this pid
    namespace; None for any other name."""
    parts = folder_name[len(POOL_PREFIX):].split("-")
    # isdigit alone takes "²", which int() refuses
    if not folder_name.startswith(POOL_PREFIX) or len(parts) < 4 \
            or not all(p.isascii() and p.isdigit() for p in parts[:3]):
        return None
    namespace, pid, start = map(int, parts[:3])
    return (pid, start) if namespace and namespace == _pid_namespace() else None


def remove_pool_folder(folder: Path) -> None:
    # Its owner may not list the stage folder (0o311): rmtree alone would leave it.
    leftovers.chmod_folder(folder / "stage", leftovers.OPEN)
    leftovers.remove_tree(folder)


class WarmPool:
    """Starts grading processes by forking warm workers. Use as a context
    manager, or call close()."""

    def __init__(self, start: bool = True):
        self.pool_dir = Path(tempfile.mkdtemp(prefix=pool_prefix()))
        self.stage = self.pool_dir / "stage"
        self.stage.mkdir()
        os.chmod(self.pool_dir, 0o711)
        # The sandbox's user may enter it but not list it: a grade cannot find
        # another grade's staged file (each is in a folder with a random name).
        os.chmod(self.stage, 0o311)
        self.judge_worker: _JudgeWorker | None = None
        self.learner_worker: _LearnerWorker | None = None
        self.choice = sandbox.choose()
        self.restarts = 0
        # (worker, deadline) of a grade answered before its child was gone: see settle
        self.unsettled: tuple[_LearnerWorker, float] | None = None
        if start:
            self.start()

    # what runner.grade calls ---------------------------------------------
    def isolation(self) -> sandbox.Choice:
        return self.choice

    def namespaces_failed(self, why: str) -> None:
        self.choice = sandbox.namespaces_failed(why)
        self.retire_learner()

    def stage_root(self, run_dir: Path) -> Path:
        return self.stage

    def start_judge(self, job: contract.Grade, run_dir: Path) -> WarmJudge:
        log = run_dir / f"judge-{os.urandom(3).hex()}.log"
        request = {"args": job.judge_args(str(run_dir)), "log": str(log), "cwd": str(run_dir)}
        for attempt in range(2):
            worker = self._judge_worker()
            worker.busy = True
            try:
                worker.send(request)
                return WarmJudge(worker, log)
            except WorkerGone:
                if attempt:
                    raise DrillpeBug(f"drillpe's warm judge worker stopped answering:\n"
                                     f"{worker.log_tail()}") from None
        raise AssertionError("unreachable")

    def start_learner(self, job: contract.Grade, run_dir: Path, pipes: processes.Pipes,
                      timeout: float, deadline: float, level: str,
                      hidden: list[str] = (), judge_private: int | None = None
                      ) -> WarmLearner | processes.Supervised:
        worker = self._learner_worker(hidden)
        if worker is None:  # the sandbox failed to start: runner.grade falls back
            return _Failed(self.choice.level, self._last_failure)
        request = {"args": job.learner_args(deadline, level), "cwd": str(Path(job.file).parent),
                   "timeout": timeout,
                   "address_space": sandbox.ADDRESS_SPACE_LIMIT if job.device == "cpu" else None}
        worker.busy = True
        try:
            _send(worker.sock, request, [pipes.child["records"], pipes.child["stuck"],
                                         pipes.child["output"]])
        except OSError:
            self.retire_learner()
            worker = self._learner_worker(hidden)
            if worker is None:
                return _Failed(self.choice.level, self._last_failure)
            worker.busy = True
            _send(worker.sock, request, [pipes.child["records"], pipes.child["stuck"],
                                         pipes.child["output"]])
        return WarmLearner(self, worker)

    # workers -------------------------------------------------------------
    def start(self) -> None:
        """Start both workers (they import torch in the background)."""
        if self.judge_worker is None:
            self.judge_worker = _JudgeWorker(self.pool_dir)
        if self.learner_worker is None:
            self.learner_worker = _LearnerWorker(self.pool_dir, self.stage, self.choice.level)

    def wait_ready(self) -> None:
        """Block until both workers have torch imported (for benchmarks and tests)."""
        self._judge_worker()
        self._learner_worker()

    _last_failure: str = ""

    def _judge_worker(self) -> _JudgeWorker:
        for attempt in range(2):
            worker = self.judge_worker
            if worker is None or worker.busy or not worker.alive():
                if worker is not None:
                    worker.close()
                    self.restarts += 1
                worker = self.judge_worker = _JudgeWorker(self.pool_dir)
            try:
                worker.wait_ready()
                return worker
            except WorkerGone:
                worker.busy = True
                if attempt:
                    raise DrillpeBug(f"drillpe's warm judge worker failed to start:\n"
                                     f"{worker.log_tail()}") from None
        raise AssertionError("unreachable")

    def _learner_worker(self, hidden: list[str] = ()) -> _LearnerWorker | None:
        """The learner worker, started again when it is gone, out of step, or its
        sandbox shows a folder this grade must hide (the learner file's own folder,
        which a cold grade hides: other answers beside it)."""
        self.settle()
        for attempt in range(2):
            worker = self.learner_worker
            hides = frozenset(hidden) if self.choice.level == "namespaces" else frozenset()
            if worker is None or worker.busy or not worker.alive() or \
                    any(sandbox.shows(worker.plan.get("mounts", []), h) for h in hides):
                if worker is not None:
                    hides |= worker.hidden
                    worker.close()
                    self.restarts += 1
                worker = self.learner_worker = _LearnerWorker(self.pool_dir, self.stage,
                                                              self.choice.level, hides)
            try:
                worker.wait_ready()
                return worker
            except WorkerGone:
                status = worker.status()
                self.retire_learner()
                if status.setup_error:
                    self._last_failure = status.setup_error
                    return None
                if attempt:
                    raise DrillpeBug(f"drillpe's warm learner worker failed to start:\n"
                                     f"{worker.log_tail()}") from None
        raise AssertionError("unreachable")

    def settle(self) -> None:
        """Once the last grade was answered early (WarmLearner.wait): wait until the
        worker says its child is gone and cleared up after, within that grade's
        timeout, so that nothing of the grade runs while its folders are removed or
        the next grade starts. A worker that does not say so, or says something
        else, is replaced (its sandbox and everything in it killed)."""
        unsettled, self.unsettled = self.unsettled, None  # (close may run on another thread)
        if unsettled is None:
            return
        worker, deadline = unsettled
        if worker is not self.learner_worker:
            return
        try:
            message = _receive(worker.sock, max(deadline - time.monotonic(), 0.0) + SETTLE_GRACE_S)
        except (TimeoutError, WorkerGone, OSError, ValueError):
            self.retire_learner()
            return
        except BaseException:  # Ctrl-C: the grade's child may still run; its sandbox goes
            self.retire_learner()
            raise
        if not isinstance(message, dict) or message.get("gone") is not True or \
                type(message.get("leaving")) is not bool:
            self.retire_learner()
            return
        worker.busy = False
        if message["leaving"]:
            self.retire_learner()

    def retire_learner(self) -> None:
        self.unsettled = None
        if self.learner_worker is not None:
            self.learner_worker.close()
            self.learner_worker = None

    def close(self) -> None:
        self.retire_learner()
        if self.judge_worker is not None:
            self.judge_worker.close()
            self.judge_worker = None
        remove_pool_folder(self.pool_dir)

    def __enter__(self) -> WarmPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Failed:
    """A learner that could not start because its sandbox could not be built."""

    def __init__(self, level: str, why: str):
        self.status = processes.LearnerStatus(isolation=level, setup_error=why or "unknown")

    def wait(self, timeout: float) -> processes.LearnerStatus:
        return self.status

    def kill(self) -> None:
        pass


@contextmanager
def launcher() -> Iterator[WarmPool | None]:
    """Warm workers where the system can fork; elsewhere None, which
    drillpe.launch.runner.grade takes as "start each process cold"."""
    if not hasattr(os, "fork") or not hasattr(socket, "send_fds"):
        yield None
        return
    with WarmPool() as pool:
        yield pool


