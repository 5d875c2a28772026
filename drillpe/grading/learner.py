"""The learner process: imports the learner's file, runs each check's ``run``
on the case inputs, and sends what came out. It never sees a reference and
never decides a verdict; the judge process does that.

    python -m drillpe.grading.learner --exercise ID --file F --device D --seed N \
        [--consequence] [--deadline T] [--records-fd 3] [--stuck-fd 4]

It runs inside the sandbox (drillpe.launch), with no writable place but a
private /tmp: everything it has to say goes out as frames on the records
fd (drillpe.grading.records): a ``load`` record (import status and API
facts), a ``case`` record per case run, then an ``end`` record (what the
run-time guards saw). The judge requires each of them, whole and in order.
Its prints go to fd 1 and 2, which the runner reads, caps and shows.
"""

from __future__ import annotations

import argparse
import builtins
import faulthandler
import functools
import inspect
import math
import os
import sys
import time
import traceback
import types
from pathlib import Path
from typing import Any

import torch

from drillpe.data import bundle, catalog
from drillpe.grading import records, static
from drillpe.grading.api import Env, learner_exception
from drillpe.grading.common import (
    case_inputs,
    device_or_exit,
    inputs_ahead,
    leave_now,
    load_grader,
)
from drillpe.grading.loading import load_module
from drillpe.grading.reach import Reach, plain_enum_names, torch_names_only

LEARNER_MODULE = "drillpe_learner"
CPU = torch.device("cpu")
_synchronize = torch.cuda.synchronize  # captured before any learner code can replace it

# torch and Python attributes whose replacement by learner code is tampering.
WATCHED = {
    "torch": ["allclose", "equal", "isclose", "testing", "save", "load", "tensor", "zeros",
              "randn", "arange", "sin", "cos", "matmul", "softmax", "stack", "cat", "einsum"],
    "torch.Tensor": ["__add__", "__sub__", "__mul__", "__matmul__", "__eq__", "abs", "max",
                     "sum", "mean", "allclose", "to", "float", "double", "cpu", "detach",
                     "clone", "contiguous", "view", "numpy", "reshape"],
    "torch.nn.functional": ["softmax", "linear", "dropout"],
    "builtins": ["print", "open", "isinstance", "len", "abs", "max", "min", "sum",
                 "__import__", "type"],
    "sys": ["exit", "stdout", "stderr"],
    "os": ["write", "_exit", "replace"],
}


def _resolve(dotted: str) -> Any:
    obj: Any = {"torch": torch, "builtins": builtins, "sys": sys, "os": os}[dotted.split(".")[0]]
    for part in dotted.split(".")[1:]:
        obj = getattr(obj, part)
    return obj


def snapshot() -> dict[str, Any]:
    return {f"{owner}.{name}": getattr(_resolve(owner), name, None)
            for owner, names in WATCHED.items() for name in names}


def changed_since(before: dict[str, Any]) -> list[str]:
    after = snapshot()
    return [name for name, obj in before.items() if after[name] is not obj]


# What the learner's code may not do at all where no sandbox contains it (under the
# guard it runs as you): start or signal processes, open sockets, write, create,
# remove or rename files, change the environment. Reviewers' files that passed the
# rules check ran a shell through numpy.testing.measure (cat'ing the model answer),
# and planted a .pth through the profiler's trace export.
CONFINED_EVENTS = frozenset({
    "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
    "os.forkpty", "os.kill", "os.killpg", "signal.pthread_kill", "pty.spawn",
    "socket.__new__", "os.remove", "os.rename", "os.mkdir", "os.rmdir", "os.chmod",
    "os.chown", "os.symlink", "os.link", "os.truncate", "os.utime", "os.putenv",
    "os.unsetenv", "shutil.rmtree", "shutil.move", "shutil.copyfile", "shutil.copytree",
    "shutil.chown", "shutil.make_archive", "shutil.unpack_archive",
    # the ways code that got past the rules check found these guards and switched
    # them off (gc.get_objects, a code object rebuilt with code.replace), or ran a
    # pickle: a reviewer's did all three
    "gc.get_objects", "gc.get_referrers", "gc.get_referents", "code.__new__",
    "pickle.find_class", "sys._current_frames", "sys.settrace", "sys.setprofile",
})
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _guard_hook(protected: list[str], confine: bool, tampering: list[str],
                reference_access: list[str]):
    """Guards' audit hook. What it uses is bound here, when it is armed: the module's
    globals (and os.getpid) could be replaced by code that reaches them."""
    protected_paths, confined, write_flags = tuple(protected), CONFINED_EVENTS, WRITE_FLAGS
    own_pid, fsdecode, realpath = os.getpid(), os.fsdecode, os.path.realpath
    PermissionError_ = PermissionError

    def writes(mode, flags) -> bool:
        """Whether an ``open`` event opens for writing (builtins.open and io.FileIO
        give a mode, os.open only flags)."""
        if type(mode) is str and any(c in mode for c in "wax+"):
            return True
        return type(flags) is int and bool(flags & write_flags)

    def elsewhere(path: str) -> bool:
        """Another process's /proc entry (its fds, its memory) or a terminal."""
        if path.startswith(("/dev/tty", "/dev/pts", "/dev/console")):
            return True
        parts = path.split("/")
        return len(parts) > 2 and parts[1] == "proc" and parts[2].isdigit() and \
            int(parts[2]) != own_pid

    def hook(event: str, args: tuple) -> None:
        if confine and (event in confined or (
                event == "open" and len(args) >= 3 and writes(args[1], args[2]))):
            what = f"{event} {args[0]!r}"[:100] if args else event
            tampering.append(f"did what only the sandbox could contain: {what}")
            raise PermissionError_(f"drillpe: learner code may not do this here ({event}): "
                                   "it runs as you, without the sandbox")
        if event != "open":
            return
        target = args[0]
        if isinstance(target, (str, bytes)) or hasattr(target, "__fspath__"):
            path = realpath(fsdecode(target))
            if any(path.startswith(p) for p in protected_paths):
                reference_access.append(path[:300])
                raise PermissionError_("drillpe: learner code may not read the reference "
                                       "solutions")
            if elsewhere(path):
                tampering.append(f"opened {path[:100]}")
                raise PermissionError_("drillpe: learner code may not open other processes' "
                                       "files or the terminal")

    return hook


# torch's own file readers open files in C++, where no audit event is raised: a
# reviewer's read the model answer with torch.from_file and wrote a copy through a
# shared mapping. Without the sandbox they are refused (the rules refuse the names too).
NATIVE_FILES = ((torch, "from_file"), (torch.UntypedStorage, "from_file"),
                (torch.TypedStorage, "from_file"))


def _close_native_files(tampering: list[str]) -> None:
    def refused(*args, **kwargs):
        tampering.append("opened a file through torch's C++ reader (from_file)")
        raise PermissionError("drillpe: learner code may not open files this way here")

    for owner, name in NATIVE_FILES:
        if hasattr(owner, name):
            setattr(owner, name, refused)


class Guards:
    """Records what the learner's code does that the rules forbid. Evidence
    from inside the learner's own process is only ever a reason to fail:
    the judge reads the file itself and never lets this evidence pass it.
    ``confine``: also refuse CONFINED_EVENTS and opening files to write (where
    no sandbox contains the code)."""

    def __init__(self, learner_file: Path, banned: tuple[str, ...], confine: bool = False,
                 declared: frozenset[str] = frozenset()):
        """``declared``: the names the file annotates in class bodies (static.class_fields)."""
        self.learner_file = str(learner_file.resolve())
        self.banned_calls: list[dict] = []
        self.reference_access: list[str] = []
        self.tampering: list[str] = []
        # Only the references (model answers, oracles, bench references) are secret; in the
        # sandbox they are not even there.
        self.protected = [str(p.resolve()) for p in bundle.secret_dirs()]
        self._armed = False
        self.confine = confine
        # without the sandbox, also no code from text and no frames (drillpe.grading.reach)
        self.reach = Reach(self.tampering, self.learner_file, declared) if confine else None
        for name in banned:
            self._wrap(name)

    def arm(self) -> None:
        """The audit hooks, from now to the end of the process. They have no off
        switch: a reviewer's code found this object through a wrapped function's
        closure and cleared the flag the hook used to read."""
        if self._armed:
            return
        self._armed = True
        torch_names_only(self.tampering)
        plain_enum_names(self.tampering)
        sys.addaudithook(_guard_hook(self.protected, self.confine, self.tampering,
                                     self.reference_access))
        if self.reach is not None:
            self.reach.arm()
        if self.confine:
            _close_native_files(self.tampering)

    def _learner_line(self) -> int | None:
        for frame in reversed(traceback.extract_stack()):
            if frame.filename == self.learner_file:
                return frame.lineno
        return None

    def _wrap(self, dotted: str) -> None:
        owner_name, _, attr = dotted.rpartition(".")
        try:
            owner = _resolve(owner_name)
            original = getattr(owner, attr)
        except (AttributeError, KeyError):
            return
        guards = self

        if inspect.isclass(original):
            class Recorded(original):  # type: ignore[misc, valid-type]
                def __init__(self, *args, **kwargs):
                    guards.banned_calls.append({"name": dotted, "line": guards._learner_line()})
                    super().__init__(*args, **kwargs)

            Recorded.__name__ = original.__name__
            Recorded.__qualname__ = original.__qualname__
            setattr(owner, attr, Recorded)
            return

        @functools.wraps(original)
        def recorded(*args, **kwargs):
            guards.banned_calls.append({"name": dotted, "line": guards._learner_line()})
            return original(*args, **kwargs)

        del recorded.__wrapped__  # no handle on the unrecorded function
        setattr(owner, attr, recorded)


# --------------------------------------------------------------------------- API facts


def _plain(value: Any) -> Any:
    """A default the report can carry: plain JSON values only."""
    if type(value) is float:
        return value if math.isfinite(value) else None
    if type(value) is str:
        return value[:200]
    return value if type(value) in (int, float, bool, type(None)) else None


def _forwards_anything(fn: Any) -> bool:
    """Whether a plain function takes exactly ``(*args, **kwargs)``: a decorator's
    wrapper, which binds whatever its wrapped function does."""
    code = fn.__code__
    both = inspect.CO_VARARGS | inspect.CO_VARKEYWORDS
    return code.co_argcount == 0 and code.co_kwonlyargcount == 0 and \
        code.co_flags & both == both


def _unwrapped(fn: Any) -> Any:
    """The function a decorator's ``(*args, **kwargs)`` wrapper stands for (its
    ``__wrapped__``, which functools.wraps sets: ``@torch.no_grad()`` on RoPE was
    read as ``RoPE(*args, **kwargs)`` and failed the signature check)."""
    for _ in range(8):  # decorators on decorators; a cycle ends here
        inner = vars(fn).get("__wrapped__") if type(fn) is types.FunctionType else None
        if type(inner) is not types.FunctionType or not _forwards_anything(fn):
            return fn
        fn = inner
    return fn


def describe_params(fn: Any, drop_self: bool) -> list[list] | None:
    """Parameters as the call really binds them: for a plain function, read
    from its code object and defaults, never from a ``__signature__`` it
    may carry."""
    if inspect.ismethod(fn):
        fn = fn.__func__
    fn = _unwrapped(fn)
    if type(fn) is types.FunctionType:
        code = fn.__code__
        positional = code.co_varnames[:code.co_argcount]
        kwonly = code.co_varnames[code.co_argcount:code.co_argcount + code.co_kwonlyargcount]
        defaults = fn.__defaults__ or ()
        first_default = len(positional) - len(defaults)
        out = []
        for i, name in enumerate(positional):
            kind = "POSITIONAL_ONLY" if i < code.co_posonlyargcount else "POSITIONAL_OR_KEYWORD"
            has = i >= first_default
            out.append([name, kind, has, _plain(defaults[i - first_default]) if has else None])
        at = code.co_argcount + code.co_kwonlyargcount
        if code.co_flags & inspect.CO_VARARGS:
            out.append([code.co_varnames[at], "VAR_POSITIONAL", False, None])
            at += 1
        kwdefaults = fn.__kwdefaults__ or {}
        for name in kwonly:
            has = name in kwdefaults
            out.append([name, "KEYWORD_ONLY", has, _plain(kwdefaults.get(name)) if has else None])
        if code.co_flags & inspect.CO_VARKEYWORDS:
            out.append([code.co_varnames[at], "VAR_KEYWORD", False, None])
    else:
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):
            return None
        out = [[p.name, p.kind.name, p.default is not inspect.Parameter.empty,
                _plain(p.default) if p.default is not inspect.Parameter.empty else None]
               for p in sig.parameters.values()]
    if drop_self and out and out[0][0] == "self":
        out = out[1:]
    return out


def describe_api(mod: Any, exercise: catalog.Exercise) -> dict[str, Any]:
    """What the learner defined for each API name (presence, kind, parameters)."""
    facts: dict[str, Any] = {}
    for item in exercise.api:
        obj = getattr(mod, item.name, None)
        if obj is None:
            facts[item.name] = {"present": False}
            continue
        entry: dict[str, Any] = {"present": True, "is_class": inspect.isclass(obj),
                                 "callable": callable(obj)}
        if inspect.isclass(obj):
            entry["init"] = describe_params(obj.__init__, drop_self=True)
            fwd = getattr(obj, "forward", None)
            entry["forward"] = describe_params(fwd, drop_self=True) if fwd else None
        elif callable(obj):
            entry["signature"] = describe_params(obj, drop_self=False)
        facts[item.name] = entry
    return facts


# --------------------------------------------------------------------------- the run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="drillpe.grading.learner")
    parser.add_argument("--exercise", required=True)
    parser.add_argument("--file", required=True, type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--consequence", action="store_true",
                        help="also run the grader's consequence checks, after the others")
    parser.add_argument("--records-fd", type=int, default=3)
    parser.add_argument("--stuck-fd", type=int, default=4)
    parser.add_argument("--deadline", type=float, default=None,
                        help="time.time() at which to dump where the code is (before the kill)")
    parser.add_argument("--run-refused", action="store_true",
                        help="run a file the rules refuse (in the namespace sandbox)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


def _reading(learner_file: Path, exercise) -> static.StaticReport | None:
    """The rules check's reading of the file; None where it is not readable Python
    (the import reports that, as the judge does)."""
    source = static.read_source(learner_file)
    if isinstance(source, static.StaticReport):
        return None
    return static.analyse(source, exercise.banned, exercise.banned_modules)


def _refused(reading: static.StaticReport | None) -> str | None:
    """Why the rules check refuses to let this file run (a hostile finding), if it does."""
    finding = static.not_run(reading) if reading is not None else None
    return None if finding is None else f"line {finding.line}: {finding.text}"[:300]


class Channel:
    """The records fd, written through functions captured before any learner
    code runs (a later patch of os.write changes nothing here)."""

    def __init__(self, fd: int):
        self.fd = fd
        self._write = os.write
        self._parts = records.frame_parts
        self._view = memoryview
        self.digests = records.input_digests

    def send(self, kind: str, fields: dict | None = None, outputs: dict | None = None) -> None:
        # part by part: the tensors' bytes go from their own memory, uncopied
        for part in self._parts(kind, fields, outputs):
            data = self._view(part)
            while data:
                data = data[self._write(self.fd, data):]


def run(args: argparse.Namespace, grader=None) -> int:
    """One learner run. ``grader`` may come preloaded from a warm worker
    (drillpe.grading.warm_worker), which forks a fresh process for every run."""
    device = device_or_exit(args.device)
    exercise = catalog.get(args.exercise)
    grader = grader if grader is not None else load_grader(args.exercise)
    learner_file = args.file.resolve()
    # Nothing beside the learner's file may shadow a module (a scratch random.py).
    sys.path[:] = [p for p in sys.path if p not in ("", os.getcwd(), str(learner_file.parent))]
    sys.dont_write_bytecode = True
    channel = Channel(args.records_fd)
    if args.deadline is not None:
        # If the code is still running near the deadline, say where (the judge
        # shows the learner's own lines of it); the supervisor kills us just after.
        stuck = os.fdopen(args.stuck_fd, "w", closefd=False)
        faulthandler.dump_traceback_later(max(0.05, args.deadline - time.time()), file=stuck)
    # without the sandbox the file is read first: its refusal and its dataclasses' fields
    reading = None if args.run_refused else _reading(learner_file, exercise)
    guards = Guards(learner_file, exercise.banned, confine=not args.run_refused,
                    declared=static.class_fields(reading.tree if reading else None))
    watched = snapshot()
    modules_before = set(sys.modules)

    # Without the sandbox, a file the rules check refuses as hostile does not run at
    # all: its verdict is a fail whatever it does, and what it does runs as you (a
    # reviewer's planted a `python` on your PATH that later grades ran). In the
    # sandbox it runs, so that the run-time guards are tried on it too.
    refused = _refused(reading)
    if refused is not None:  # the judge reads the same text and fails it for this
        channel.send("load", {"status": "refused", "finding": refused})
        _send_end(channel, guards, watched, modules_before)
        return 0
    guards.arm()
    try:
        mod = load_module(learner_file, LEARNER_MODULE)
    except BaseException as exc:  # the learner's import failed: report, do not crash
        kind = "syntax" if isinstance(exc, SyntaxError) else (
            "exit" if isinstance(exc, SystemExit) else "import")
        error = learner_exception(exc, learner_file)
        channel.send("load", {"status": kind}, {"error": error})
        _send_end(channel, guards, watched, modules_before)
        return 0
    api = describe_api(mod, exercise)
    channel.send("load", {"status": "ok", "api": api})

    env = Env(mod=mod, device=device)
    for index, check in enumerate(grader.active(args.consequence)):
        if any(getattr(mod, name, None) is None for name in check.needs):
            continue
        for case_index in range(len(check.cases)):
            x = _prepared.pop((check.id, case_index, args.seed, str(device)), None) or \
                case_inputs(check, case_index, args.seed, device)
            seed_generators(args.seed, device)
            try:
                out = check.run(env, x, check.cases[case_index])
                failed = False
            except BaseException as exc:  # learner code may raise anything, SystemExit too
                out = learner_exception(exc, learner_file)
                # A crash on a small case can hide a mistake the larger cases
                # name (a division by d/2 - 1 at d = 2): after an ordinary
                # exception the check goes on, and the judge reports the crash
                # with what the later cases show. A stub, an exit or a crash
                # the check itself expects ends the check as before.
                failed = not (isinstance(exc, Exception) and not isinstance(exc, NotImplementedError)
                              and not isinstance(exc, MemoryError)
                              and not check.handles_exceptions)
            alive = device_alive(device)
            try:
                # After a device-side assert the inputs on the GPU cannot be read: their
                # digests come from the same inputs built again on the CPU.
                digests = channel.digests(x if alive else
                                          case_inputs(check, case_index, args.seed, CPU))
                channel.send("case", {"check": index, "case": case_index, "failed": failed,
                                      "inputs": digests}, {"out": out})
            except OSError:
                raise  # the channel is gone: nothing more can be said
            except Exception as exc:  # an output torch cannot even copy
                broken = learner_exception(exc, learner_file)
                channel.send("case", {"check": index, "case": case_index, "failed": True,
                                      "inputs": {}}, {"out": broken})
                failed = True
            if not alive:
                # Every CUDA call in this process now fails: nothing after this case
                # could be believed. The judge reports the rest as not run.
                _send_end(channel, guards, watched, modules_before, lost=[index, case_index])
                return 0
            if failed:
                break
    _send_end(channel, guards, watched, modules_before)
    return 0


# Each case's inputs, built before the learner's process is forked (a warm worker
# builds them once for the default seed): each is taken once, so learner code that
# changed one in place cannot hand it to a later case.
_prepared: dict[tuple[str, int, int, str], dict] = {}


def prepare_inputs(grader, seed: int, device: torch.device) -> None:
    inputs_ahead(grader, seed, device, _prepared)


def seed_generators(seed: int, device: torch.device) -> None:
    """The generators the learner's code may draw from, seeded before every case.
    On the CPU only the CPU's: torch.manual_seed would also queue a seed for every
    accelerator torch knows, formatting a stack for each (a third of a case's cost)."""
    if device.type == "cpu":
        torch.default_generator.manual_seed(seed)
    else:
        torch.manual_seed(seed)


def device_alive(device: torch.device) -> bool:
    """False once a device-side assert (an index out of range in a CUDA kernel) has
    left this process's CUDA context unusable; always True on the CPU."""
    if device.type != "cuda":
        return True
    try:
        _synchronize(device)
    except Exception:
        return False
    return True


def _send_end(channel: Channel, guards: Guards, watched: dict, modules_before: set,
              lost: list[int] | None = None) -> None:
    # The guards stay armed until the process ends: a thread of the learner's that
    # outlives its calls could otherwise notice them gone and act in that moment.
    imported = sorted(set(sys.modules) - modules_before)
    runtime = {
        "banned_calls": guards.banned_calls[:50],
        "reference_access": guards.reference_access[:10],
        "tampered": [*changed_since(watched), *guards.tampering[:10]],
        "imported": [m for m in imported if "." not in m][:200],
    }
    channel.send("end", {"runtime": runtime, **({"lost": lost} if lost else {})})


if __name__ == "__main__":
    leave_now(main())
