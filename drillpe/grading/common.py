"""Pieces both grading processes share: device choice, grader loading, inputs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from drillpe.data import bundle
from drillpe.grading.api import Grader, Rand, to_device
from drillpe.grading.loading import load_module
from drillpe.launch.contract import EXIT_DEVICE_UNAVAILABLE


class DeviceUnavailable(RuntimeError):
    pass


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}"
            raise DeviceUnavailable(
                f"CUDA is not available on this machine (torch {torch.__version__}, {build}). "
                "Use --device cpu, or --device auto to pick CUDA only when it is there."
            )
        return torch.device("cuda", torch.cuda.current_device())
    if name == "cpu":
        return torch.device("cpu")
    raise DeviceUnavailable(f"unknown device {name!r}: use cpu, cuda or auto")


def device_or_exit(name: str) -> torch.device:
    try:
        return resolve_device(name)
    except DeviceUnavailable as exc:
        print(str(exc), file=sys.stderr)
        raise SystemExit(EXIT_DEVICE_UNAVAILABLE) from None


def leave_now(code: int) -> None:
    """Flush and exit at once: threads the learner's code started must not keep
    the process (and the parent's timeout) waiting once every file is written."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)


def load_grader(exercise_id: str, path: Path | None = None) -> Grader:
    module = load_module(path or bundle.grader_path(exercise_id), f"drillpe_grader_{exercise_id}")
    grader = getattr(module, "GRADER", None)
    if not isinstance(grader, Grader):
        raise RuntimeError(f"graders/{exercise_id}.py defines no GRADER")
    return grader


def load_solution(exercise_id: str):
    """The model answer, solutions/ID.py (what `reveal` shows; what bench times)."""
    return load_module(bundle.solution_path(exercise_id), f"drillpe_solution_{exercise_id}")


def load_reference(exercise_id: str, path: Path | None = None):
    """What the judge compares with (graders receive it as ``ctx.ref``): the
    exercise's oracle, graders/oracles/ID.py, where it has one (float64
    building blocks and the switches that reproduce known mistakes, built on
    the model answer), else the model answer itself."""
    if path is None:
        path = bundle.oracle_path(exercise_id)
        if not path.is_file():
            path = bundle.solution_path(exercise_id)
    return load_module(path, f"drillpe_reference_{exercise_id}")


def case_inputs(check, index: int, seed: int, device: torch.device) -> dict:
    """The inputs of case ``index``: identical in the learner and the judge process."""
    rand = Rand(seed, check.id, index)
    return to_device(check.inputs(check.cases[index], rand), device)


def inputs_ahead(grader, seed: int, device: torch.device, store: dict, keep=None) -> None:
    """Build every case's inputs before they are needed, into ``store`` under
    (check id, case, seed, device), as ``keep(x)`` (default: x itself). Both grading
    processes do this (the judge while the learner runs; a warm worker before it
    forks); a key already there is left as it is, and a case whose inputs cannot be
    built is left out (it is built again where it is used, and what goes wrong is
    reported there)."""
    for check in grader.checks:
        for index in range(len(check.cases)):
            key = (check.id, index, seed, str(device))
            if key in store:
                continue
            try:
                x = case_inputs(check, index, seed, device)
                store[key] = x if keep is None else keep(x)
            except Exception:
                continue


def rows_of(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """table[index] for a reference's lookup, with an index past the table an
    IndexError on every device. Checked on the host: on CUDA the lookup itself would
    be a device-side assert, after which the judge's own use of the GPU ends."""
    rows = table.shape[0]
    if index.numel() and (int(index.min()) < -rows or int(index.max()) >= rows):
        bad = int(index.max()) if int(index.max()) >= rows else int(index.min())
        raise IndexError(f"index {bad} is out of range for a table of {rows} rows")
    return table[index]
