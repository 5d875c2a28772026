"""What a grader module (``graders/<id>.py``) is written against.

A grader declares checks. Each check has three parts that run in two
different processes, so learner code never shares a process with the
reference or with the comparison:

* ``inputs(case, rand)`` builds the case's inputs from a seeded generator. It
  runs in both processes and must be deterministic (use only ``rand``).
* ``run(env, x, case)`` runs in the *learner* process: it calls the learner's
  code (``env.mod``) on the inputs and returns what it produced (tensors,
  tuples, dicts, numbers, strings; anything else is described by type).
* ``judge(ctx, x, case, out)`` runs in the *judge* process with the reference
  module (``ctx.ref``): it raises :class:`Fail` when ``out`` is wrong. It may
  return a sentence of advice about a case it accepts; the check's row shows it.

The reference is ``graders/oracles/<id>.py`` where the exercise has one (the
float64 pieces and mistake switches the grader needs, hidden from learner
code), else the model answer ``solutions/<id>.py``. A grader never imports
either: the learner process imports the grader and may read it.

Cases are listed smallest first; the first failing case is the one reported.

Example::

    G = Grader("rope")

    @G.check("rope.matches_reference", "RoPE matches the reference",
             cases=[dict(B=1, H=1, L=4, D=8)], inputs=qk_inputs, needs=("RoPE",))
    def run_rope(env, x, case):
        return env.mod.RoPE(x["q"], x["k"])

    @run_rope.judge
    def judge_rope(ctx, x, case, out):
        q, k = expect_tuple(out, 2, "RoPE(q, k)")
        ...
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from drillpe.grading.loading import exception_lines

Case = dict[str, Any]


class Fail(Exception):
    """A judge's verdict that the case failed.

    ``status`` is "fail" (wrong answer) or "error" (the code could not be
    graded). ``worst`` and ``heatmap`` are filled by :func:`assert_close`.
    """

    def __init__(
        self,
        message: str,
        diagnosis: Sequence[str] = (),
        *,
        status: str = "fail",
        heatmap: dict | None = None,
        traceback: Sequence[str] = (),
        show_case: bool = True,
    ):
        super().__init__(message)
        self.message = message
        self.diagnosis = list(diagnosis)
        self.status = status
        self.heatmap = heatmap
        self.traceback = list(traceback)
        self.show_case = show_case


# --------------------------------------------------------------------------
# Inputs


class Rand:
    """Deterministic inputs for one case of one check.

    Seeded from (run seed, check id, case index), drawn on the CPU, so the
    learner process and the judge process build identical tensors on any
    device. Tensors are moved to the grading device by the framework.
    """

    def __init__(self, seed: int, check_id: str, case_index: int):
        digest = hashlib.sha256(f"{seed}:{check_id}:{case_index}".encode()).digest()
        self.gen = torch.Generator(device="cpu")
        self.gen.manual_seed(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))

    def normal(self, *shape: int, dtype: torch.dtype = torch.float32, std: float = 1.0):
        return (torch.randn(*shape, generator=self.gen, dtype=torch.float64) * std).to(dtype)

    def uniform(self, low: float, high: float, *shape: int, dtype: torch.dtype = torch.float32):
        u = torch.rand(*shape, generator=self.gen, dtype=torch.float64)
        return (low + (high - low) * u).to(dtype)

    def randint(self, low: int, high: int, *shape: int):
        return torch.randint(low, high, shape, generator=self.gen, dtype=torch.int64)

    def bernoulli(self, p: float, *shape: int):
        return (torch.rand(*shape, generator=self.gen, dtype=torch.float64) < p).to(torch.int64)


# --------------------------------------------------------------------------
# What crosses from the learner process to the judge


@dataclass
class TensorOut:
    """A tensor the learner returned, as the judge sees it (data on the CPU)."""

    data: torch.Tensor
    device: str
    requires_grad: bool

    @property
    def dtype(self) -> torch.dtype:
        return self.data.dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)


@dataclass
class ObjectOut:
    """Any non-tensor, non-plain object the learner returned."""

    type_name: str
    is_module: bool
    text: str


@dataclass
class ExceptionOut:
    """The learner's code raised instead of returning."""

    type_name: str
    message: str
    traceback: list[str] = field(default_factory=list)
    not_implemented: bool = False
    exited: bool = False

    def describe(self) -> str:
        return f"{self.type_name}: {self.message}" if self.message else self.type_name


def learner_exception(exc: BaseException, learner_file: Path) -> ExceptionOut:
    """The learner's exception as data for the judge, with only its own lines.
    Its ``str()`` is the learner's code too: it may fail or be huge."""
    try:
        message = str(exc)[:500]
    except BaseException:  # noqa: BLE001
        message = "(its message could not be read)"
    try:
        lines = exception_lines(exc, learner_file)
    except BaseException:  # noqa: BLE001
        lines = [f"{type(exc).__name__}: {message}"]
    return ExceptionOut(
        type_name=type(exc).__name__[:200],
        message=message,
        traceback=lines,
        not_implemented=isinstance(exc, NotImplementedError),
        exited=isinstance(exc, SystemExit),
    )


def attempt(env: Env, fn: Callable[[], Any], catch: type[BaseException] = BaseException) -> Any:
    """For ``run``: fn()'s result, or the learner's exception as an ExceptionOut,
    so the rest of the case still runs and the judge can explain the error."""
    try:
        return fn()
    except catch as exc:  # learner code may raise anything
        return learner_exception(exc, Path(env.mod.__file__))


CUDA_MISSING_SIGNS = ("Torch not compiled with CUDA", "no NVIDIA driver", "CUDA driver",
                      "cuda is not available", "Found no NVIDIA")


def exception_failure(exc: ExceptionOut) -> Fail:
    if exc.not_implemented:
        return Fail("not written yet (raises NotImplementedError)",
                    ["api.not_implemented"], traceback=exc.traceback, show_case=False)
    if exc.exited:
        return Fail(f"your code called sys.exit({exc.message}); return a value instead",
                    ["runtime.exit"], traceback=exc.traceback)
    codes = ["runtime.exception"]
    if any(sign.lower() in exc.message.lower() for sign in CUDA_MISSING_SIGNS):
        codes.append("device.hardcoded_cuda")
    return Fail(f"your code raised {exc.describe()}", codes, status="error",
                traceback=exc.traceback)


# --------------------------------------------------------------------------
# Declaring checks


@dataclass
class Env:
    """What ``run`` gets in the learner process."""

    mod: Any  # the learner's module
    device: torch.device


@dataclass
class Check:
    id: str
    title: str
    level: str
    cases: list[Case]
    inputs: Callable[[Case, Rand], dict]
    run: Callable[[Env, dict, Case], Any]
    judge_fn: Callable[..., None] | None = None
    needs: tuple[str, ...] = ()
    # When True, judge also receives ExceptionOut values (to diagnose a
    # crash, or to require one); otherwise the framework reports them.
    handles_exceptions: bool = False
    # Names a mistake from which cases crashed, when no case that runs shows one
    # (for example: only non-square grids crash). Given [(case, crashed)] for
    # every case, returns (codes, sentence) or None.
    crash_pattern: Callable[[list[tuple[Case, bool]]], tuple[list[str], str] | None] | None = None

    def judge(self, fn: Callable[..., None]) -> Callable[..., None]:
        self.judge_fn = fn
        return fn

    def crashes(self, fn: Callable[[list[tuple[Case, bool]]], tuple[list[str], str] | None]
                ) -> Callable:
        self.crash_pattern = fn
        return fn


def no_inputs(case: Case, rand: Rand) -> dict:
    return {}


class Grader:
    def __init__(self, exercise_id: str):
        self.exercise_id = exercise_id
        self.checks: list[Check] = []
        # Opt-in checks that decide nothing: run only when the grade asks for
        # consequences (`check --consequence`), after every check above. Their
        # judge returns the report's ``consequence`` (a dict), not a verdict.
        self.consequences: list[Check] = []

    def check(
        self,
        check_id: str,
        title: str,
        *,
        level: str = "core",
        cases: Sequence[Case] = ({},),
        inputs: Callable[[Case, Rand], dict] = no_inputs,
        needs: Sequence[str] = (),
        handles_exceptions: bool = False,
    ) -> Callable[[Callable], Check]:
        if level not in ("core", "extra"):
            raise ValueError(f"level must be core or extra, not {level!r}")
        if any(c.id == check_id for c in self.checks):
            raise ValueError(f"duplicate check id {check_id}")

        def register(run: Callable[[Env, dict, Case], Any]) -> Check:
            check = Check(
                id=check_id,
                title=title,
                level=level,
                cases=list(cases),
                inputs=inputs,
                run=run,
                needs=tuple(needs),
                handles_exceptions=handles_exceptions,
            )
            self.checks.append(check)
            return check

        return register

    def consequence(
        self,
        check_id: str,
        title: str,
        *,
        inputs: Callable[[Case, Rand], dict],
        cases: Sequence[Case] = ({},),
        needs: Sequence[str] = (),
    ) -> Callable[[Callable], Check]:
        """Declare what the learner's code does inside a tiny model
        (drillpe.grading.tiny_stack): ``run`` as for a check; the judge returns
        the series for the report, or raises Fail when the run cannot be shown."""
        if any(c.id == check_id for c in (*self.checks, *self.consequences)):
            raise ValueError(f"duplicate check id {check_id}")

        def register(run: Callable[[Env, dict, Case], Any]) -> Check:
            check = Check(id=check_id, title=title, level="extra", cases=list(cases),
                          inputs=inputs, run=run, needs=tuple(needs))
            self.consequences.append(check)
            return check

        return register

    def active(self, consequence: bool) -> list[Check]:
        """The checks one grade runs, in record order: every check, then the
        consequences when the grade asks for them."""
        return [*self.checks, *(self.consequences if consequence else [])]


# --------------------------------------------------------------------------
# Judging helpers


@dataclass
class JudgeContext:
    ref: Any  # the reference module: graders/oracles/<id>.py, else solutions/<id>.py
    device: torch.device
    seed: int


def describe_case(case: Case | None) -> str:
    if not case:
        return ""
    return " ".join(f"{k}={v}" for k, v in case.items())


def type_name(out: Any) -> str:
    if isinstance(out, TensorOut):
        return f"a {out.dtype} tensor"
    if isinstance(out, ObjectOut):
        kind = " (a torch.nn.Module)" if out.is_module else ""
        return f"{out.type_name}{kind}"
    if out is None:
        return "None"
    return type(out).__name__


def expect_tensor(
    out: Any,
    what: str,
    *,
    shape: Sequence[int] | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    finite: bool = True,
) -> torch.Tensor:
    """Check that ``out`` is a tensor of the given shape/dtype/device; return its data."""
    if not isinstance(out, TensorOut):
        codes = ["api.wrong_return_type"]
        raise Fail(f"{what} should return a tensor; it returned {type_name(out)}", codes)
    if shape is not None and out.shape != tuple(shape):
        raise Fail(
            f"{what} has shape {list(out.shape)}; expected {list(shape)}", ["output.wrong_shape"]
        )
    if dtype is not None and out.dtype != dtype:
        raise Fail(f"{what} has dtype {out.dtype}; expected {dtype}", ["output.wrong_dtype"])
    if device is not None and torch.device(out.device) != _normal_device(device):
        raise Fail(
            f"{what} is on {out.device}; the inputs were on {device}", ["output.wrong_device"]
        )
    if finite and out.data.is_floating_point() and not torch.isfinite(out.data).all():
        bad = (~torch.isfinite(out.data)).nonzero()[0].tolist()
        raise Fail(f"{what} contains NaN/inf (first at {bad})", ["output.nonfinite"])
    return out.data


def _normal_device(device: torch.device | str) -> torch.device:
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return dev


def expect_tuple(out: Any, n: int, what: str) -> tuple:
    if not isinstance(out, (tuple, list)) or len(out) != n:
        got = f"{len(out)} items" if isinstance(out, (tuple, list)) else type_name(out)
        raise Fail(f"{what} should return a tuple of {n}; it returned {got}",
                   ["api.wrong_return_type"])
    return tuple(out)


def mismatch(
    got: torch.Tensor, want: torch.Tensor, *, atol: float, rtol: float = 0.0
) -> tuple[float, list[int], float, float] | None:
    """None when close; else (max |Δ| over the excess, index, yours, expected)."""
    if (not atol and not rtol and _exactly_equal(got, want)) or _all_within(got, want, atol, rtol):
        return None
    got64, want64, diff, bad = _outside(got, want, atol, rtol)
    if got64.shape != want64.shape:
        raise ValueError(f"shape {tuple(got64.shape)} vs {tuple(want64.shape)}")
    if not bad.any():
        return None
    excess = torch.where(bad, diff - rtol * want64.abs(), torch.zeros_like(diff))
    excess = torch.nan_to_num(excess, nan=float("inf"))
    flat = int(excess.reshape(-1).argmax())
    index = unravel(flat, diff.shape)
    return float(diff.reshape(-1)[flat]), index, float(got64.reshape(-1)[flat]), float(
        want64.reshape(-1)[flat]
    )


def unravel(flat: int, shape) -> list[int]:
    """The index of element ``flat`` of a contiguous tensor of ``shape``. By hand:
    torch.unravel_index imports sympy, 0.3-0.8 s in every judge that fails a case."""
    index: list[int] = []
    rest = int(flat)
    for size in reversed(tuple(shape)):
        rest, i = divmod(rest, size)
        index.insert(0, i)
    return index


def argmax_index(t: torch.Tensor) -> list[int]:
    """Where ``t``'s largest element is, as an index into ``t``."""
    return unravel(int(t.reshape(-1).argmax()), t.shape)


def _exactly_equal(got: torch.Tensor, want: torch.Tensor) -> bool:
    """Whether ``got`` is ``want`` element for element, told in one pass with no
    copies where it can be: plain tensors of the same dtype, shape and device.
    rope_convert compares weights of a million elements with no tolerance, and the
    float64 route (_outside) took 40 of its 136 ms a grade. False says nothing: the
    full comparison decides. Infinities are left to it too: there inf - inf is NaN,
    which no bound holds, where torch.equal calls two infinities equal."""
    return type(got) is torch.Tensor and type(want) is torch.Tensor \
        and got.dtype == want.dtype and got.shape == want.shape \
        and got.device == want.device and bool(torch.equal(got, want)) \
        and bool(torch.isfinite(got).all())


def _all_within(got: torch.Tensor, want: torch.Tensor, atol: float, rtol: float) -> bool:
    """Whether every element is within the bound, as _outside decides it, in fewer
    passes and float64 buffers (the difference taken in place in a copy of got):
    the close case is the common one, and rope's judge spent a quarter of its time
    in _outside. False where the shapes differ."""
    got64 = got.detach().to("cpu", torch.float64, copy=True)
    want64 = want.detach().to("cpu", torch.float64)
    if got64.shape != want64.shape:
        return False
    got64.sub_(want64).abs_()  # NaN stays NaN, and NaN <= bound is False: not within
    return bool(torch.le(got64, atol + rtol * want64.abs() if rtol else atol).all())


def _outside(got: torch.Tensor, want: torch.Tensor, atol: float, rtol: float):
    """(got, want in float64 on the CPU, |got - want|, where it is outside the bound)."""
    got64 = got.detach().to("cpu", torch.float64)
    want64 = want.detach().to("cpu", torch.float64)
    if got64.shape != want64.shape:
        return got64, want64, None, None
    diff = (got64 - want64).abs()
    # NaN counts as bad; without rtol the bound is one number (no pass over |want|)
    return got64, want64, diff, ~(diff <= (atol + rtol * want64.abs() if rtol else atol))


def is_close(got: torch.Tensor, want: torch.Tensor, *, atol: float, rtol: float = 0.0) -> bool:
    """``mismatch(got, want) is None`` without locating the worst element: the
    diagnoses try every known mistake, and most of them do not match."""
    if tuple(got.shape) != tuple(want.shape):
        return False
    if not atol and not rtol and _exactly_equal(got, want):
        return True
    return _all_within(got, want, atol, rtol)


def heatmap(got: torch.Tensor, want: torch.Tensor, max_rows: int = 16, max_cols: int = 32,
            axes: Sequence[str] = ("position", "channel")) -> dict:
    """|yours - expected| reduced to a small (rows x cols) grid over the last two
    axes (named by ``axes``), taking the maximum over the leading ones."""
    diff = (got.detach().to("cpu", torch.float64) - want.detach().to("cpu", torch.float64)).abs()
    diff = torch.nan_to_num(diff, nan=float("inf"), posinf=float("inf"))
    if diff.dim() == 0:
        diff = diff.reshape(1, 1)
    elif diff.dim() == 1:
        diff = diff.reshape(1, -1)
    else:
        diff = diff.reshape(-1, diff.shape[-2], diff.shape[-1]).amax(dim=0)
    rows, cols = diff.shape

    def pool(t: torch.Tensor, dim: int, size: int) -> torch.Tensor:
        n = t.shape[dim]
        if n <= size:
            return t
        edges = torch.linspace(0, n, size + 1).long()
        parts = [t.narrow(dim, int(a), max(int(b) - int(a), 1)).amax(dim=dim, keepdim=True)
                 for a, b in zip(edges[:-1], edges[1:])]
        return torch.cat(parts, dim=dim)

    grid = pool(pool(diff, 0, max_rows), 1, max_cols)
    return {
        "rows": int(rows),
        "cols": int(cols),
        # JSON has no inf: a NaN/inf difference travels as null (the scorecard shows "!!")
        "values": [[round(float(v), 6) if math.isfinite(v) else None for v in row.tolist()]
                   for row in grid],
        "axes": list(axes),
    }


_NAMING = [True]  # whether assert_close names the mistake (heat_only turns it off)


@contextlib.contextmanager
def heat_only():
    """Within it, assert_close fails exactly as before, with the same message and
    heatmap, but names no mistake: for a later case of a failing check, judged only
    for a heatmap large enough to show (drillpe.grading.judge._larger_heatmap),
    whose codes nothing reads. Naming runs every known variant (relative's
    attention: a dozen float64 runs of the reference per case)."""
    _NAMING[0] = False
    try:
        yield
    finally:
        _NAMING[0] = True


def naming() -> bool:
    """False inside heat_only: a grader that names a mistake itself (beside
    assert_close) skips it there, as assert_close does."""
    return _NAMING[0]


def assert_close(
    got: torch.Tensor,
    want: torch.Tensor,
    *,
    atol: float,
    rtol: float = 0.0,
    what: str,
    variants: dict[str, Callable[[], torch.Tensor] | torch.Tensor] | None = None,
    variant_atol: float | None = None,
    axes: Sequence[str] = ("position", "channel"),
    pairs: dict[tuple[str, str], Callable[[], torch.Tensor] | torch.Tensor] | None = None,
) -> None:
    """Raise Fail (with worst element, heatmap and diagnosis) when got != want.

    ``variants`` maps a diagnosis code to what a learner making that mistake
    would output (a tensor, or a callable computing it lazily). Every variant
    the output matches is named; when none matches, the ``pairs`` (two codes
    to what making both mistakes outputs) are tried, and when none of those
    matches either, ``output.mismatch``.
    """
    found = mismatch(got, want, atol=atol, rtol=rtol)
    if found is None:
        return
    delta, index, yours, expected = found
    variant_atol = variant_atol if variant_atol is not None else atol
    codes = diagnose(got, variants or {}, atol=variant_atol, rtol=rtol) if _NAMING[0] else []
    if not codes and pairs and _NAMING[0]:
        codes = diagnose_pairs(got, pairs, atol=variant_atol, rtol=rtol)
    message = (
        f"{what}: max |Δ| {delta:.3g} at {index} (yours {yours:.6g}, expected {expected:.6g}); "
        f"tolerance {atol:.2g}" + (f" + {rtol:.1g}·|expected|" if rtol else "")
    )
    raise Fail(message, codes or ["output.mismatch"], heatmap=heatmap(got, want, axes=axes))


def diagnose(
    got: torch.Tensor,
    variants: dict[str, Callable[[], torch.Tensor] | torch.Tensor],
    *,
    atol: float,
    rtol: float = 0.0,
    first: bool = False,
) -> list[str]:
    """The codes of the variants ``got`` matches. A variant may be a list of
    outputs: the several ways of writing one mistake. ``first``: stop at the
    first match (enough to know whether any known mistake fits)."""
    codes = []
    for code, variant in variants.items():
        try:
            value = variant() if callable(variant) else variant
        except Exception:  # a variant that cannot be built for this case does not apply
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        if any(v is not None and is_close(got, v, atol=atol, rtol=rtol) for v in values):
            codes.append(code)
            if first:
                break
    return codes


def diagnose_pairs(
    got: torch.Tensor,
    pairs: dict[tuple[str, str], Callable[[], torch.Tensor] | torch.Tensor],
    *,
    atol: float,
    rtol: float = 0.0,
) -> list[str]:
    """Both codes of every pair of known mistakes the output matches. Only for
    when no single mistake fits: a pair is a weaker explanation than one."""
    matched = diagnose(got, {f"{a}+{b}": value for (a, b), value in pairs.items()},
                       atol=atol, rtol=rtol)
    return list(dict.fromkeys(code for both in matched for code in both.split("+")))


def to_device(obj: Any, device: torch.device) -> Any:
    """Move every tensor inside nested dicts/lists/tuples to ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device) for v in obj)
    return obj
