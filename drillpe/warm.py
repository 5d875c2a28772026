"""Warm grading for watch mode and mock interviews: two long-lived workers
(``python -m drillpe.grading.warm learner`` and ``... judge``) that have torch
and the graders imported already and fork a fresh child for every grade.

:class:`WarmLauncher` plugs into ``drillpe.runner.grade(request, launcher)``,
so a warm grade runs the same loop, files and report as a cold one; only the
start of each process is cheaper. Two workers, never one: learner code and
the references still never share a process. No torch here (CLI process).
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from drillpe.errors import DrillpeBug

READY_TIMEOUT_S = 120.0  # importing torch on a slow, busy machine
REPLY_TIMEOUT_S = 30.0  # forking is quick; only a wedged worker takes longer


class WorkerGone(Exception):
    """The worker process ended (or never started); the launcher restarts it."""


class _Worker:
    """One warm worker process and its JSON-line channel."""

    def __init__(self, role: str, logdir: Path):
        from drillpe.runner import child_env

        self.role = role
        self.log_path = logdir / f"warm-{role}.log"
        with open(self.log_path, "ab") as log:
            # A session of its own: Ctrl-C in the terminal reaches drillpe,
            # which then closes the workers in order.
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "drillpe.grading.warm", role],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=child_env(),
                cwd=logdir, start_new_session=True)
        self._buffer = b""
        self.ready = False
        self.busy = False

    def send(self, message: dict) -> None:
        try:
            self.proc.stdin.write(json.dumps(message).encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            raise WorkerGone(self.role) from None

    def reply(self, timeout: float | None) -> dict:
        """The next reply line; TimeoutError when none comes within ``timeout``."""
        fd = self.proc.stdout.fileno()
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            readable, _, _ = select.select([fd], [], [], left)
            if not readable:
                raise TimeoutError(self.role)
            chunk = os.read(fd, 65536)
            if not chunk:
                raise WorkerGone(self.role)
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        if self.ready:
            return
        try:
            message = self.reply(timeout)
        except TimeoutError:
            raise WorkerGone(self.role) from None
        if not message.get("ready"):
            raise WorkerGone(self.role)
        self.ready = True

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
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


class WarmProcess:
    """A child forked by a warm worker, driven like runner.ColdProcess."""

    def __init__(self, worker: _Worker, pid: int):
        self.worker = worker
        self.pid = pid
        self.returncode: int | None = None
        self._end_sent = worker.role != "judge"

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is not None:
            return self.returncode
        try:
            message = self.worker.reply(timeout)
        except TimeoutError:
            raise subprocess.TimeoutExpired(f"warm {self.worker.role}", timeout) from None
        except WorkerGone:
            # The worker died under us (a learner child may kill its parent):
            # whatever the child left running goes too, and it counts as killed.
            self.kill_group()
            self.returncode = -signal.SIGKILL
            self.worker.busy = False
            return self.returncode
        self.returncode = int(message["returncode"])
        self.worker.busy = False
        return self.returncode

    def kill_group(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if not self._end_sent:
            self.send_end({})
        try:
            self.wait(timeout=REPLY_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.worker.busy = True  # out of step: the launcher restarts it

    def send_end(self, info: dict) -> None:
        self._end_sent = True
        try:
            self.worker.send({"end": info})
        except WorkerGone:
            pass  # wait() reports the child as killed


class WarmLauncher:
    """Starts grading processes by forking warm workers; restarts a worker
    that died or fell out of step. Use as a context manager, or call close()."""

    def __init__(self, start: bool = True):
        self._tmp = tempfile.TemporaryDirectory(prefix="drillpe-warm-")
        self.logdir = Path(self._tmp.name)
        self.workers: dict[str, _Worker] = {}
        self.active: list[WarmProcess] = []  # children not yet known to be gone
        self.restarts = 0
        if start:
            self.start()

    def start(self) -> None:
        for role in ("judge", "learner"):
            if role not in self.workers:
                self.workers[role] = _Worker(role, self.logdir)

    def wait_ready(self) -> None:
        """Block until both workers have torch imported (for benchmarks and tests)."""
        for role in ("judge", "learner"):
            self._worker(role)

    def _worker(self, role: str) -> _Worker:
        for attempt in range(2):
            worker = self.workers.get(role)
            if worker is None or worker.busy or worker.proc.poll() is not None:
                if worker is not None:
                    worker.close()
                    self.restarts += 1
                worker = self.workers[role] = _Worker(role, self.logdir)
            try:
                worker.wait_ready()
                return worker
            except WorkerGone:
                worker.busy = True  # replace it on the next round
                if attempt:
                    raise DrillpeBug(f"drillpe's warm {role} worker failed to start:\n"
                                     f"{worker.log_tail()}") from None
        raise AssertionError("unreachable")

    def _fork(self, role: str, request: dict) -> WarmProcess:
        for attempt in range(2):
            worker = self._worker(role)
            worker.busy = True
            try:
                worker.send(request)
                pid = int(worker.reply(REPLY_TIMEOUT_S)["pid"])
                break
            except (WorkerGone, TimeoutError):
                # It died since we last looked (nothing was started): once
                # more with a new one.
                if attempt:
                    raise DrillpeBug(f"drillpe's warm {role} worker stopped answering:\n"
                                     f"{worker.log_tail()}") from None
        process = WarmProcess(worker, pid)
        self.active = [p for p in self.active if p.returncode is None]
        self.active.append(process)
        return process

    def start_judge(self, args: list[str], log: Path, cwd: Path) -> WarmProcess:
        return self._fork("judge", {"args": args, "log": str(log), "cwd": str(cwd)})

    def start_learner(self, args: list[str], log: Path, cwd: Path, limit_memory: bool
                      ) -> WarmProcess:
        return self._fork("learner", {"args": args, "log": str(log), "cwd": str(cwd),
                                      "limit_memory": limit_memory})

    def close(self) -> None:
        # A grade cut short (Ctrl-C) leaves a child running; a learner child
        # has a session of its own, so nothing else would stop it.
        for process in self.active:
            if process.returncode is None:
                process.kill_group()
                try:
                    os.kill(process.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        self.active.clear()
        for worker in self.workers.values():
            worker.close()
        self.workers.clear()
        self._tmp.cleanup()

    def __enter__(self) -> WarmLauncher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextmanager
def launcher() -> Iterator[WarmLauncher | None]:
    """Warm workers where the system can fork; elsewhere None, which
    drillpe.runner.grade takes as "start each process cold"."""
    if not hasattr(os, "fork"):
        yield None
        return
    with WarmLauncher() as warm:
        yield warm
