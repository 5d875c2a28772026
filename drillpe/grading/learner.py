"""The learner process: imports the learner's file, runs each check's ``run``
on the case inputs, and saves what came out. It never sees a reference and
never decides a verdict; the judge process does that.

    python -m drillpe.grading.learner --exercise ID --file F --device D --seed N --outdir DIR

Files written to DIR (each atomically, so a kill leaves whole files only):
``load.pt`` (import status and API facts), ``check-<n>.pt`` per check in
order, ``runtime.pt`` (banned calls, tampering, attempts to read references).
"""

from __future__ import annotations

import argparse
import builtins
import faulthandler
import functools
import inspect
import io
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from drillpe import catalog, resources
from drillpe.grading import wire
from drillpe.grading.api import Env, learner_exception
from drillpe.grading.common import case_inputs, device_or_exit, leave_now, load_grader
from drillpe.grading.loading import load_module

LEARNER_MODULE = "drillpe_learner"

# torch and Python attributes whose replacement by learner code is tampering.
WATCHED = {
    "torch": ["allclose", "equal", "isclose", "testing", "save", "load", "tensor", "zeros",
              "randn", "arange", "sin", "cos", "matmul", "softmax", "stack", "cat", "einsum"],
    "torch.Tensor": ["__add__", "__sub__", "__mul__", "__matmul__", "__eq__", "abs", "max",
                     "sum", "mean", "allclose", "to", "float", "double", "cpu", "detach",
                     "clone"],
    "torch.nn.functional": ["softmax", "linear", "dropout"],
    "builtins": ["print", "open", "isinstance", "len", "abs", "max", "min", "sum",
                 "__import__"],
    "sys": ["exit", "stdout", "stderr"],
}


def _resolve(dotted: str) -> Any:
    obj: Any = {"torch": torch, "builtins": builtins, "sys": sys}[dotted.split(".")[0]]
    for part in dotted.split(".")[1:]:
        obj = getattr(obj, part)
    return obj


def snapshot() -> dict[str, Any]:
    return {f"{owner}.{name}": getattr(_resolve(owner), name, None)
            for owner, names in WATCHED.items() for name in names}


def changed_since(before: dict[str, Any]) -> list[str]:
    after = snapshot()
    return [name for name, obj in before.items() if after[name] is not obj]


class Guards:
    """Records what the learner's code does that the rules forbid."""

    def __init__(self, learner_file: Path, banned: tuple[str, ...]):
        self.learner_file = str(learner_file.resolve())
        self.banned_calls: list[dict] = []
        self.reference_access: list[str] = []
        # Only the references are secret; graders hold inputs and checks, and
        # tracebacks through them must stay readable.
        self.protected = [str(resources.solutions_dir().resolve())]
        self.armed = False
        self.raw_stdout: Path | None = None
        sys.addaudithook(self._audit)
        for name in banned:
            self._wrap(name)

    def _learner_line(self) -> int | None:
        for frame in reversed(traceback.extract_stack()):
            if frame.filename == self.learner_file:
                return frame.lineno
        return None

    def _audit(self, event: str, args: tuple) -> None:
        if not self.armed or event != "open":
            return
        target = args[0]
        if isinstance(target, (str, bytes)) or hasattr(target, "__fspath__"):
            path = str(Path(target if not isinstance(target, bytes) else target.decode()).resolve())
            if any(path.startswith(p) for p in self.protected):
                self.reference_access.append(path)
                raise PermissionError("drillpe: learner code may not read the reference solutions")

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

        setattr(owner, attr, recorded)


def describe_params(fn: Any, drop_self: bool) -> list[list] | None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    params = list(sig.parameters.values())
    if drop_self and params and params[0].name == "self":
        params = params[1:]
    out = []
    for p in params:
        has_default = p.default is not inspect.Parameter.empty
        default = p.default if has_default and isinstance(
            p.default, (int, float, str, bool, type(None))) else None
        out.append([p.name, p.kind.name, has_default, default])
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


def changed_inputs(x: dict, before: dict) -> list[str]:
    names = []
    for key, value in x.items():
        old = before.get(key)
        if isinstance(value, torch.Tensor) and isinstance(old, torch.Tensor):
            if value.shape != old.shape or not torch.equal(value.nan_to_num(), old.nan_to_num()):
                names.append(key)
    return names


def separate_stdout(outdir: Path) -> Path:
    """Keep print() going to the parent's log, but send file descriptor 1
    (sys.__stdout__, os.write(1, ...)) to a file of its own: anything found
    there was written around print, which the rules call tampering."""
    sys.stdout.flush()
    printed = io.TextIOWrapper(os.fdopen(os.dup(1), "wb"), encoding="utf-8",
                               errors="replace", line_buffering=True)
    raw_path = outdir / "raw-stdout"
    raw = os.open(raw_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(raw, 1)
    os.close(raw)
    sys.stdout = printed
    return raw_path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="drillpe.grading.learner")
    parser.add_argument("--exercise", required=True)
    parser.add_argument("--file", required=True, type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--outdir", required=True, type=Path)
    parser.add_argument("--deadline", type=float, default=None,
                        help="time.time() at which to dump where the code is (before the kill)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


def run(args: argparse.Namespace, grader=None) -> int:
    """One learner run. ``grader`` may come preloaded from a warm worker
    (drillpe.grading.warm), which forks a fresh process for every run."""
    device = device_or_exit(args.device)
    exercise = catalog.get(args.exercise)
    grader = grader if grader is not None else load_grader(args.exercise)
    learner_file = args.file.resolve()
    raw_stdout = separate_stdout(args.outdir)
    if args.deadline is not None:
        # If the code is still running near the deadline, say where (the judge
        # shows the learner's own lines of it); the parent kills us just after.
        stuck = open(args.outdir / "stuck.txt", "w")  # noqa: SIM115  (kept open for the dump)
        faulthandler.dump_traceback_later(max(0.05, args.deadline - time.time()), file=stuck)
    guards = Guards(learner_file, exercise.banned)
    guards.raw_stdout = raw_stdout
    watched = snapshot()
    modules_before = set(sys.modules)

    guards.armed = True
    try:
        mod = load_module(learner_file, LEARNER_MODULE)
    except BaseException as exc:  # the learner's import failed: report, do not crash
        kind = "syntax" if isinstance(exc, SyntaxError) else (
            "exit" if isinstance(exc, SystemExit) else "import")
        wire.save(args.outdir / "load.pt", {
            "status": kind, "error": wire.encode(learner_exception(exc, learner_file))})
        _save_runtime(args.outdir, guards, watched, modules_before)
        return 0
    wire.save(args.outdir / "load.pt", {"status": "ok", "api": describe_api(mod, exercise)})

    env = Env(mod=mod, device=device)
    for index, check in enumerate(grader.checks):
        if any(getattr(mod, name, None) is None for name in check.needs):
            continue
        records = []
        for case_index in range(len(check.cases)):
            x = case_inputs(check, case_index, args.seed, device)
            before = {k: v.clone() for k, v in x.items() if isinstance(v, torch.Tensor)}
            torch.manual_seed(args.seed)
            try:
                out = check.run(env, x, check.cases[case_index])
                record = {"out": wire.encode(out)}
                failed = False
            except BaseException as exc:  # learner code may raise anything, SystemExit too
                record = {"out": wire.encode(learner_exception(exc, learner_file))}
                failed = True
            record["mutated"] = changed_inputs(x, before)
            records.append(record)
            if failed:
                break
        wire.save(args.outdir / f"check-{index}.pt", records)
    _save_runtime(args.outdir, guards, watched, modules_before)
    return 0


def _save_runtime(outdir: Path, guards: Guards, watched: dict, modules_before: set) -> None:
    guards.armed = False
    imported = sorted(set(sys.modules) - modules_before)
    tampered = changed_since(watched)
    if guards.raw_stdout.stat().st_size:
        tampered.append("the real standard output (written around print)")
    wire.save(outdir / "runtime.pt", {
        "banned_calls": guards.banned_calls,
        "reference_access": guards.reference_access,
        "tampered": tampered,
        "imported": [m for m in imported if "." not in m],
    })


if __name__ == "__main__":
    leave_now(main())
