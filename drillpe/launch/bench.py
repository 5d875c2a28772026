"""`drillpe bench`, the parent side: grade first, then time the learner's
code and the production implementation in two child processes, one after
the other, and say what the numbers mean: each side's share of the copy
roofline, where the gap goes, recognisable causes of slowness; or why a
result is refused.

The wall clock is ours: each child marks where every timed phase starts and
ends on a pipe, and this process timestamps the marks as they arrive
(processes.ClockSink). A phase counts for the longer of our time and the
child's own, so a learner's code that changes the clocks in its process
gains nothing, and a disagreement between the two is refused. The read of
each phase's checked outputs is marked too, and the same read of the copy
drillpe takes of them: code of the learner's that reading ran shows there
(bench.deferred_work). What the learner's process reports is untrusted JSON: its sampled outputs are checked
in the reference's process against the model answer.

No torch here: it runs in the CLI process. The timing itself lives in
``drillpe.grading.bench_child``; what is timed, in ``bench_specs``.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import statistics
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drillpe.errors import EXIT_FAILED, DrillpeBug, DrillpeError, UsageError
from drillpe.launch import contract, lifeline, processes
from drillpe.results import textsafety
from drillpe.results.report import times

SCHEMA = 2
LOOP_GROWTH = 0.5  # doubling an axis adds at least this share of torch calls: a loop
LOOP_MIN_CALLS = 8
# bench_child.POSITION_KINDS, as python_loop's text names them (python_work's "kind")
POSITION_KINDS = ("of any pattern",
                  "in order from 0 (a prompt's, maybe left-padded; a whole grid of any shape)",
                  "in order from a start (a window of a cache, a crop of a grid)",
                  "in a shuffled order",
                  "in packed runs (documents, or images), or a grid's cells picked apart")
TABLE_SHARE = 0.2  # shape-only writes above this share of a call are worth caching
# A kind of positions on which the learner's calls take this many times the production
# code's, and this many times the verdict's ratio, is named (bench.slow_kind)
SLOW_KIND_RATIO, SLOW_KIND_OVER = 2.0, 1.5
# An element a transcendental (sin, cos, polar, pow, exp: the tracer's TABLE_OPS) writes
# counts as this many writes: a helper's Llama RoPE rebuilt freqs_cis on every call,
# 16% of its writes and 1.3x slower than production, and was told of no table
TABLE_OP_WEIGHT = 4
# Inside the learner's process a phase may read shorter than on our clock by
# the pipe's latency and scheduling: tens of µs on a quiet machine, but tens
# of ms when this process waits for a core (measured: 5 ms per call over a
# 16-call phase at a load average of 18 on 2 cores). A phase whose own time
# is below this share of ours, by more than that slack, was timed with a
# clock that lies. The slack makes short phases unjudgeable: the clocks'
# identity (bench.clock_replaced) covers those, and nothing is lost, since a
# phase counts for the longer clock anyway.
CLOCK_AGREEMENT = 0.7
MARK_SLACK_S = 0.05
# Reading a phase's checked outputs (drillpe copies them, between marks of its own)
# against the same read of that copy, which runs nothing of the learner's: refused
# above this. A reviewer's deferred rotation took ~10x a copy of its output; an honest
# relative's read took 2.1 ms against 80 us once, on a machine loaded by others.
DEFERRED_RATIO, DEFERRED_SLACK_S = 3.0, 0.005
# A learner's refill may take this many times the copy's per byte, plus this much a
# phase (the same fill, of the same bytes per slot, in the same process; what differs
# is the slots' count and the learner's weights, which the rate per byte takes in)
REFILL_RATIO, REFILL_SLACK_S = 3.0, 0.002
# From a phase's end mark to the read of its outputs (C) the learner's side runs its
# check (the guard). What that took beyond this many times its cost before the
# learner's file loaded (K…L, the median of contract.GUARD_TIMINGS), plus this slack,
# counts for the phase: a reviewer's code held the GIL there while work it had left on
# torch's inter-op pool finished, before the outputs were read (1.8 ms a call, no
# refusal, for maths that takes 14 ms), and is refused where most phases need it.
AFTER_END_RATIO, AFTER_END_SLACK_S = 2.0, 0.002
# The timing thread's own CPU time there counts where it is over this many times that
# allowance (the check's reads of /proc cost the kernel a few ms more now and then)
AFTER_END_CPU_RATIO = 3.0
MAX_GUARD_S = 0.1  # what the child may say its check took before the file loaded
# CPU time the timing process's other threads may take between two phases before it
# is called work done off the clock (honest runs: microseconds, with OMP_WAIT_POLICY
# PASSIVE; torch's OpenMP threads otherwise spin for milliseconds after each region)
OTHERS_SLACK_S = 0.001
# In both timing processes: torch's OpenMP threads sleep after a parallel region instead
# of spinning (a 4M-element op ran 2% slower in a loop so, 0.415 s against 0.405 s for
# 200), so that the CPU other threads take between phases is work, not waiting
QUIET_THREADS = {"OMP_WAIT_POLICY": "PASSIVE"}
# ... and every thread allocates from the one heap, set before any thread starts:
# glibc gives a thread an arena of mapped heaps, unmapped as they empty whatever
# mallopt said (bench_child.keep_freed_memory), and the learner's side times on a
# thread of its own (freeing five of t5_bias's 32 MB outputs there took 4-9 ms of
# CPU, and the next calls faulted the pages in again)
TIMING_ENV = {**QUIET_THREADS, "MALLOC_ARENA_MAX": "1"}
# A call that moves its bytes in a third of the time a plain copy of them
# takes (measured beside it, on fresh inputs) did not do its work in the timed
# call: the copy reads each byte once and writes it once. Not 1: a call can
# beat a clone somewhat (caches, how its output is allocated), and the two
# share a busy machine.
MAX_ROOFLINE_SHARE = 3.0


class BenchFailed(DrillpeError):
    """The learner's answer cannot be benched (it fails its core checks, or
    crashes or times out at the bench sizes): exit 1, like a failed check."""

    exit_code = EXIT_FAILED


@dataclass
class BenchOptions:
    device: str = "cpu"
    dtype: str = "float32"
    threads: int = 1
    seed: int = 0
    budget_s: float = 2.0
    quick: bool = False
    timeout_s: float = 300.0
    compile: bool = False


@dataclass
class Cause:
    code: str
    message: str


@dataclass
class TargetBench:
    name: str
    call: str
    size: dict[str, int]
    learner: dict[str, Any] | None
    reference: dict[str, Any]  # the production implementation, in the learner's dtype
    copy: dict[str, Any] | None = None
    bytes_moved: int | None = None
    error: str | None = None
    causes: list[Cause] = field(default_factory=list)
    trace: dict[str, Any] | None = None
    python_work: dict[str, Any] | None = None
    loop_advice: str | None = None  # the exercise's bench spec says how to avoid the loop
    production_note: str | None = None  # how the production code does the call (its spec)
    production: str = "graders/fast"  # where the production implementation comes from
    reference_trace: dict[str, Any] | None = None
    compiled: dict[str, Any] | None = None  # the production code through torch.compile
    compile_error: str | None = None
    learner_copy: dict[str, Any] | None = None  # the copy measured beside the learner's code
    refused: list[str] = field(default_factory=list)  # why the learner's timing is not believed
    checked_outputs: int = 0
    # what the call was timed and checked in: --dtype, unless the call takes no tensors
    # and its output dtype is the exercise's (graders/bench: follows_dtype)
    dtype: str | None = None
    # a checked output of the learner's was not contiguous (the learner's side says so:
    # advice only, bench.output_layout)
    strided: bool = False
    # seconds per call with each kind of positions (POSITION_KINDS), each side's calls
    # timed one by one after its phases: {"learner": [...], "reference": [...]}; advice
    # only (bench.slow_kind), the learner's side's figures being its process's to write
    kind_times: dict[str, list[float]] | None = None

    @property
    def ratio(self) -> float | None:
        """Learner's median time over the production code's (above 1: slower). Where a
        copy bounds the call, each time is taken relative to the copy beside it: the
        two run in different processes, and the same copy ran up to 5x slower in one
        than in the other while glibc gave freed memory back to the kernel between
        calls (rope_convert's model answer read 3.9x faster than production while its
        share of the roofline was lower); bench_child.keep_freed_memory ended that,
        and a busy moment in one process still can."""
        if not self.learner:
            return None
        mine, theirs = self.roofline(self.learner), self.roofline(self.reference)
        if mine and theirs:
            return theirs / mine
        return self.learner["median_s"] / self.reference["median_s"]

    def roofline(self, side: dict[str, Any] | None) -> float | None:
        """The share of the copy roofline this side reaches (1: as fast as a
        copy), against the copy measured in the same process, taking turns
        with it; for the learner, the faster of its own and drillpe's."""
        copy = self.copy
        if side is self.learner and self.learner_copy and (
                not copy or self.learner_copy["median_s"] < copy["median_s"]):
            # the faster of the two copies: a copy beside the learner's code that ran
            # slow (a busy moment, or the code's doing) must not lift its share
            copy = self.learner_copy
        if not side or not copy:
            return None
        if side is self.learner_copy:
            return 1.0  # each copy is its own process's roofline
        return copy["median_s"] / side["median_s"]

    def bandwidth_gbs(self, side: dict[str, Any] | None) -> float | None:
        if not side or not self.bytes_moved:
            return None
        return self.bytes_moved / side["median_s"] / 1e9

    def passes(self, trace: dict[str, Any] | None) -> float | None:
        """Bytes one call writes over the bytes of its output: 1 is one pass."""
        if not trace or not trace.get("out_bytes") or not trace.get("written_bytes"):
            return None
        return trace["written_bytes"] / trace["out_bytes"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "call": self.call, "size": self.size, "dtype": self.dtype,
            "error": self.error,
            "production_note": self.production_note,
            "refused": self.refused, "learner": self.learner, "reference": self.reference,
            "production": self.production, "compiled": self.compiled,
            "compile_error": self.compile_error, "copy": self.copy,
            "learner_copy": self.learner_copy,
            "bytes_moved": self.bytes_moved, "ratio": _round(self.ratio),
            "learner_roofline": _round(self.roofline(self.learner)),
            "reference_roofline": _round(self.roofline(self.reference)),
            "compiled_roofline": _round(self.roofline(self.compiled)),
            "learner_bandwidth_gbs": _round(self.bandwidth_gbs(self.learner)),
            "reference_bandwidth_gbs": _round(self.bandwidth_gbs(self.reference)),
            "copy_bandwidth_gbs": _round(self.bandwidth_gbs(self.copy)),
            "learner_passes": _round(self.passes(self.trace)),
            "reference_passes": _round(self.passes(self.reference_trace)),
            "checked_outputs": self.checked_outputs,
            "causes": [{"code": c.code, "message": c.message} for c in self.causes],
            "trace": self.trace, "python_work": self.python_work,
            "kind_times": self.kind_times,
        }


@dataclass
class BenchReport:
    exercise: str
    file: str
    options: BenchOptions
    machine: dict[str, Any]
    targets: list[TargetBench]
    score: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "exercise": self.exercise, "file": self.file,
                "device": self.machine.get("device", self.options.device),
                "device_name": self.machine.get("device_name"),
                "torch": self.machine.get("torch"), "threads": self.machine.get("threads"),
                "allocator": self.machine.get("allocator"), "dtype": self.options.dtype, "quick": self.options.quick,
                "seed": self.options.seed, "score": self.score,
                "refused": any(t.refused for t in self.targets),
                "targets": [t.to_dict() for t in self.targets]}


def _round(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.4g}")


# --------------------------------------------------------------------------- the clocks


def pair_marks(marks: list[tuple[int, int]], refills: list | None = None
               ) -> list[tuple] | None:
    """(start, end) in ns for each B…E pair of phase marks, and where the phase's
    outputs were checked, (start, end, read, after the end, read again): how long
    reading the outputs took (C…D), the time from the end mark to that read (E…C),
    and the same read of drillpe's copy of them (F…G). None when the marks come in
    any other order (something else wrote there). Each phase's refill of its inputs
    (R…S, right before its B) goes to ``refills``, in ns, one per phase (None for a
    phase marked without one)."""
    kinds = bytes(kind for _, kind in marks)
    if len(kinds) % 2 or not all(kinds[at:at + 2] in (b"RS", b"BE", b"CD", b"FG")
                                 for at in range(0, len(kinds), 2)):
        return None
    pairs: list[tuple] = []
    refill = None
    for at in range(0, len(marks), 2):
        (began, kind), (ended, _) = marks[at], marks[at + 1]
        if refill is not None and kind != ord("B"):
            return None  # a refill is followed by its phase
        if kind == ord("R"):
            refill = ended - began
        elif kind == ord("B"):
            pairs.append((began, ended))
            if refills is not None:
                refills.append(refill)
            refill = None
        elif kind == ord("C") and pairs and len(pairs[-1]) == 2:  # right after its phase
            pairs[-1] += (ended - began, began - pairs[-1][1])
        elif kind == ord("F") and pairs and len(pairs[-1]) == 4:  # right after its read
            pairs[-1] += (ended - began,)
        else:
            return None
    if any(len(pair) == 4 for pair in pairs) or refill is not None:
        return None
    return pairs


def summarise(run: dict[str, Any], pairs: list[tuple[int, int]] | None,
              scale: float = 1.0, after_end_ns: int | None = None) -> dict[str, Any]:
    """Per-call times from the phases of one run. A phase counts for the
    longer of the two clocks: ours (``pairs``, from the marks) and the
    child's; ``clock_agreement`` is the child's over ours (median). Where
    ``after_end_ns`` is given (after_end_allowance: the learner's side), the CPU
    time the process's other threads took between a phase's end mark and the next
    one's begin mark counts for the phase (``others_s``; ``busy_phases``: over
    OTHERS_SLACK_S), and the time from a phase's end mark to the read of its outputs
    beyond what the check there may take counts for the phase too (``stalled_phases``;
    _after_end_excess: where the timing thread waited there, or worked beyond it). The
    window is the longer of ours and the child's (``after_end_s``, on a clock it bound
    before the learner's file loaded, from before it wrote E), since our reader, late
    for the E mark, takes E and C together, and, late for the C mark, makes it look
    longer."""
    phases = run["phases"]
    per_call, ratios, disagree, stalled, gaps, busy = [], [], 0, 0, [], 0
    for n, phase in enumerate(phases):
        own = float(phase["own_s"])
        outside = None if pairs is None else (pairs[n][1] - pairs[n][0]) / 1e9
        counted = own if outside is None else max(own, outside)
        if pairs is not None and len(pairs[n]) == 5:
            gap = pairs[n][3] / 1e9
            theirs = phase.get("after_end_s")
            if type(theirs) in (int, float) and gap < theirs <= MAX_OWN_S:
                gap = theirs
            gaps.append(gap)
            excess = _after_end_excess(phase, gap, after_end_ns)
            if excess > 0:
                counted += excess
                stalled += 1
        others = phase.get("others_s")
        if after_end_ns is not None and type(others) in (int, float) \
                and 0 <= others <= MAX_OWN_S:
            counted += others  # the process's other threads' CPU, between its phases
            busy += others > OTHERS_SLACK_S
        per_call.append(counted / phase["calls"] * scale)
        if outside:
            ratios.append(own / outside)
            disagree += outside - own > max((1 - CLOCK_AGREEMENT) * outside, MARK_SLACK_S)
    ordered = sorted(per_call)
    quartiles = (statistics.quantiles(ordered, n=4) if len(ordered) >= 4
                 else [ordered[0], 0.0, ordered[-1]])
    reads = [pair[2:] for pair in pairs or [] if len(pair) == 5]
    return {"median_s": statistics.median(ordered), "min_s": ordered[0], "q1_s": quartiles[0],
            "q3_s": quartiles[2], "runs": sum(p["calls"] for p in phases),
            "phases": len(phases), "calls_per_phase": run.get("calls_per_phase"),
            "clock": "parent" if pairs is not None else "child",
            "clock_agreement": _round(statistics.median(ratios)) if ratios else None,
            "clock_disagreements": disagree,
            # reading the checked outputs, and the same read of drillpe's copy of them
            **({"read_s": statistics.median(r[0] for r in reads) / 1e9,
                "after_end_s": statistics.median(gaps),
                "read_copy_s": statistics.median(r[2] for r in reads) / 1e9,
                "reads": len(reads)} if reads else {}),
            **({"after_end_allowed_s": after_end_ns / 1e9, "stalled_phases": stalled,
                "busy_phases": busy,
                "others_s": statistics.median(float(p.get("others_s", 0) or 0)
                                              for p in phases)}
               if after_end_ns is not None else {})}


def _after_end_excess(phase: dict[str, Any], gap: float, allowed_ns: int | None) -> float:
    """What a phase's window from its end mark to the read of its outputs took beyond
    ``allowed_ns`` (after_end_allowance), in seconds, where that counts for the phase:
    the window on the wall (``gap``), where the timing thread gave up its core there
    (``after_end_waits``; a loaded machine only takes the core away), and the timing
    thread's own CPU time there (``after_end_cpu_s``; a loaded machine adds none) beyond
    AFTER_END_CPU_RATIO times the allowance, where a reviewer's function, called by
    drillpe's audit hooks at the files the check opens, did the calls' work without a
    wait. (The kernel's own work for the check's reads of /proc took up to 1.5 times the
    allowance in honest phases: 4-8 ms of system time now and then.) 0 where neither."""
    if allowed_ns is None:
        return 0.0
    allowed, waited, cpu = allowed_ns / 1e9, phase.get("after_end_waits"), \
        phase.get("after_end_cpu_s")
    excess = 0.0
    if gap > allowed and not (type(waited) is int and waited == 0):
        excess = gap - allowed
    if type(cpu) in (int, float) and AFTER_END_CPU_RATIO * allowed < cpu <= MAX_OWN_S:
        excess = max(excess, cpu - allowed)
    return excess


def after_end_allowance(marks: list[tuple[int, int]] | None, theirs: Any = None) -> int:
    """What the learner's side's check after each end mark may take, in ns:
    AFTER_END_RATIO times what it took before the learner's file loaded, plus
    AFTER_END_SLACK_S. That is the longer of the median of its K…L timings on our
    clock (the first marks) and ``theirs``, the child's own median (its entries'
    ``guard_s``): marks our reader takes late, on a loaded machine, arrive together.
    The slack alone where neither is there."""
    count = contract.GUARD_TIMINGS
    head = (marks or [])[:2 * count]
    typical = 0.0
    if len(head) == 2 * count and bytes(kind for _, kind in head) == b"KL" * count:
        typical = statistics.median(head[at + 1][0] - head[at][0]
                                    for at in range(0, 2 * count, 2))
    if type(theirs) in (int, float) and 0 <= theirs <= MAX_GUARD_S:
        typical = max(typical, theirs * 1e9)
    return int(AFTER_END_RATIO * typical + AFTER_END_SLACK_S * 1e9)


def split_pairs(entry: dict[str, Any], marks: list[tuple[int, int]] | None,
                runs: list[str], refills: dict[str, list] | None = None
                ) -> tuple[dict[str, list | None], str | None]:
    """The marks of one target, dealt to its runs in the order their phases
    ran (``entry["order"]``: the runs take turns). Returns ({run: pairs or
    None}, a problem). ``refills``: where each run's refill times go (ns)."""
    out: dict[str, list | None] = {name: None for name in runs}
    if marks is None:
        return out, None
    try:
        first, last = (int(v) for v in entry["marks"])
        order = [str(name) for name in entry["order"]]
        counts = {name: len(entry[name]["phases"]) for name in runs if entry.get(name)}
    except (KeyError, TypeError, ValueError):
        return out, "its report says nothing of its timing marks"
    if any(order.count(name) != count for name, count in counts.items()) \
            or len(order) != sum(counts.values()):
        return out, "its report's phases and their order disagree"
    times: list = []
    pairs = pair_marks(marks[first:last], times) if 0 <= first <= last <= len(marks) else None
    if pairs is None or len(pairs) != len(order):
        return out, (f"drillpe's clock saw {max(last - first, 0)} marks that do not pair up "
                     f"with the {len(order)} phases the timing process reported: something "
                     "else wrote on the timing channel")
    for name in counts:
        out[name] = []
    for name, pair, refill in zip(order, pairs, times):
        out[name].append(pair)
        if refills is not None and refill is not None:
            refills.setdefault(name, []).append(refill)
    return out, None


def refill_rate(run: Any, times: list | None) -> float | None:
    """Seconds per MB of a run's refills (the median over its phases), from the
    parent's clock and the bytes the timing code says a refill writes. A phase's
    refill counts for the shorter of ours and the child's (``refill_s``: its thread's
    CPU time there where it never waited; a loaded machine took an honest refill's
    core away for 12 ms on our clock)."""
    written = run.get("refill_bytes") if isinstance(run, dict) else None
    if not times or type(written) is not int or written <= 0:
        return None
    seconds = [t / 1e9 for t in times]
    phases = run.get("phases")
    if isinstance(phases, list) and len(phases) == len(seconds):
        for n, phase in enumerate(phases):
            theirs = phase.get("refill_s") if isinstance(phase, dict) else None
            if type(theirs) in (int, float) and 0 <= theirs < seconds[n]:
                seconds[n] = theirs
    return statistics.median(seconds) / (written / 1e6)


# --------------------------------------------------------------------------- refusals


def refusals(target: TargetBench, mine: dict[str, Any], ref: dict[str, Any],
             replaced: list[str], marks_problem: str | None,
             threads: tuple[Any, Any] = (None, None), reached: list[str] = ()) -> list[str]:
    """Why the learner's timing cannot be believed, in words; [] when it can.
    ``threads``: the thread counts the two processes ended with (learner's, ours);
    ``reached``: what drillpe.grading.reach refused the learner's code there."""
    why = []
    if reached:
        why.append(f"bench.tampering: your code {textsafety.neutralise(reached[0])[:160]}, "
                   "which drillpe refused: with it, code can reach the timing code beside "
                   "it. Write the function plainly.")
    if marks_problem:
        why.append(f"bench.timing_channel: {marks_problem}.")
    spread = _spread_phases(mine, threads[1])
    if spread:
        why.append(f"bench.threads_changed: in {spread} of "
                   f"{len((mine.get('timing') or {}).get('phases') or [])} phases, threads of "
                   f"your process other than the one drillpe calls your code on worked while "
                   f"your calls ran, more than the {threads[1]} thread(s) drillpe set "
                   "(--threads) allow: the production code gets that many cores, and the "
                   "comparison would not be fair. Compute in the call's own thread.")
    if threads[0] != threads[1]:
        why.append(f"bench.threads_changed: your code ran on {str(threads[0])[:10]} threads, the "
                   f"production code on {threads[1]} (--threads): the comparison would not be "
                   "fair. Leave torch's thread count as drillpe sets it.")
    if replaced:
        names = ", ".join(f"time.{name}" for name in replaced)
        why.append(f"bench.clock_replaced: your code replaced {names}. drillpe takes the time "
                   "from outside your process, but a result from a process whose clocks were "
                   "changed is not reported.")
    learner = target.learner or {}
    agreement = learner.get("clock_agreement")
    if agreement is not None and learner.get("clock_disagreements", 0) > learner["phases"] / 2:
        own = target.learner["median_s"] * agreement
        why.append(f"bench.clock_disagrees: inside your process a call took {_seconds(own)} "
                   f"(time.perf_counter), drillpe's clock outside it measured "
                   f"{_seconds(target.learner['median_s'])}: {agreement:.0%} of the real time "
                   f"(in {learner['clock_disagreements']} of {learner['phases']} phases). The "
                   "clocks in your process were changed.")
    read, again = learner.get("read_s"), learner.get("read_copy_s")
    if read is not None and read > DEFERRED_RATIO * again + DEFERRED_SLACK_S:
        why.append(f"bench.deferred_work: reading a timed call's outputs took {_seconds(read)}, "
                   f"the same read of drillpe's copy of them {_seconds(again)} (medians over "
                   f"{learner['reads']} phases): code of yours ran when the outputs were read, "
                   "after the timer had stopped. Do the work in the call, and return plain "
                   "tensors.")
    # against the copy's refill beside it, or (no copy bounds the call) the production
    # code's in the reference's process
    if learner.get("busy_phases", 0) > learner.get("phases", 0) / 2:
        why.append(f"bench.work_elsewhere: between your calls' phases, while drillpe's "
                   f"code ran, other threads of your process worked "
                   f"{_seconds(learner['others_s'])} of CPU time (median over "
                   f"{learner['phases']} phases): work done outside the timed calls (left "
                   "running on torch's inter-op pool, say), which drillpe cannot time. The "
                   "time counts for your calls; do the work in the call, and return when "
                   "it is done.")
    if learner.get("stalled_phases", 0) > learner.get("phases", 0) / 2:
        why.append(f"bench.stalled_after_calls: from the end of your calls to the read of "
                   f"their outputs, drillpe's check of the timing process took "
                   f"{_seconds(learner['after_end_s'])} (median over {learner['reads']} "
                   f"phases), more than the {_seconds(learner['after_end_allowed_s'])} "
                   "drillpe allows it from its cost before your file loaded: code of "
                   "yours worked there, where no clock runs, or kept drillpe's code waiting "
                   "while work went on (a thread holding the GIL, work left running on "
                   "torch's inter-op pool, a function of yours that drillpe's code calls). "
                   "Return when the work is done.")
    mine_rate = learner.get("refill_s_per_mb")
    copy_rate = (target.learner_copy or {}).get("refill_s_per_mb")
    base_rate = copy_rate if copy_rate is not None else target.reference.get("refill_s_per_mb")
    written = (mine.get("timing") or {}).get("refill_bytes")
    if mine_rate is not None and base_rate and type(written) is int and written > 0 \
            and mine_rate > REFILL_RATIO * base_rate + REFILL_SLACK_S / (written / 1e6):
        beside = ("the copy's inputs beside it" if copy_rate is not None
                  else "the production code's inputs")
        why.append(f"bench.refill_work: refilling your calls' inputs between phases (and "
                   f"letting go of the last phase's outputs) took "
                   f"{_seconds(mine_rate * written / 1e6)}, {mine_rate / base_rate:.1f}× as "
                   f"long per byte as the same refill of {beside} (medians over the phases, "
                   "on drillpe's clock): code of yours ran while the inputs were written, "
                   "where no clock runs, and may have done the calls' work there. Do the "
                   "work in the call.")
    problems = [s for s in mine.get("samples") or [] if isinstance(s, dict) and "problem" in s]
    kinds = {p.get("problem") for p in problems}
    if "lazy" in kinds:
        lazy = next(p for p in problems if p.get("problem") == "lazy")
        kind = textsafety.neutralise(str(lazy.get("type")))
        what = ("a container other than a plain tuple or list, whose own methods run when "
                "its items are read" if lazy.get("container") else "a torch.Tensor subclass")
        why.append(f"bench.not_a_tensor: a timed call returned a {kind}, {what}, where the "
                   "reference returns plain tensors: it can defer the work until the output "
                   "is read, after the timer has stopped. Return plain tensors (in a plain "
                   "tuple or list).")
    if "aliases_input" in kinds:
        why.append("bench.output_is_input: a timed call returned a tensor that shares memory "
                   "with an input or weight of a timed call, its own or another's (a view of "
                   "it, or written over in place): it writes no new output, so it moves fewer "
                   "bytes than the call must, and it destroys the caller's tensor. Return new "
                   "tensors.")
    if any(isinstance(s, dict) and s.get("held") for s in mine.get("samples") or []):
        why.append("bench.output_reused: your code keeps the tensors it returned: a timed "
                   "call's output lived on after the bench let go of it, or shared memory with "
                   "another call's (a result kept from an earlier call, or a ring of buffers "
                   "written again and again). A caller's earlier result must not change, and "
                   "memory made once is faster to write than the fresh memory each call "
                   "needs, so drillpe cannot compare it. Return a new tensor from every call; "
                   "cache what depends only on shapes (angles, bucket indices).")
    if any(isinstance(s, dict) and s.get("foreign") for s in mine.get("samples") or []):
        why.append("bench.foreign_memory: your code returns tensors over memory that torch "
                   "does not own as its own allocation (torch.from_numpy, torch.as_tensor of a "
                   "NumPy array, from_dlpack, shared memory mapped again). drillpe cannot tell "
                   "whether such memory is kept and written "
                   "again by a later call (a ring of buffers made in advance is faster to write "
                   "than the fresh memory each call needs), so it does not compare the time. "
                   "Compute with torch, or return a copy torch allocates "
                   "(torch.from_numpy(y).clone()).")
    bad = [c for c in ref.get("checks") or [] if c.get("mismatch")]
    if bad:
        first = bad[0]
        why.append(f"bench.stale_output: {len(bad)} of {len(ref['checks'])} checked timed calls "
                   f"returned outputs that differ from the reference on their own inputs "
                   f"(phase {first.get('phase')}: "
                   f"{textsafety.neutralise(str(first['mismatch']))}). Every timed call gets "
                   "new values: a result remembered from an earlier call (a cache keyed on the "
                   "input's id or data_ptr) comes out stale. Work skipped on some calls only "
                   "(a term left out where the inputs are largest) misses too: a checked value "
                   "may be off by the dtype's tolerance plus three times what drillpe's "
                   "production code misses at that value (on those inputs, or in bfloat16 and "
                   "float16 on inputs a rounding away), and only a couple of the 64 checked may "
                   "be beyond that. Cache what depends only on shapes (an angle table, a bucket "
                   "index), never results or what is computed from the module's weights (they "
                   "change every phase)."
                   + (f" The positions ({', '.join(map(str, ref['positions']))}) are new "
                      "tensors with new values every phase, of five kinds: any ids, in order "
                      "from 0 (a prompt, maybe left-padded, or a grid of any shape), in order "
                      "from elsewhere, shuffled, and in packed runs (documents or images, or "
                      "a grid's cells picked apart): "
                      "code that assumes they are contiguous, or a full grid in order, or keeps "
                      "what it built from them per tensor, per shape or per pattern, misses too."
                      if ref.get("positions") else "")
                   + (" Every checked call differs: if your code keeps no results, it computes "
                      "something else at the bench's sizes or dtype than at grading's (a "
                      "module's weights come from drillpe, by each parameter's shape, or its "
                      "name where two share a shape)." if len(bad) == len(ref["checks"]) else ""))
    # Against the copy in the same process, taking turns with the code: the same copy
    # in the reference's process once ran up to 4x slower than it (page faults, before
    # bench_child.keep_freed_memory), and an honest model answer was refused against
    # that one. Code that slows the copy beside it (a reviewer's freed 2 GiB at once,
    # and glibc gave the heap back) only makes itself look faster against it, so
    # refused sooner. (The learner's side signs its report: its copy's time is the
    # timing code's own.)
    copy = target.learner_copy or target.copy
    share = copy["median_s"] / target.learner["median_s"] if copy and target.learner else None
    if share is not None and share > MAX_ROOFLINE_SHARE and not why:
        why.append(f"bench.faster_than_copy: yours moved {target.bytes_moved / 1e6:.3g} MB per "
                   f"call in {_seconds(target.learner['median_s'])}, {share:.1f}× faster than "
                   f"a plain copy of the same bytes ({_seconds(copy['median_s'])}, "
                   "measured beside it on fresh inputs). A call must read its inputs and "
                   "write its outputs at least once: its work was done outside the timed call.")
    return why


def _spread_phases(mine: dict[str, Any], ours: Any) -> int:
    """How many of the learner's phases had its process's other threads work in the
    calls (``others_in_s``) beyond what ``ours`` threads allow (OpenMP's workers: one
    phase's time each) plus OTHERS_SLACK_S; 0 unless that is most of them."""
    phases = (mine.get("timing") or {}).get("phases") if isinstance(mine, dict) else None
    if type(ours) is not int or ours < 1 or not isinstance(phases, list) or not phases:
        return 0
    over = 0
    for phase in phases:
        inside = phase.get("others_in_s") if isinstance(phase, dict) else None
        own = phase.get("own_s") if isinstance(phase, dict) else None
        if type(inside) in (int, float) and type(own) in (int, float) \
                and inside > (ours - 1) * own + OTHERS_SLACK_S:
            over += 1
    return over if over > len(phases) / 2 else 0


def _seconds(value: float) -> str:
    if value >= 1:
        return f"{value:.3g} s"
    if value >= 1e-3:
        return f"{value * 1e3:.3g} ms"
    return f"{value * 1e6:.3g} µs"


# --------------------------------------------------------------------------- causes


def _value_loops(work: dict) -> list[tuple[str, dict]]:
    """The axes that a loop in plain Python runs over, making no torch call per turn:
    doubling the axis adds at least one number per element added to what the call makes
    into tensors from Python lists (the channels' frequencies made from a comprehension
    add one per pair: not a loop to name, and a small cost)."""
    base = work.get("base_from_python")
    if type(base) is not int:
        return []
    found = []
    for axis, grown in (work.get("axes") or {}).items():
        made, size, was = grown.get("from_python"), grown.get("size"), grown.get("base")
        if type(made) is int and type(size) is int and type(was) is int and \
                made - base >= max(size - was, LOOP_MIN_CALLS) and \
                made - base >= LOOP_GROWTH * base:
            found.append((axis, grown))
    return found


def explain(target: TargetBench, device: str) -> list[Cause]:
    """Recognisable causes of slowness, from the learner's trace (bench_child)."""
    causes: list[Cause] = []
    work = target.python_work or {}
    trace = target.trace or {}
    base_ops = work.get("base_ops", 0)
    loops = [(axis, grown) for axis, grown in work.get("axes", {}).items()
             if grown["ops"] - base_ops >= LOOP_MIN_CALLS
             and grown["ops"] - base_ops >= LOOP_GROWTH * base_ops]
    if loops:  # one cause, however many axes a loop (or loops within loops) runs over
        meaning = " and ".join(grown["meaning"] for _, grown in loops)
        grew = "; ".join(f"{grown['ops']} at {axis}={grown['size']}" for axis, grown in loops)
        at_base = ", ".join(f"{axis}={grown['base']}" for axis, grown in loops)
        at_bench = ", ".join(f"{axis}={target.size.get(axis)}" for axis, _ in loops)
        # the timed call's trace got positions of any pattern (kind 0); a loop seen only
        # for another kind is said so, and that trace's count is not its
        kinds = work.get("kinds")
        kinds = [k for k in kinds if type(k) is int and 0 <= k < len(POSITION_KINDS)] \
            if isinstance(kinds, list) else []
        made = (f" (with positions {'; '.join(POSITION_KINDS[k] for k in sorted(kinds))}: "
                f"{len(kinds)} call{'s' if len(kinds) > 1 else ''} in {len(POSITION_KINDS)} "
                "of each phase's)"
                if kinds and 0 not in kinds else
                f"; at {at_bench} it made {trace.get('ops', '?')}")
        causes.append(Cause("bench.python_loop", (
            f"a Python loop over {meaning}: one call makes {base_ops} torch calls at "
            f"{at_base}{', and' if len(loops) > 1 else ' and'} {grew}{made}, each paying "
            f"Python and dispatch overhead (and on a GPU a kernel launch). Work on all "
            f"{meaning} at once: "
            f"{target.loop_advice or 'use tensor operations instead of looping'}.")))
    elif looped := _value_loops(work):
        meaning = " and ".join(grown["meaning"] for _, grown in looped)
        grew = "; ".join(f"{grown['from_python']} at {axis}={grown['size']}"
                         for axis, grown in looped)
        at_base = ", ".join(f"{axis}={grown['base']}" for axis, grown in looped)
        causes.append(Cause("bench.python_loop", (
            f"a Python loop over {meaning}: one call makes tensors from "
            f"{work['base_from_python']} numbers held in Python lists at {at_base}, and "
            f"{grew}: each number computed one at a time in Python (math on Python floats), "
            f"then copied into a tensor. Work on all {meaning} at once: "
            f"{target.loop_advice or 'use tensor operations instead of looping'}.")))
    share = _shape_only_share(trace)
    if not target_has_data(target) and share >= TABLE_SHARE:
        # no input values and no weights: the whole result follows from the arguments
        causes.append(Cause("bench.table_rebuilt", (
            f"{target.call} takes no tensor of values and holds no weights, so what it "
            "returns depends only on its arguments (sizes and settings); yours computes it "
            "again on every call. Compute it once per set of arguments (in __init__, or kept "
            "in a dict keyed by them) and return the kept tensor, as the production code "
            "does: a model builds such tables once, at set-up.")))
    elif share >= TABLE_SHARE:
        top = ", ".join(trace.get("const_top", [])[:4])
        causes.append(Cause("bench.table_rebuilt", (
            f"{share:.0%} of one call's work (the elements it writes, each written by a sin, "
            f"cos, power or polar counting {TABLE_OP_WEIGHT}) does not depend on the input "
            f"values ({top}): a table (angles, buckets, indices) or "
            "another tensor that depends only on shapes is rebuilt on every call. Build it "
            "once per (length, dim, dtype, device) and cache it, at its natural size (RoPE's "
            "angles: L × d/2; relative's bucket index: Lq × Lk; T5's buckets: one per "
            "distance, Lq + Lk - 1) so broadcasting covers batch and heads instead of "
            "materialising a full-size copy. What is computed from the module's weights is "
            "not such a table: the bench gives them new values every phase.")))
    if slow := _slow_kind(target):
        kind, mine, ours = slow
        causes.append(Cause("bench.slow_kind", (
            f"with positions {POSITION_KINDS[kind]}, a call of yours took {_seconds(mine)} "
            f"and the production code's {_seconds(ours)}: {times(mine / ours)}× its time, "
            f"against {times(target.ratio)}× over the mix of the {len(POSITION_KINDS)} kinds "
            "of positions the verdict times (calls of each kind timed one by one after the "
            "phases, in each process). Code that is slow on some positions only is slower "
            "in the verdict only by the share of the calls it is slow on: make that path "
            "as fast as the others.")))
    if target.strided:
        # a newcomer's t5_bias returned unfold's windows flipped, laid out heads-innermost,
        # and read "1.16× faster" than the production code, whose output is contiguous
        causes.append(Cause("bench.output_layout", (
            "your output is not contiguous: its elements lie in memory in another order "
            "than a fresh tensor of its shape (a view out of transpose, permute, unfold or "
            "expand, or flip of such a view); the production code's output is contiguous. "
            "The time here leaves out what that costs whatever reads it next (attention "
            "adding it over (Lq, Lk) reads it out of order), so the comparison is not like "
            "for like: return .contiguous(), or build the output in the layout its reader "
            "wants.")))
    syncs = trace.get("syncs") or {}
    if syncs:
        names = ", ".join(f"{name} ×{count}" for name, count in sorted(syncs.items()))
        where = ("each waits until the GPU has finished all queued work" if device == "cuda"
                 else "on a GPU each would wait until all queued work has finished")
        causes.append(Cause("bench.host_sync", (
            f"{sum(syncs.values())} host–device synchronisations per call ({names}): "
            f"tensor values handed to Python; {where}. Keep values in tensors (torch.where, "
            "masks) and read shapes from .shape, not from tensor values.")))
    if trace.get("transfers"):
        causes.append(Cause("bench.device_copy", (
            f"{trace['transfers']} tensors move between devices on every call: create "
            "tables and indices directly on the inputs' device (device=x.device).")))
    return causes


def _slow_kind(target: TargetBench) -> tuple[int, float, float] | None:
    """The kind of positions whose calls of the learner's take the most times the
    production code's, where that is SLOW_KIND_RATIO times or more and SLOW_KIND_OVER
    times the verdict's ratio: (kind, the learner's seconds, the production code's)."""
    seconds, overall = target.kind_times, target.ratio
    if not seconds or overall is None:
        return None
    ratios = [mine / ours for mine, ours in zip(seconds["learner"], seconds["reference"],
                                                strict=True)]
    kind = ratios.index(max(ratios))
    if ratios[kind] < SLOW_KIND_RATIO or ratios[kind] < SLOW_KIND_OVER * overall:
        return None
    return kind, seconds["learner"][kind], seconds["reference"][kind]


def _shape_only_share(trace: dict[str, Any]) -> float:
    """The share of a call's work that depends on shapes alone: elements written,
    a transcendental's counting TABLE_OP_WEIGHT times."""
    extra = TABLE_OP_WEIGHT - 1
    try:
        work = float(trace.get("written") or 0) + extra * float(trace.get("table_elements") or 0)
        const = float(trace.get("const_written") or 0) + \
            extra * float(trace.get("const_table") or 0)
    except (TypeError, ValueError):  # the learner's side's report: untrusted
        return 0.0
    return const / work if work > 0 else 0.0


def target_has_data(target: TargetBench) -> bool:
    return bool((target.trace or {}).get("has_data_inputs", True))


# --------------------------------------------------------------------------- processes


BENCH_OUTPUT_CAP = 16 * 1024 * 1024


def _child_args(role: str, exercise_id: str, options: BenchOptions) -> list[str]:
    args = ["--role", role, "--exercise", exercise_id, "--device", options.device,
            "--dtype", options.dtype, "--threads", str(options.threads),
            "--seed", str(options.seed), "--budget", str(options.budget_s)]
    if options.quick:
        args.append("--quick")
    return args


def _run_reference(exercise_id: str, options: BenchOptions, tmpdir: Path,
                   samples: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[int, int]]]:
    """The production side (trusted code, not sandboxed): checks the learner's
    sampled outputs, times the production implementation and the copy."""
    out = tmpdir / "reference.json"
    log = tmpdir / "reference.log"
    verify = tmpdir / "samples.json"
    verify.write_text(json.dumps(samples))
    args = [*_child_args("reference", exercise_id, options), "--verify", str(verify)]
    if options.compile:
        args.append("--compile")
    sink = processes.ClockSink()
    read_end, write_end = os.pipe()
    drain = processes.Drain({read_end: sink})
    try:
        with open(log, "wb") as fh:
            proc = processes.spawn(
                processes.module_argv(contract.BENCH, *args, "--clock-fd", str(write_end),
                                      "--out", str(out)),
                stdout=fh, stderr=subprocess.STDOUT, cwd=tmpdir, pass_fds=(write_end,),
                # torch.compile's cache is /tmp/torchinductor_USER by default: any local
                # user may create it first and plant code that this child then runs
                env=processes.trusted_env({"TORCHINDUCTOR_CACHE_DIR": str(tmpdir / "inductor"),
                                           **TIMING_ENV}))
    finally:
        os.close(write_end)
    drain.start()
    rc = processes.wait_or_kill(proc, options.timeout_s)
    processes.finished(proc)
    drain.finish()
    text = log.read_text(errors="replace").strip()
    if rc is None:
        raise DrillpeBug("the reference's bench did not finish")
    _usage_exit(rc, text, exercise_id)
    if rc != 0 or not out.is_file():
        raise DrillpeBug(f"the reference's bench failed (exit {rc}):\n{text[-3000:]}")
    return json.loads(out.read_text()), sink.marks


def _run_learner(exercise_id: str, file: Path, options: BenchOptions, tmpdir: Path
                 ) -> tuple[dict[str, Any], list[tuple[int, int]]]:
    """The learner's side runs sandboxed, like a grade; its result comes back
    on the records fd, capped, and is parsed as untrusted JSON; its phase
    marks come on the clock fd and are timestamped here."""
    # deferred: the grade runs only for an answer to time
    from drillpe.launch.runner import COLD, run_sandboxed, stage

    stage_root = COLD.stage_root(tmpdir)
    staged = stage(file, stage_root, exercise_id)
    key = secrets.token_bytes(32)
    out = tmpdir / "learner.json"
    argv = processes.module_argv(contract.BENCH, *_child_args("learner", exercise_id, options),
                                 "--file", str(staged), "--out-fd", str(contract.RECORDS_FD),
                                 "--clock-fd", str(contract.BENCH_CLOCK_FD))
    sink = processes.ClockSink()

    def start(pipes: processes.Pipes, level: str):
        # under the guard the timing process confines the learner's code as a grade's
        # learner process does (a reviewer's ran a shell command from it)
        return COLD.start_process([*argv, "--level", level], staged=staged, device=options.device,
                                  timeout=options.timeout_s, pipes=pipes, level=level,
                                  hidden=[str(file.parent)], log=tmpdir / "supervisor.log",
                                  env={contract.BENCH_KEY_ENV: key.hex(), **TIMING_ENV})

    with lifeline.private_while():  # the learner's timed code must not reach our pipes
        status, text, overflow = run_sandboxed(COLD, start, records=out,
                                               records_cap=BENCH_OUTPUT_CAP, stuck=None,
                                               timeout=options.timeout_s, device=options.device,
                                               marks=sink)
    text = textsafety.neutralise(text.strip())
    if status.timed_out:
        raise BenchFailed(
            f"your code did not finish the bench within {options.timeout_s:g} s at the "
            "bench sizes; try `drillpe bench --quick` or a larger --timeout.")
    if status.returncode in (contract.EXIT_DEVICE_UNAVAILABLE, contract.EXIT_NO_SPEC):
        # what drillpe's own code says of a missing device or spec, or the learner's
        # code imitating it (a reviewer's printed drillpe's words and exited 5): only
        # the reference's process, which runs no learner code, is believed (measure)
        raise _ClaimsUsage(status.returncode, text)
    if status.returncode != 0 or overflow:
        why = "its report was too large" if overflow else f"exit {status.returncode}"
        raise BenchFailed(f"your code failed in the bench process ({why}):\n{text[-2000:]}")
    try:
        body, _, tag = out.read_bytes().rpartition(b"\n")
    except OSError as exc:
        raise BenchFailed(f"the bench process of your code sent no result ({exc})") from None
    if not hmac.compare_digest(tag, contract.report_tag(key, body)):
        raise BenchFailed("bench.timing_channel: the timing report did not come from drillpe's "
                          "timing code (it is not signed with the key that code holds): "
                          "something in your file wrote it. drillpe reports no time for it.")
    try:
        data = json.loads(body.decode("utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("targets"), list):
            raise ValueError("no targets")
    except ValueError as exc:
        raise BenchFailed(f"the bench process of your code sent no readable result ({exc})"
                          ) from None
    return data, signed_marks(list(sink.marks), key)


def signed_marks(raw: list[tuple[int, int]], key: bytes) -> list[tuple[int, int]]:
    """(arrival time, kind) of each mark the learner's side signed, in order. At
    the first byte that is not a signed mark it stops with a mark of kind 0,
    which no pairing accepts (bench.timing_channel): a mark written by anything
    else in that process cannot be told from the timing code's by its place."""
    marks = []
    size = contract.MARK_SIZE
    for at in range(0, len(raw), size):
        chunk = bytes(byte for _, byte in raw[at:at + size])
        kind, tag = chunk[:1], chunk[1:]
        if len(chunk) < size or not hmac.compare_digest(
                tag, contract.mark_tag(key, kind, len(marks))):
            return [*marks, (raw[at][0], 0)]
        marks.append((raw[at + size - 1][0], kind[0]))
    return marks


class _ClaimsUsage(Exception):
    """The learner's side ended with the exit code of a usage problem."""

    def __init__(self, returncode: int, text: str):
        super().__init__(returncode)
        self.returncode, self.text = returncode, text


def _usage_exit(rc: int | None, text: str, exercise_id: str) -> None:
    if rc == contract.EXIT_DEVICE_UNAVAILABLE:
        raise UsageError(text.splitlines()[-1] if text else "the device is not available")
    if rc == contract.EXIT_NO_SPEC:
        raise UsageError(text.splitlines()[-1] if text else f"no bench for {exercise_id}")


MAX_PHASES = 1000
MAX_CALLS = 10**7
MAX_OWN_S = 1e5


def _valid_timing(run: Any) -> bool:
    """The learner's JSON is untrusted: a timing it sends must at least have
    the shape summarise() reads, with numbers it can compute with (a
    reviewer's 10**400 calls overflowed float())."""
    try:
        phases = run["phases"]
        return 0 < len(phases) <= MAX_PHASES and all(
            type(p["calls"]) is int and 0 < p["calls"] <= MAX_CALLS
            and type(p["own_s"]) in (int, float) and 0 <= p["own_s"] <= MAX_OWN_S
            for p in phases)
    except (KeyError, TypeError, ValueError):
        return False


def assemble(mine: dict[str, Any], ref: dict[str, Any], learner_marks: list | None,
             reference_marks: list | None, replaced: list[str], device: str,
             threads: tuple[Any, Any] = (None, None), reached: list[str] = ()) -> TargetBench:
    """One target's result from the two children's reports and our marks (the
    learner's side's first marks time its guard: after_end_allowance)."""
    trace = dict(mine.get("trace") or {}, has_data_inputs=mine.get("has_data_inputs", True))
    target = TargetBench(
        name=ref["name"], call=ref["call"], size=ref["size"], learner=None,
        reference={}, bytes_moved=ref.get("bytes_moved"), error=mine.get("error"),
        trace=trace if mine.get("trace") else None, python_work=mine.get("python_work"),
        loop_advice=ref.get("loop_advice"), production=ref.get("production", "graders/fast"),
        production_note=ref.get("production_note") or None,
        reference_trace=ref.get("trace"), compile_error=ref.get("compile_error"),
        checked_outputs=len(ref.get("checks") or []),
        dtype=ref.get("dtype") if isinstance(ref.get("dtype"), str) else None)
    ref_refills: dict[str, list] = {}
    ref_pairs, trouble = split_pairs(ref, reference_marks, ["timing", "compiled", "copy"],
                                     ref_refills)
    if trouble:
        raise DrillpeBug(f"the reference's bench process: {trouble}")
    target.reference = summarise(ref["timing"], ref_pairs["timing"])
    rate = refill_rate(ref["timing"], ref_refills.get("timing"))
    if rate is not None:
        target.reference["refill_s_per_mb"] = rate
    if ref.get("compiled"):
        target.compiled = summarise(ref["compiled"], ref_pairs["compiled"])
    if ref.get("copy"):
        target.copy = summarise(ref["copy"], ref_pairs["copy"], float(ref.get("copy_scale", 1)))
    problem = None
    if target.error is None:
        runs = ["timing", "copy"] if mine.get("copy") is not None else ["timing"]
        if not all(_valid_timing(mine.get(name)) for name in runs):
            problem = "its report has no readable timing"
        else:
            refills: dict[str, list] = {}
            pairs, problem = split_pairs(mine, learner_marks, runs, refills)
            target.learner = summarise(
                mine["timing"], pairs["timing"],
                after_end_ns=after_end_allowance(learner_marks, mine.get("guard_s")))
            if "copy" in runs:
                # the scale from the reference's process: the learner's is untrusted
                target.learner_copy = summarise(mine["copy"], pairs["copy"],
                                                float(ref.get("copy_scale", 1.0)))
            for name, side in (("timing", target.learner), ("copy", target.learner_copy)):
                rate = refill_rate(mine.get(name), refills.get(name))
                if side is not None and rate is not None:
                    side["refill_s_per_mb"] = rate
        target.refused = refusals(target, mine, ref, replaced, problem, threads, reached)
        target.strided = _strided(mine.get("samples"))
        target.kind_times = _kind_times(mine.get("kind_s"), ref.get("kind_s"))
        if not target.refused:
            target.causes = explain(target, device)
    return target


def _kind_times(mine: Any, ours: Any) -> dict[str, list[float]] | None:
    """Both sides' seconds per call for each kind of positions, where both reported one
    positive number per kind (the learner's side's is untrusted JSON)."""
    def valid(times: Any) -> bool:
        return isinstance(times, list) and len(times) == len(POSITION_KINDS) and all(
            type(s) is float and 0 < s < MAX_OWN_S for s in times)

    if not (valid(mine) and valid(ours)):
        return None
    return {"learner": mine, "reference": ours}


def _strided(samples: Any) -> bool:
    """Whether a checked output the learner's side sent was not contiguous."""
    for sample in samples if isinstance(samples, list) else []:
        tensors = sample.get("tensors") if isinstance(sample, dict) else None
        for t in tensors if isinstance(tensors, list) else []:
            if isinstance(t, dict) and t.get("contiguous") is False:
                return True
    return False


def measure(exercise_id: str, file: Path, options: BenchOptions, display: str | None = None,
            score: float = 1.0) -> BenchReport:
    """Time an answer that already passed grading (see ``bench``)."""
    with tempfile.TemporaryDirectory(prefix="drillpe-bench-") as tmp:
        tmpdir = Path(tmp)
        # One after the other: side by side they would share the cores. The
        # learner's first: the reference's process checks its outputs.
        try:
            learner, learner_marks = _run_learner(exercise_id, file.resolve(), options, tmpdir)
        except _ClaimsUsage as claim:
            _run_reference(exercise_id, options, tmpdir, {})  # raises UsageError if so
            raise BenchFailed(f"your code ended the bench process with exit {claim.returncode}, "
                              "which is drillpe's own code for a missing device or timing "
                              "spec; neither is missing here:\n" + claim.text[-2000:]) from None
        refused = refused_on_its_own(learner)
        if refused is not None:  # nothing the production side measures would change it
            return BenchReport(exercise=exercise_id, file=display or str(file),
                               options=options, machine=_told(learner, options),
                               targets=refused, score=score)
        samples = {str(t.get("name")): t.get("samples") for t in learner["targets"]
                   if isinstance(t, dict)}
        reference, reference_marks = _run_reference(exercise_id, options, tmpdir, samples)
    replaced = [str(n) for n in learner.get("clocks_replaced") or []][:8]
    reached = [str(n) for n in learner.get("reached") or []][:8]
    device = reference.get("device", options.device)
    targets = []
    for ref in reference["targets"]:
        mine = next((t for t in learner["targets"]
                     if isinstance(t, dict) and t.get("name") == ref["name"]), None)
        if mine is None:
            mine = {"error": "the bench process of your code did not report this call"}
        targets.append(assemble(mine, ref, learner_marks, reference_marks, replaced, device,
                                (learner.get("threads"), reference.get("threads")), reached))
    # the reference's process says how the allocator was set: the learner's runs the
    # same code, but what it reports is the learner's code's to write
    machine = {k: reference.get(k) for k in ("device", "device_name", "torch", "threads",
                                             "allocator")}
    return BenchReport(exercise=exercise_id, file=display or str(file), options=options,
                       machine=machine, targets=targets, score=score)


# What the learner's side alone shows, and shows for certain: its code reached what it
# must not, or its outputs could defer their work or are its inputs. (A kept output is
# not: the reference's check says whether it is also stale, the words a cache needs.)
ON_ITS_OWN = ("bench.tampering", "bench.not_a_tensor", "bench.output_is_input")


def refused_on_its_own(learner: dict[str, Any]) -> list[TargetBench] | None:
    """Every target refused from the learner's report alone (ON_ITS_OWN), or None.
    Then the production side is not timed: a refused result shows no time, and the
    refusal comes a torch import and a timing run sooner. Its names, call and sizes
    are the learner's process's report's, shown as text made safe."""
    reached = [str(n) for n in learner.get("reached") or []][:8]
    entries = learner.get("targets")
    if not isinstance(entries, list) or not entries or learner.get("clocks_replaced"):
        return None  # (replaced clocks: drillpe's own clock's evidence is shown beside it)
    targets = []
    for mine in entries:
        if not isinstance(mine, dict) or mine.get("error") is not None:
            return None
        size = mine.get("size")
        target = TargetBench(
            name=textsafety.neutralise(str(mine.get("name")))[:80],
            call=textsafety.neutralise(str(mine.get("call")))[:120],
            size={textsafety.neutralise(str(k))[:20]: v for k, v in size.items()
                  if type(v) is int} if isinstance(size, dict) else {},
            learner=None, reference={})
        why = refusals(target, mine, {}, [], None, (None, None), reached)
        if not any(reason.split(":")[0] in ON_ITS_OWN for reason in why):
            return None
        target.refused = why
        targets.append(target)
    return targets


def _told(learner: dict[str, Any], options: BenchOptions) -> dict[str, Any]:
    """The machine as the learner's process reported it (text made safe)."""
    told = {}
    for key in ("device", "device_name", "torch", "threads", "allocator"):
        value = learner.get(key)
        told[key] = value if type(value) is int or value is None \
            else textsafety.neutralise(str(value))[:80]
    told["device"] = told["device"] or options.device
    return told


def bench(exercise_id: str, file: Path, options: BenchOptions, display: str | None = None,
          grade_timeout: float = 20.0):
    """Grade ``file`` (the usual two processes), then time it if it passes.

    Returns (grading result, BenchReport or None when the answer failed).
    """
    # deferred: the grade runs only for an answer to time
    from drillpe.launch.runner import GradeRequest, grade

    result = grade(GradeRequest(exercise_id=exercise_id, file=file, device=options.device,
                                seed=options.seed, timeout=grade_timeout, display_path=display))
    if not result.passed:
        return result, None
    device = result.device if options.device == "auto" else options.device
    chosen = BenchOptions(**{**options.__dict__, "device": device})
    return result, measure(exercise_id, file, chosen, display, result.score)
