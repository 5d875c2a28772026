"""Reference results a warm judge worker computes once, for every judge it forks.

Much of a warm judge's time goes to the float64 reference of each case (ALiBi's
attention, RoPE's rotation), and for the default seed a case's inputs are the
same tensors in every judge the worker forks: the worker built them before the
fork (``judge.prepare_inputs``). So after an exercise's first grade the worker
runs the model answer through that exercise's checks once
(``warm_worker._keep_results``) and keeps what the oracle's pure functions
returned for those inputs. A forked judge that calls one of them with the same
arguments gets a copy of the kept result; any other call (another seed, the GPU,
a tensor the learner's output made) computes as before.

Only the functions an oracle names in ``MEMO`` are kept: pure ones, whose result
depends on their arguments alone (no random draws, no module passed in).
Arguments are matched exactly: a small CPU tensor by its dtype, shape and bytes;
a larger one only by identity (the very object, kept alive here so its id is
never reused) with its version counter unchanged; anything else by value, and
only plain values (numbers, strings, None, dtypes, devices, and tuples, lists
and dicts of those). Every call gets its own copy of a kept result, as if
computed afresh. In a forked judge nothing is added: what a learner's records
lead the judge to compute is never kept.

An exercise whose chain of reference calls passes large intermediate tensors on
(T5's relative positions to its buckets) gains nothing: each copy is a new
object, so the next call misses. T5's and relative's oracles name no functions
for that reason (measured: t5_bias was 8-10 ms slower a grade with them).
"""

from __future__ import annotations

import types
from typing import Any

import torch

from drillpe.grading import records
from drillpe.grading.api import Env, JudgeContext

_PLAIN = (int, float, bool, str, type(None), torch.dtype, torch.device)
# A small tensor on the CPU is matched by its bytes, wherever it came from (the
# positions a grader builds afresh with torch.arange, one kept result passed on to
# the next function); a larger one only by identity, which costs nothing to check.
BY_VALUE_BYTES = 64 * 1024


class _Unkeyable(Exception):
    """An argument that is not matched exactly: the call is computed."""


def _key(value: Any, tensors: list) -> Any:
    kind = type(value)
    if kind is torch.Tensor or kind is torch.nn.Parameter:
        # only a dense tensor's bytes say all it holds (not a quantized one's scale, a
        # lazily conjugated or negated view's sign, a sparse one's indices)
        try:
            plain = value.layout is torch.strided and not value.is_quantized \
                and not value.is_conj() and not value.is_neg()
            if plain and value.device.type == "cpu" and not value.requires_grad \
                    and value.numel() * value.element_size() <= BY_VALUE_BYTES:
                return ("value", kind.__name__, str(value.dtype), tuple(value.shape),
                        value.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        except (RuntimeError, TypeError, ValueError):
            raise _Unkeyable from None
        if not plain:
            raise _Unkeyable
        tensors.append(value)
        return ("tensor", id(value))
    if kind is float:  # by its bits: -0.0 is not 0.0 here
        return ("float", value.hex())
    if kind in _PLAIN:
        return (kind.__name__, value)
    if kind is tuple or kind is list:
        return (kind.__name__, tuple(_key(item, tensors) for item in value))
    if kind is dict and all(type(k) is str for k in value):
        return ("dict", tuple((k, _key(value[k], tensors)) for k in sorted(value)))
    raise _Unkeyable


def _keepable(value: Any) -> bool:
    """A result made of tensors and plain values only: what a copy can stand for."""
    kind = type(value)
    if kind is torch.Tensor or kind in _PLAIN:
        return True
    if kind is tuple or kind is list:
        return all(_keepable(item) for item in value)
    if kind is dict:
        return all(type(k) is str and _keepable(v) for k, v in value.items())
    return False


class Memo:
    """The kept results of one oracle, and whether calls add to them now."""

    def __init__(self) -> None:
        self.entries: dict[Any, tuple[list, list[int], Any]] = {}
        self.recording = False
        # while recording: the ids of the tensors a kept call may be matched by
        # identity with (the case's prepared inputs: no other object is ever passed
        # again, so a call with any other large tensor is not worth keeping)
        self.inputs: set[int] = set()

    def call(self, name: str, fn, args: tuple, kwargs: dict) -> Any:
        tensors: list = []
        try:
            key = (name, _key(args, tensors), _key(kwargs, tensors))
        except _Unkeyable:
            return fn(*args, **kwargs)
        entry = self.entries.get(key)
        if entry is not None:
            kept, versions, result = entry
            if all(a is b for a, b in zip(kept, tensors, strict=True)) \
                    and [t._version for t in tensors] == versions:
                return _copied(result)
        result = fn(*args, **kwargs)
        if self.recording and _keepable(result) and all(id(t) in self.inputs
                                                          for t in tensors):
            self.entries[key] = (tensors, [t._version for t in tensors], _copied(result))
        return result


class MemoReference(types.ModuleType):
    """An oracle module as the judge sees it (``ctx.ref``): its ``MEMO`` functions
    go through the memo, everything else is the module's own."""

    def __init__(self, module: types.ModuleType, memo: Memo):
        super().__init__(module.__name__, module.__doc__)
        self.__dict__.update(module.__dict__)
        for name in getattr(module, "MEMO", ()):
            fn = getattr(module, name)
            self.__dict__[name] = _through(memo, name, fn)
        self._memo = memo


def _through(memo: Memo, name: str, fn):
    def call(*args, **kwargs):
        return memo.call(name, fn, args, kwargs)
    call.__name__ = call.__qualname__ = name
    call.__doc__ = fn.__doc__
    call.__wrapped__ = fn
    return call


def wrap(reference: Any) -> Any:
    """The reference a warm judge worker hands its judges: the same module, or a
    MemoReference where the oracle names functions in ``MEMO``."""
    if not isinstance(reference, types.ModuleType) or not getattr(reference, "MEMO", ()):
        return reference
    return MemoReference(reference, Memo())


def warm(grader, reference: Any, solution: Any, seed: int, device: torch.device,
         prepared: dict) -> int:
    """Fill ``reference``'s memo: the model answer (``solution``) run through every
    check of ``grader`` on the inputs in ``prepared`` (the judge's, built before any
    fork), each output judged as a learner's would be. Returns how many results are
    kept. Only in a warm judge worker, before it forks: nothing of a learner's here."""
    if not isinstance(reference, MemoReference):
        return 0
    env = Env(mod=solution, device=device)
    ctx = JudgeContext(ref=reference, device=device, seed=seed)
    reference._memo.recording = True
    rng = torch.get_rng_state()  # every judge forked later starts from the state it had
    try:
        for check in grader.active(False):
            if check.judge_fn is None or any(getattr(solution, name, None) is None
                                             for name in check.needs):
                continue
            for index, case in enumerate(check.cases):
                ready = prepared.get((check.id, index, seed, str(device)))
                if ready is None:
                    continue
                x = ready[0]
                reference._memo.inputs = {id(t) for t in x.values()
                                          if isinstance(t, torch.Tensor)}
                torch.default_generator.manual_seed(seed)
                try:
                    # a copy: what the model answer does to its inputs must not reach
                    # the judge's own
                    out = check.run(env, _copied(x), case)
                    frames, _ = records.split_frames(records.frame("case", {}, {"out": out}))
                    out = records.decode(frames[0].header["out"], frames[0].blobs)
                    check.judge_fn(ctx, x, case, out)
                except Exception:  # only an optimisation: that case computes as before
                    continue
    finally:
        reference._memo.recording = False
        reference._memo.inputs = set()
        torch.set_rng_state(rng)
    return len(reference._memo.entries)


def _copied(value: Any) -> Any:
    """A copy of every tensor in ``value`` (tuples, lists and dicts rebuilt)."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    if type(value) in (tuple, list):
        return type(value)(_copied(item) for item in value)
    if type(value) is dict:
        return {k: _copied(v) for k, v in value.items()}
    return value
