"""Every process drillpe starts goes through here: the judge, the sandboxed
learner (through its supervisor), the warm workers, the bench's timing
processes and doctor's probe. No torch here: it runs in the CLI.

What this module guarantees for each child:

* it is registered, so :func:`kill_all` (run when the CLI ends, and by
  :func:`terminate_on_signals` on SIGTERM and SIGHUP) ends it and its whole
  process group at once;
* it dies with the CLI even when the CLI is SIGKILLed (drillpe.launch.lifeline,
  PR_SET_PDEATHSIG on Linux);
* what it writes to a pipe is drained by :class:`Drain` into bounded sinks,
  so a flood costs neither memory nor disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from drillpe.launch import contract, lifeline, sandbox


class Registry:
    """The live children of this process."""

    def __init__(self) -> None:
        self._procs: dict[subprocess.Popen, Identity] = {}
        self._lock = threading.Lock()

    def add(self, proc: subprocess.Popen) -> None:
        # Not reaped yet, so the pid is still this child's: its start time is read
        # before anything could free the pid for another process.
        identity = (proc.pid, _started(proc.pid))
        with self._lock:
            self._procs[proc] = identity

    def discard(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.pop(proc, None)

    def kill_all(self) -> None:
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            kill(proc)

    def __len__(self) -> int:
        return len(self._procs)

    def identities(self) -> set[Identity]:
        with self._lock:
            return set(self._procs.values())


# A process as (pid, start time in clock ticks since boot): a pid alone names
# whichever process holds it now. Learner code once SIGKILLed a warm worker's
# supervisor, which the CLI then reaped, and forked until a child of its own got
# that pid: the clean-up after its grade took it for the supervisor and spared it.
Identity = tuple[int, "int | None"]


def _stat_fields(pid: int | str) -> list[bytes]:
    """/proc/PID/stat after the command (which may hold spaces and parentheses): the
    state first; empty where there is no such process (or no /proc)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read(4096)
    except OSError:
        return []
    return stat[stat.rfind(b")") + 2:].split()


def _started(pid: int | str) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if len(fields) > 19 else None


def own_identity() -> Identity:
    return (os.getpid(), _started(os.getpid()))


def gone(identity: Identity) -> bool:
    """Whether that process has ended: its pid is free or another process's. Where
    start times cannot be read (no /proc), nothing is known to be gone."""
    pid, start = identity
    return start is not None and _started(pid) != start


REGISTRY = Registry()


def _children(pid: int | str = "self") -> set[int]:
    found: set[int] = set()
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                found.update(int(p) for p in fh.read().split())
    except OSError:
        pass
    return found


def _child_identities() -> set[Identity]:
    return {(pid, _started(pid)) for pid in _children()}


def _trees(roots: set[int]) -> set[int]:
    """``roots`` and every process below them."""
    seen: set[int] = set()
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo.extend(_children(pid))
    return seen


class leftovers_ended:
    """For the length of a grade this process is a child subreaper: a process of
    the learner's code that outlived its supervisor (that code killed it, under
    the guard, and left a double-forked process behind) comes back to it, not to
    init, and is killed when the grade ends, with whatever it started. Such a
    process once waited for the next grade's judge and opened its digest pipe
    while that judge was still starting Python. Linux only; elsewhere nothing."""

    def __enter__(self):
        self.before = _child_identities()
        self.was = lifeline.subreaper()
        if self.was is False:
            lifeline.subreaper(True)
        return self

    def __exit__(self, *exc):
        if self.was is None:
            return
        try:
            # Whole trees at once, stopped before they are killed: killing only
            # the children each round let a chain of processes longer than the
            # rounds keep its last links (a reviewer's 65 did).
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline:
                strays = {pid for pid, start in
                          _child_identities() - self.before - REGISTRY.identities()}
                if not strays:
                    break
                stopped: set[int] = set()
                while True:  # until no process forked before it was stopped
                    tree = _trees(strays) - stopped
                    if not tree:
                        break
                    for pid in tree:
                        with contextlib.suppress(OSError):
                            os.kill(pid, signal.SIGSTOP)
                    stopped |= tree
                for pid in stopped:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                for pid in strays:  # ours to reap: subprocess knows nothing of them
                    with contextlib.suppress(ChildProcessError, OSError):
                        os.waitpid(pid, 0)
        finally:
            if self.was is False:
                lifeline.subreaper(False)


def trusted_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of drillpe's own children (judge, workers, reference bench)."""
    env = contract.inherited_environ()
    package_parent = str(Path(__file__).resolve().parent.parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # keep the workspace free of __pycache__
    env["PYTHONHASHSEED"] = "0"
    # Children write to pipes drillpe reads as UTF-8: the terminal's encoding
    # (PYTHONIOENCODING=latin-1) must not make a learner's print("你好") fail.
    env["PYTHONIOENCODING"] = "utf-8"
    env.setdefault("PYTHONWARNINGS", "ignore::UserWarning")
    sandbox.one_thread_unless_set(env)
    env[lifeline.PARENT_ENV] = str(os.getpid())
    env.update(extra or {})
    return env


def spawn(argv: list[str], *, stdin=subprocess.DEVNULL, stdout=None, stderr=None,
          cwd: str | Path | None = None, env: dict[str, str] | None = None,
          pass_fds: tuple[int, ...] = ()) -> subprocess.Popen:
    """Start a child in a process group of its own (so it and whatever it
    starts can be killed together), registered for kill_all."""
    proc = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr, cwd=cwd,
                            env=env if env is not None else trusted_env(),
                            start_new_session=True, close_fds=True, pass_fds=pass_fds)
    REGISTRY.add(proc)
    return proc


# A child that holds drillpe's secrets makes itself private (lifeline.start_private)
# before it imports its module: importing torch takes a second, during which the
# same user could otherwise open its fds and memory through /proc.
_PRIVATE = "from drillpe.launch import lifeline; lifeline.start_private(); "
_RUN = "import runpy, sys; runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)"


def module_argv(module: str, *args: str, private: bool = False) -> list[str]:
    """``python -m module args`` for a child of drillpe's, never importing from
    its working folder; ``private``: non-dumpable before the module is imported."""
    if not private and sys.version_info >= (3, 11):
        return [sys.executable, "-P", "-m", module, *args]
    return contract.python_argv((_PRIVATE if private else "") + _RUN, module, *args)


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL the child's process group, then the child; reap it."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.kill()
        except OSError:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    REGISTRY.discard(proc)
    _close_pipes(proc)


def finished(proc: subprocess.Popen) -> None:
    """A child that ended by itself: forget it (and anything left in its group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    REGISTRY.discard(proc)
    _close_pipes(proc)


def _close_pipes(proc: subprocess.Popen) -> None:
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass


def resume(proc: subprocess.Popen) -> bool:
    """SIGCONT: a process stopped by someone else (SIGSTOP) goes on. Returns
    whether it had been stopped."""
    was = stopped(proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGCONT)
    except (ProcessLookupError, PermissionError):
        pass
    return was


def stopped(pid: int) -> bool:
    """Whether ``pid`` is stopped by a signal (Linux's /proc; False elsewhere)."""
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] in (b"T", b"t")


# --------------------------------------------------------------------------- signals


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP reached the CLI: it stops as for Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextmanager
def terminate_on_signals() -> Iterator[None]:
    """Inside: SIGTERM (a CI timeout, `kill`) and SIGHUP (the terminal
    closed) raise Terminated in the main thread, so every ``finally`` runs
    and every child is killed; at the exit, whatever is left is killed."""
    saved = {}
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGTERM", "SIGHUP"):
            sig = getattr(signal, name, None)
            if sig is not None:
                saved[sig] = signal.signal(sig, _raise_terminated)
    try:
        yield
    finally:
        REGISTRY.kill_all()
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _raise_terminated(signum, frame) -> None:
    note_signal(signum)
    raise Terminated(signum)


def note_signal(signum: int) -> None:
    """Remember a SIGTERM or SIGHUP that a command handled itself (watch stops its
    loop on one), so that the CLI still exits 128 + its number."""
    global received_signal
    received_signal = signum


#: The last SIGTERM or SIGHUP that reached :func:`terminate_on_signals`, or 0.
#: Kept because newer typer turns any KeyboardInterrupt into a plain exit 130.
received_signal = 0


# --------------------------------------------------------------------------- pipes


class Sink:
    """Where one pipe's bytes go, bounded."""

    def feed(self, data: bytes) -> bool:
        """Take a chunk; False once the sink wants no more (the source is then
        cut off)."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class FileSink(Sink):
    """Into a private file, up to ``cap`` bytes; ``overflow`` says it was cut."""

    def __init__(self, path: Path, cap: int, watch: Callable[[bytes], None] | None = None):
        self.path = Path(path)
        self.cap = cap
        self.size = 0
        self.overflow = False
        self.watch = watch  # sees the bytes too (drillpe.launch.record_watch), for display only
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)

    def feed(self, data: bytes) -> bool:
        if self.size + len(data) > self.cap:
            self.overflow = True
            return False
        if self.watch is not None:
            self.watch(data)
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]
        self.size += len(data)
        return True

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class TextSink(Sink):
    """In memory: the first ``head`` and the last ``tail`` bytes, and a count
    of everything (a print flood is counted, not kept)."""

    def __init__(self, head: int = 16 * 1024, tail: int = 48 * 1024):
        self.head_cap, self.tail_cap = head, tail
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> bool:
        self.total += len(data)
        room = self.head_cap - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > self.tail_cap:
                del self.tail[: len(self.tail) - self.tail_cap]
        return True

    def text(self) -> str:
        dropped = self.total - len(self.head) - len(self.tail)
        middle = f"\n… ({dropped} bytes not kept) …\n" if dropped > 0 else ""
        return (bytes(self.head).decode("utf-8", "replace") + middle +
                bytes(self.tail).decode("utf-8", "replace"))


class ClockSink(Sink):
    """Timestamps every byte a child writes, with this process's clock, as it
    arrives: `drillpe bench`'s children mark where each timed phase starts
    and ends, so the time of a phase is taken outside the process that ran
    it (a learner's code can change the clocks inside its own process, not
    ours). A byte read late (this thread not scheduled) only lengthens a
    phase; ``cap`` bounds what a flood can cost."""

    def __init__(self, cap: int = 1 << 16):
        self.cap = cap
        self.marks: list[tuple[int, int]] = []  # (perf_counter_ns, byte)

    def feed(self, data: bytes) -> bool:
        now = time.perf_counter_ns()
        if len(self.marks) + len(data) > self.cap:
            return False
        self.marks.extend((now, byte) for byte in data)
        return True


class Drain(threading.Thread):
    """Reads pipes into sinks until each ends (or is cut off)."""

    def __init__(self, sources: dict[int, Sink]):
        super().__init__(daemon=True, name="drillpe-drain")
        self.sources = dict(sources)
        self.selector = selectors.DefaultSelector()
        for fd in self.sources:
            os.set_blocking(fd, False)
            self.selector.register(fd, selectors.EVENT_READ)
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            while self.sources and not self._halt.is_set():
                for key, _ in self.selector.select(timeout=0.1):
                    fd = key.fd
                    try:
                        chunk = os.read(fd, 1 << 20)
                    except BlockingIOError:
                        continue
                    except OSError:
                        chunk = b""
                    if not chunk or not self.sources[fd].feed(chunk):
                        self._close(fd)
        finally:
            for fd in list(self.sources):
                self._close(fd)
            self.selector.close()

    def _close(self, fd: int) -> None:
        sink = self.sources.pop(fd, None)
        if sink is None:
            return
        try:
            self.selector.unregister(fd)
        except (KeyError, ValueError):
            pass
        os.close(fd)
        sink.close()

    def finish(self, timeout: float = 2.0) -> None:
        """Wait for the pipes to end; after ``timeout``, stop reading them."""
        self.join(timeout)
        if self.is_alive():
            self._halt.set()
            self.join(5)


# --------------------------------------------------------------------------- the supervisor


@dataclass
class LearnerStatus:
    """How the supervised learner ended."""

    isolation: str
    returncode: int | None = None
    timed_out: bool = False
    memory_exceeded: bool = False
    setup_error: str | None = None
    note: str | None = None
    seconds: float = 0.0
    peak_memory: int = 0
    harm: str | None = None  # what the learner's code did to drillpe's own processes
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict, level: str) -> LearnerStatus:
        """The supervisor's last line. The isolation is the level drillpe asked
        for, never what the line says: under the guard, code running as the same
        user could write a line of its own into the pipe; one that claims
        another level is that, and fails the file."""
        claimed = data.get("isolation")
        harm = data.get("harm")
        if claimed not in (None, level) and not harm:
            harm = "wrote a status of drillpe's supervisor of its own"
        return cls(isolation=level,
                   returncode=data.get("returncode"), timed_out=bool(data.get("timed_out")),
                   memory_exceeded=bool(data.get("memory_exceeded")),
                   setup_error=data.get("setup_error"), note=data.get("note"),
                   seconds=float(data.get("seconds") or 0.0),
                   peak_memory=int(data.get("peak_memory") or 0),
                   harm=harm)


class Supervised:
    """A learner process under drillpe.launch.supervisor."""

    def __init__(self, plan: dict, child_fds: dict[str, int], log: Path):
        self.level = plan["mode"]
        self.log = log
        plan = dict(plan, fds=child_fds)
        with open(log, "wb") as err:
            self.proc = spawn([sys.executable, "-I", "-S", str(sandbox.SUPERVISOR)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                              cwd=plan["cwd"] if self.level == "guard" else "/",
                              pass_fds=tuple(child_fds.values()), env=_supervisor_env())
        try:
            self.proc.stdin.write(json.dumps(plan).encode())
            self.proc.stdin.close()
        except BrokenPipeError:
            pass

    def wait(self, timeout: float | None) -> LearnerStatus:
        """The status; subprocess.TimeoutExpired when the supervisor itself hangs."""
        self.proc.wait(timeout=timeout)
        text = self.proc.stdout.read(1 << 16).decode("utf-8", "replace").strip()
        finished(self.proc)
        try:
            data = json.loads(text.splitlines()[-1]) if text else {}
        except ValueError:
            data = {}
        if not data and self.proc.returncode is not None and self.proc.returncode < 0:
            # Killed by a signal: in the guard level its own child (the
            # learner's code) can do that; in the sandbox only the system can.
            signum = -self.proc.returncode
            data = {"returncode": -signal.SIGKILL,
                    "harm": f"your code killed drillpe's supervisor process (signal {signum})"
                    if self.level == "guard" else None}
        if not data:
            data = {"setup_error": f"the supervisor ended with status {self.proc.returncode} "
                                   f"and said nothing: {self._log_tail()}"}
        return LearnerStatus.from_json(data, self.level)

    def kill(self) -> None:
        kill(self.proc)

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-1000:].strip()
        except OSError:
            return ""


def _supervisor_env() -> dict[str, str]:
    """The supervisor runs with -I -S: it needs nothing from the environment."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}


@dataclass
class Pipes:
    """Pipes from a learner process to us: the child ends go to the learner,
    the parent ends into a Drain."""

    records: Path | None = None
    records_cap: int = 0
    child: dict[str, int] = field(default_factory=dict)
    sinks: dict[str, Sink] = field(default_factory=dict)
    drain: Drain | None = None

    @classmethod
    def open(cls, records: Path | None, records_cap: int, stuck: Path | None,
             watch: Callable[[bytes], None] | None = None,
             marks: Sink | None = None) -> Pipes:
        """``marks`` (a bench's ClockSink) takes the place of the stuck dump: a
        bench has no deadline dump, and the slot is already an fd the
        supervisor hands to the learner's process (contract.BENCH_CLOCK_FD)."""
        pipes = cls(records=records, records_cap=records_cap)
        sources: dict[int, Sink] = {}
        wanted: list[tuple[str, Sink]] = [("output", TextSink())]
        if records is not None:
            wanted.append(("records", FileSink(records, records_cap, watch)))
        if stuck is not None:
            wanted.append(("stuck", FileSink(stuck, 64 * 1024)))
        elif marks is not None:
            wanted.append(("stuck", marks))
        for name, sink in wanted:
            read_end, write_end = os.pipe()
            if name == "records":
                _widen(write_end)
            pipes.child[name] = write_end
            pipes.sinks[name] = sink
            sources[read_end] = sink
        pipes.drain = Drain(sources)
        return pipes

    def started(self) -> None:
        """The learner side has its copies: close ours, start reading."""
        for fd in self.child.values():
            os.close(fd)
        self.child = {}
        self.drain.start()

    def finish(self, timeout: float = 2.0) -> None:
        self.drain.finish(timeout)

    def abandon(self) -> None:
        for fd in self.child.values():
            os.close(fd)
        self.child = {}
        if not self.drain.is_alive():
            self.drain.start()
        self.drain.finish(0.1)

    @property
    def output(self) -> str:
        return self.sinks["output"].text()

    @property
    def records_overflow(self) -> bool:
        sink = self.sinks.get("records")
        return bool(sink and sink.overflow)


RECORDS_PIPE_BYTES = 1 << 20  # Linux's most for an unprivileged pipe (fs.pipe-max-size)


def _widen(fd: int) -> None:
    """A records pipe of 1 MiB instead of 64 KiB: a rope grade's 7 MB then crosses in
    a few reads rather than some 110, each a wait of the learner's process on the
    CLI's drain thread (where Linux refuses, the pipe stays as it is)."""
    # deferred: fcntl is POSIX-only, and the CLI imports this module on every platform
    import fcntl

    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, RECORDS_PIPE_BYTES)
    except (AttributeError, OSError):
        pass


def wait_or_kill(proc: subprocess.Popen, timeout: float) -> int | None:
    """The child's exit status, or None after killing it at ``timeout``."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill(proc)
        return None


def sleep_until(deadline: float) -> None:
    time.sleep(max(0.0, deadline - time.monotonic()))


__all__ = ["REGISTRY", "Drain", "FileSink", "LearnerStatus", "Pipes", "Supervised",
           "Terminated", "TextSink", "contract", "kill", "module_argv", "spawn",
           "received_signal", "terminate_on_signals", "trusted_env"]
