"""A warm grading worker: imports torch, the graders and (judge side only) the
references once, then forks a fresh child for every grade.

    python -m drillpe.grading.warm learner|judge

Started by ``drillpe.warm`` (the CLI side). Requests and replies are JSON
lines on the worker's stdin and stdout:

    -> {"args": [...], "log": PATH, "cwd": DIR, "limit_memory": BOOL}
    <- {"pid": N}                    the child runs drillpe.grading.<role>.run(args)
    -> {"end": {...}}                judge only: forwarded to the child's stdin
    <- {"returncode": N}             the child is gone (negative: killed by that signal)

The worker itself never runs learner code, and the learner worker never loads
a reference: each child starts from the same clean state a cold
``python -m drillpe.grading.<role>`` would reach, minus the imports. A
learner child gets its own session, the memory limit, no stdin and only its
log as output, exactly as the cold learner process does.
"""

from __future__ import annotations

import io
import json
import os
import sys
import traceback
from typing import Any

ROLES = ("learner", "judge")
CHILD_THREADS = 1


def _preload(role: str) -> dict[str, tuple[Any, Any]]:
    """exercise id -> (grader, reference or None). A grader that fails to load
    is left out: its child then loads it itself and fails as a cold run would."""
    from drillpe import catalog
    from drillpe.grading.common import load_grader, load_reference

    loaded = {}
    for exercise_id in catalog.ids():
        try:
            grader = load_grader(exercise_id)
            reference = load_reference(exercise_id) if role == "judge" else None
        except Exception:
            continue
        loaded[exercise_id] = (grader, reference)
    return loaded


def _single_threaded(fn, *args):
    """Run ``fn`` with one intra-op thread. An OpenMP thread pool started in
    the worker does not survive fork(): a child's first parallel op would hang
    forever. With one thread torch runs inline and starts no pool."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn(*args)
    finally:
        torch.set_num_threads(threads)


def _warm_up() -> None:
    """Pay torch's first-call costs once, here, rather than in every child."""
    import torch

    for dtype in (torch.float32, torch.float64, torch.bfloat16, torch.float16):
        x = torch.randn(2, 2, 4, 4, generator=torch.Generator().manual_seed(0)).to(dtype)
        w = torch.softmax(x @ x.transpose(-1, -2) / 2.0, dim=-1)
        y = torch.einsum("bhij,bhjd->bhid", w, x)
        torch.stack([y.sin(), y.cos()], dim=-1).flatten(-2).masked_fill(y.new_ones(()).bool(), 0)
        torch.arange(2, dtype=dtype).repeat_interleave(2).float().pow(0.5).allclose(y[0, 0, 0].float())
    torch.nn.Linear(4, 4)(torch.zeros(1, 4)).sum().backward()
    torch.nn.Embedding(4, 4)(torch.arange(2))
    # unravel_index imports torch.fx.experimental.symbolic_shapes, and with it
    # sympy: 0.8 s that every failing grade would pay again.
    torch.unravel_index(torch.tensor(3), (2, 2))
    saved = io.BytesIO()  # outputs travel through torch.save/load (its lazy imports)
    torch.save({"x": torch.zeros(2)}, saved)
    saved.seek(0)
    torch.load(saved, weights_only=True)


def _stdio(stdin_fd: int, log_path: str) -> None:
    """Point fds 0, 1, 2 and sys.std* where a cold child's would be."""
    os.dup2(stdin_fd, 0)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.FileIO(0, "r", closefd=False),
                                                 encoding="utf-8")
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(io.FileIO(1, "w", closefd=False),
                                                   encoding="utf-8", errors="backslashreplace")
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(io.FileIO(2, "w", closefd=False),
                                                   encoding="utf-8", errors="backslashreplace",
                                                   line_buffering=True)


def _child(role: str, request: dict, preloaded: dict, stdin_fd: int) -> int:
    import importlib

    import torch

    cwd = request["cwd"]
    # Grading tensors are small: one thread is as fast, and OpenMP threads
    # spin-waiting on a busy machine made warm grades erratic (0.3 s to 3 s).
    torch.set_num_threads(CHILD_THREADS)
    if role == "learner":
        os.setsid()  # its own process group, so the parent can kill all it leaves behind
        if request.get("limit_memory"):
            from drillpe.runner import limit_address_space

            limit_address_space()
    os.chdir(cwd)
    _stdio(stdin_fd, request["log"])
    sys.path[0] = cwd  # what `python -m` started in cwd would have
    importlib.invalidate_caches()
    if role == "learner":
        from drillpe.grading import learner

        args = learner.parse_args(request["args"])
        grader, _ = preloaded.get(args.exercise, (None, None))
        return learner.run(args, grader=grader)
    from drillpe.grading import judge

    args = judge.parse_args(request["args"])
    grader, reference = preloaded.get(args.exercise, (None, None))
    return judge.run(args, grader=grader, reference=reference)


def _fork(role: str, request: dict, preloaded: dict, protocol_fds: tuple[int, ...]
          ) -> tuple[int, int | None]:
    """Start one child; returns its pid and, for the judge, the write end of its stdin."""
    if role == "judge":
        child_stdin, end_writer = os.pipe()
    else:
        child_stdin, end_writer = os.open(os.devnull, os.O_RDONLY), None
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            for fd in (*protocol_fds, *([end_writer] if end_writer is not None else [])):
                os.close(fd)  # the child must not reach the worker's channels
            code = _child(role, request, preloaded, child_stdin)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
        finally:
            from drillpe.grading.common import leave_now

            leave_now(code)  # as the cold processes do
    os.close(child_stdin)
    return pid, end_writer


def serve(role: str) -> int:
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

    preloaded = _single_threaded(_preload, role)
    try:
        _single_threaded(_warm_up)
    except Exception:  # only an optimisation: a child pays the cost instead
        traceback.print_exc()
    reply({"ready": True, "pid": os.getpid()})
    while True:
        line = requests.readline()
        if not line:
            return 0  # the parent went away or closed us
        request = json.loads(line)
        pid, end_writer = _fork(role, request, preloaded, protocol_fds)
        reply({"pid": pid})
        if end_writer is not None:
            end = requests.readline()
            try:
                if end:
                    os.write(end_writer, (json.dumps(json.loads(end).get("end", {})) + "\n").encode())
            except OSError:
                pass  # the judge child is already gone; its status says why
            finally:
                os.close(end_writer)
        _, status = os.waitpid(pid, 0)
        reply({"returncode": os.waitstatus_to_exitcode(status)})


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] not in ROLES:
        print(f"usage: python -m drillpe.grading.warm {{{'|'.join(ROLES)}}}", file=sys.stderr)
        return 2
    return serve(argv[0])


if __name__ == "__main__":
    raise SystemExit(main())
