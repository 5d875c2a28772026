"""A warm grading worker: imports torch, the graders and (judge side only)
the references once, then forks a fresh child for every grade.

    python -m drillpe.grading.warm_worker judge       (started by drillpe.launch.warm_pool)
    python -m drillpe.grading.warm_worker learner     (inside the sandbox, under the supervisor)

The judge worker talks JSON lines on its stdin and stdout:

    -> {"args": [...], "log": PATH, "cwd": DIR}
    <- {"pid": N}                    the child runs drillpe.grading.judge.run(args)
    -> {"end": {...}}                forwarded to the child's stdin
    <- {"returncode": N, "report_sha256": HEX or null}
                                     the child is gone (negative: killed by that signal);
                                     with "early": true in the end message (where the
                                     learner's code cannot read the child's memory: the
                                     namespace sandbox, or the guard without
                                     CAP_SYS_PTRACE), as soon as the child says it is
                                     done. The child says it, and what its report's
                                     bytes hash to, on a pipe of its own, after a secret
                                     the worker made for the grade

The learner worker runs in the sandbox like a cold learner process, and
talks over the Unix socket on its fd 3; each request carries the grade's
three fds (records, stuck, output) with it (SCM_RIGHTS):

    -> {"args": [...], "cwd": DIR, "timeout": S, "address_space": BYTES} + fds
    <- {"returncode": N, "timed_out": BOOL}

A grade's child is forked ahead, once the worker has been idle a moment
(SPARE_AFTER_S) after the grade before it, so that the grade does not wait
for the fork; it takes its request and fds from the worker over a socket pair
of its own (a grade that comes sooner gets a child forked then). The child
gets those fds as 3, 4 and 1/2, exactly what a cold learner process gets; the worker kills it at the timeout, and after every grade
kills whatever the child left behind (it is a child subreaper: orphans come
back to it). The worker never runs learner code itself, and the learner
worker never loads a reference.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import re
import resource
import secrets
import select
import signal
import socket
import stat
import sys
import time
import traceback
from typing import Any

from drillpe.grading import kept_for_life
from drillpe.launch.contract import SHA256_HEX

# fcntl and resource are for the grade's child, after its request: imported with
# this module, before any fork, so that nothing on a path learner code can write
# to is imported then.

ROLES = ("learner", "judge")
DEFAULT_SEED = 0  # `drillpe check --seed`'s default: the seed nearly every grade uses
CHILD_THREADS = 1
CONTROL_FD = 3
PR_SET_CHILD_SUBREAPER = 36
PRIVATE_TMP = "--private-tmp"  # the learner worker runs in the namespace sandbox
NO_REQUEST = 70  # a child forked ahead that got no grade to run
SPARE_AFTER_S = 0.05  # the learner worker forks the next grade's child when idle this long


def _preload(role: str) -> dict[str, tuple[Any, Any]]:
    """exercise id -> (grader, reference or None). A grader that fails to load
    is left out: its child then loads it itself and fails as a cold run would."""
    # deferred: this role's modules load only in the worker that plays it
    import torch

    from drillpe.data import catalog
    from drillpe.grading.common import load_grader, load_reference

    if role == "judge":
        # deferred: the judge's module, in the judge's worker only
        from drillpe.grading.judge import prepare_inputs as prepare
    else:
        # deferred: the learner's module, in the learner's worker only
        from drillpe.grading.learner import prepare_inputs as prepare
    loaded = {}
    for exercise_id in catalog.ids():
        try:
            grader = load_grader(exercise_id)
            reference = load_reference(exercise_id) if role == "judge" else None
        except Exception:
            continue
        # Every case's inputs for the default seed on the CPU, built once here: each
        # forked child takes its own copy-on-write copy instead of building them.
        prepare(grader, DEFAULT_SEED, torch.device("cpu"))
        if role == "judge":
            # deferred: the judge's modules, in the judge's worker only
            from drillpe.grading import reference_memo

            reference = reference_memo.wrap(reference)  # filled after its first grade
        loaded[exercise_id] = (grader, reference)
    return loaded


def _keep_results(exercise_id: str, preloaded: dict) -> None:
    """After an exercise's first grade in this worker: its
    oracle's pure functions' results for the default seed's inputs, computed here
    once (drillpe.grading.reference_memo) for every later judge instead of in
    each. The model answer that runs is the one the oracle loaded when this
    worker started (``model``), never the file read again after learner code ran.
    Only an optimisation: what fails here is computed in the judges as before."""
    # deferred: the judge's modules, in the judge's worker only
    import torch

    from drillpe.grading import judge, reference_memo

    grader, reference = preloaded[exercise_id]
    solution = getattr(reference, "model", None)
    if solution is None:
        return
    try:
        with kept_for_life():
            _single_threaded(reference_memo.warm, grader, reference, solution, DEFAULT_SEED,
                             torch.device("cpu"), judge._prepared)
    except Exception:
        traceback.print_exc()


def _exercise_of(request: dict) -> str | None:
    args = request.get("args")
    if isinstance(args, list) and "--exercise" in args[:-1]:
        value = args[args.index("--exercise") + 1]
        return value if isinstance(value, str) else None
    return None


def _single_threaded(fn, *args):
    """Run ``fn`` with one intra-op thread. An OpenMP thread pool started in
    the worker does not survive fork(): a child's first parallel op would hang
    forever. With one thread torch runs inline and starts no pool."""
    # deferred: torch and each role's modules load only in the worker that plays the role
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn(*args)
    finally:
        torch.set_num_threads(threads)


def _warm_up(role: str) -> None:
    """Pay torch's first-call costs once, here, rather than in every child."""
    # deferred: torch and each role's modules load only in the worker that plays the role
    import torch

    from drillpe.grading import records

    for dtype in (torch.float32, torch.float64, torch.bfloat16, torch.float16):
        x = torch.randn(2, 2, 4, 4, generator=torch.Generator().manual_seed(0)).to(dtype)
        w = torch.softmax(x @ x.transpose(-1, -2) / 2.0, dim=-1)
        y = torch.einsum("bhij,bhjd->bhid", w, x)
        torch.stack([y.sin(), y.cos()], dim=-1).flatten(-2).masked_fill(y.new_ones(()).bool(), 0)
        torch.arange(2, dtype=dtype).repeat_interleave(2).float().pow(0.5).allclose(y[0, 0, 0].float())
        data = records.frame("case", {"check": 0}, {"out": (y, w)})
        frames, _ = records.split_frames(data)
        records.decode(frames[0].header["out"], frames[0].blobs)
        records.digest(y)
    torch.nn.Linear(4, 4)(torch.zeros(1, 4)).sum().backward()
    torch.nn.Embedding(4, 4)(torch.arange(2))
    if role == "learner":
        # Learner code may call torch functions that import sympy on first use
        # (torch.broadcast_shapes, torch.unravel_index): 0.3-0.8 s, paid here once
        # rather than in every grade. drillpe's own judging never needs it (a test
        # keeps torch.unravel_index out of it), so the judge's worker does not.
        torch.unravel_index(torch.tensor(3), (2, 2))


def _get_ready(role: str) -> dict[str, tuple[Any, Any]]:
    """Preload and warm up, with the garbage collector paused: what this makes
    (graders, every case's inputs, the learner side's sympy) lives as long as
    the worker, so a collection would only walk it. Frozen after
    (``gc.freeze``), as drillpe.grading froze torch's objects: neither the
    worker nor a child it forks walks them again, and a child's collections do
    not write to, and so copy, the worker's pages."""
    with kept_for_life():
        preloaded = _single_threaded(_preload, role)
        try:
            _single_threaded(_warm_up, role)
        except Exception:  # only an optimisation: a child pays the cost instead
            traceback.print_exc()
    return preloaded


def _stdio(stdin_fd: int, log_path: str) -> None:
    """Point fds 0, 1, 2 and sys.std* where a cold judge's would be."""
    os.dup2(stdin_fd, 0)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    _rebind_std()


def _rebind_std() -> None:
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.FileIO(0, "r", closefd=False),
                                                 encoding="utf-8")
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(io.FileIO(1, "w", closefd=False),
                                                   encoding="utf-8", errors="backslashreplace",
                                                   line_buffering=True)
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(io.FileIO(2, "w", closefd=False),
                                                   encoding="utf-8", errors="backslashreplace",
                                                   line_buffering=True)


def _say_done(fd: int, token: str, code: int, report_sha256: str | None) -> None:
    """The judge child, once every file is written: its exit status and the digest
    of the report it wrote, ahead of its exit. ``token`` is the grade's secret (made
    by the worker before the fork, so only the worker and this child hold it): a
    line without it, written into the pipe by another process, is not this word.
    Never blocks: a pipe someone filled costs the early answer, not the exit."""
    try:
        os.set_blocking(fd, False)
        os.write(fd, f"{token} {code} {report_sha256 or '-'}\n".encode())
    except OSError:
        pass


DONE_WORD_MAX = 64 * 1024  # what the worker reads of the pipe before giving up on the word
WORD = re.compile(rb" (-?[0-9]{1,10}) (" + SHA256_HEX.encode() + rb"|-)\n")


def _done_word(fd: int, token: str, pidfd: int | None) -> tuple[int, str | None] | None:
    """(exit status, report digest) as the judge child said them; None when it
    ended without a word (killed, or it died) or nothing in the pipe follows the
    grade's token. ``pidfd``: the running child's, so that the wait ends when it
    does, even if another process holds the pipe open; None once it is reaped.
    Closes ``fd``."""
    return _judge_word(_await_word(fd, token, pidfd, WORD))


def _await_word(fd: int, token: str, pidfd: int | None, pattern: re.Pattern,
                deadline: float | None = None) -> re.Match | None:
    """``pattern`` matched right after ``token`` in what the pipe ``fd`` carries, once it
    comes. None when the child ends without it (``pidfd``, or the pipe's end), at
    ``deadline`` (monotonic), or, with neither a pidfd nor a deadline (a child already
    reaped), in what the pipe holds now. Closes ``fd``."""
    data = b""
    try:
        os.set_blocking(fd, False)
        while len(data) < DONE_WORD_MAX:
            said = _after(data, token, pattern)
            if said is not None:
                return said
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            gone = pidfd is None and deadline is None
            if not gone:
                ready = select.select([fd] if pidfd is None else [fd, pidfd], [], [], left)[0]
                gone = pidfd is not None and pidfd in ready
            try:
                chunk = os.read(fd, 4096)
            except BlockingIOError:
                chunk = None
            if chunk:
                data += chunk
            elif gone or chunk == b"":
                break
    except OSError:
        pass
    finally:
        os.close(fd)
    return _after(data, token, pattern)


def _after(data: bytes, token: str, pattern: re.Pattern) -> re.Match | None:
    """``pattern`` right after the grade's token, wherever it lies (another process
    may have written into the pipe before it)."""
    at = data.find(token.encode("ascii"))
    return None if at < 0 else pattern.match(data, at + len(token))


def _find_word(data: bytes, token: str) -> tuple[int, str | None] | None:
    """The judge child's word after the grade's token (_done_word), parsed."""
    return _judge_word(_after(data, token, WORD))


def _judge_word(match: re.Match | None) -> tuple[int, str | None] | None:
    if match is None:
        return None
    digest = match.group(2).decode("ascii")
    return int(match.group(1)), None if digest == "-" else digest


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # before Linux 5.3: wait for the kernel's status
        return None


def _leave(code: int) -> None:
    # deferred: this role's modules load only in the worker that plays it
    from drillpe.grading.common import leave_now

    leave_now(code)


# --------------------------------------------------------------------------- judge


def _judge_child(request: dict, preloaded: dict, stdin_fd: int) -> int:
    # deferred: torch and each role's modules load only in the worker that plays the role
    import importlib

    import torch

    from drillpe.grading import judge

    torch.set_num_threads(CHILD_THREADS)
    os.chdir(request["cwd"])
    _stdio(stdin_fd, request["log"])
    importlib.invalidate_caches()  # the run folder is not on sys.path: see module_argv
    args = judge.parse_args(request["args"])
    grader, reference = preloaded.get(args.exercise, (None, None))
    return judge.run(args, grader=grader, reference=reference)


def _report_sha256() -> str | None:
    judge = sys.modules.get("drillpe.grading.judge")
    return getattr(judge, "report_sha256", None)


def serve_judge() -> int:
    # deferred: this role's modules load only in the worker that plays it
    from drillpe.launch import lifeline

    # Its children (every judge) inherit this: out of reach through /proc.
    lifeline.keep_private()
    # The protocol gets private copies of fds 0 and 1; the real 0 and 1 are
    # pointed at /dev/null so a stray print cannot corrupt it.
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    protocol_fds = (requests.fileno(), replies.fileno())

    def reply(message: dict) -> None:
        replies.write(json.dumps(message) + "\n")
        replies.flush()

    preloaded = _get_ready("judge")
    graded: set[str] = set()
    reply({"ready": True, "pid": os.getpid()})
    while True:
        line = requests.readline()
        if not line:
            return 0  # the parent went away or closed us
        request = json.loads(line)
        child_stdin, end_writer = os.pipe()
        done_reader, done_writer = os.pipe()
        token = secrets.token_hex(16)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                lifeline.die_with_parent()
                for fd in (*protocol_fds, end_writer, done_reader):
                    os.close(fd)  # the child must not reach the worker's channels
                code = _judge_child(request, preloaded, child_stdin)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:
                traceback.print_exc()
            finally:
                _say_done(done_writer, token, code, _report_sha256())
                _leave(code)
        os.close(child_stdin)
        os.close(done_writer)
        reply({"pid": pid})
        end = requests.readline()
        message = json.loads(end) if end else {}
        try:
            if end:
                os.write(end_writer, (json.dumps(message.get("end", {})) + "\n").encode())
        except OSError:
            pass  # the judge child is already gone; its status says why
        finally:
            os.close(end_writer)
        # "early" where the learner's code cannot read the grade's secret, which lives
        # in this worker and the child alone, neither of them dumpable (the runner says:
        # in the namespace sandbox, or under the guard without CAP_SYS_PTRACE). Root
        # with it read the secret from the child's memory and wrote the word before
        # the child did, with the digest of a report it planted; once the child is
        # gone, its own report has replaced the plant, and the digest gives it away.
        said = None
        pidfd = _pidfd(pid) if message.get("early") is True else None
        if pidfd is not None:
            try:
                said = _done_word(done_reader, token, pidfd)
            finally:
                os.close(pidfd)
            done_reader = None
        if said is not None:
            # The report is written: answer now, and let the kernel tear down the
            # child's copy of this worker (10-15 ms) while the CLI draws the scorecard.
            # The digest lets the CLI refuse a report another process put in its place.
            reply({"returncode": said[0], "report_sha256": said[1]})
        _, status = os.waitpid(pid, 0)
        if said is None:
            code = os.waitstatus_to_exitcode(status)
            # The child is gone: its word, if it said one, waits in the pipe.
            word = _done_word(done_reader, token, None) if done_reader is not None else None
            reply({"returncode": code,
                   "report_sha256": word[1] if word is not None and word[0] == code else None})
        exercise_id = _exercise_of(request)
        if exercise_id in preloaded and exercise_id not in graded:
            # after the first grade's answer: only a second grade sent at once waits
            # for it (0.1-0.2 s, once), never a save in watch
            graded.add(exercise_id)
            _keep_results(exercise_id, preloaded)


# --------------------------------------------------------------------------- learner


def _spare_child(preloaded: dict, control: int, channel: socket.socket) -> int:
    """In a child forked ahead of its grade: set up what needs no request, wait
    for the request on ``channel``, then become a cold learner process."""
    # deferred: torch and each role's modules load only in the worker that plays the role
    import importlib

    import torch

    from drillpe.grading import learner
    from drillpe.launch import lifeline
    from drillpe.launch.contract import receive_message

    lifeline.die_with_parent()
    os.close(control)
    torch.set_num_threads(CHILD_THREADS)
    # The grade's first steps, once, with nothing of the grade's: a forked child's
    # first writes to the worker's pages copy them (about 3 ms of page faults here),
    # better paid before the request than after it.
    importlib.invalidate_caches()
    _rebind_std()
    learner.parse_args(["--exercise", "-", "--file", "-", "--records-fd", "3", "--stuck-fd", "4"])
    request, fds = receive_message(channel, max_fds=3)
    channel.close()
    if request is None or len(fds) != 3:
        # The worker is closing, or the request never came: never a clean exit, which
        # would read as a learner process that finished without saying anything.
        return NO_REQUEST
    return _learner_child(request, preloaded, fds)


def _learner_child(request: dict, preloaded: dict, fds: list[int]) -> int:
    """In the child, once its request came: become a cold learner process, then run the grade."""
    # deferred: torch and each role's modules load only in the worker that plays the role
    import importlib

    from drillpe.grading import learner

    records_fd, stuck_fd, output_fd = fds
    null = os.open(os.devnull, os.O_RDONLY)
    # Out of the way first (fds 10 and up), so that no dup2 below overwrites a
    # source another one still needs, whatever numbers the fds came with.
    sources = {fd: fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (null, output_fd, records_fd,
                                                                 stuck_fd)}
    for fd in sources:
        os.close(fd)
    for src, dst in ((null, 0), (output_fd, 1), (output_fd, 2), (records_fd, 3), (stuck_fd, 4)):
        os.dup2(sources[src], dst)
    for fd in sources.values():
        os.close(fd)
    _rebind_std()
    limit = request.get("address_space")
    if limit:
        try:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (ValueError, OSError):
            pass
    timeout = float(request.get("timeout") or 0)
    if timeout:
        seconds = int(timeout) + 5
        try:
            resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds))
        except (ValueError, OSError):
            pass
    os.chdir(request["cwd"])
    importlib.invalidate_caches()
    args = learner.parse_args(request["args"])
    grader, _ = preloaded.get(args.exercise, (None, None))
    return learner.run(args, grader=grader)


class Spare:
    """A child forked ahead of its grade: its pid, the socket its request goes down,
    and the pipe and secret of its word that the grade is over (_say_over)."""

    def __init__(self, pid: int, channel: socket.socket, word_fd: int, token: str):
        self.pid, self.channel, self.word_fd, self.token = pid, channel, word_fd, token

    def close_word(self) -> None:
        if self.word_fd >= 0:
            os.close(self.word_fd)
            self.word_fd = -1


def _fork_spare(preloaded: dict, control: socket.socket, held: list[int] = ()) -> Spare:
    """The next grade's child, forked ahead so that the grade does not wait for
    the fork (a copy of this worker's page tables: about 6 ms). ``held``: a grade's
    fds this worker holds now (a grade that came before a child was ready), which
    the child closes at once: it gets them again with its request, as 1-4, and
    closes those when its run is over (_say_over)."""
    ours, theirs = socket.socketpair()
    word_r, word_w = os.pipe()
    token = secrets.token_hex(16)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    pid = os.fork()
    if pid == 0:
        code, ran = 1, False
        try:
            ours.close()
            os.close(word_r)
            for fd in held:
                os.close(fd)
            # above the fds the grade's child is given (0-4), which dup2 would replace
            high = fcntl.fcntl(word_w, fcntl.F_DUPFD, 10)
            os.close(word_w)
            word_w = high
            code = _spare_child(preloaded, control.fileno(), theirs)
            ran = code != NO_REQUEST
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            ran = True
        except BaseException:
            traceback.print_exc()
            ran = True
        finally:
            if ran:
                _say_over(word_w, token, code)
            _leave(code)
    theirs.close()
    os.close(word_w)
    return Spare(pid, ours, word_r, token)


def _say_over(fd: int, token: str, code: int) -> None:
    """The grade's child, its run over: let go of the grade's fds (the runner sees
    the end of the records and the output now), then say so with its exit status,
    ahead of the exit itself. Tearing down a forked copy of this worker takes the
    kernel 10-15 ms, which the judge's last pass need not wait for. Learner code
    ran in this process and may have read the token and said the word sooner: that
    only lets the grade be judged from records it sent, and the worker still waits
    for the exit, and kills at the timeout, before the grade's folders are removed
    or another grade starts."""
    try:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        null = os.open(os.devnull, os.O_RDWR)
        for target in (1, 2):
            os.dup2(null, target)
        os.close(null)
        for held in (3, 4):  # records, stuck
            with contextlib.suppress(OSError):
                os.close(held)
        os.set_blocking(fd, False)
        os.write(fd, f"{token} {code}\n".encode())
    except OSError:
        pass


def _descendants() -> list[int]:
    out, todo = [], [os.getpid()]
    while todo:
        pid = todo.pop()
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as fh:
                    kids = [int(p) for p in fh.read().split()]
                out.extend(kids)
                todo.extend(kids)
        except OSError:
            continue
    return out


def _clear_leftovers() -> None:
    """Kill and reap everything a grade's child left behind."""
    for _ in range(20):
        pids = _descendants()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                break
        if not pids:
            return
        time.sleep(0.01)


def _wait_child(pid: int, timeout: float | None) -> tuple[int, bool]:
    """(exit status, timed out): SIGKILL at ``timeout`` seconds."""
    deadline = None if not timeout else time.monotonic() + timeout
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status), False
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                return os.waitstatus_to_exitcode(status), True
            wait = 0.05 if left is None else min(0.05, left)
            if pidfd is not None:
                select.select([pidfd], [], [], wait)
            else:
                time.sleep(min(wait, 0.01))
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _hand_over(spare: Spare, request: dict, fds: list[int],
               preloaded: dict, control: socket.socket) -> Spare:
    """Send the grade to the child forked for it (a fresh one if that child is
    gone: nothing of a grade ran in it); returns the child that runs the grade."""
    # deferred: only the learner role needs it
    from drillpe.launch.contract import send_message

    try:
        for attempt in range(2):
            channel = spare.channel
            try:
                send_message(channel, request, fds)
                return spare
            except OSError:
                if attempt:
                    return spare  # its exit status says what happened
                with contextlib.suppress(OSError):
                    os.kill(spare.pid, signal.SIGKILL)
                    os.waitpid(spare.pid, 0)
                spare.close_word()
                spare = _fork_spare(preloaded, control, fds)
            finally:
                channel.close()
        raise AssertionError("unreachable")
    finally:
        for fd in fds:
            os.close(fd)


OVER = re.compile(rb" (-?[0-9]{1,10})\n")


def _over_word(spare: Spare, timeout: float | None) -> int | None:
    """The exit status the grade's child said, once it said it (_say_over); None
    when it ended, or the timeout came, without a word. Closes the pipe."""
    deadline = None if not timeout else time.monotonic() + timeout
    pidfd = _pidfd(spare.pid)
    fd, spare.word_fd = spare.word_fd, -1
    try:
        said = _await_word(fd, spare.token, pidfd, OVER, deadline)
    finally:
        if pidfd is not None:
            os.close(pidfd)
    return None if said is None else int(said.group(1))


_TOP_MODES: dict[str, int] = {}  # /tmp's and /dev/shm's modes before any grade


def _empty_private_folders() -> set[str]:
    """Inside the namespace sandbox: empty its private /tmp and /dev/shm after a
    grade, as every cold learner process gets them, so nothing a grade's code left
    there meets the next grade. Never into a mount (the staged files' folder, and
    drillpe's own folders where they live under /tmp, are bound inside it): only
    what lies on the tmpfs itself is removed. Learner code runs as this worker's
    user: a folder it made read-only or unreadable is opened up again first.
    Returns what is left (the folders that hold mounts), which must not change
    from grade to grade."""
    left = set()
    for top in ("/tmp", "/dev/shm"):
        try:
            state = os.lstat(top)
        except OSError:
            continue
        device = state.st_dev
        # the top's own mode as the sandbox made it (the first call, before any grade): a
        # reviewer's grade made /tmp read-only, so nothing in it could be removed and
        # every later grade met its file and could not write there
        mode = _TOP_MODES.setdefault(top, stat.S_IMODE(state.st_mode))
        if stat.S_IMODE(state.st_mode) != mode:
            with contextlib.suppress(OSError):
                os.chmod(top, mode)
        folders = []
        for root, dirs, files in os.walk(top):
            kept = []
            for name in dirs:
                path = os.path.join(root, name)
                with contextlib.suppress(OSError):
                    if os.path.islink(path):
                        os.unlink(path)
                    elif os.lstat(path).st_dev == device and not os.path.ismount(path):
                        os.chmod(path, 0o700)  # before os.walk lists it
                        kept.append(name)
            dirs[:] = kept  # not into mounts
            folders.extend(os.path.join(root, name) for name in kept)
            for name in files:
                try:
                    os.unlink(os.path.join(root, name))
                except FileNotFoundError:
                    pass
                except OSError:  # it would meet the next grade: this sandbox is done
                    left.add(os.path.join(root, name))
        for path in reversed(folders):
            try:
                os.rmdir(path)
            except OSError:
                left.add(path)  # a mount lies inside: it stays
        with contextlib.suppress(OSError):
            if stat.S_IMODE(os.lstat(top).st_mode) != mode:
                left.add(f"{top} (its mode)")
    return left


def serve_learner(private_tmp: bool = False) -> int:
    # deferred: only the learner role needs these
    import ctypes

    from drillpe.launch import lifeline
    from drillpe.launch.contract import receive_message, send_message

    try:
        ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    # Learner code runs as this worker's user, beside it. Non-dumpable, the worker
    # (and every child it forks, until learner code execs something) cannot have its
    # memory read or written, its fds taken (pidfd_getfd) or be traced through /proc:
    # otherwise a grade's code could rewrite the worker, outlive its grade and take
    # over the next grade's child and fds.
    lifeline.keep_private()
    control = socket.socket(fileno=CONTROL_FD)
    preloaded = _get_ready("learner")
    layout = _empty_private_folders() if private_tmp else set()
    send_message(control, {"ready": True})
    spare = None
    while True:
        # Forked once the channel has been quiet a moment: right after a grade the
        # fork would take CPU from the judge, which is still at work.
        if spare is None and not select.select([control], [], [], SPARE_AFTER_S)[0]:
            spare = _fork_spare(preloaded, control)
        request, fds = receive_message(control, max_fds=3)
        if request is None:
            return 0
        if spare is None and len(fds) == 3:
            spare = _fork_spare(preloaded, control, fds)  # a grade that came at once
        if len(fds) != 3:
            for fd in fds:
                os.close(fd)
            send_message(control, {"returncode": 70, "timed_out": False,
                                   "error": "a request without its three fds"})
            continue
        child = _hand_over(spare, request, fds, preloaded, control)
        spare = None
        timeout = request.get("timeout")
        began = time.monotonic()
        # In the namespace sandbox the grade is answered as soon as its child says
        # its run is over (the pool then waits for "gone" before the grade's folders
        # go or another grade starts); outside it, where another process of the same
        # user can reach the word's pipe, once the child is gone, as before.
        said = _over_word(child, timeout) if private_tmp else None
        child.close_word()
        if said is not None:
            send_message(control, {"returncode": said, "timed_out": False, "early": True})
        left = None if not timeout else max(timeout - (time.monotonic() - began), 0.001)
        code, timed_out = _wait_child(child.pid, left)
        _clear_leftovers()
        leaving = private_tmp and _empty_private_folders() != layout
        # What holds the sandbox's mounts was moved or changed (the learner's user owns
        # those folders): this sandbox is not the one drillpe built. Answer for this
        # grade, then leave; the pool starts a fresh one.
        if said is not None:
            send_message(control, {"gone": True, "leaving": leaving})
        else:
            send_message(control, {"returncode": code, "timed_out": timed_out,
                                   **({"leaving": True} if leaving else {})})
        if leaving:
            return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ROLES or argv[1:] not in ([], [PRIVATE_TMP]) or \
            (argv[1:] and argv[0] != "learner"):
        print(f"usage: python -m drillpe.grading.warm_worker {{{'|'.join(ROLES)}}} "
              f"[{PRIVATE_TMP}]", file=sys.stderr)
        return 2
    return serve_learner(private_tmp=PRIVATE_TMP in argv) if argv[0] == "learner" \
        else serve_judge()


if __name__ == "__main__":
    from drillpe.launch import lifeline

    lifeline.tie()
    # Tearing down an interpreter that holds torch takes 0.3-0.6 s of CPU, which
    # whoever closes the pool (a quitting watch, each test module) waited out.
    _leave(main())
