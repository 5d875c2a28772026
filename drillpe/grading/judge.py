"""The judge process: owns the references and every verdict.

    python -m drillpe.grading.judge --exercise ID --file F --device D --seed N \
        --outdir DIR --report R.json

It starts alongside the learner process, loads torch, the grader and the
reference while the learner's code runs, reads the learner's file as text
(never executing it), prints ``ready``, then waits for one JSON line on stdin
describing how the learner process ended. It then compares the learner's
saved outputs with the reference and writes the versioned report to R.json.
"""

from __future__ import annotations

import argparse
import ast
import json
import linecache
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from drillpe import catalog
from drillpe.grading import wire
from drillpe.grading.api import (
    Check,
    ExceptionOut,
    Fail,
    JudgeContext,
    describe_case,
    exception_failure,
)
from drillpe.grading.common import case_inputs, device_or_exit, load_grader, load_reference
from drillpe.grading.static import StaticReport, analyse
from drillpe.report import CheckResult, ExerciseResult, summarise, write_json


@dataclass
class LearnerEnd:
    """How the learner process ended, as the parent saw it."""

    returncode: int | None
    timed_out: bool
    timeout_s: float
    # Where the learner's code was when the time ran out (its own lines only);
    # shown once, on the first row that did not finish.
    stuck: list[str] = field(default_factory=list)

    def take_stuck(self) -> list[str]:
        lines, self.stuck = self.stuck, []
        return lines

    @property
    def early_reason(self) -> tuple[str, str, str]:
        """(diagnosis, error kind, sentence) for work the learner process never finished."""
        if self.timed_out:
            return ("runtime.timeout", "timeout",
                    f"grading did not finish within {self.timeout_s:g} s")
        if self.returncode is not None and self.returncode < 0:
            return ("runtime.exit", "crash",
                    f"the process running your code died (signal {-self.returncode})")
        return ("runtime.exit", "crash",
                f"your code ended the process (exit status {self.returncode})")


STUCK_FILE = "stuck.txt"  # drillpe.grading.learner writes it just before the deadline
FRAME = re.compile(r'^\s*File "(?P<file>.+)", line (?P<line>\d+) in (?P<name>\S+)')


def stuck_lines(dump: Path, learner_file: Path) -> list[str]:
    """The learner's own frames from faulthandler's dump, outermost first."""
    try:
        text = dump.read_text(errors="replace")
    except OSError:
        return []
    target = str(learner_file.resolve())
    for block in text.split("\n\n"):  # one block per thread, most recent call first
        frames = [m for m in map(FRAME.match, block.splitlines()) if m and m["file"] == target]
        if frames:
            lines = []
            for m in reversed(frames):
                code = linecache.getline(target, int(m["line"])).strip()
                lines.append(f"line {m['line']}, in {m['name']}: {code}")
            return lines[-8:]
    return []


# --------------------------------------------------------------------------
# API: names and signatures


def _declared_params(signature: str) -> list[tuple[str, bool, Any]]:
    """'(q, k=1)' -> [('q', False, None), ('k', True, 1)]."""
    fn = ast.parse(f"def f{signature}: pass").body[0]
    args = fn.args
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    out = []
    for arg, default in zip(positional, defaults):
        out.append((arg.arg, default is not None,
                    ast.literal_eval(default) if default is not None else None))
    return out


def _compare_params(label: str, declared: str, learner: list | None) -> str | None:
    if learner is None:
        return f"{label}: cannot read its signature"
    want = _declared_params(declared)
    got = [(p[0], p[2], p[3]) for p in learner if p[1] not in ("VAR_POSITIONAL", "VAR_KEYWORD")]
    want_names = [w[0] for w in want]
    got_names = [g[0] for g in got]
    if got_names[: len(want_names)] != want_names or any(not g[1] for g in got[len(want):]):
        return f"{label}{_fmt(got)} should be {label}{declared}"
    for (name, has_default, default), (_, got_has, got_default) in zip(want, got):
        if has_default and not got_has:
            return f"{label}: parameter {name} needs the default {default!r}"
        if has_default and isinstance(default, (int, float)) and not isinstance(default, bool) \
                and isinstance(got_default, (int, float)) and got_default != default:
            return f"{label}: {name} defaults to {got_default!r}; the exercise says {default!r}"
    return None


def _fmt(params: list) -> str:
    return "(" + ", ".join(p[0] if not p[1] else f"{p[0]}={p[2]!r}" for p in params) + ")"


def api_check(exercise: catalog.Exercise, facts: dict[str, Any]) -> CheckResult:
    missing, problems = [], []
    for item in exercise.api:
        fact = facts.get(item.name, {"present": False})
        if not fact["present"]:
            missing.append(item.name)
            continue
        if item.kind == "class" and not fact.get("is_class"):
            problems.append(f"{item.name} should be a class (an nn.Module)")
            continue
        if item.kind == "function" and (fact.get("is_class") or not fact.get("callable")):
            problems.append(f"{item.name} should be a function")
            continue
        for label, declared in item.signatures().items():
            key = {"__init__": "init", "forward": "forward"}.get(label.rpartition(".")[2], "signature")
            problem = _compare_params(label, declared, fact.get(key if "." in label else "signature"))
            if problem:
                problems.append(problem)
    codes, parts = [], []
    if missing:
        codes.append("api.missing_symbol")
        parts.append("not defined: " + ", ".join(missing))
    if problems:
        codes.append("api.signature_mismatch")
        parts.extend(problems)
    return CheckResult(
        id="api.names", title="Defines the exercise's names and signatures", level="core",
        status="fail" if parts else "pass",
        message="; ".join(parts) if parts else "all names defined: " + ", ".join(exercise.names),
        diagnosis=codes,
    )


# --------------------------------------------------------------------------
# Rules


def rules_check(static: StaticReport, runtime: dict | None, exercise: catalog.Exercise
                ) -> CheckResult:
    codes: list[str] = []
    parts: list[str] = []

    def add(code: str, text: str) -> None:
        if code not in codes:
            codes.append(code)
        if text not in parts:
            parts.append(text)

    for f in static.findings:
        if f.code in ("rules.banned_api", "rules.uses_reference"):
            add(f.code, f"line {f.line}: {f.text}")
    if runtime:
        for call in runtime.get("banned_calls", []):
            add("rules.banned_api", f"called {call['name']}" +
                (f" (line {call['line']})" if call.get("line") else ""))
        if runtime.get("reference_access"):
            add("rules.uses_reference", "tried to read drillpe's reference files")
        for module in runtime.get("imported", []):
            if module in exercise.banned_modules:
                add("rules.banned_api", f"imported {module}")
        tampered = runtime.get("tampered", [])
        if tampered:
            add("rules.tampering", "replaced " + ", ".join(tampered[:6]))
    return CheckResult(
        id="rules.allowed", title="Follows the exercise's rules", level="core",
        status="fail" if parts else "pass",
        message="; ".join(parts) if parts else "no banned APIs, no reference access, no tampering",
        diagnosis=codes,
    )


def cuda_check(static: StaticReport) -> CheckResult:
    found = static.by_code("device.hardcoded_cuda")
    lines = ", ".join(str(f.line) for f in found)
    return CheckResult(
        id="device.not_hardcoded", title="No hard-coded CUDA device", level="core",
        status="fail" if found else "pass",
        message=(f"hard-coded CUDA at line {lines} ({found[0].text}); use the inputs' device"
                 if found else "device follows the inputs"),
        diagnosis=["device.hardcoded_cuda"] if found else [],
    )


# --------------------------------------------------------------------------
# Grader checks


def judge_check(check: Check, records: list | None, ctx: JudgeContext, end: LearnerEnd,
                seed: int) -> CheckResult:
    result = CheckResult(id=check.id, title=check.title, level=check.level, status="pass")
    if records is None:
        code, _, sentence = end.early_reason
        result.status, result.message, result.diagnosis = "error", f"not reached: {sentence}", [code]
        result.traceback = end.take_stuck()
        if result.traceback:
            result.message = f"stopped here: {sentence}"
        return result
    for index, case in enumerate(check.cases):
        if index >= len(records):
            break
        record = records[index]
        out = wire.decode(record["out"])
        try:
            if isinstance(out, ExceptionOut) and not check.handles_exceptions:
                raise exception_failure(out)
            if record.get("mutated"):
                names = ", ".join(record["mutated"])
                raise Fail(f"your code changed its input{'s' if ',' in names else ''} {names} "
                           "in place", ["input.mutated"])
            x = case_inputs(check, index, seed, ctx.device)
            if check.judge_fn is not None:
                check.judge_fn(ctx, x, case, out)
        except Fail as failure:
            result.status = failure.status
            suffix = f" for {describe_case(case)}" if case and failure.show_case else ""
            result.message = failure.message + suffix
            result.diagnosis = failure.diagnosis
            result.case = dict(case) if case else None
            result.heatmap = failure.heatmap
            if _too_small(failure.heatmap):
                result.heatmap = _larger_heatmap(check, records, index, ctx, seed) or failure.heatmap
            result.traceback = failure.traceback
            return result
        except Exception as exc:  # a grader bug must not look like the learner's
            result.status = "error"
            result.message = (f"drillpe's grader failed on this case ({type(exc).__name__}: "
                              f"{exc}); this is a drillpe bug, please report it")
            result.case = dict(case) if case else None
            return result
    cases = len(check.cases)
    result.message = f"{cases} case{'s' if cases != 1 else ''} passed" if cases > 1 else "passed"
    return result


def _too_small(heat: dict | None) -> bool:
    return heat is not None and (heat["rows"] < 8 or heat["cols"] < 8)


def _larger_heatmap(check: Check, records: list, first: int, ctx: JudgeContext, seed: int
                    ) -> dict | None:
    """The smallest failing case is the one reported, but a 1x2 picture shows
    nothing: draw the error of the next failing case that is at least 8x8."""
    for index in range(first + 1, len(records)):
        out = wire.decode(records[index]["out"])
        if isinstance(out, ExceptionOut) or records[index].get("mutated"):
            return None
        case = check.cases[index]
        try:
            check.judge_fn(ctx, case_inputs(check, index, seed, ctx.device), case, out)
        except Fail as failure:
            if failure.heatmap is not None and not _too_small(failure.heatmap):
                return {**failure.heatmap, "case": describe_case(case)}
        except Exception:
            return None
    return None


def skipped(check: Check, why: str) -> CheckResult:
    return CheckResult(id=check.id, title=check.title, level=check.level, status="skip",
                       message=why)


# --------------------------------------------------------------------------


def grade(exercise_id: str, learner_file: Path, outdir: Path, device: torch.device, seed: int,
          end: LearnerEnd, static: StaticReport, grader, reference) -> ExerciseResult:
    exercise = catalog.get(exercise_id)
    ctx = JudgeContext(ref=reference, device=device, seed=seed)
    load = _read(outdir / "load.pt")
    runtime = _read(outdir / "runtime.pt")
    checks: list[CheckResult] = []
    error: dict[str, str] | None = None

    loads = CheckResult(id="file.loads", title="Your file imports", level="core", status="pass",
                        message="imported")
    if static.syntax_error:
        loads.status, loads.diagnosis = "fail", ["syntax.error"]
        loads.message = f"syntax error: {static.syntax_error}"
        error = {"kind": "syntax", "message": loads.message}
    elif load is None:
        code, kind, sentence = end.early_reason
        loads.status, loads.diagnosis, loads.message = "error", [code], f"while importing, {sentence}"
        loads.traceback = end.take_stuck()
        error = {"kind": kind, "message": loads.message}
    elif load["status"] != "ok":
        exc = wire.decode(load["error"])
        loads.status, loads.traceback = "fail", exc.traceback
        if load["status"] == "exit":
            loads.diagnosis, kind = ["runtime.exit"], "crash"
            loads.message = "your file exits while being imported"
        else:
            loads.diagnosis, kind = ["import.error"], "import"
            loads.message = f"importing your file raised {exc.describe()}"
        error = {"kind": kind, "message": loads.message}
    checks.append(loads)
    if static.syntax_error:  # nothing could be read or run: these rows cannot be judged
        for row in (rules_check(static, runtime, exercise), cuda_check(static)):
            row.status, row.message = "skip", "not run: your file does not parse"
            checks.append(row)
    else:
        checks.append(rules_check(static, runtime, exercise))
        checks.append(cuda_check(static))

    if error is not None:
        for check in [*_api_placeholder(exercise), *[skipped(c, "not run: your file does not "
                                                              "import") for c in grader.checks]]:
            checks.append(check)
        return _finish(exercise_id, learner_file, device, seed, checks, error)

    facts = load["api"]
    checks.append(api_check(exercise, facts))
    present = {name for name, fact in facts.items() if fact["present"]}
    graded = []
    for index, check in enumerate(grader.checks):
        absent = [n for n in check.needs if n not in present]
        if absent:
            checks.append(skipped(check, f"not run: needs {', '.join(absent)}, which your file "
                                         "does not define"))
            continue
        records = _read(outdir / f"check-{index}.pt")
        result = judge_check(check, records, ctx, end, seed)
        checks.append(result)
        graded.append(result)

    if runtime is None:
        code, kind, sentence = end.early_reason
        error = {"kind": kind, "message": sentence}
    elif checks[1].status == "fail":
        error = {"kind": "rules", "message": checks[1].message}
    elif not graded:
        error = {"kind": "missing_symbol", "message": checks[3].message}
    elif all("api.not_implemented" in r.diagnosis for r in graded):
        error = {"kind": "not_implemented",
                 "message": "every part still raises NotImplementedError: write your code in the "
                            "stub's functions"}
    return _finish(exercise_id, learner_file, device, seed, checks, error)


def _api_placeholder(exercise: catalog.Exercise) -> list[CheckResult]:
    return [CheckResult(id="api.names", title="Defines the exercise's names and signatures",
                        level="core", status="skip", message="not run: your file does not import")]


def _finish(exercise_id, learner_file, device, seed, checks, error) -> ExerciseResult:
    passed, score = summarise(checks)
    return ExerciseResult(exercise=exercise_id, file=str(learner_file), device=device.type,
                          passed=passed, score=score, duration_s=0.0, error=error,
                          checks=checks, seed=seed)


def _read(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return wire.load(path)
    except Exception:  # a truncated or forged file counts as missing
        return None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="drillpe.grading.judge")
    parser.add_argument("--exercise", required=True)
    parser.add_argument("--file", required=True, type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--outdir", required=True, type=Path)
    parser.add_argument("--report", required=True, type=Path)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


def run(args: argparse.Namespace, grader=None, reference=None) -> int:
    """One judge run. ``grader`` and ``reference`` may come preloaded from a
    warm worker (drillpe.grading.warm), which forks a fresh process for every run."""
    device = device_or_exit(args.device)
    exercise = catalog.get(args.exercise)
    grader = grader if grader is not None else load_grader(args.exercise)
    reference = reference if reference is not None else load_reference(args.exercise)
    try:
        source = args.file.read_text(encoding="utf-8")
        static = analyse(source, exercise.banned, exercise.banned_modules)
    except (UnicodeDecodeError, ValueError) as exc:
        static = StaticReport(syntax_error=f"the file is not readable Python text ({exc})")
    print("ready", flush=True)

    line = sys.stdin.readline()
    if not line:
        return 5  # the parent went away
    info = json.loads(line)
    end = LearnerEnd(returncode=info.get("returncode"), timed_out=bool(info.get("timed_out")),
                     timeout_s=float(info.get("timeout_s", 0)),
                     stuck=stuck_lines(args.outdir / STUCK_FILE, args.file))
    result = grade(args.exercise, args.file, args.outdir, device, args.seed, end, static,
                   grader, reference)
    write_json(args.report, result.to_dict())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
