"""The timing processes of `drillpe bench` (bench_specs.py says what they time).

    python -m drillpe.grading.bench_child --role learner --exercise ID --file F ...
    python -m drillpe.grading.bench_child --role reference --exercise ID --verify SAMPLES ...

``learner`` imports the learner's file (never a reference: an audit hook
refuses to open them, as in grading), times each target in phases and
traces one call to find recognisable causes of slowness. Every timed call
gets inputs of its own, with values no earlier call saw; after each phase
one call, drawn in secret, has its output fingerprinted (and its type and
memory checked), from a copy taken between marks of its own (read_outputs). ``reference`` checks those fingerprints against the model
answer (solutions/ID.py, float64) on the same inputs, then times the
production implementation in the learner's dtype (graders/fast/ID.py; the
model answer where an exercise has none), optionally through torch.compile,
and a plain copy of the bytes a memory-bound call must move: the practical
roofline.

Both mark every phase on ``--clock-fd``; the parent timestamps the marks
with its own clock, so the time of a phase is not taken only inside the
process that ran the learner's code. The parent runs the two processes one
after the other, never side by side, so they do not compete for the cores.
Each writes one JSON document.
"""

from __future__ import annotations

import _thread
import argparse
import binascii
import contextlib
import dataclasses
import gc
import importlib._bootstrap
import inspect
import io
import json
import linecache
import math
import os
import random
import re
import resource
import subprocess
import sys
import sysconfig
import time
import traceback
import warnings
import weakref
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from drillpe.data import bundle
from drillpe.grading import bench_specs, records, seal
from drillpe.grading.bench_specs import Target, nbytes, size_for, targets
from drillpe.grading.common import device_or_exit, load_solution
from drillpe.grading.loading import exception_lines, load_module
from drillpe.grading.reach import Reach, plain_enum_names, torch_names_only
from drillpe.grading.static import class_field_names
from drillpe.launch import contract

EXIT_NO_SPEC = contract.EXIT_NO_SPEC
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16,
          "float64": torch.float64}
# Calls that hand a value to Python: on a GPU each waits for all queued work.
SYNC_OPS = {"item", "tolist", "__bool__", "__int__", "__float__", "__index__", "numpy",
            "__array__", "__format__"}
TABLE_OPS = {"sin", "cos", "sin_", "cos_", "exp", "pow", "__pow__", "__rpow__", "float_power",
             "polar", "arange", "outer"}
NOT_WORK = {"__get__", "__set__"}  # attribute access (x.shape, x.device)
# tensors made from Python values (Tracer.from_python)
FROM_PYTHON = {"tensor", "as_tensor", "asarray"}


# --------------------------------------------------------------------------- timing

# Captured when this module is imported, before any learner code runs: what
# the clocks were, to tell whether the learner's code replaced them, and the
# bench's own write to the parent.
WATCHED_CLOCKS = ("perf_counter", "perf_counter_ns", "monotonic", "monotonic_ns", "time",
                  "time_ns", "process_time", "process_time_ns")
_ORIGINAL_CLOCKS = {name: getattr(time, name) for name in WATCHED_CLOCKS}
_write = os.write
_clock_ns = time.perf_counter_ns
# How many times this thread has given up its core (waiting for the GIL, for I/O): a
# stall after the end mark is a wait, where a loaded machine only takes the core away
_RUSAGE = getattr(resource, "getrusage", None)
_THIS_THREAD = getattr(resource, "RUSAGE_THREAD", None)


# getrusage's fields by index, through tuple's own item access: its result's class
# (resource.struct_rusage) can be given properties, and a reviewer's ru_nvcsw ran its
# code after the end mark and said the thread never waited
_FIELD = tuple.__getitem__
_UTIME, _STIME, _NVCSW = 0, 1, 14


def _waits() -> int | None:
    if _RUSAGE is None or _THIS_THREAD is None:
        return None
    return _FIELD(_RUSAGE(_THIS_THREAD), _NVCSW)


_THREAD_CPU_NS = time.thread_time_ns
_GET_THREADS, _SET_THREADS = torch.get_num_threads, torch.set_num_threads
THREADS: list[int] = []  # torch's thread count as main set it, before any learner code
_WHOLE_PROCESS = getattr(resource, "RUSAGE_SELF", None)


def _usage() -> tuple[int | None, int]:
    """(The times this thread has given up its core, as _waits; the CPU time of this
    process's other threads so far, in ns), from one reading of each.

    From a phase's end mark to the next phase's begin mark no thread but this one should
    work: the main thread waits on a lock, torch's thread pools are idle
    (OMP_WAIT_POLICY=PASSIVE: no spinning after a parallel region), and a Python thread
    of the learner's is refused at every check. Reviewers' code left the calls' work
    running on torch's inter-op pool and stalled the timing code until it finished, with
    the GIL or with the scheduler (SCHED_IDLE on the timing thread). From getrusage,
    both: in the sandbox the process's CPU clock lags the thread's by up to a scheduler
    tick (±2.7 ms measured over a 3 ms window where no other thread ran)."""
    if _RUSAGE is None or _THIS_THREAD is None or _WHOLE_PROCESS is None:
        return None, 0
    whole, mine = _RUSAGE(_WHOLE_PROCESS), _RUSAGE(_THIS_THREAD)
    return _FIELD(mine, _NVCSW), int((_FIELD(whole, _UTIME) + _FIELD(whole, _STIME)
                                      - _FIELD(mine, _UTIME) - _FIELD(mine, _STIME)) * 1e9)


def _others_ns() -> int:
    return _usage()[1]



class _Window:
    """A window of the timing thread's (a refill): what it took, in seconds, on clocks
    bound before the learner's file loaded. Where the thread never waited there, its
    CPU time: a loaded machine that takes the core away does not count (an honest
    refill took 12 ms against the copy's 0.3 ms so, beside two busy processes), and
    work done there by code of the learner's, in this thread, does. Where it waited
    (the GIL, I/O: work elsewhere may have gone on), the time on the wall."""

    __slots__ = ("wall", "cpu", "waits")

    def __init__(self) -> None:
        self.waits, self.cpu, self.wall = _waits(), _THREAD_CPU_NS(), _clock_ns()

    def taken(self) -> float:
        wall, cpu, waits = _clock_ns() - self.wall, _THREAD_CPU_NS() - self.cpu, _waits()
        if waits is None or self.waits is None or waits != self.waits:
            return wall / 1e9
        return min(wall, cpu) / 1e9

# Every timed call gets inputs of its own ("slots"), and the values change
# between phases, so a result remembered from an earlier call (keyed on the
# input's id or data_ptr) is stale and the output check finds it. The slots
# of one phase must fit in memory beside the outputs.
POOL_BYTES = {"cpu": 256 * 1024**2, "cuda": 4 * 1024**3}
MAX_SLOTS = 64
MIN_PHASES, MAX_PHASES = 5, 60
# A phase is timed as a whole by the parent (two pipe writes around it), so it
# must be long against the pipe's latency (tens of µs, ~1 ms on a busy machine).
MIN_PHASE_S = 0.01
# A first phase whose calls ran this many times faster than the warm-up's second call
# sets the calls of the phases after it (Run.settle)
WARMUP_SLACK = 4
MAX_CALLS_PER_PHASE = 10_000
SAMPLE_POINTS = 64  # output values compared with the reference per checked call
SCALES = (0.75, 2.0)  # each slot's values: the base inputs times a fresh factor in this range,
# rolled by a fresh shift over their flat storage: a multiple of an input seen before has
# an output that is the same multiple of that input's (the rotations are linear), and a
# reviewer's cache returned it scaled; a rolled input's output is no cheap function of it
MAX_SHIFT = 2**40
# Each input and weight of a slot is rolled by a shift of its own, mixed from the slot's
# (part_shift): a reviewer's relative read the shift off three values of x, and since x
# and the projections' weights were rolled alike their channels lined up, so each
# projection was one of 257 planes kept from the first call, the GEMMs skipped
WEIGHT_PARTS = 1 << 16  # a weight is part WEIGHT_PARTS + its key (_weight_parts_since)
# A slot's positions come in one of these kinds (the slot's index picks it, and its
# shift says it: position_kind; _draw_kind draws them): each every phase, since a
# reviewer's file fast on one kind alone and slow on the rest read as fast as
# production for code 8-25x slower on real inputs, whichever kinds the bench left out
# (with only a moved pattern: loops for ids in order, or for any real grid; with the
# moved pattern near i + offset: a loop for packed or padded ids; without shuffled
# grids, a loop for them; with at most four packed documents, one square grid and one
# image at a time, loops for more documents, other shapes and packed images). Within a
# kind the draws range wide (_draw_kind): code slow on a pattern drawn in a share of
# the calls is timed slower by that share of its slowdown.
POSITION_KINDS = 5
_MASK64 = (1 << 64) - 1


def dtype_name(dtype: torch.dtype) -> str:
    """"bfloat16" for torch.bfloat16: how TOLERANCE, DTYPES and the reports name it."""
    return str(dtype).split(".")[-1]


def part_shift(shift: int, part: int) -> int:
    """The shift of one tensor of a slot drawn with ``shift``: splitmix64 of the two,
    so that one tensor's roll says nothing of another's (both processes compute it)."""
    z = (shift + (part + 1) * 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (z ^ (z >> 31)) % MAX_SHIFT


def replaced_clocks() -> list[str]:
    """The clocks in ``time`` that no longer are the ones the interpreter started with."""
    return [name for name in WATCHED_CLOCKS if getattr(time, name) is not _ORIGINAL_CLOCKS[name]]


# A phase's marks: R, the refill of its inputs, S; B, its calls, E; where its output
# is checked, then C, the read of the checked outputs (drillpe's copy of them), D; and
# F, the same read of that copy, G. Before the learner's file loads, K and L around
# each of contract.GUARD_TIMINGS runs of the learner's side's guard.
CLOSES = {b"K": b"L", b"R": b"S", b"B": b"E", b"C": b"D", b"F": b"G"}


class Marks:
    """Writes the start and end of every timed phase to the parent, which
    timestamps them with its own clock (processes.ClockSink). The reference's side;
    the learner's marks are signed (sealed_marks)."""

    def __init__(self, fd: int | None):
        self.fd = fd
        self.count = 0
        self.open: bytes | None = None

    def __call__(self, byte: bytes) -> None:
        if self.fd is not None:
            _write(self.fd, byte)
        self.count += 1
        self.open = CLOSES.get(byte)

    def close(self) -> None:
        """End the window an error broke (a phase's calls, a read), so that the next
        target's marks pair up."""
        if self.open is not None:
            self(self.open)


def sealed_marks(fd: int | None, sign) -> Marks:
    """The learner's side's marks, each signed by ``sign(kind, index)``
    (contract.signing). Made before the learner's file loads, of a class made here
    that no module names, and running only what is bound here: the end mark is
    written right after the learner's calls, before anything is compared, and a
    reviewer's replaced ``Marks.__call__`` (or the tag function it looked up) was
    handed the marks' key there."""
    write, closes = _write, dict(CLOSES)

    class SealedMarks:
        __slots__ = ("count", "open")

        def __init__(self) -> None:
            self.count, self.open = 0, None

        def __call__(self, byte: bytes) -> None:
            if fd is not None:
                write(fd, byte + sign(byte, self.count))
            self.count += 1
            self.open = closes.get(byte)

        def close(self) -> None:
            if self.open is not None:
                self(self.open)

    return SealedMarks()  # type: ignore[return-value]


def _floating(t: Any) -> bool:
    return isinstance(t, torch.Tensor) and t.is_floating_point()


def _integral(t: Any) -> bool:
    return isinstance(t, torch.Tensor) and not t.is_floating_point() and not t.is_complex() \
        and t.dtype is not torch.bool


def position_kind(shift: int) -> int:
    """Which kind of positions (POSITION_KINDS) a slot drawn with ``shift`` gets."""
    return shift % POSITION_KINDS


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _image(height: int, width: int) -> list[torch.Tensor]:
    """The rows and cols of a whole height x width grid, in row-major order, from 0."""
    cells = torch.arange(height * width)
    return [cells // width, cells % width]


def _below(gen: torch.Generator, high: int) -> int:
    return int(torch.randint(0, max(high, 1), (), generator=gen))


def _packed_images(n: int, side: int, gen: torch.Generator) -> list[torch.Tensor]:
    """Rows and cols of whole grids one after the other, each from (0, 0), of sides
    drawn up to three quarters of ``side`` (so at least two), the last one cut where
    the ``n`` cells end: several images packed into one sequence (NaViT, Pixtral)."""
    parts, made = [], 0
    top = max(1, side * 3 // 4)
    while made < n:
        height, width = _below(gen, top) + 1, _below(gen, top) + 1
        rows, cols = _image(height, width)
        keep = min(n - made, height * width)
        parts.append((rows[:keep], cols[:keep]))
        made += keep
    return [torch.cat([part[0] for part in parts]), torch.cat([part[1] for part in parts])]


def _packed_ids(n: int, gen: torch.Generator, limit: int, from_start: int) -> torch.Tensor:
    """Runs that each count up (a packed batch of documents), as many as one in four
    ids at most, their number drawn evenly on a log scale: a few long prompts as often
    as many short samples. Each from 0, or (``from_start``) each from a start of its
    own below ``limit``: the requests of a continuous batch, each from its cached length
    (vLLM's, SGLang's), or a context-parallel shard's chunks."""
    most = max(2, n // 4)
    scale = float(torch.rand((), generator=gen))
    wanted = min(most, round(2 ** (1 + scale * (most.bit_length() - 2))))
    cuts = torch.sort(torch.randperm(n - 1, generator=gen)[:wanted - 1] + 1).values
    runs = [run - run[0] for run in torch.tensor_split(torch.arange(n), cuts)]
    if from_start:
        runs = [run + _below(gen, limit - len(run) + 1) for run in runs]
    return torch.cat(runs)


def _tile_order(height: int, width: int, gen: torch.Generator) -> torch.Tensor | None:
    """The cells of a height x width grid (row-major indices) in the order of its t x t
    tiles, t 2 or 4, row-major within each tile and from tile to tile (Qwen2-VL's
    vision tower merges 2 x 2 patches so); None where no such tile divides the grid
    into more than one column of tiles (one column is row-major order itself)."""
    tiles = [t for t in (2, 4) if height % t == 0 and width % t == 0 and width > t]
    if not tiles:
        return None
    t = tiles[_below(gen, len(tiles))]
    cells = torch.arange(height * width).reshape(height // t, t, width // t, t)
    return cells.permute(0, 2, 1, 3).reshape(-1)


def _left_padded(ids: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A prompt from 0 after a run of padding (1s, as HF's generate fills them, or 0s)
    of up to half the ids."""
    n = ids.numel()
    pad = _below(gen, n // 2) + 1
    out = ids.reshape(-1).clone()
    out[:pad] = _below(gen, 2)
    out[pad:] = torch.arange(n - pad, device=ids.device)
    return out.reshape(ids.shape)


def _draw_kind(kind: int, bases: list, shift: int, limit: int, grid: bool) -> list:
    """New position tensors of one kind from the base ones (all of one length; rows and
    cols where ``grid``), all below ``limit`` (the reference's process draws the same):

    0. any ids: each drawn below the limit on its own;
    1. in order from 0: a prompt's prefill, left-padded in one draw in two (by the
       shift's third bit above the kind: _left_padded); a whole grid, square as the
       base's or (by the first bit) of another shape with as many cells, 8 x 32 for 256;
    2. in order from a start drawn for each tensor: a window deep in a cache, a crop;
    3. kind 1 (unpadded) or 2, by the second bit, in an order drawn for all of them
       alike: a shuffled prompt, a grid in a random order, or (by the third bit) a grid
       in the order of its 2 x 2 or 4 x 4 tiles (_tile_order);
    4. runs that each count up, from two to one in four ids, each from 0 or (by the
       second bit) each from a start of its own (_packed_ids: a packed batch of
       documents, a continuous batch of requests); where ``grid``, by the first bit: n cells drawn from a
       square grid four times the base's, in a random order, from a drawn start (MAE's
       kept patches), or several whole grids one after the other, each from (0, 0)
       (_packed_images).

    What stayed the same from phase to phase was kept: a reviewer's table kept per
    shape, turned by the first position, read "1.21x faster" though wrong for other
    patterns; a table kept per sorted pattern read "same" for code 15x slower; with the
    positions in one window, tables for it alone read "1.3x faster" for code 20x
    slower elsewhere. What never came was left slow: with at most four restarts, a
    loop for more read "same" for code 12-15x slower on packed batches; with one
    square grid and one image, loops for other shapes and for packed images read
    "1.17x slower" and "same" for code 14-18x slower there; with runs only from 0 and
    grids only row-major or shuffled, loops for runs from their own starts and for
    Qwen2-VL's 2 x 2 order read "same" for code 7-16x slower there."""
    gen = torch.Generator().manual_seed(shift)
    n, device = bases[0].numel(), bases[0].device
    if n == 0:
        return [t.clone() for t in bases]
    bits = shift // POSITION_KINDS
    other_shape, from_start, padded = bits % 2, (bits // 2) % 2, (bits // 4) % 2

    def start(t: torch.Tensor) -> int:
        return _below(gen, limit - (int(t.max()) - int(t.min())))

    side = int(bases[1].max()) - int(bases[1].min()) + 1 if grid else 0  # its cols' span

    def whole() -> list:
        if not grid:
            return [t - t.min() for t in bases]
        widths = [d for d in _divisors(n) if d != side] if other_shape else []
        width = widths[_below(gen, len(widths))] if widths else side
        return _image(n // width, width)

    if kind == 0:
        found = [torch.randint(0, limit, tuple(t.shape), generator=gen) for t in bases]
    elif kind == 1:
        found = [_left_padded(t, gen) if padded and not grid else t for t in whole()]
    elif kind == 2:
        found = [t + start(t) for t in whole()]
    elif kind == 3:
        # from 0 or from a start by the shift's bit, not the generator's: python_work
        # traces both (a loop for shuffled ids from 0 alone went unnamed)
        cells = whole()
        order = _tile_order(int(cells[0].max()) + 1, int(cells[1].max()) + 1, gen) \
            if grid and padded else None
        if order is None:
            order = torch.randperm(n, generator=gen)
        found = [(t + (start(t) if from_start else 0)).reshape(-1)[order.to(t.device)]
                 for t in cells]
    elif grid and other_shape:
        found = _packed_images(n, side, gen)
    elif grid:
        sides = [2 * (int(t.max()) - int(t.min()) + 1) for t in bases]  # rows, cols
        cells = torch.randperm(sides[0] * sides[1], generator=gen)[:n]
        found = [cells // sides[1], cells % sides[1]]
        found = [f + _below(gen, limit - side + 1) for f, side in zip(found, sides, strict=True)]
    else:  # one tensor of ids
        found = [_packed_ids(n, gen, limit, from_start) for _ in bases]
    return [f.to(device=device, dtype=t.dtype).reshape(t.shape)
            for f, t in zip(found, bases, strict=True)]


def draw_positions(target: Target, base: dict, shift: int) -> dict:
    """A slot's new position tensors, name -> tensor, from the base ones and the slot's
    ``shift``: of the kind position_kind says (_draw_kind), and, where the target takes
    positions as a batch of rows, one row of them ((1, L)) in every other draw."""
    names = [name for name in target.positions if _integral(base.get(name))]
    if not names:
        return {}
    grid = len(names) == 2  # two tensors of positions: a grid's rows and cols
    found = _draw_kind(position_kind(shift), [base[name] for name in names], shift,
                       target.position_limit, grid)
    if target.position_rows and (shift // POSITION_KINDS) % 2:
        found = [t.reshape(1, -1) if t.dim() == 1 else t for t in found]
    return dict(zip(names, found, strict=True))


def fill(out: torch.Tensor, base: torch.Tensor, factor: float, shift: int) -> torch.Tensor:
    """``out`` = ``base`` rolled by ``shift`` over its flat storage, times
    ``factor``, in one pass (the reference's process builds the same values)."""
    flat_in, flat_out = base.reshape(-1), out.view(-1)
    n = flat_in.numel()
    cut = shift % n if n else 0
    torch.mul(flat_in[cut:], factor, out=flat_out[:n - cut])
    torch.mul(flat_in[:cut], factor, out=flat_out[n - cut:])
    return out


class Slots:
    """Inputs for the timed calls: one base set drawn from the seed, and per
    slot a buffer refilled before every phase with the base rolled by a fresh
    shift and times a fresh factor (``fill``: the reference's process rebuilds
    exactly the same values from the two)."""

    def __init__(self, target: Target, mod, size: dict, device, dtype, seed: int,
                 count: int | None = None):
        self.target, self.mod, self.size = target, mod, size
        self.base = target.inputs(size, device, dtype, torch.Generator().manual_seed(seed))
        self.data = [n for n in target.data_inputs if _floating(self.base.get(n))]
        self.parts = [target.data_inputs.index(n) for n in self.data]  # part_shift's
        self.positions = [n for n in target.positions if _integral(self.base.get(n))]
        self.inputs, self.fns, self.weights = [], [], []
        self.factors, self.shifts, self.layouts = [], [], []
        self._add()
        # A module's seeded weights are refilled like inputs (seed_parameters): with the
        # same weights every call, a reviewer's T5 bias kept its first output and
        # handed back copies of it, "the same" as production for code 7x slower.
        self.varied = bool(self.data or self.weights[0] or self.positions)
        if count is None:
            set_bytes = sum(nbytes(self.base[n]) for n in self._moving()) + \
                sum(nbytes(base) for _, base, _ in self.weights[0])
            room = _pool_bytes(device) // max(set_bytes, 1)
            least = POSITION_KINDS if self.positions else 2
            count = max(least, min(MAX_SLOTS, room)) if self.varied else 1
        while len(self.inputs) < count:
            self._add()

    def _add(self) -> None:
        """One more slot: its inputs, filled with the base values, and its call (with
        the weights of the modules it builds, and copies of them to refill from)."""
        x = dict(self.base)
        for name in self.data:
            x[name] = fill(torch.empty_like(self.base[name]), self.base[name], 1.0, 0)
        for name in self.positions:  # each slot's own: refresh draws new ones
            x[name] = self.base[name].clone()
        seeded = len(bench_specs.SEEDED.made)
        self.fns.append(self.target.prepare(self.mod, x, self.size))
        weights = [(param, param.detach().clone(), part) for param, part in
                   zip(_seeded_since(seeded), _weight_parts_since(seeded), strict=True)]
        self.inputs.append(x)
        self.weights.append(weights)
        self.factors.append(1.0)
        self.shifts.append(0)
        self.layouts.append({**{name: _layout(x[name]) for name in self._moving()},
                             **{n: _layout(param) for n, (param, _, _) in enumerate(weights)}})

    def check(self, index: int) -> None:
        """Raise Tampered where a slot's input is no longer the plain tensor it was made,
        in the memory and shape it was made with. A reviewer's code shrank an input
        (``resize_``, the storage kept): the refill's write into it then raised a
        warning, whose printing ran the learner's code with the new values in place,
        where no clock ran ("same" as production for code 15x slower)."""
        x = self.inputs[index]
        for name in self._moving():
            plain_tensor(x[name], f"the input {name}")
            if _layout(x[name]) != self.layouts[index][name]:
                raise Tampered(f"the input {name} was resized, moved or given other strides")
        for n, (param, _, _) in enumerate(self.weights[index]):
            plain_tensor(param, "a weight")
            if _layout(param) != self.layouts[index][n]:
                raise Tampered("a weight was resized, moved or given other strides")

    def refresh(self, rng: random.Random | None) -> None:
        for i in range(len(self.inputs)):  # the learner's calls get these: fill must not
            self.check(i)  # run its code
        for i, x in enumerate(self.inputs):
            self.factors[i] = 1.0 if rng is None else draw_between(rng, *SCALES)
            self.shifts[i] = 0 if rng is None else draw_below(rng, MAX_SHIFT)
            if self.positions:  # the slot's index picks its kind of positions
                self.shifts[i] += (i - self.shifts[i]) % POSITION_KINDS
                self.shifts[i] -= POSITION_KINDS if self.shifts[i] >= MAX_SHIFT else 0
            factor, shift = self.factors[i], self.shifts[i]
            for name, part in zip(self.data, self.parts):
                fill(x[name], self.base[name], factor, part_shift(shift, part))
            for name, moved in draw_positions(self.target, self.base, shift).items():
                x[name] = moved  # new tensors: see Target.positions
                self.layouts[i][name] = _layout(x[name])
            for param, base, part in self.weights[i]:
                fill(param, base, factor, part_shift(shift, part))

    def keep(self, count: int) -> None:
        """Use only the first ``count`` slots (the rest free their memory)."""
        if self.varied:
            del self.inputs[count:], self.fns[count:], self.factors[count:], self.shifts[count:]
            del self.layouts[count:], self.weights[count:]

    def refill_bytes(self) -> int:
        """What a refill writes, over all slots (inputs and weights)."""
        if not self.varied:
            return 0
        return sum(nbytes(x[name]) for x in self.inputs for name in self._moving()) + \
            sum(nbytes(param) for weights in self.weights for param, _, _ in weights)

    def _moving(self) -> list[str]:
        """The inputs each refill writes: the data inputs, then the positions."""
        return self.data + self.positions

    def every_storage(self) -> set[int]:
        """The memory of every slot's refilled inputs and weights: a timed call's output
        may live in none of it. A reviewer's rope_2d wrote each output into the previous
        call's input, which another slot holds ("1.73x faster", and the caller's tensor
        destroyed)."""
        return {_storage(t) for x, weights in zip(self.inputs, self.weights, strict=True)
                for t in [*(x[name] for name in self._moving()),
                          *(param for param, _, _ in weights)]}


def _seeded_since(count: int) -> list:
    """The parameters of the modules seed_parameters seeded after its first ``count``."""
    return [param for made in bench_specs.SEEDED.made[count:] for param in made]


def _weight_parts_since(count: int) -> list[int]:
    """part_shift's part for each of _seeded_since(count): from the key seed_parameters
    seeded it by (its shape, or its name), never its place in the module, which the
    learner's module and the production code's may register in other orders (a
    reviewer's relative with its tables registered first was refused as stale)."""
    return [WEIGHT_PARTS + key for keys in bench_specs.SEEDED.keys[count:] for key in keys]


def _layout(t: torch.Tensor) -> tuple:
    """Where and how a tensor lays its elements out."""
    return (tuple(t.shape), t.stride(), t.storage_offset(), t.dtype, t.device, t.data_ptr(),
            t.untyped_storage().nbytes())


def rebuild(target: Target, size: dict, device, dtype, seed: int, factor: float,
            shift: int) -> dict:
    """The inputs of a timed call, from the seed and its slot's factor and shift."""
    x = target.inputs(size, device, dtype, torch.Generator().manual_seed(seed))
    for part, name in enumerate(target.data_inputs):
        if _floating(x.get(name)):
            x[name] = fill(torch.empty_like(x[name]), x[name], factor, part_shift(shift, part))
    x.update(draw_positions(target, x, shift))
    return x


def refill_weights(seeded: int, factor: float, shift: int) -> list:
    """The weights of the modules seeded after the first ``seeded`` as a timed call drawn
    as (``factor``, ``shift``) had them; returns them."""
    params = _seeded_since(seeded)
    for param, part in zip(params, _weight_parts_since(seeded), strict=True):
        fill(param, param.detach().clone(), factor, part_shift(shift, part))
    return params


# The generator's own C methods, bound before the learner's file loads: random.Random's
# randrange and uniform look up the random module's globals on every call, and a
# reviewer's code replaced random._index, which ran between the end mark and the output
# check (it wrote the real outputs there: "the same" as production for code 16x slower).
_GETRANDBITS, _RANDOM = random.Random.getrandbits, random.Random.random


def draw_below(rng: random.Random, n: int) -> int:
    """A uniform draw from range(n), with ``rng``'s C methods and built-ins only."""
    if n <= 1:
        return 0
    bits = n.bit_length()
    value = _GETRANDBITS(rng, bits)
    while value >= n:
        value = _GETRANDBITS(rng, bits)
    return value


def draw_between(rng: random.Random, low: float, high: float) -> float:
    return low + (high - low) * _RANDOM(rng)


# torch.cuda.synchronize enters torch.cuda.device, a Python class whose __enter__ the
# learner's code could replace (a reviewer's did, through a function's argument, and
# computed the next phase's outputs in the sync after each refill): the C function,
# bound here, on the current device, which the guard checks is still the bench's.
_CUDA_SYNC = getattr(torch._C, "_cuda_synchronize", None)
_CUDA_DEVICE = getattr(torch._C, "_cuda_getDevice", None)
_CUDA_AT: list = []  # the current CUDA device when the learner's file was loaded


def _no_sync() -> None:
    return None


def _sync(device: torch.device):
    # Work queued on a GPU is waited for before the phase ends: the end mark
    # is written when the device is done (every stream: synchronize waits for all).
    if device.type == "cuda":
        return _CUDA_SYNC if _CUDA_SYNC is not None else torch.cuda.synchronize
    return _no_sync


class Run:
    """One thing timed in phases: its slots, how many calls a phase makes,
    the phases so far, and what receives the checked output of each."""

    def __init__(self, name: str, slots: Slots, device, budget_s: float, on_checked=None):
        self.name, self.slots, self.on_checked = name, slots, on_checked
        sync = _sync(device)
        self.warm = []
        outs = []
        for fn in slots.fns[:2]:  # lazy set-up, allocator growth, caches; not timed
            sync()
            started = _clock_ns()
            outs.append(fn())
            sync()
            self.warm.append((_clock_ns() - started) / 1e9)
        self.estimate = max(self.warm[-1], 1e-7)
        self.phase_s = max(MIN_PHASE_S, budget_s / 10)
        calls = max(1, round(self.phase_s / self.estimate))
        # a phase keeps all its outputs (run_phases): as many as fit beside the inputs
        made = _new_bytes(outs[-1], [*outs[:-1], *slots.inputs])
        self.fit = max(1, _pool_bytes(device) // made) if made else None
        del outs
        self.settled = False
        self._size(min(calls, self.fit or calls))
        self.phases: list[dict[str, Any]] = []

    def _size(self, calls: int) -> None:
        if self.slots.varied:  # positions: a call of each kind in every phase, however slow
            least = POSITION_KINDS if self.slots.positions else 1
            self.calls = min(max(calls, least), len(self.slots.fns))
            self.order = self.slots.fns[:self.calls]
        else:  # nothing to refresh (a table built from shapes): one prepared call, repeated
            self.calls = min(calls, MAX_CALLS_PER_PHASE)
            self.order = [self.slots.fns[0]] * self.calls

    def settle(self, calls_ns: int) -> None:
        """After the first phase (its calls took ``calls_ns``), the calls a phase makes
        for good: more where the calls ran over WARMUP_SLACK times faster than the
        warm-up said, and the slots past them let go. A reviewer's calls slept in the
        warm-up, so that a phase was one call, and each phase's untimed windows were
        that call's alone to use."""
        if self.settled:
            return
        self.settled = True
        per_call = max(calls_ns / 1e9 / self.calls, 1e-7)
        if per_call * WARMUP_SLACK < self.estimate:
            calls = max(self.calls, round(self.phase_s / per_call))
            self._size(min(calls, self.fit or calls))
        if self.slots.varied:
            self.slots.keep(self.calls)
            self.order = self.slots.fns

    def result(self) -> dict[str, Any]:
        return {"phases": self.phases, "calls_per_phase": self.calls,
                "slots": len(self.slots.fns), "warmup_s": self.warm,
                "refill_bytes": self.slots.refill_bytes()}


# The collector's switches, bound here: the gc module's names are the learner's to
# replace (a no-op disable would leave collections running after the end mark).
_GC_ENABLE, _GC_DISABLE, _GC_ISENABLED, _GC_COLLECT = gc.enable, gc.disable, gc.isenabled, gc.collect


def run_phases(runs: list[Run], device: torch.device, budget_s: float, marks: Marks,
               rng: random.Random, guard=None) -> list[str]:
    """Time the runs in phases, taking turns (one phase of each in a round),
    so that a machine that gets busier or quieter affects them alike: the
    copy that is the roofline is measured beside the code it bounds. A phase
    is a run of calls back to back, each on a slot with fresh values. The
    parent times every phase from the marks; this process times it too, with
    ``time.perf_counter`` looked up at that moment (the clock a learner's
    patch would replace): the parent compares the two. After each phase, the
    run's ``on_checked(phase, slot, output, another, reading)`` receives the output
    of one call drawn after the phase, for the output check, another call's, and
    drillpe's copy of the two (``read_outputs``, between marks of its own).
    Every output of a phase is kept until then: a reviewer's code saw which
    one the bench held (the tensor's use count), computed only that one and
    returned empty memory for the rest. ``guard()``, where given, runs before each
    refill and right after each end mark (the learner's side: check_timing_state). Returns
    the run names in the order their phases were marked."""
    sync = _sync(device)
    _GC_COLLECT()
    # The collector runs only while a phase's calls run, where what it does is timed.
    # Reviewers' code left a generator in a reference cycle, whose `finally` the
    # collector runs, and aimed the collection where the clock did not run: at the
    # bench's own allocations after the end mark (it wrote the real outputs there),
    # then at the refill of the next phase's inputs (it computed their outputs there,
    # and the timed calls handed back copies): "the same" as production for code 10x
    # and 16x slower. It is switched on after the begin mark is written, off before
    # the end mark.
    collecting = _GC_ISENABLED()
    _GC_DISABLE()
    order: list[str] = []
    # [other threads' CPU at the last end mark, the phase that ended there]
    stretch: list = [None, None]
    # drillpe's own work between the calls (checks, reads, refills) runs on this thread
    # alone, so that the CPU other threads take there is none of drillpe's; the calls,
    # on the threads set before the learner's file loaded
    threads = THREADS[0] if THREADS else _GET_THREADS()
    # Each run's last phase's outputs, let go of inside that run's next refill's marks:
    # a finaliser of the learner's (weakref.finalize on an output, which no attribute
    # check sees) ran where they were let go of, on no clock, and now runs on the
    # parent's clock, before the new values exist, in a window compared with the
    # copy's (bench.refill_work)
    released: dict[str, list] = {}
    began = _clock_ns()
    try:
        while len(order) < MAX_PHASES * len(runs) and (
                min(len(r.phases) for r in runs) < MIN_PHASES
                or (_clock_ns() - began) / 1e9 < budget_s * len(runs)):
            for run in runs:
                if guard is not None:  # before refresh uses a tensor's method
                    guard()
                # The refill between marks of its own: it is a copy's work per slot, on
                # the parent's clock, and work done there (reviewers' code computed the
                # next calls' outputs in it: through a replaced fill, a signal handler, a
                # thread, a Python kernel for the mul it runs) makes it longer than the
                # same refill of the copy's slots (bench.refill_work).
                marks(b"R")
                refill = _Window()
                released.pop(run.name, None)
                run.slots.refresh(rng)
                sync()
                refilled = refill.taken()
                marks(b"S")
                outs: list = []
                keep = outs.append
                # the other threads' CPU since the last end mark, of any run: where no
                # calls run, counted for the phase that ended there and for this one
                # (its refill)
                now = _others_ns()
                before = 0.0 if stretch[0] is None else (now - stretch[0]) / 1e9
                if stretch[1] is not None:
                    stretch[1]["others_s"] += before
                _SET_THREADS(threads)
                marks(b"B")
                if collecting:
                    _GC_ENABLE()
                started, first = time.perf_counter(), _clock_ns()
                for fn in run.order:
                    keep(fn())
                _GC_DISABLE()
                sync()
                ended, last = time.perf_counter(), _clock_ns()
                waits, stretch[0] = _usage()
                spent = _THREAD_CPU_NS()
                # (a reviewer's calls set 2 and set 1 back where drillpe traced them:
                # the count was compared only at the end)
                spread = _GET_THREADS()
                _SET_THREADS(1)
                marks(b"E")
                if spread != threads:
                    raise Tampered(f"torch's thread count, {threads}, was set to {spread} in "
                                   "the calls")
                if guard is not None:  # before the draw and the check use their methods
                    guard()
                order.append(run.name)
                # (and in the calls: more than the OpenMP workers of the count drillpe set
                # is more cores than the production code gets; a reviewer's calls ran two
                # Python threads, started and joined in each call)
                run.phases.append({"calls": run.calls, "own_s": ended - started,
                                   "refill_s": refilled, "others_s": before,
                                   "others_in_s": (stretch[0] - now) / 1e9})
                stretch[1] = run.phases[-1]
                if run.on_checked is not None:
                    # Whatever the draw and reading the outputs run happens between C and
                    # D, on the parent's clock; F-G is the same read of drillpe's own
                    # copy, which runs nothing of the learner's (bench.deferred_work).
                    # From E to C, the guard: on the parent's clock and on this clock,
                    # bound before the learner's file loaded (the parent's reader may be
                    # late for a mark on a loaded machine; a stall shows on both), with
                    # the times this thread waited there (none, unless something held
                    # the GIL or it blocked), and the CPU time this thread took there
                    # (a reviewer's function ran in it, called by the audit hooks at the
                    # files the guard opens, and did the calls' work without a wait). The
                    # thread's clock, not getrusage's user time: the kernel splits that
                    # from the system time by the ticks it samples, and another reviewer's
                    # worked between ticks and sat in a system call at each
                    after, now, cpu = _waits(), _clock_ns(), _THREAD_CPU_NS()
                    run.phases[-1]["after_end_s"] = (now - last) / 1e9
                    run.phases[-1]["after_end_cpu_s"] = (cpu - spent) / 1e9
                    if waits is not None and after is not None:
                        run.phases[-1]["after_end_waits"] = after - waits
                    marks(b"C")
                    checked = draw_below(rng, run.calls)
                    if run.slots.positions and run.calls >= POSITION_KINDS:
                        # each kind of positions checked in turn (Slots.refresh)
                        kind = len(run.phases) % POSITION_KINDS
                        checked = kind + POSITION_KINDS * draw_below(
                            rng, (run.calls - kind + POSITION_KINDS - 1) // POSITION_KINDS)
                    another = outs[checked - 1] if run.calls > 1 else None
                    reading = read_outputs(outs[checked], another)
                    sync()
                    marks(b"D")
                    marks(b"F")
                    if reading.copies:
                        read_outputs(*reading.copies)
                    sync()
                    marks(b"G")
                    run.on_checked(len(run.phases) - 1, checked if run.slots.varied else 0,
                                   outs[checked], another, reading)
                    del another, reading
                # outs let go of in the next refill's window (released), keep (its
                # append) now: a reviewer's outputs carried generators whose `finally`
                # ran when the next phase's keep was made, after its refill, and
                # computed its outputs there
                released[run.name] = outs
                del outs, keep
                run.settle(last - first)
    finally:
        if stretch[0] is not None and stretch[1] is not None:  # the last phase's, to here
            stretch[1]["others_s"] += (_others_ns() - stretch[0]) / 1e9
        _SET_THREADS(threads)
        if collecting:
            _GC_ENABLE()
    return order


# glibc's mallopt parameters (malloc.h), and the largest value an int holds
M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8
INT_MAX = 2**31 - 1


def keep_freed_memory() -> str:
    """Tell the C library to keep the memory a call frees for the next call, as a
    caching allocator does (CUDA's; jemalloc or tcmalloc, which PyTorch's CPU tuning
    guides recommend), in both timing processes alike. glibc's default gives large
    freed blocks back to the kernel, and the next call faults their pages in again,
    more or less often depending on what ran just before: the copy beside a learner's
    RoPE faulted in two thirds of its pages every phase and took 4-8 ms, the same copy
    beside the production code 1.4-3.8 ms, and the learner's own calls paid for it too
    (README.md, "Memory the C library gives back"). Returns what the report says of
    the allocator."""
    try:
        # deferred: ctypes only where the C library may be glibc
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return "system"  # not glibc (macOS): its allocator as it is
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # every block from the heap, whatever its size, and the heap never given back
    if mallopt(M_MMAP_MAX, 0) != 1 or mallopt(M_TRIM_THRESHOLD, INT_MAX) != 1:
        return "system"
    # ... and one heap for every thread started from here on (launch.bench sets
    # MALLOC_ARENA_MAX=1 too, before any thread starts): the learner's side times on a
    # thread of its own, which glibc gave an arena of its own, made of mapped heaps it
    # unmaps when they empty whatever the two settings above say (freeing five of
    # t5_bias's 32 MB outputs there took 4-9 ms of CPU, and the next calls faulted
    # their pages in again; 0.02-0.04 ms in the main arena)
    if mallopt(M_ARENA_MAX, 1) != 1:
        return "system"
    return "freed memory kept"


def take_key(name: str) -> bytes:
    """The key in the environment variable ``name``, taken out of it, and its text
    overwritten where it lay: unsetting a variable leaves its text in the process's
    first environment block on the stack, and in the bytes Python copied it to, and a
    reviewer's read it from the stack with ctypes (refused now; this leaves nothing
    there for any other way to read memory). The copies are overwritten in place
    where ctypes and the C library's getenv are there to do it."""
    raw = os.environb.get(name.encode()) if os.supports_bytes_environ else None
    if not raw:
        os.environ.pop(name, None)
        return b""
    key = binascii.unhexlify(raw)
    try:
        # deferred: ctypes only to overwrite the copies, before any learner code
        import ctypes

        getenv = ctypes.CDLL(None).getenv
        getenv.argtypes, getenv.restype = [ctypes.c_char_p], ctypes.c_void_p
        where = getenv(name.encode())
        if where:
            ctypes.memset(where, ord("0"), len(raw))  # the C library's copy
        # Python's, in place (no other object shares this one)
        ctypes.memset(ctypes.cast(ctypes.c_char_p(raw), ctypes.c_void_p).value, ord("0"),
                      len(raw))
    except (OSError, AttributeError, TypeError):
        pass
    os.environ.pop(name, None)
    return key


# --------------------------------------------------------------------------- output checks


def _tensors(obj: Any):
    """The tensors in ``obj``, through plain tuples, lists and dicts only, read with
    the built-in types' own methods: torch's pytree looks its handlers up in a
    registry that code can change, and would run them after the clock stopped."""
    if isinstance(obj, torch.Tensor):
        yield obj
        return
    walk = _walk(obj) or (dict.values if type(obj) is dict else None)
    if walk is not None:
        for item in walk(obj):
            yield from _tensors(item)


def _storages(obj: Any) -> dict[int, int]:
    """{where, bytes} of the memory the tensors in ``obj`` live in."""
    found = {}
    for t in _tensors(obj):
        try:
            found[_storage(t)] = t.untyped_storage().nbytes()
        except (RuntimeError, NotImplementedError):
            found[id(t)] = t.numel() * t.element_size()
    return found


def _new_bytes(out: Any, before: list) -> int:
    """Bytes of memory ``out`` lives in that none of ``before`` does (a view of a
    cached table makes none)."""
    old = {k for b in before for k in _storages(b)}
    return sum(size for where, size in _storages(out).items() if where not in old)


def _pool_bytes(device) -> int:
    """Room for one run's slots, and again for a phase's outputs: on a smaller GPU a
    quarter of what is free (the copy's need room beside them)."""
    pool = POOL_BYTES["cuda" if device.type == "cuda" else "cpu"]
    if device.type == "cuda":
        pool = min(pool, torch.cuda.mem_get_info(device)[0] // 4)
    return pool


def _filled(obj: Any):
    """The tensors in ``obj`` that hold any element."""
    return (t for t in _tensors(obj) if t.numel())


def _weak_storages(out: Any, skip: set[int]) -> list:
    """Weak references to the memory ``out``'s tensors live in (but ``skip``'s):
    one that has not expired once the bench let go of ``out`` is kept by the code."""
    refs = []
    for t in _filled(out):
        if _storage(t) not in skip:
            with contextlib.suppress(RuntimeError, NotImplementedError):
                refs.append(StorageWeakRef(t.untyped_storage()))
    return refs




# Types are compared by identity, never with == or a dict lookup, and names are checked
# to be exact strings before any lookup: either would call the class's metaclass, or a
# str subclass's __hash__ and __eq__. A reviewer's file put such a name in the random
# module's namespace (enum.global_enum), and the check of that namespace after the end
# mark hashed it: its __hash__ wrote the real outputs ("same" as production for code
# 17x slower).
def _walk(obj: Any):
    """The built-in iteration of a plain tuple or list (not a subclass), else None."""
    kind = type(obj)
    return tuple.__iter__ if kind is tuple else list.__iter__ if kind is list else None


def _plain_tensor_class(t: Any) -> bool:
    kind = type(t)
    return kind is torch.Tensor or kind is torch.nn.Parameter


def _plain_names(mapping) -> bool:
    """Whether every key of ``mapping`` is an exact str (iterating runs no code)."""
    return all(type(key) is str for key in mapping)


class Tampered(Exception):
    """A tensor the timing code fills or reads was changed so that using it would run
    the learner's code (the message says how)."""


def plain_tensor(t: Any, what: str, tags: bool = False) -> None:
    """Raise Tampered where calling ``t``'s methods could run code of the learner's:
    a class of its own, or an attribute of its own, or of its storage's, that hides a
    method. A reviewer's RoPE set ``detach`` on the clones it returned, and the output
    check's ``detach()`` did the rotation, after the end mark ("the same" as production
    for code 9x slower); the next one gave its outputs' storages a class of its own
    (``__class__`` of the kept storage object), whose ``data_ptr`` did the same.
    ``tags``: an output may carry attributes of plain values (_plain_value); drillpe's
    inputs and weights carry none."""
    if not _plain_tensor_class(t):
        raise Tampered(f"{what} is a {type(t).__name__}, not a plain tensor")
    attrs = vars(t)
    # a dict of its own class would run its code as it is iterated
    if type(attrs) is not dict or not _plain_names(attrs):
        raise Tampered(f"{what} has an attribute whose name is not a plain str")
    hidden, own = _own_attributes(attrs, torch.Tensor, tags, "")
    try:
        storage = torch.Tensor.untyped_storage(t)
    except (RuntimeError, NotImplementedError):
        storage = None
    if storage is not None:
        if type(storage) is not torch.UntypedStorage:  # a class of the learner's: its
            raise Tampered(f"{what}'s storage is a {type(storage).__name__}")  # methods ran
        kept = vars(storage)
        if type(kept) is not dict or not _plain_names(kept):
            raise Tampered(f"{what}'s storage has an attribute whose name is not a plain str")
        hidden_there, own_there = _own_attributes(kept, torch.UntypedStorage, tags, "storage's ")
        hidden, own = hidden + hidden_there, own + own_there
    if hidden:
        raise Tampered(f"{what} has an attribute of its own, {hidden[0]}, that hides "
                       "torch's method of that name")
    # any other but a plain number, string or None: an object kept there is freed with
    # the tensor, and its finaliser runs then (a reviewer's kept a generator whose
    # `finally` did the next phase's work)
    if own:
        # (short: the refusal shows 160 characters of it)
        raise Tampered(f"{what} has an attribute of its own, {own[0][:40]}"
                       + (", an object (not a number, str or None)" if tags else ""))


def _own_attributes(attrs: dict, cls: type, tags: bool, prefix: str
                    ) -> tuple[list[str], list[str]]:
    """(the names in ``attrs`` that hide an attribute of ``cls``, the others that hold
    more than a tag may), each after ``prefix``."""
    hidden = [prefix + name for name in attrs if hasattr(cls, name)]
    own = [prefix + name for name in attrs
           if not hasattr(cls, name) and not (tags and _plain_value(attrs[name]))]
    return hidden, own


def _plain_value(value: Any) -> bool:
    """A value with nothing to run when it is freed or read (a tag such as
    ``out.rope_applied = True``, which an honest answer set)."""
    kind = type(value)
    return kind is bool or kind is int or kind is float or kind is str or value is None


def _reached(out: Any):
    """What ``out`` holds, read through plain tuples and lists only (the built-in
    types' own methods): tensors, plain values, and whatever else stands there (not
    walked into: a subclass, a namedtuple, an object of the learner's)."""
    walk = _walk(out)
    if walk is None or isinstance(out, torch.Tensor):
        yield out
        return
    for item in walk(out):
        yield from _reached(item)


def unfit_container(out: Any) -> str | None:
    """The name of a container in ``out`` that is not a plain tuple or list (a
    subclass, a namedtuple, an object of the learner's), else None. Anything else runs
    the learner's code when the bench reads the output, after the phase's end mark: a
    reviewer's RoPE returned a namedtuple subclass whose ``__iter__`` did the rotation
    when pytree flattened it for the output check, and its timed calls only copied
    their inputs ("the same" as production, 88% of the roofline, for code 9x slower).
    A tensor subclass is on_checked's to refuse ("lazy")."""
    return next((type(item).__name__ for item in _reached(out)
                 if not isinstance(item, torch.Tensor) and item is not None
                 and type(item) is not bool and type(item) is not int
                 and type(item) is not float), None)


# bound before the learner's file loads: the method itself, past any attribute of an
# object's own (the classes it could be changed on are compared with their snapshot)
_CLONE = torch._C.TensorBase.clone
_FUNCTION_MODES = torch._C._len_torch_function_stack
_DISPATCH_MODES = torch._C._len_torch_dispatch_stack
# The thread's own dispatch keys, included and excluded: a reviewer's left the Python
# dispatcher switched on after its call returned (the switch is the thread's, and
# the timing code runs on the learner's thread), with a Python kernel of its own for
# aten::mul.out, which the refill's torch.mul ran where no clock runs ("1.57 ms" for
# 14 ms of maths). Kernels registered that way are not in the dispatcher's dump.
_TLS_KEYS = (torch._C._dispatch_tls_local_include_set, torch._C._dispatch_tls_local_exclude_set)
# the key sets' text, through the method bound now: the class's __str__ can be replaced,
# and a reviewer's ran its code after the end mark
_KEYS_TEXT = type(_TLS_KEYS[0]()).__str__
_DISPATCH_TLS: list[str] = []  # as they were before the learner's file loaded (_snapshot)


@dataclasses.dataclass
class Reading:
    """What read_outputs took from a phase's checked output and the other one:
    drillpe's copies of them (plain lists of plain tensors), or why it read nothing."""

    copies: tuple = ()
    problem: dict | None = None


def _copied(out: Any) -> Any:
    if isinstance(out, torch.Tensor):
        return _CLONE(out)
    walk = _walk(out)
    return [_copied(item) for item in walk(out)] if walk is not None else out


def read_outputs(out: Any, another: Any) -> Reading:
    """Copy the two outputs, after checking that reading them runs nothing but
    torch's own code: plain containers, tensors of torch's own classes with no
    attribute that hides a method (Tampered otherwise). Everything the output check
    reads of their values is read from these copies. run_phases times this on the
    parent's clock: code of the learner's that reading still ran would show there
    (bench.deferred_work), not slip past the timer."""
    unfit = unfit_container(out) or unfit_container(another)
    if unfit is not None:  # read nothing more of them: that would run their code now
        return Reading(problem={"problem": "lazy", "type": unfit, "container": True})
    for t in (*_tensors(out), *_tensors(another)):  # (containers found plain above)
        if not _plain_tensor_class(t):  # a subclass: its methods are its own
            return Reading(problem={"problem": "lazy", "type": type(t).__name__})
        plain_tensor(t, "an output", tags=True)
    return Reading(copies=(_copied(out), _copied(another)))


def _foreign_memory(out: Any) -> bool:
    """Whether a tensor of ``out`` wraps memory torch did not allocate for it
    (torch.from_numpy, from_dlpack: a reviewer's wrapped a ring of buffers it kept,
    each call in a new storage object, so no weak reference saw it held)."""
    for t in _filled(out):
        with contextlib.suppress(RuntimeError, NotImplementedError):
            if not t.untyped_storage().resizable():
                return True
    return False


def _shares_storage(out: Any, others: list) -> bool:
    """Whether a tensor of ``out`` lives in the memory of a tensor of ``others``
    (all alive: a freed tensor's memory is handed out again)."""
    theirs = {_storage(t) for o in others for t in _filled(o)}
    return any(_storage(t) in theirs for t in _filled(out))


# bound before the learner's file loads, as what the check calls must be
_IS_CONTIGUOUS = torch.Tensor.is_contiguous


def fingerprint(out: Any, storages: set[int], rng: random.Random,
                values: Any = None) -> dict[str, Any]:
    """What the reference's process compares: per tensor of the output, its
    shape, the sum of |values|, and values at random places; or the problem
    that makes the output unfit to time (a tensor subclass that can defer its
    work past the timed call, a view of the input that writes nothing new).
    ``values``: where to read the values from (drillpe's copy of ``out``)."""
    leaves = list(_tensors(out))
    copies = leaves if values is None else list(_tensors(values))
    tensors = []
    for leaf, copy in zip(leaves, copies, strict=True):
        if not _plain_tensor_class(leaf):
            return {"problem": "lazy", "type": type(leaf).__name__}
        if _storage(leaf) in storages:
            return {"problem": "aliases_input"}
        flat = copy.detach().reshape(-1)
        picks = [draw_below(rng, flat.numel()) for _ in range(SAMPLE_POINTS)] if flat.numel() \
            else []
        index = torch.tensor(picks, dtype=torch.long, device=flat.device)
        tensors.append({"shape": list(leaf.shape), "dtype": dtype_name(leaf.dtype),
                        "abs_sum": float(flat.double().abs().sum()), "picks": picks,
                        "values": flat[index].double().tolist(),
                        "contiguous": bool(_IS_CONTIGUOUS(leaf))})
    return {"tensors": tensors}


TOLERANCE = {"float64": 1e-6, "float32": 1e-3, "bfloat16": 3e-2, "float16": 1e-2}
# A learner's output may be this many times as far from the model answer as drillpe's
# production code's, on the same inputs (production_slack), beyond TOLERANCE: in
# bfloat16 an attention's rounding depends on the order of its operations, and
# relative's production code missed 3e-2 on up to 6 of 10 checked calls (-0.398 for
# -0.355 once), so that an honest copy of it was refused as a stale result. Beyond
# TOLERANCE at all may be no more of the values checked than this many times the
# share of the production code's values that are: its misses are few and far
# between, work left out (relative's value term dropped in bfloat16 calls of large
# values) misses most values by less than the slack but more than the tolerance.
PRODUCTION_SLACK = 3.0
# ... and never more than this share of the output's largest |value|: production
# code far from the model answer is drillpe's bug (devtools check), not room for more
SLACK_CAP = 0.1
# how many values beyond TOLERANCE a checked call may have over PRODUCTION_SLACK times
# the production code's share of them (a count of a few: chance, not work left out)
OUTLIER_FLOOR = 2
# Where the production code's own rounding is rough (bfloat16 attention over the largest
# inputs: logits rounded to 8 bits, then a peaked softmax), the slack above is wide for
# every value of the output, though only the elements whose rows are nearly tied are
# rough. Each element's own reach: the farthest the production code lands from the model
# answer there, on the call's inputs and (bfloat16, float16) on DITHERS copies of its
# inputs and weights in which each value stays or moves to a neighbour the dtype can hold
# (_dithered). More than OUTLIER_FLOOR checked values beyond TOLERANCE plus REACH times
# their reach is work left out: at the default CPU size in bfloat16, from factor 1.75 up,
# relative's value term dropped passed 17 of 29 checked calls and its position term 9 of
# 29 (the other rules alone), and both are refused on all 29 now, while 10 honest files,
# bfloat16 and float16, at the --quick and default sizes, were refused no more often.
DITHERS = 4
DITHERED = ("bfloat16", "float16")
REACH = 3.0


def allowed_error(tol: float, magnitude: torch.Tensor, largest: float) -> torch.Tensor:
    """How far a checked value may be from the model answer's: ``tol`` relative to the
    value, and ``tol`` absolute, scaled down for an output whose largest |value| is under
    1. At a fixed 3e-2 absolute (bfloat16), relative's outputs at the bench's smallest
    input scales (0.18 at most) let uniform attention pass for softmax (helper-113)."""
    return tol * min(1.0, largest) + tol * magnitude


def _leaves(out: Any) -> list[torch.Tensor]:
    """The tensors of a trusted result (the model answer's, the production code's),
    through torch's pytree."""
    return [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]


def _dithered(t: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """``t`` with each value times a random factor within half its dtype's machine
    epsilon of 1, rounded back to the dtype: each value stays, or moves to a neighbour
    the dtype can hold (about 3 in 10 do in bfloat16). Dithered in float32, which holds
    such factors for bfloat16 and float16, the dtypes dithered (production_slack)."""
    half_eps = torch.finfo(t.dtype).eps / 2
    # drawn on the generator's device, the call's (at CUDA sizes, tens of millions of
    # values: drawn on the CPU they took seconds a checked call)
    noise = torch.rand(t.shape, generator=gen, device=gen.device).mul_(2 * half_eps)
    return (t.float() * noise.add_(1 - half_eps).to(t.device)).to(t.dtype)


def call_drawn(target: Target, mod, size, device, dtype, seed: int, factor: float,
               shift: int, dither: int | None = None, inputs: dict | None = None) -> Any:
    """What ``mod``'s call returns on the inputs of the timed call drawn as
    (``factor``, ``shift``) (drawn_call)."""
    return drawn_call(target, mod, size, device, dtype, seed, factor, shift, dither, inputs)()


def drawn_call(target: Target, mod, size, device, dtype, seed: int, factor: float,
               shift: int, dither: int | None = None, inputs: dict | None = None):
    """``mod``'s call, ready to run, on the inputs of the timed call drawn as
    (``factor``, ``shift``), its weights refilled as that call's were (Slots);
    with ``dither``, on those inputs and weights each dithered (``_dithered``, a
    generator seeded with it). ``inputs``: those inputs, rebuilt already (not changed
    here: a dithered input is a new tensor)."""
    x = dict(inputs) if inputs is not None else rebuild(target, size, device, dtype, seed,
                                                        factor, shift)
    gen = None if dither is None else torch.Generator(device=device).manual_seed(dither)
    if gen is not None:
        for name in target.data_inputs:
            if _floating(x.get(name)):
                x[name] = _dithered(x[name], gen)
    seeded = len(bench_specs.SEEDED.made)
    call = target.prepare(mod, x, size)
    with torch.no_grad():
        params = refill_weights(seeded, factor, shift)
        for param in params:
            if gen is not None and param.is_floating_point():
                param.copy_(_dithered(param.detach(), gen))
    return call


class Slack(NamedTuple):
    """What one output of a checked call may miss the model answer by (production_slack)."""
    value: float  # beyond TOLERANCE, for any value
    abs_sum: float  # beyond TOLERANCE, for the sum of |values|
    share: float  # the production code's share of values beyond TOLERANCE
    reach: torch.Tensor | None  # per element (flat, on the output's device): REACH


NO_SLACK = Slack(0.0, 0.0, 0.0, None)  # nothing allowed beyond TOLERANCE


def production_slack(target: Target, production, size, device, dtype, seed: int,
                     factor: float, shift: int, expected: Any) -> list[Slack] | None:
    """Per output of the call, how the production code lands against the model answer
    (``expected``) on the inputs of one timed call: its largest difference and that of
    the sum of |values|, each times PRODUCTION_SLACK, the share of its values beyond
    TOLERANCE, and per element the farthest it lands there on those inputs and, in
    bfloat16 and float16, on DITHERS dithered copies (REACH; in float32 and float64 the
    production code's rounding is far under TOLERANCE). None where that cannot be said.
    Each run is reduced as it comes, on the outputs' device: at CUDA sizes an output
    holds tens of millions of values."""
    name = dtype_name(dtype)
    low = name in DITHERED
    # the difference of two values of the dtype, in float32: exact where they are close
    # (Sterbenz), rounded once otherwise, far under TOLERANCE; half the memory of float64
    # at CUDA sizes (an output of rope's holds 67 million values)
    work = torch.float64 if dtype == torch.float64 else torch.float32
    want = [w.detach().to(work) for w in _leaves(expected)]
    tol = TOLERANCE.get(name, 1e-3)
    slack = [NO_SLACK] * len(want)  # an empty output keeps it
    x = rebuild(target, size, device, dtype, seed, factor, shift)
    for run, dither in enumerate((None, *(shift * DITHERS + n for n in range(DITHERS * low)))):
        try:
            with torch.no_grad():
                got = _leaves(call_drawn(target, production, size, device, dtype, seed,
                                         factor, shift, dither, inputs=x))
        except Exception:  # the production code's own failure: no slack, as before
            return None
        if len(got) != len(want) or any(g.shape != w.shape for g, w in zip(got, want)):
            return None
        for n, (g, w) in enumerate(zip(got, want)):
            if not w.numel():
                continue
            error = (g.detach().to(w.device, work) - w).abs_().reshape(-1)
            if run:  # a NaN of a dithered run (an overflow a rounding away) widens nothing
                torch.fmax(slack[n].reach, error, out=slack[n].reach)
                continue
            worst = float(error.max())
            want_sum = float(w.double().abs().sum())
            sums = abs(float(g.detach().double().abs().sum()) - want_sum)
            if not (worst == worst and sums == sums):  # NaN: no slack
                return None
            largest = float(w.abs().max())
            share = float((error > allowed_error(tol, w.abs().reshape(-1), largest)
                           ).double().mean())
            slack[n] = Slack(min(PRODUCTION_SLACK * worst, SLACK_CAP * largest),
                             min(PRODUCTION_SLACK * sums, SLACK_CAP * want_sum), share, error)
    return slack


def _first_off(mask: torch.Tensor, mine: torch.Tensor, theirs: torch.Tensor,
               picks: list[int]) -> tuple[int, str]:
    """The first checked value ``mask`` marks, and where it is and what it is, in words."""
    i = int(mask.nonzero()[0])
    return i, (f"{float(mine[i]):.6g} at flat index {picks[i]}, the reference has "
               f"{float(theirs[i]):.6g}")


def compare(mine: dict[str, Any], expected_out: Any, dtype: str,
            slack: list[Slack] | None = None) -> str | None:
    """None when the learner's fingerprint matches the reference's output;
    else what differs, in words. ``dtype``: the timed dtype's name (dtype_name);
    ``slack``: per output, what is allowed beyond TOLERANCE (production_slack)."""
    tol = TOLERANCE.get(dtype, 1e-3)
    expected = _leaves(expected_out)
    if len(expected) != len(mine["tensors"]):
        return f"{len(mine['tensors'])} tensors where the reference returns {len(expected)}"
    for n, (got, want) in enumerate(zip(mine["tensors"], expected)):
        extra, extra_sum, share, reach = slack[n] if slack and len(slack) == len(expected) \
            else NO_SLACK
        if got["shape"] != list(want.shape):
            return f"output {n}: shape {tuple(got['shape'])}, expected {tuple(want.shape)}"
        want_dtype = dtype_name(want.dtype)
        if got["dtype"] != want_dtype:  # fewer bytes written than the call must write
            return f"output {n}: dtype {str(got['dtype'])[:20]}, expected {want_dtype}"
        flat = want.detach().reshape(-1).double()
        index = torch.tensor(got["picks"], dtype=torch.long, device=flat.device)
        values = flat[index].cpu()
        mine_values = torch.tensor(got["values"], dtype=torch.float64)
        error = (mine_values - values).abs()
        bound = allowed_error(tol, values.abs(), float(flat.abs().max()) if flat.numel() else 0.0)
        # NaN compares false with everything: a NaN where the reference has a number
        # must not pass as "not larger than the bound" (a reviewer's NaN outputs did)
        same = mine_values == values
        picks = got["picks"]
        wrong = ~(error <= bound + extra) & ~same
        if bool(wrong.any()):
            return f"output {n}: {_first_off(wrong, mine_values, values, picks)[1]}"
        over = ~(error <= bound) & ~same
        expect = PRODUCTION_SLACK * share * len(picks)
        allowed = math.ceil(expect + 2 * math.sqrt(expect)) + OUTLIER_FLOOR if slack else 0
        if int(over.sum()) > allowed:
            return (f"output {n}: {int(over.sum())} of {len(picks)} values checked are "
                    f"off by more than {tol:g} (relative and absolute), where drillpe's "
                    f"production code has {share:.0%} such values "
                    f"({_first_off(over, mine_values, values, picks)[1]})")
        if reach is not None and reach.numel() == flat.numel():
            far = ~(error <= bound + REACH * reach[index.to(reach.device)].cpu().double()) & ~same
            if int(far.sum()) > OUTLIER_FLOOR:
                i, where = _first_off(far, mine_values, values, picks)
                nearby = " or on inputs one rounding away" if dtype in DITHERED else ""
                return (f"output {n}: {int(far.sum())} of {len(picks)} values checked "
                        f"miss the reference by more than {tol:g} plus {REACH:g} times what "
                        f"drillpe's production code misses it by at those values, on these "
                        f"inputs{nearby} ({where}, the production code within "
                        f"{float(reach[picks[i]]):.3g} of it)")
        want_sum = float(flat.abs().sum())
        if not abs(float(got["abs_sum"]) - want_sum) <= tol * max(want_sum, 1e-12) + extra_sum:
            return (f"output {n}: the sum of |values| is {got['abs_sum']:.6g}, "
                    f"the reference's {want_sum:.6g}")
    return None


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
        self.written_bytes = 0  # the passes over memory a call makes (bench's gap to the roofline)
        self.const_written = 0
        self.table_elements = 0
        self.const_table = 0  # table_elements of work on shapes alone
        self.syncs: dict[str, int] = {}
        self.leaked = False  # the values of data reached Python (a sync of a data tensor)
        self.transfers = 0
        self.const_names: dict[str, int] = {}
        # numbers handed to torch.tensor (or as_tensor) in Python lists: a loop in plain
        # Python (math.cos over the positions) makes no torch call per turn, so the count
        # of torch calls did not name it (a reviewer's rope_neox, 20x slower than
        # production, named only its host syncs), but what it computed comes in here
        self.from_python = 0

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
            result = func(*args, **kwargs)
            # an attribute that is a tensor of a marked one (.T, .data, .mT) is data too:
            # a reviewer's `weight.T[index]` counted as work on shapes alone
            if isinstance(result, torch.Tensor) and any(self._is_derived(a) for a in args):
                self._mark(result)
            return result
        flat_in, _ = tree_flatten((args, kwargs))
        tensors_in = [t for t in flat_in if isinstance(t, torch.Tensor)]
        uses_data = any(self._is_derived(t) for t in tensors_in)
        # Once data's values reached Python (tolist, item), a tensor made from Python
        # values may hold them: a table built from rows.tolist() is no table of shapes
        uses_data = uses_data or (self.leaked and not tensors_in)
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
        if name in FROM_PYTHON and args and isinstance(args[0], (list, tuple)) \
                and isinstance(result, torch.Tensor):
            self.from_python += result.numel()
        if name in SYNC_OPS:
            self.syncs[name] = self.syncs.get(name, 0) + 1
            self.leaked = self.leaked or uses_data
        flat_out, _ = tree_flatten(result)
        tensors_out = [t for t in flat_out if isinstance(t, torch.Tensor)]
        in_place = name == "__setitem__" or (name.endswith("_") and not name.startswith("__")) \
            or name.startswith("__i")
        # Elements written, not seconds, decide what dominates a call: the count is
        # the same on a loaded machine as on an idle one.
        fresh = [t for t in tensors_out
                 if in_place or _storage(t) not in {_storage(i) for i in tensors_in}]
        written = sum(t.numel() for t in fresh)
        self.written += written
        self.written_bytes += sum(t.numel() * t.element_size() for t in fresh)
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
            made = sum(t.numel() for t in tensors_out)
            self.table_elements += made
            if not uses_data:
                self.const_table += made
        return result

    def facts(self) -> dict[str, Any]:
        top = sorted(self.const_names.items(), key=lambda item: -item[1])[:5]
        return {"ops": self.ops, "const_ops": self.const_ops, "const_time_s": self.const_time,
                "traced_time_s": self.total_time, "written": self.written,
                "written_bytes": self.written_bytes,
                "const_written": self.const_written, "syncs": self.syncs,
                "from_python": self.from_python,
                "transfers": self.transfers, "table_elements": self.table_elements,
                "const_table": self.const_table,
                "const_top": [name for name, _ in top]}


def trace_call(target: Target, mod, size: dict, device, dtype, seed: int, timed: bool,
               draw: int = POSITION_KINDS) -> dict:
    """What one call does, traced (Tracer). A module's seeded weights count as data, as
    the input values do: the timed calls get them refilled with fresh values (Slots),
    and relative's model answer, whose lookup of the (Lq, Lk, head_dim) embeddings from
    its weights counted as work on shapes alone, was told to cache that lookup (a
    newcomer did, and was refused for stale outputs). The traced call's positions are of
    the kind (position_kind) the slot shift ``draw`` gives, new ones."""
    x = target.inputs(size, device, dtype, torch.Generator().manual_seed(seed))
    base = dict(x)
    seeded = len(bench_specs.SEEDED.made)
    fn = target.prepare(mod, x, size)
    # lazy set-up happens once, outside the trace, and on positions of any pattern: what
    # the traced call makes of its own is work on data (reviewers' tables, kept per
    # object, per sorted pattern or per value, hid their loops where it saw the same)
    x.update(draw_positions(target, base, POSITION_KINDS * 2))
    fn()
    x.update(draw_positions(target, base, draw))
    positions = [x[name] for name in target.positions if _integral(x.get(name))]
    data = [x[name] for name in target.data_inputs] + positions + _seeded_since(seeded)
    tracer = Tracer(data, device, timed)
    with tracer:
        out = fn()
    leaves = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
    return {**tracer.facts(), "out_bytes": sum(t.numel() * t.element_size() for t in leaves),
            "data_tensors": len(data)}


# Calls of each kind of positions timed one by one after the phases, in each process
# (kind_times): the bits above the kind take each value in them (draw_positions), and
# the bits above those seed each draw's generator apart
KIND_PROBES = (0b000, 0b011, 0b101, 0b110, 0b1111, 0b10001, 0b10010, 0b11100)


def kind_times(target: Target, mod, size: dict, device, dtype, seed: int) -> list | None:
    """Seconds a call takes with each kind of positions: the mean of calls on drawn
    inputs (KIND_PROBES; one more first, untimed), each timed alone on this process's
    clock (the mean: a path slow for some draws of a kind counts for its share). Advice only (launch/bench's bench.slow_kind: a reviewer's code slow on some
    positions alone read 1.6x slower over the mix, for code 8x slower on packed
    documents); the verdict is the phases', on the parent's clock."""
    if not target.positions:
        return None
    sync = _sync(device)
    found = []
    for kind in range(POSITION_KINDS):
        times = []
        for at, bits in enumerate((0b111, *KIND_PROBES)):
            call = drawn_call(target, mod, size, device, dtype, seed, 1.0,
                              POSITION_KINDS * bits + kind)
            sync()
            began = _clock_ns()
            call()
            sync()
            if at:
                times.append((_clock_ns() - began) / 1e9)
        found.append(sum(times) / len(times))
    return found


def python_work(target: Target, mod, device, dtype, seed: int) -> dict[str, Any]:
    """Torch calls, and numbers made into tensors from Python lists, per learner call at
    the trace size and with each axis doubled: a count that grows with an axis is a
    Python loop over it."""
    base = dict(target.trace_size)
    found = []
    # each kind of positions (a reviewer's loop ran only where they came in order), each
    # twice, with each bit of the slot shift above its kind one way and the other
    # (draw_positions, _draw_kind): as (1, L) rows and not, a grid square and not,
    # shuffled from 0 and from a start, a prompt left-padded and not
    draws = [POSITION_KINDS * bits + kind for kind in range(POSITION_KINDS)
             for bits in (0b001, 0b110)] if target.positions else [POSITION_KINDS]
    for draw in draws:
        at_base = trace_call(target, mod, base, device, dtype, seed, False, draw)
        out = {"base_size": base, "base_ops": at_base["ops"],
               "base_from_python": at_base["from_python"], "axes": {},
               "kind": position_kind(draw)}
        for axis, meaning in target.axes.items():
            bigger = dict(base, **{axis: base[axis] * 2})
            grown = trace_call(target, mod, bigger, device, dtype, seed, False, draw)
            out["axes"][axis] = {"meaning": meaning, "size": bigger[axis],
                                 "ops": grown["ops"], "from_python": grown["from_python"],
                                 "base": base[axis]}
        found.append(out)
    # the kind whose counts grow the most with the axes, and every kind whose counts
    # grow half as much or more: the kinds a loop runs for (a file that looped for any
    # ids in order was said to loop for those from 0 alone)
    def growth(out: dict) -> int:
        return sum(grown["ops"] - out["base_ops"] + grown["from_python"]
                   - out["base_from_python"] for grown in out["axes"].values())

    grew = [growth(out) for out in found]
    most = found[grew.index(max(grew))]
    most["kinds"] = sorted({out["kind"] for out, g in zip(found, grew, strict=True)
                            if g > 0 and 2 * g >= max(grew)})
    return most


# --------------------------------------------------------------------------- roles


def _refuse_reference_reads() -> None:
    """An audit hook, armed before the learner's file loads, on every file opened in the
    timing process: the references, this process's environment and memory, and writes
    under /proc are refused. It runs at every file drillpe's own checks open too (after
    each end mark), so what it calls is bound here, and the standard library's Python
    code it runs is sealed (seal.HOOKS_RUN): a reviewer's replaced os.fsdecode and did
    the timed calls' work in the check after each end mark."""
    protected = tuple(str(p.resolve()) for p in bundle.secret_dirs())
    own = re.compile(rf"/proc/(self|thread-self|{os.getpid()})(/task/\d+)?/(environ|mem)$")
    fsdecode, fspath, normpath, realpath = os.fsdecode, os.fspath, os.path.normpath, \
        os.path.realpath
    named, writing, refused = (str, bytes, os.PathLike), os.O_WRONLY | os.O_RDWR, PermissionError
    matches, isinstance_, any_, len_ = own.match, isinstance, any, len

    def audit(event: str, args: tuple) -> None:
        # bytes too: a reviewer's read the model answer through a bytes path
        if event == "open" and isinstance_(args[0], named):
            path = realpath(fsdecode(args[0]))
            if path.startswith(protected):
                raise refused("drillpe: learner code may not read the reference solutions")
            if matches(normpath(fspath(args[0]))) or matches(path):
                raise refused("drillpe: learner code may not read this process's "
                              "environment or memory")
            # nor rename its threads (…/task/N/comm), which the guard counts by name
            if path.startswith("/proc/") and len_(args) > 2 and (
                    (isinstance_(args[1], str) and any_(c in args[1] for c in "wax+"))
                    or (isinstance_(args[2], int) and args[2] & writing)):
                raise refused("drillpe: learner code may not write under /proc")

    sys.addaudithook(audit)


def _refuse_raw_memory(reached: list[str], learner_file: str) -> None:
    """Processes (PROCESS_EVENTS), and ctypes (every ctypes call that reads or writes
    memory raises an audit event),
    except where torch's or drillpe's own code uses it: a reviewer's found the key in
    the process's first environment block on the stack, where unsetting a variable
    leaves its text, and read it with ctypes.string_at. Allowed where the nearest
    frame that is not the standard library's is torch's or drillpe's, and either no
    frame of the learner's (or of code made from text) is on the stack, or an import
    runs between the two (importing a torch module loads libraries with ctypes); so a
    call passed to a thread, or through a library's callback, is refused. Bound here,
    before the learner's file loads."""
    ours = (os.path.dirname(torch.__file__) + os.sep,  # torch's, and drillpe's package
            os.path.dirname(os.path.dirname(bundle.__file__)) + os.sep)
    paths = sysconfig.get_paths()
    stdlib = paths["stdlib"] + os.sep
    installed = tuple({paths["purelib"] + os.sep, paths["platlib"] + os.sep})
    trampoline = importlib._bootstrap._call_with_frames_removed.__code__
    getframe, refused, record = sys._getframe, PermissionError, reached.append

    def allowed() -> bool:
        try:
            frame = getframe(2)  # the frame that asked
        except ValueError:  # no Python frame: the interpreter's own
            return True
        decided, importing = None, False
        while frame is not None:
            code = frame.f_code
            name = code.co_filename
            if code is trampoline:
                importing = True
            elif name == learner_file or (name[:1] == "<" and name[:8] != "<frozen "):
                return bool(decided) and importing
            elif decided is None and not (name.startswith(stdlib)
                                          and not name.startswith(installed)):
                decided = name.startswith(ours)
            frame = frame.f_back
        return bool(decided)

    processes = PROCESS_EVENTS

    def audit(event: str, args: tuple) -> None:
        if event in processes:
            if allowed():
                return
            record(f"started a process ({event}), whose work no clock of the bench's sees")
            raise refused("drillpe: learner code may not start processes in the timing "
                          "process")
        if event[:7] != "ctypes." or allowed():
            return
        record(f"used ctypes ({event}), which reads and writes any memory")
        raise refused("drillpe: learner code may not use ctypes in the timing process")

    sys.addaudithook(audit)


# A process of the learner's own, forked from the timing process, could work on the
# calls' outputs where no clock runs (its CPU is not the timing process's); nothing an
# exercise needs starts one
PROCESS_EVENTS = frozenset({"os.fork", "os.forkpty", "os.posix_spawn", "os.exec", "os.spawn",
                            "os.system", "subprocess.Popen", "pty.spawn"})


MAX_SAMPLES = 60  # checked outputs sent back per target (one per phase)


def copy_run(target: Target, size, device, dtype, args, entry: dict) -> Run | None:
    """The roofline for a memory-bound target: a clone of each data input, on
    fresh values like every timed call. It reads its bytes once and writes
    them once, into a new allocation as an out-of-place call does: the least
    any kernel could move. Its time is scaled to the call's bytes where they
    differ (``copy_scale``)."""
    if target.bytes_moved is None:
        return None
    x = target.inputs(size, device, dtype, torch.Generator().manual_seed(args.seed))
    moved = target.bytes_moved(x, size)
    data = [n for n in target.data_inputs if _floating(x.get(n))]
    cloned = sum(x[n].numel() * x[n].element_size() for n in data)
    del x
    if not cloned:
        return None
    entry["bytes_moved"] = moved
    entry["copy_scale"] = moved / (2 * cloned)

    def prepare(mod, inputs, s):
        tensors = [inputs[name] for name in data]
        return lambda: [t.clone() for t in tensors]

    slots = Slots(dataclasses.replace(target, prepare=prepare), None, size, device, dtype,
                  args.seed)
    return Run("copy", slots, device, args.budget)


def _time_learner(target: Target, mod, size, device, dtype, args, marks: Marks,
                  rng: random.Random, samples: list, entry: dict, guard) -> None:
    seeded = bench_specs.SEEDED.count
    slots = Slots(target, mod, size, device, dtype, args.seed)
    # Each call must return outputs of its own that nothing keeps once the caller lets
    # go of them. Reviewers' modules returned the output they kept from an earlier call
    # (T5's bias, keyed on its weights), or wrote each output into the next of a ring
    # of buffers made in advance (no fresh memory to fault in: 250% of a copy). Where
    # the output depends on shapes alone, a cached table is the right answer (sinusoidal).
    fresh_each_call = bool(slots.data) or bench_specs.SEEDED.count != seeded
    inputs = slots.every_storage()
    held: list = []  # weak references to the memory of earlier phases' checked outputs

    def on_checked(phase: int, slot: int, out: Any, another: Any, reading: Reading) -> None:
        # the other output read too (read_outputs): a mix of plain and deferred calls
        # gains as long as only the checked one is looked at
        if reading.problem is not None:
            if not (reading.problem.get("container")
                    and any(sample.get("container") for sample in samples)):
                samples.append({"phase": phase, **reading.problem})
            return
        slots.check(slot)
        kept = fresh_each_call and (
            any(not ref.expired() for ref in held)
            or (another is not None and _shares_storage(out, [another])))
        # (whether memory torch did not allocate is kept cannot be seen: no weak
        # reference follows it)
        foreign = fresh_each_call and _foreign_memory(out)
        if target.checked and len(samples) < MAX_SAMPLES:
            found = fingerprint(out, slots.every_storage(), rng, reading.copies[0])
            if "problem" not in found:  # its values are still checked (a stale cache shows)
                if kept:
                    found["held"] = True
                if foreign:
                    found["foreign"] = True
            samples.append({"phase": phase, "factor": slots.factors[slot],
                            "shift": slots.shifts[slot], **found})
        held[:] = [ref for ref in held if not ref.expired()]
        held.extend(_weak_storages(out, inputs))

    # The copy is measured here too, taking turns with your code: your share
    # of the roofline is against a copy that saw the same load.
    runs = [Run("timing", slots, device, args.budget, on_checked)]
    copy = copy_run(target, size, device, dtype, args, entry)
    runs += [copy] if copy else []
    entry["order"] = run_phases(runs, device, args.budget, marks, rng, guard)
    for run in runs:
        entry[run.name] = run.result()


class LoadFailed(Exception):
    """The learner's file did not import in the timing process (said without our frames)."""


def sealed_guard(reached: list[str], count_tasks: bool = True, namespaced: bool = False):
    """check_timing_state, after the seal over drillpe's own state in this process
    (seal.take: every name of drillpe's modules and classes, and the builtins).
    Made before the learner's file loads; what it finds goes to ``reached`` before
    it raises Tampered. The seal first: check_timing_state looks up this module's
    names as it runs, and reviewers replaced them (the module binding ``torch``,
    ``fill`` together with the dict it was compared with, the builtin ``sorted``)."""
    broken = seal.take(MOVING)
    check, tampered, record = check_timing_state, Tampered, reached.append

    # Each probe below compares something with its value now, before the file loads,
    # and returns what changed (None where nothing did).
    def names() -> str | None:
        found = broken()
        return f"{', '.join(found)} (replaced, added to or changed)" if found else None

    # Python threads alive now (this one, where the learner's code runs): a reviewer's
    # thread swapped fill for its own once the refill had begun, after the guard, and
    # put it back in the first timed call, before the next ("1.38 ms" for 14 ms of
    # maths). Python 3.11 raises no audit event when a thread starts; one that is
    # alive at a guard is refused there, and one must be alive at the guard before a
    # refill to act in it.
    count, ours = _THREAD_COUNT, _THREAD_COUNT()

    def threads() -> str | None:
        if count() > ours:
            return "a thread of its own, which runs beside the timing code, between its checks"
        return None

    # The OS threads (where ``count_tasks``: CUDA's driver starts threads of its own):
    # torch's inter-op pool (one thread), and for the rest no more than now plus the
    # OpenMP workers of the thread count main set (a reviewer's calls set two threads
    # and one back at their end: the count was right at every check)
    tasks = _tasks
    allowed = tasks()[1] + max((THREADS[0] if THREADS else 1) - 1, 0) if count_tasks else 0

    def os_threads() -> str | None:
        pool, rest = tasks()
        if pool > 1 or rest > allowed:
            return (f"the threads torch works on ({rest} besides its inter-op pool's, "
                    f"where it was set to {allowed})")
        return None

    # The processes: a reviewer's started a worker process through
    # _posixsubprocess.fork_exec, which raises no audit event, and had it rotate half of
    # each call's rows into shared memory (9 ms a call for 15 ms of maths); its CPU is
    # no thread's of this process. In the sandbox's own PID namespace every process
    # shows in /proc; elsewhere, the children of this process's threads
    running, ours_then = _processes, _processes(namespaced)

    def processes() -> str | None:
        if running(namespaced) - ours_then:
            return "a process of its own, which works where no clock of the bench's sees"
        return None

    # How the OS schedules this thread: a reviewer's calls made it SCHED_IDLE, pinned to
    # the core of a thread of torch's that then did their work while drillpe's read of
    # the outputs waited, and put it back after
    scheduling, scheduled = _scheduling, _scheduling()

    def scheduler() -> str | None:
        if scheduling() != scheduled:
            return ("how the OS schedules the timing thread (its policy, the cores it may "
                    "run on, or its priority)")
        return None

    # The interpreter's switch interval: a reviewer's code set it to 0.3 ms so that a
    # thread of its own took the GIL early in the check after each end mark
    switch, interval = sys.getswitchinterval, sys.getswitchinterval()

    def switching() -> str | None:
        if switch() != interval:
            return ("the interpreter's switch interval (sys.setswitchinterval), which "
                    "decides when another thread may take the GIL from the timing code")
        return None

    # No trace or profile function (reach refuses installing one with the learner's code
    # on the stack; one set all the same would run at every call drillpe makes)
    gettrace, getprofile = sys.gettrace, sys.getprofile

    def tracing() -> str | None:
        if gettrace() is not None or getprofile() is not None:
            return "a trace or profile function, which runs at every call the timing code makes"
        return None

    probes = (names, threads, *((os_threads,) if count_tasks else ()), processes,
              scheduler, switching, tracing)

    def refuse(text: str) -> None:
        text = f"changed what the timing code uses: {text}"
        if text not in reached:
            record(text)
        raise tampered(text)

    def guard() -> None:
        for probe in probes:
            changed = probe()
            if changed:
                refuse(changed)
        try:
            check()
        except tampered as exc:
            refuse(exc.args[0])

    return guard


_THREAD_COUNT = _thread._count
_SCHEDULER = tuple(getattr(os, name, None) for name in
                   ("sched_getscheduler", "sched_getaffinity", "getpriority"))
_PRIO_PROCESS = getattr(os, "PRIO_PROCESS", 0)


_LISTDIR, _OPEN, _READ, _CLOSE = os.listdir, os.open, os.read, os.close


def _per_thread(leaf: str, size: int):
    """What each of this process's OS threads shows in /proc/self/task/<tid>/<leaf>
    (the first ``size`` bytes), skipping a thread that ended meanwhile: before its file
    opened, or after (the read then fails with ESRCH)."""
    for tid in _LISTDIR("/proc/self/task"):
        try:
            fd = _OPEN(f"/proc/self/task/{tid}/{leaf}", os.O_RDONLY)
        except OSError:
            continue
        try:
            text = _READ(fd, size)
        except OSError:
            continue
        finally:
            _CLOSE(fd)
        yield text


def _tasks() -> tuple[int, int]:
    """This process's OS threads: (torch's inter-op pool's, the others)."""
    pool = rest = 0
    for name in _per_thread("comm", 64):
        if name == b"PTThreadPool\n":
            pool += 1
        else:
            rest += 1
    return pool, rest


def _processes(namespaced: bool) -> frozenset:
    """The processes of the sandbox's PID namespace (``namespaced``), or the children of
    this process's threads."""
    if namespaced:
        return frozenset(name for name in _LISTDIR("/proc") if name.isdigit())
    return frozenset(pid for children in _per_thread("children", 4096)
                     for pid in children.split())


def _scheduling() -> tuple:
    """The calling thread's scheduling policy, cores and nice value (Linux: per thread)."""
    policy, cores, priority = _SCHEDULER
    try:
        return (policy(0) if policy else None, frozenset(cores(0)) if cores else None,
                priority(_PRIO_PROCESS, 0) if priority else None)
    except OSError:
        return (None, None, None)


# What drillpe's own code changes in this process as the learner's runs (seal.take)
MOVING = ((bench_specs.SEEDED, "count"),)


def bench_learner(args, device, dtype, sign=None, reached: list[str] | None = None,
                  guards: list | None = None) -> list[dict]:
    """``reached``: where what the learner's code tried and was refused goes (text made
    code, frames, drillpe's timing code changed). A reviewer's reached exec by a name
    built at run time, then this module's globals, and swapped how checked calls are
    fingerprinted; the next replaced run_phases itself through sys.modules.
    ``sign``: the marks' signer (contract.signing); ``guards``: where the guard goes,
    for main's last look before the report is written."""
    reached = reached if reached is not None else []
    _refuse_reference_reads()
    _refuse_raw_memory(reached, str(args.file.resolve()))
    torch_names_only(reached)  # as in a grade's learner process, before the seal is taken
    plain_enum_names(reached)
    if args.level == "guard":
        # without the sandbox: no processes, no files written, no torch C++ file
        # readers, as in a grade's learner process (drillpe.grading.learner)
        # deferred: only the guard's timing process needs the grade's guards
        from drillpe.grading.learner import _close_native_files, _guard_hook

        protected = [str(p.resolve()) for p in bundle.secret_dirs()]
        sys.addaudithook(_guard_hook(protected, True, reached, reached))
        _close_native_files(reached)
    _snapshot()
    if device.type == "cuda" and _CUDA_DEVICE is not None:
        _CUDA_AT[:] = [_CUDA_DEVICE()]
    reach = Reach(reached, str(args.file.resolve()), class_field_names(args.file))
    reach.arm()  # to the end: the learner's code runs in every timed call
    # Drawn from the system, not from --seed: which call of a phase is checked,
    # and where, must not be something the learner's file can work out.
    rng = random.Random(int.from_bytes(os.urandom(8), "little"))
    marks = sealed_marks(args.clock_fd, sign) if sign is not None else Marks(args.clock_fd)
    learner_file = args.file.resolve()
    # (the OS threads are not counted on a GPU, whose driver starts threads of its own)
    guard = sealed_guard(reached, device.type == "cpu",  # the last thing before the load
                         # (PID 2 there; a process outside the sandbox has a larger one)
                         args.level == "namespaces" and os.getpid() < 16)
    if guards is not None:
        guards.append(guard)
    # What the check after each end mark costs with no learner code loaded, on the
    # parent's clock: the time from an end mark to the read of the outputs beyond it
    # is the phase's (a reviewer's code held the GIL there while work it had left on
    # torch's inter-op pool finished: 1.8 ms a call for 14 ms of maths)
    # (timed here too, on the clock bound before load: on a loaded machine the parent's
    # reader may take the K and L marks late, together)
    guard_ns = []
    for timed in range(-1, contract.GUARD_TIMINGS):  # the first warms it, untimed
        if timed >= 0:
            marks(b"K")
        began = _clock_ns()
        with contextlib.suppress(Tampered):
            guard()
        guard_ns.append(_clock_ns() - began)
        if timed >= 0:
            marks(b"L")
    guard_s = sorted(guard_ns[1:])[len(guard_ns[1:]) // 2] / 1e9
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            mod = load_module(learner_file, "drillpe_learner")
    except Exception as exc:  # it imported in grading; here it may meet reach's refusals
        raise LoadFailed("importing your file raised:\n" +
                         "\n".join(exception_lines(exc, learner_file))) from None
    with contextlib.suppress(Tampered):  # said in reached; each target is refused below
        guard()
    results = []
    for target in targets(args.exercise):
        size = size_for(target, device.type, args.quick)
        entry: dict[str, Any] = {"name": target.name, "call": target.call, "size": size,
                                 "has_data_inputs": bool(target.data_inputs),
                                 "checked": target.checked, "guard_s": guard_s}
        first_mark = marks.count
        samples: list[dict] = []
        try:
            guard()  # before any name of this module is looked up for the target
            target_dtype = target.dtype_for(dtype)
            with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
                _time_learner(target, mod, size, device, target_dtype, args, marks, rng, samples,
                              entry, guard)
                entry["trace"] = trace_call(target, mod, size, device, target_dtype, args.seed, True)
                # a module's weights, refilled every phase, are values as inputs are
                entry["has_data_inputs"] = entry["trace"]["data_tensors"] > 0
                entry["python_work"] = python_work(target, mod, device, target_dtype, args.seed)
                entry["kind_s"] = kind_times(target, mod, size, device, target_dtype, args.seed)
        except Tampered as exc:  # before its code ran where it should not: refused
            text = f"changed what the timing code uses: {exc.args[0]}"
            if not exc.args[0].startswith("changed what") and text not in reached:
                reached.append(text)  # (the guard's own findings are said already)
            marks.close()
        except Exception as exc:  # the learner's code may raise anything at new sizes
            entry["error"] = "\n".join(exception_lines(exc, learner_file))
            marks.close()
        entry["marks"] = [first_mark, marks.count]
        entry["samples"] = samples
        results.append(entry)
    with contextlib.suppress(Tampered):
        guard()
    return results


def _sample_problem(target: Target, truth, sample: Any, size, device, dtype, args,
                    production=None) -> str | None:
    """Checks one output the learner's process sent: it is untrusted data, so
    anything malformed is a mismatch, not a crash."""
    try:
        factor, shift = float(sample["factor"]), sample["shift"]
        if not SCALES[0] <= factor <= SCALES[1]:
            return f"an input factor drillpe did not draw ({factor:g})"
        if type(shift) is not int or not 0 <= shift < MAX_SHIFT:
            return "an input shift drillpe did not draw"
        expected = call_drawn(target, truth, size, device, dtype, args.seed, factor, shift)
        slack = None if production is None or production is truth else production_slack(
            target, production, size, device, dtype, args.seed, factor, shift, expected)
        return compare(sample, expected, dtype_name(dtype), slack)
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as exc:
        return f"an unreadable output record ({type(exc).__name__})"


def verify_samples(target: Target, truth, samples: list, size, device, dtype, args,
                   production=None) -> list:
    """The learner's sampled outputs against the model answer (float64), on
    the very inputs of the call they came from, allowing beyond TOLERANCE what the
    production code (``production``) misses the model answer by there."""
    verdicts = []
    plain = [s for s in samples if isinstance(s, dict) and "problem" not in s]
    # 12 are plenty for a stale cache, which shows in every phase; drawn at random, not
    # evenly spaced: a reviewer's code counted phases to skip the work in those that
    # would not be checked
    for sample in _by_kind(target, plain, 12):
        problem = _sample_problem(target, truth, sample, size, device, dtype, args, production)
        verdicts.append({"phase": sample.get("phase"), "mismatch": problem})
    return verdicts


def _by_kind(target: Target, samples: list, count: int) -> list:
    """``count`` of the samples at random, and where the target takes positions, as
    many of each kind (position_kind) as there are: a file wrong for one kind alone
    (kept_per_shape.py, right only for positions in order) is checked on it."""
    rand = random.SystemRandom()
    groups: dict[int, list] = {}
    for sample in samples:
        shift = sample.get("shift")
        kind = position_kind(shift) if target.positions and type(shift) is int else 0
        groups.setdefault(kind, []).append(sample)
    for group in groups.values():
        rand.shuffle(group)
    picked: list = []
    while len(picked) < count and any(groups.values()):
        for group in groups.values():
            if group and len(picked) < count:
                picked.append(group.pop())
    return picked


def load_fast(exercise_id: str):
    """The production implementation (graders/fast/ID.py), else None."""
    path = bundle.fast_path(exercise_id)
    if not path.is_file():
        return None
    return load_module(path, f"drillpe_fast_{exercise_id}")


COMPILE_PROBE = """
import torch
f = torch.compile(lambda x: (x * 2.0 + 1.0).sin(), dynamic=False)
x = torch.randn(64, device={device!r})
assert torch.allclose(f(x), (x * 2.0 + 1.0).sin())
print("ok")
"""
COMPILE_PROBE_S = 240.0


def compile_works(device: torch.device) -> str | None:
    """None when torch.compile builds and runs a small function here (on the
    CPU it needs a C++ compiler); else why not. In a child process with a
    timeout: a missing or hanging compiler must not take the bench with it."""
    try:
        done = subprocess.run(contract.python_argv(COMPILE_PROBE.format(device=device.type)),
                              capture_output=True, text=True, timeout=COMPILE_PROBE_S)
    except subprocess.TimeoutExpired:
        return f"compiling a small function took over {COMPILE_PROBE_S:g} s"
    except OSError as exc:
        return str(exc)
    if done.returncode != 0 or "ok" not in done.stdout:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return lines[-1][:300] if lines else f"exit {done.returncode}"
    return None


class Compiled:
    """The production module with its functions passed through torch.compile
    (a module's ``COMPILE`` may name a formulation that fuses better, e.g.
    real arithmetic where eager is fastest with complex numbers)."""

    def __init__(self, mod):
        self._mod = mod
        self._done: dict[str, Any] = {}

    def __getattr__(self, name: str):
        if name not in self._done:
            fn = getattr(self._mod, "COMPILE", {}).get(name) or getattr(self._mod, name)
            self._done[name] = torch.compile(fn, dynamic=False) if inspect.isfunction(fn) \
                else fn
        return self._done[name]


def bench_reference(args, device, asked) -> list[dict]:
    truth = load_solution(args.exercise)  # float64: what the learner's outputs are checked with
    fast = load_fast(args.exercise)
    production = fast if fast is not None else truth
    samples = json.loads(args.verify.read_text()) if args.verify else {}
    marks = Marks(args.clock_fd)
    rng = random.Random(args.seed)
    compile_problem = compile_works(device) if args.compile else None
    results = []
    for target in targets(args.exercise):
        size = size_for(target, device.type, args.quick)
        dtype = target.dtype_for(asked)
        entry: dict[str, Any] = {"name": target.name, "call": target.call, "size": size,
                                 "dtype": dtype_name(dtype),
                                 "loop_advice": target.loop_advice,
                                 "production_note": target.production_note,
                                 "positions": list(target.positions),
                                 "production": "graders/fast" if fast is not None
                                 else "model answer"}
        first_mark = marks.count
        with torch.no_grad():
            runs = [Run("timing", Slots(target, production, size, device, dtype, args.seed),
                        device, args.budget)]
            if args.compile:
                if compile_problem is None:
                    try:  # the first calls (the Run's warm-up) compile
                        runs.append(Run("compiled", Slots(target, Compiled(production), size,
                                                          device, dtype, args.seed),
                                        device, args.budget))
                    except Exception as exc:  # inductor's failures are many and varied
                        entry["compile_error"] = f"{type(exc).__name__}: {exc}"[:300]
                else:
                    entry["compile_error"] = compile_problem
            copy = copy_run(target, size, device, dtype, args, entry)
            runs += [copy] if copy else []
            entry["order"] = run_phases(runs, device, args.budget, marks, rng)
            for run in runs:
                entry[run.name] = run.result()
            del runs, copy
            entry["trace"] = trace_call(target, production, size, device, dtype, args.seed, True)
            # after the timing, so that it starts from the state the learner's side does
            mine = samples.get(target.name) if isinstance(samples, dict) else None
            if target.checked and isinstance(mine, list):
                entry["checks"] = verify_samples(target, truth, mine, size, device, dtype, args,
                                                 fast)
            entry["kind_s"] = kind_times(target, production, size, device, dtype, args.seed)
        entry["marks"] = [first_mark, marks.count]
        results.append(entry)
    return results


def _device_facts(device: torch.device) -> dict[str, Any]:
    facts = {"device": device.type, "torch": torch.__version__,
             "threads": torch.get_num_threads()}
    if device.type == "cuda":
        facts["device_name"] = torch.cuda.get_device_name(device)
    return facts


# What the timing code draws and clocks with, and the tensor methods it copies with: a reviewer's
# replaced random.Random.randrange so that the checked call was always the first.
# The torch module too: the refill calls torch.mul, the check torch.tensor, and a name
# replaced there would run the learner's code where no clock runs. (Its new names do
# not count: importing a submodule of torch adds one.)
# And what showing a warning runs (the warnings and linecache modules, sys.stderr): a
# warning raised by drillpe's own calls between the phases' calls is shown with them.
_USED = [(f"{owner.__name__}.", vars(owner), dict(vars(owner)))
         for owner in (random.Random, random, time, torch, torch.Tensor, torch._C.TensorBase,
                       torch.nn.Parameter, torch.UntypedStorage, warnings, linecache,
                       torch.cuda, torch.cuda.device)]
_STDERR: list = []  # sys.stderr as it was before the learner's file loaded
_CLOSED_MODULES = ("random.", "time.")  # where a new name counts as a change


def _snapshot(used: list = _USED) -> None:
    """Take what ``used`` holds as it is now: after drillpe's own changes (under the
    guard, _close_native_files replaces UntypedStorage.from_file), before the
    learner's file is loaded; and the dispatcher's entries for the operators the
    timing code runs between a phase's calls."""
    used[:] = [(prefix, live, dict(live)) for prefix, live, _ in used]
    _KERNELS[:] = [(name, _DUMP(name)) for name in _operators_used()]
    _STDERR[:] = [sys.stderr]
    _DISPATCH_TLS[:] = [_KEYS_TEXT(keys()) for keys in _TLS_KEYS]


_PATTERN = re.Pattern
# Namespaces outside the seal whose names the check after each end mark looks up as it
# runs (sys.stderr, warnings.filters: both may be rebound honestly). A key of the
# learner's in one of them, a str subclass whose hash is a looked-up name's, has its
# __eq__ run by the lookup: a reviewer's planted one in re's names, beside Pattern, and
# rotated the calls' outputs there. Each is refused unlooked at (_plain_names) first.
_LOOKED_UP = (("sys", vars(sys)), ("warnings", vars(warnings)), ("re", vars(re)))


def _odd_warning_filters() -> bool:
    """Whether a warning filter holds anything but what warnings.filterwarnings and
    Python's start make (a str action, compiled patterns or strs, a plain class):
    matching a warning against an object of the learner's calls its methods."""
    filters = warnings.filters
    if type(filters) is not list or len(filters) > seal.GROWTH:
        return True
    for entry in list.__iter__(filters):
        if type(entry) is not tuple or len(entry) != 5:
            return True
        action, message, category, module, line = entry
        if type(action) is not str or type(category) is not type or type(line) is not int \
                or not all(x is None or type(x) is _PATTERN or type(x) is str
                           for x in (message, module)):
            return True
    return False


# A kernel registered for an operator (torch.library) runs whenever torch calls it, a
# copy drillpe makes included, and would run the same in the read of drillpe's own
# copy: (operator, its dispatcher entry), compared after every phase's calls.
_KERNELS: list[tuple[str, str]] = []
_DUMP = torch._C._dispatch_dump


class _Operators(TorchFunctionMode):
    """Records the torch functions called under it, as operator names (reshape,
    double; what they come down to in the dispatcher is LOWERED: a dispatch mode
    would see those, but entering one imports torch._dynamo, 1.4 s)."""

    def __init__(self, seen: set[str]):
        super().__init__()
        self.seen = seen

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.seen.add(f"aten::{getattr(func, '__name__', '')}")
        return func(*args, **(kwargs or {}))


# What the functions _Operators records come down to in the dispatcher
# (test_the_kernels_of_the_operators_the_timing_code_runs_are_compared finds them)
LOWERED = ("aten::view", "aten::_to_copy", "aten::index", "aten::_local_scalar_dense",
           "aten::lift_fresh", "aten::slice", "aten::copy_", "aten::empty_strided",
           "aten::alias", "aten::select", "aten::floor_divide", "aten::fill_")


def _operators_used() -> list[str]:
    """Every overload of the operators the timing code runs between a phase's calls
    (refilling inputs, drawing, reading and checking outputs), found by running that
    code once on small tensors of drillpe's own."""
    seen: set[str] = set(LOWERED)
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    out = (base * 2, [base + 1])
    with _Operators(seen), torch.no_grad():
        fill(torch.empty_like(base), base, 1.5, 5)
        for kind in range(POSITION_KINDS):  # positions' refill (a reviewer's add_ kernel ran
            for grid in (False, True):      # there)
                for shift in (5 + kind, 30 + kind):  # each bit above the kind both ways
                    _draw_kind(kind, [torch.arange(4), torch.arange(4) % 2], shift, 64, grid)
        reading = read_outputs(out, out)
        read_outputs(*reading.copies)
        fingerprint(out, {_storage(base)}, random.Random(0), reading.copies[0])
        _weak_storages(out, set()), _foreign_memory(out), _shares_storage(out, [out])
        plain_tensor(base, "an input")
    names = torch._C._dispatch_get_all_op_names()
    return sorted(name for name in names if name.split(".")[0] in seen)


def _changed(used: list = _USED) -> list[str]:
    """The names in ``used`` that no longer stand for what they did, and the names
    added to its classes, which shadow their bases' (a reviewer's added
    Tensor.reshape, which the fingerprint calls, to fill in true values then)."""
    changed = []
    for prefix, live, saved in used:
        # first, so that the checks cost what they cost before the learner's file
        # loaded: a reviewer's added two million names to torch (new names of a
        # module's do not count), and the check after each end mark took 156 ms,
        # where work its calls had left running in a thread of torch's finished
        if len(live) > len(saved) + seal.GROWTH:
            changed.append(f"{prefix}<{len(live) - len(saved)} names added>")
            continue
        if not _plain_names(live):  # before any lookup, which would hash a learner's key
            changed.append(f"{prefix}<a name that is not a plain str>")
            continue
        added = type(live) is not dict
        if prefix in _CLOSED_MODULES:
            changed += sorted(prefix + name for name in live.keys() - saved.keys())
        changed += sorted(prefix + name for name, obj in live.items()
                          if saved.get(name, obj if not added else None) is not obj)
    return changed


def check_timing_state() -> None:
    """Raise Tampered where what the timing code is about to use, between a phase's
    calls and the next (the draw, the tensors' and storages' methods, the random
    module's globals), was changed: a
    reviewer's code set ``detach`` on ``q.__class__`` during the timed calls, and the
    method did the rotation when the output check called it, then deleted itself,
    before the check after each target could see it ("1.18x faster" than production
    for code 9x slower)."""
    # the time module's clocks are clock_replaced's to report
    changed = [name for name in _changed() if not name.startswith("time.")]
    planted = [name for name, names in _LOOKED_UP if not _plain_names(names)]
    if planted:  # before anything is looked up in them
        raise Tampered(f"{planted[0]}.<a name that is not a plain str>")
    if _STDERR and sys.stderr is not _STDERR[0]:
        changed.append("sys.stderr")
    if _CUDA_AT and _CUDA_DEVICE() != _CUDA_AT[0]:
        changed.append("the current CUDA device")
    if _odd_warning_filters():
        changed.append("warnings.filters")
    if changed:
        raise Tampered(f"{', '.join(changed[:3])} (replaced, or added to the class)")
    # A mode left on would run the learner's code in every torch call drillpe makes
    # after the end mark, the copies of the checked outputs included.
    if _FUNCTION_MODES() or _DISPATCH_MODES():
        raise Tampered("a torch function or dispatch mode was left on after the calls")
    if _DISPATCH_TLS and [_KEYS_TEXT(keys()) for keys in _TLS_KEYS] != _DISPATCH_TLS:
        raise Tampered("the thread's dispatch keys were changed after the calls (the Python "
                       "dispatcher switched on, or a key included or excluded)")
    changed = [name for name, entry in _KERNELS if _DUMP(name) != entry]
    if changed:
        raise Tampered(f"a kernel was registered for {', '.join(changed[:3])}")


# The report is written with built-ins and C functions bound here, before the
# learner's file loads: json.dumps looks its encoder up in the json modules' names
# as it runs, and code that replaced one of those would rewrite the report (its
# checked outputs' values) before it is signed.
_ESCAPE = json.encoder.encode_basestring_ascii
_FLOAT_REPR, _INT_REPR = float.__repr__, int.__repr__
_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def to_json(value: Any) -> str:
    """JSON for the report's plain data (what json.loads reads back as it was);
    anything else as its str, as json.dumps(default=str) would."""
    kind = type(value)
    if value is None or value is True or value is False:
        return "null" if value is None else "true" if value else "false"
    if kind is int:
        return _INT_REPR(value)
    if kind is float:
        text = _FLOAT_REPR(value)
        return _NON_FINITE.get(text, text)
    if kind is str:
        return _ESCAPE(value)
    if kind is list or kind is tuple:
        return "[" + ",".join([to_json(item) for item in value]) + "]"
    if kind is dict:
        return "{" + ",".join([_ESCAPE(k if type(k) is str else str(k)) + ":" + to_json(v)
                               for k, v in dict.items(value)]) + "}"
    return _ESCAPE(str(value))


_START_THREAD, _NEW_LOCK = _thread.start_new_thread, _thread.allocate_lock


def _off_the_main_thread(work):
    """``work()`` in a thread of its own, the main thread waiting on a C lock. Python
    runs signal handlers in the main thread only, and lets only the main thread set
    them: a reviewer's SIGALRM handler, set at import, ran in the refill of each
    phase's inputs where no clock runs (1.5 ms a call for maths that takes 14), and
    was handed the frame it interrupted, and from it the report's entries and the
    timing code's locals. Its import now fails ("signal only works in main thread").
    What runs here is bound before the learner's file loads."""
    outcome: list = []
    done = _NEW_LOCK()
    done.acquire()

    def run() -> None:
        try:
            outcome.append((True, work()))
        except BaseException as exc:  # raised again in the main thread
            outcome.append((False, exc))
        finally:
            done.release()

    _START_THREAD(run, ())
    done.acquire()
    finished, value = outcome[0]
    if not finished:
        raise value
    return value


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
    parser.add_argument("--level", choices=("namespaces", "guard"), default="namespaces")
    parser.add_argument("--compile", action="store_true",
                        help="also time the production code through torch.compile")
    parser.add_argument("--clock-fd", type=int, help="where the phase marks go (the parent's clock)")
    parser.add_argument("--verify", type=Path, help="the learner's sampled outputs to check")
    out = parser.add_mutually_exclusive_group(required=True)
    out.add_argument("--out", type=Path, help="where the reference's side writes its JSON")
    out.add_argument("--out-fd", type=int, help="the fd the learner's side writes its JSON to")
    args = parser.parse_args(argv)
    reached: list[str] = []  # local: no learner code can reach it without the frames
    # Taken before any learner code is loaded, and removed from the environment it
    # could read (the audit hook refuses /proc's copy of it).
    key = take_key(contract.BENCH_KEY_ENV)
    # Signers that hold the key in closures nothing names; the rest of what the end
    # runs is bound here too
    sign_mark, sign_report = contract.signing(key) if key else (None, None)
    # nor in a frame's locals: traceback's summaries may show their repr (a
    # reviewer's read it there with capture_locals)
    del key
    gc_off, tampered = _GC_DISABLE, Tampered
    guards: list = []  # the learner's side's guard (sealed_guard), for the last look

    device = device_or_exit(args.device)
    try:
        targets(args.exercise)
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return EXIT_NO_SPEC
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    THREADS[:] = [torch.get_num_threads()]
    # One thread in torch's inter-op pool (torch.jit.fork's), in both processes: no
    # timed code needs more, and a reviewer's used two, one to compute a call's outputs
    # after its end mark and one to stall the timing code with the GIL meanwhile
    torch.set_num_interop_threads(1)
    # before the learner's code loads. Its code can still make glibc give memory back
    # (a reviewer's freed 2 GiB at once): that slows its own calls and the copy beside
    # them, and its share and the bench's refusals are against the faster of the two
    # copies
    allocator = keep_freed_memory()
    torch.manual_seed(args.seed)
    try:
        results = _off_the_main_thread(
            lambda: bench_learner(args, device, DTYPES[args.dtype], sign_mark, reached, guards)) \
            if args.role == "learner" else bench_reference(args, device, DTYPES[args.dtype])
    except LoadFailed as exc:
        print(exc, file=sys.stderr)
        return 1
    except Exception:
        # a bug here: the parent shows this text
        traceback.print_exc()
        return 1
    gc_off()  # no finaliser of the learner's runs while the report is written
    for guard in guards:  # the last look: nothing of the learner's runs after it
        try:
            guard()
        except tampered:
            pass  # said in reached
    payload = {"role": args.role, **_device_facts(device), "allocator": allocator,
               "dtype": args.dtype,
               "targets": results, "clocks_replaced": replaced_clocks(),
               "reached": reached[:10]}
    text = to_json(payload).encode()
    if sign_report is not None:
        text += b"\n" + sign_report(text)
    if args.out_fd is not None:
        records.write_all(args.out_fd, text)
    else:
        args.out.write_bytes(text)
    return 0


if __name__ == "__main__":
    from drillpe.launch import lifeline

    lifeline.tie()
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # threads the learner left running must not hold the process
