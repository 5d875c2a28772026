"""The timing processes of `drillpe bench` (bench_specs.py says what they time).

    python -m drillpe.grading.bench_child --role learner --exercise ID --file F ...
    python -m drillpe.grading.bench_child --role reference --exercise ID ...

``learner`` imports the learner's file (never a reference: an audit hook
refuses to open them, as in grading), times each target and traces one
call to find recognisable causes of slowness. ``reference`` times the
hidden model answer (solutions/ID.py) and then, one after the other in the
same process, a plain copy of the bytes a memory-bound call must move: the
practical roofline.
The parent runs the two processes one after the other, never side by side,
so they do not compete for the cores. Each writes one JSON file.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import os
import statistics
import sys
import time
import traceback
import weakref
from pathlib import Path
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from drillpe.data import bundle
from drillpe.grading import records
from drillpe.grading.bench_specs import Target, size_for, targets
from drillpe.grading.common import device_or_exit, load_solution
from drillpe.grading.loading import exception_lines, load_module
from drillpe.launch import contract

EXIT_NO_SPEC = contract.EXIT_NO_SPEC
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16,
          "float64": torch.float64}
MIN_RUNS, MAX_RUNS = 3, 100
# Calls that hand a value to Python: on a GPU each waits for all queued work.
SYNC_OPS = {"item", "tolist", "__bool__", "__int__", "__float__", "__index__", "numpy",
            "__array__", "__format__"}
TABLE_OPS = {"sin", "cos", "sin_", "cos_", "exp", "pow", "__pow__", "__rpow__", "float_power",
             "polar", "arange", "outer"}
NOT_WORK = {"__get__", "__set__"}  # attribute access (x.shape, x.device)


# --------------------------------------------------------------------------- timing


def _clock(device: torch.device):
    """One timed call: CUDA events on a GPU (the clock is read after the
    device has finished), perf_counter around the call on the CPU."""
    if device.type == "cuda":
        def once(fn) -> float:
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3
        return once

    def once(fn) -> float:
        started = time.perf_counter()
        fn()
        return time.perf_counter() - started
    return once


def measure(fn, device: torch.device, budget_s: float) -> dict[str, Any]:
    """Warm-up, then repeated runs filling about ``budget_s``: medians, not means."""
    once = _clock(device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    gc.collect()
    first = once(fn)  # lazy initialisation, allocator growth, caches
    warm = [first]
    if first < budget_s / 10:
        warm.append(once(fn))
    estimate = max(min(warm), 1e-7)
    runs = int(min(MAX_RUNS, max(MIN_RUNS, budget_s / estimate)))
    times = sorted(once(fn) for _ in range(runs))
    quartiles = statistics.quantiles(times, n=4) if len(times) >= 4 else [times[0], 0, times[-1]]
    return {"median_s": statistics.median(times), "min_s": times[0], "q1_s": quartiles[0],
            "q3_s": quartiles[2], "runs": runs, "warmup_runs": len(warm), "first_s": first}


# --------------------------------------------------------------------------- tracing


def _storage(t: torch.Tensor) -> int:
    """Where a tensor's elements live: a view (a reshape, a slice, ``.to`` to its
    own dtype) shares its input's storage and writes nothing."""
    try:
        return t.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError):
        return id(t)


class Tracer(TorchFunctionMode):
    """Counts the torch calls one learner call makes, and which of them never
    touch the data inputs (work that depends only on shapes: the angle table,
    rebuilt on every call unless it is cached)."""

    def __init__(self, data: list[torch.Tensor], device: torch.device, timed: bool):
        super().__init__()
        self.derived: dict[int, Any] = {}
        for t in data:
            self._mark(t)
        self.device = device
        self.timed = timed
        self.ops = 0
        self.const_ops = 0
        self.const_time = 0.0
        self.total_time = 0.0
        self.written = 0
        self.const_written = 0
        self.table_elements = 0
        self.syncs: dict[str, int] = {}
        self.transfers = 0
        self.const_names: dict[str, int] = {}

    def _mark(self, t: Any) -> None:
        if isinstance(t, torch.Tensor):

            self.derived[id(t)] = weakref.ref(t)

    def _is_derived(self, t: Any) -> bool:
        ref = self.derived.get(id(t)) if isinstance(t, torch.Tensor) else None
        return ref is not None and ref() is t

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", str(func))
        if name in NOT_WORK:
            return func(*args, **kwargs)
        flat_in, _ = tree_flatten((args, kwargs))
        tensors_in = [t for t in flat_in if isinstance(t, torch.Tensor)]
        uses_data = any(self._is_derived(t) for t in tensors_in)
        cuda = self.timed and self.device.type == "cuda"
        if cuda:
            torch.cuda.synchronize()
        started = time.perf_counter()
        result = func(*args, **kwargs)
        if cuda:
            torch.cuda.synchronize()
        spent = time.perf_counter() - started
        self.ops += 1
        self.total_time += spent
        if name in SYNC_OPS:
            self.syncs[name] = self.syncs.get(name, 0) + 1
        flat_out, _ = tree_flatten(result)
        tensors_out = [t for t in flat_out if isinstance(t, torch.Tensor)]
        in_place = name == "__setitem__" or (name.endswith("_") and not name.startswith("__")) \
            or name.startswith("__i")
        # Elements written, not seconds, decide what dominates a call: the count is
        # the same on a loaded machine as on an idle one.
        written = sum(t.numel() for t in tensors_out
                      if in_place or _storage(t) not in {_storage(i) for i in tensors_in})
        self.written += written
        if tensors_in and any(t.device != tensors_in[0].device for t in tensors_out):
            self.transfers += 1
        if uses_data:
            for t in tensors_out:
                self._mark(t)
            if in_place and args and isinstance(args[0], torch.Tensor):
                self._mark(args[0])
        elif name not in SYNC_OPS:
            self.const_ops += 1
            self.const_time += spent
            self.const_written += written
            self.const_names[name] = self.const_names.get(name, 0) + written
        if name in TABLE_OPS:
            self.table_elements += sum(t.numel() for t in tensors_out)
        return result

    def facts(self) -> dict[str, Any]:
        top = sorted(self.const_names.items(), key=lambda item: -item[1])[:5]
        return {"ops": self.ops, "const_ops": self.const_ops, "const_time_s": self.const_time,
                "traced_time_s": self.total_time, "written": self.written,
                "const_written": self.const_written, "syncs": self.syncs,
                "transfers": self.transfers, "table_elements": self.table_elements,
                "const_top": [name for name, _ in top]}


def trace_call(target: Target, mod, size: dict, device, dtype, seed: int, timed: bool) -> dict:
    x = target.inputs(size, device, dtype, torch.Generator().manual_seed(seed))
    fn = target.prepare(mod, x, size)
    fn()  # lazy set-up happens once, outside the trace
    tracer = Tracer([x[name] for name in target.data_inputs], device, timed)
    with tracer:
        fn()
    return tracer.facts()


def python_work(target: Target, mod, device, dtype, seed: int) -> dict[str, Any]:
    """Torch calls per learner call at the trace size and with each axis doubled:
    a count that grows with an axis is a Python loop over it."""
    base = dict(target.trace_size)
    out = {"base_size": base, "base_ops": trace_call(target, mod, base, device, dtype, seed,
                                                     False)["ops"], "axes": {}}
    for axis, meaning in target.axes.items():
        bigger = dict(base, **{axis: base[axis] * 2})
        ops = trace_call(target, mod, bigger, device, dtype, seed, False)["ops"]
        out["axes"][axis] = {"meaning": meaning, "size": bigger[axis], "ops": ops,
                             "base": base[axis]}
    return out


# --------------------------------------------------------------------------- roles


def _refuse_reference_reads() -> None:
    protected = (str(bundle.solutions_dir().resolve()), str(bundle.oracles_dir().resolve()))

    def audit(event: str, args: tuple) -> None:
        if event == "open" and isinstance(args[0], (str, os.PathLike)):
            if str(Path(args[0]).resolve()).startswith(protected):
                raise PermissionError("drillpe: learner code may not read the reference solutions")

    sys.addaudithook(audit)


def bench_learner(args, device, dtype) -> list[dict]:
    _refuse_reference_reads()
    learner_file = args.file.resolve()
    with contextlib.redirect_stdout(io.StringIO()):
        mod = load_module(learner_file, "drillpe_learner")
    results = []
    for target in targets(args.exercise):
        size = size_for(target, device.type, args.quick)
        entry: dict[str, Any] = {"name": target.name, "call": target.call, "size": size,
                                 "has_data_inputs": bool(target.data_inputs)}
        try:
            with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
                x = target.inputs(size, device, dtype, torch.Generator().manual_seed(args.seed))
                fn = target.prepare(mod, x, size)
                entry["timing"] = measure(fn, device, args.budget)
                entry["trace"] = trace_call(target, mod, size, device, dtype, args.seed, True)
                entry["python_work"] = python_work(target, mod, device, dtype, args.seed)
        except Exception as exc:  # the learner's code may raise anything at new sizes
            entry["error"] = "\n".join(exception_lines(exc, learner_file))
        results.append(entry)
    return results


def bench_reference(args, device, dtype) -> list[dict]:
    ref = load_solution(args.exercise)  # the model answer: what `reveal` shows
    results = []
    for target in targets(args.exercise):
        size = size_for(target, device.type, args.quick)
        entry: dict[str, Any] = {"name": target.name, "call": target.call, "size": size,
                                 "loop_advice": target.loop_advice}
        with torch.no_grad():
            x = target.inputs(size, device, dtype, torch.Generator().manual_seed(args.seed))
            fn = target.prepare(ref, x, size)
            entry["timing"] = measure(fn, device, args.budget)
            entry["trace"] = trace_call(target, ref, size, device, dtype, args.seed, True)
            if target.bytes_moved is not None:
                moved = target.bytes_moved(x, size)
                entry["bytes_moved"] = moved
                # A copy of half the bytes reads them once and writes them once:
                # the same traffic, the least any kernel could do with it. A clone,
                # not copy_ into a kept buffer: an out-of-place call allocates its
                # output too (on the CPU, fresh pages that must be faulted in).
                src = torch.empty(moved // 2, dtype=torch.uint8, device=device).random_()
                del x, fn
                entry["copy"] = measure(src.clone, device, args.budget)
        results.append(entry)
    return results


def _device_facts(device: torch.device) -> dict[str, Any]:
    facts = {"device": device.type, "torch": torch.__version__,
             "threads": torch.get_num_threads()}
    if device.type == "cuda":
        facts["device_name"] = torch.cuda.get_device_name(device)
    return facts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="drillpe.grading.bench_child")
    parser.add_argument("--role", choices=("learner", "reference"), required=True)
    parser.add_argument("--exercise", required=True)
    parser.add_argument("--file", type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=float, default=2.0)
    parser.add_argument("--quick", action="store_true")
    out = parser.add_mutually_exclusive_group(required=True)
    out.add_argument("--out", type=Path, help="where the reference's side writes its JSON")
    out.add_argument("--out-fd", type=int, help="the fd the learner's side writes its JSON to")
    args = parser.parse_args(argv)

    device = device_or_exit(args.device)
    try:
        targets(args.exercise)
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return EXIT_NO_SPEC
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    run = bench_learner if args.role == "learner" else bench_reference
    try:
        results = run(args, device, DTYPES[args.dtype])
    except Exception:
        # An import failure of a file that just passed grading, or a bug here:
        # the parent shows this text.
        traceback.print_exc()
        return 1
    payload = {"role": args.role, **_device_facts(device), "dtype": args.dtype,
               "targets": results}
    text = json.dumps(payload, indent=1, default=str)
    if args.out_fd is not None:
        records.write_all(args.out_fd, text.encode())
    else:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    from drillpe.launch import lifeline

    lifeline.tie()
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # threads the learner left running must not hold the process
