"""What `drillpe bench` times: each exercise declares its targets in
``graders/bench/ID.py`` (the call, realistic sizes per device, a small size for
tracing, and the bytes a memory-bound call must move: its practical roofline
is a plain copy of those bytes). This module holds the shape of a target and
finds an exercise's.

Runs only in the bench's child processes (imports torch). Learner and
reference are called the same way, each in a process of its own.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import torch

from drillpe.data import bundle
from drillpe.grading.loading import load_module


@dataclass(frozen=True)
class Target:
    name: str
    call: str  # how the call reads in the report, e.g. "RoPE(q, k)"
    sizes: dict[str, dict[str, int]]  # "cpu" / "cuda" / "quick" -> dimension sizes
    trace_size: dict[str, int]  # small size at which Python-level work is counted
    axes: dict[str, str]  # dimension -> what it means ("L": "positions")
    inputs: Callable[[dict, torch.device, torch.dtype, torch.Generator], dict[str, Any]]
    prepare: Callable[[ModuleType, dict, dict], Callable[[], Any]]
    # Bytes read + written by the ideal kernel; None for compute-bound calls.
    bytes_moved: Callable[[dict, dict], int] | None = None
    data_inputs: tuple[str, ...] = field(default=())  # inputs whose values the output depends on
    # Integer inputs that are positions (rope_neox's position_ids, rope_2d's rows and
    # cols): each phase hands every slot new tensors of them, of the kind the slot draws
    # (bench_child.draw_positions), so ``prepare``'s call must read them from the inputs'
    # dict when it runs (the dict is drillpe's own).
    # Held fixed, a reviewer's table cached on the tensors' identity, built in a Python
    # loop 10x slower than production, read "1.57x faster" and was wrong once they moved;
    # moved in place, the next kept its table per object and turned it by the first
    # position's move ("1.15x faster" for code 9x slower).
    positions: tuple[str, ...] = field(default=())
    # Every drawn position stays below this (bench_child._draw_kind): far from every
    # float32 rounding trouble in the angles (6656 radians keep float32's 1e-3 at ease), and
    # wide enough that tables for the range the positions fall in are tables for every
    # position a model of that length uses, built once, as a model's cache is.
    position_limit: int = 6656
    # Whether the call takes positions as a batch of rows too ((1, L) as HF's Llama
    # passes them): then every other draw hands them so (a reviewer's rope_neox looped in
    # Python over rows of ids, 10x slower, while the bench only passed 1-D ids)
    position_rows: bool = False
    # Whether the bench compares sampled outputs with the model answer's (a module
    # the call builds gets the same weights on both sides: seed_parameters).
    checked: bool = True
    # How to do without a Python loop in this exercise, for bench.python_loop's advice.
    loop_advice: str = ("broadcast over the whole tensor (masks, index tensors, slices) "
                        "instead of looping")
    # How the production code (graders/fast) does the call, in a sentence or two: what a
    # learner slower than it can try, where no cause in the trace says (a newcomer's
    # correct relative answer, 3.6x slower, was told nothing)
    production_note: str = ""
    # False where the call takes no tensors and the exercise's contract fixes its output
    # dtype (sinusoidal's table, rope_scaling's frequencies: float32): --dtype cannot
    # apply, and the bench times and checks it in float32, saying so (a newcomer's
    # "bfloat16" bench of rope_scaling timed the float32 call and held it to bfloat16's
    # tolerance)
    follows_dtype: bool = True

    def dtype_for(self, asked: torch.dtype) -> torch.dtype:
        """The dtype this target is timed and checked in when ``asked`` is asked for."""
        return asked if self.follows_dtype else FLOAT32


FLOAT32 = torch.float32


def randn(shape, device, dtype, gen) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=torch.float32).to(device=device, dtype=dtype)


class SEEDED:
    """How many modules seed_parameters has seeded in this process (the bench tells
    a call with weights of its own from one that depends on shapes alone), and the
    parameters of each (the bench refills them before every phase, as it does inputs),
    with the key each was seeded by (crc32 of its shape or name: the bench rolls each
    weight by a shift of its own from it, the same on both sides whatever order a
    module registers its parameters in)."""

    count = 0
    made: list[list] = []
    keys: list[list[int]] = []


def seed_parameters(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every parameter of ``module`` filled from ``seed`` and its key (its own
    generator per key: an extra parameter of another shape changes no other). The
    learner's module and the model answer's, built with the same seed, hold the same
    weights, so their timed outputs can be compared; without that, a reviewer's module
    returned uninitialised memory in the timed calls and was reported 2000x faster.

    The key is the parameter's shape where no other parameter of the module has it,
    else its name: an exercise whose API leaves the name free (learnable's table may
    be an ``nn.Embedding``'s weight or an ``nn.Parameter`` called anything) gets the
    model answer's weights whatever the learner called it; where several parameters
    share a shape (relative's two tables, its projections), the API fixes their names,
    not the order they are registered in. (A spare parameter of the table's shape
    makes the table's key its name, and its weights other than the model answer's.)"""
    SEEDED.count += 1
    seeded, keys = [], []
    SEEDED.made.append(seeded)
    SEEDED.keys.append(keys)
    params = list(module.named_parameters())
    shapes: dict[tuple, int] = {}
    for _, param in params:
        shapes[tuple(param.shape)] = shapes.get(tuple(param.shape), 0) + 1
    with torch.no_grad():
        for name, param in params:
            seeded.append(param)
            shape = tuple(param.shape)
            key = zlib.crc32((f"shape {shape}" if shapes[shape] == 1 else name).encode())
            keys.append(key)
            gen = torch.Generator().manual_seed((seed * 1_000_003 + key) % 2**63)
            scale = param.shape[-1] ** -0.5 if param.dim() > 1 else 0.1
            values = torch.randn(shape, generator=gen, dtype=torch.float32) * scale
            param.copy_(values.to(device=param.device, dtype=param.dtype))
    return module


def nbytes(*tensors: torch.Tensor) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def targets(exercise_id: str) -> list[Target]:
    """The targets graders/bench/ID.py declares (its TARGETS list)."""
    path = bundle.graders_dir() / "bench" / f"{exercise_id}.py"
    if not path.is_file():
        raise KeyError(f"drillpe bench has no timing spec for {exercise_id!r} yet "
                       f"(graders/bench/{exercise_id}.py)")
    return list(load_module(path, f"drillpe_bench_spec_{exercise_id}").TARGETS)


def size_for(target: Target, device_type: str, quick: bool) -> dict[str, int]:
    if quick:
        return dict(target.sizes["quick"])
    return dict(target.sizes["cuda" if device_type == "cuda" else "cpu"])
