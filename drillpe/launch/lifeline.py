"""Children die with their parent: every process drillpe starts calls
:func:`tie` first, so that no grading process outlives the CLI, however
the CLI ends (Ctrl-C, SIGTERM, a closed terminal, SIGKILL). Linux only
(``PR_SET_PDEATHSIG``); elsewhere the CLI's own clean-up is what there is.
Standard library only: it runs before anything heavy is imported.
"""

from __future__ import annotations

import os
import signal

PARENT_ENV = "DRILLPE_PARENT_PID"
# The fd a child started private (processes.module_argv(private=True)) writes b"p"
# to once it is: the supervisor of the same grade waits for it (start_private).
PRIVATE_FD_ENV = "DRILLPE_PRIVATE_FD"
PR_SET_PDEATHSIG = 1
PR_GET_DUMPABLE, PR_SET_DUMPABLE = 3, 4
PR_SET_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER = 36, 37


def _prctl(option: int, value: int) -> int | None:
    """prctl(2)'s answer, or None where there is no prctl (not Linux)."""
    try:
        # deferred: only on Linux, where prctl exists
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        return None


def die_with_parent(expected_parent: int | None = None) -> bool:
    """SIGKILL this process when its parent ends; if the parent is already
    gone (it died before we got here), end now. True where supported."""
    answer = _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if answer is None:
        return False
    if expected_parent is not None and os.getppid() != expected_parent:
        os._exit(70)
    return answer == 0


def keep_private(private: bool = True) -> bool:
    """Make this process non-dumpable: other processes of the same user (a
    learner's code under the guard) can then neither open its fds nor read or
    write its memory through /proc, nor attach to it. (Root's processes still
    can: root is not confined by this.) ``private=False`` undoes it. True
    where supported."""
    return _prctl(PR_SET_DUMPABLE, 0 if private else 1) == 0


CAP_SYS_PTRACE = 19


def reaches_private() -> bool:
    """Whether a process with this one's credentials can read a non-dumpable
    process's memory through /proc (CAP_SYS_PTRACE in its effective set: root, unless
    a container dropped it). Under the guard the learner's code runs with the CLI's
    credentials: then a secret held only in the memory of drillpe's private
    processes is no secret from it. True where it cannot be told (not Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_SYS_PTRACE & 1)
    except (OSError, ValueError, IndexError):
        pass
    return True


def dumpable() -> bool | None:
    """Whether this process is dumpable now (None: unknown here)."""
    answer = _prctl(PR_GET_DUMPABLE, 0)
    return None if answer is None else answer == 1


class private_while:
    """Non-dumpable for the length of a ``with`` block (a grade): the learner's
    code, under the guard, runs as this user and could otherwise open the
    CLI's pipes to the judge and the supervisor through /proc and write into
    them. Dumpable again afterwards if it was (a notebook's kernel stays
    debuggable between grades)."""

    def __enter__(self):
        self.was = dumpable()
        keep_private()
        return self

    def __exit__(self, *exc):
        if self.was:
            keep_private(False)


def start_private() -> None:
    """The first thing a child that holds drillpe's secrets does (the cold
    judge: its report's digest pipe, its memory), before it imports anything
    heavy. Private only from here on: the fds and memory of the process that
    is still starting Python are open to the same user for those few
    milliseconds, so it then says so on the fd ``PRIVATE_FD_ENV`` names, and
    the supervisor starts learner code under the guard only once it has."""
    tie()
    keep_private()
    fd = os.environ.pop(PRIVATE_FD_ENV, None)
    if fd and fd.isdigit():
        try:
            os.write(int(fd), b"p")
            os.close(int(fd))
        except OSError:
            pass  # not an fd of ours: the supervisor then sees EOF when we end


def subreaper(on: bool | None = None) -> bool | None:
    """Whether this process is a child subreaper (orphaned descendants come back
    to it, not to init); ``on`` sets it first. None: not known here."""
    try:
        # deferred: only on Linux, where prctl exists
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if on is not None and libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) != 0:
            return None
        flag = ctypes.c_int(0)
        if libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0) != 0:
            return None
        return bool(flag.value)
    except (OSError, AttributeError):
        return None


def tie() -> None:
    """For a child started by drillpe.launch.processes.spawn (which says who
    its parent is in the environment)."""
    parent = os.environ.pop(PARENT_ENV, None)
    if parent and parent.isdigit():
        die_with_parent(int(parent))
