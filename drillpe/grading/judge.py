"""The judge process: owns the references and every verdict.

    python -m drillpe.grading.judge --exercise ID --file F --device D --seed N --run-dir DIR \
        [--consequence]

It starts alongside the learner process, loads torch, the grader and the
reference while the learner's code runs, and reads the learner's file as
text (never executing it): the staged copy, the very bytes the learner
process imports. It prints ``ready``, then waits for one JSON line on stdin
describing how the learner process ended (drillpe.launch.contract.LearnerEnd).
It then reads the records the runner stored (``DIR/records.bin``), checks
them (drillpe.grading.records), compares the learner's outputs with the
reference and writes the versioned report to ``DIR/report.json``. While it
waits it reads that file as it grows and judges each case already there
(drillpe.grading.judge_ahead); its own pass over the finished file takes
such a verdict only for a record with the same bytes.

Nothing from the learner process is believed without a check: a record that
is missing, extra, malformed or oversized fails the file (rules.tampering),
signatures come from the file's own text where it has them, and whether a
call changed its inputs is decided by hashing the judge's own copy.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import json
import linecache
import os
import re
import select
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from drillpe.data import catalog
from drillpe.data.files import write_json
from drillpe.grading import judge_ahead, records
from drillpe.grading.api import (
    Check,
    ExceptionOut,
    Fail,
    JudgeContext,
    describe_case,
    exception_failure,
    heat_only,
)
from drillpe.grading.common import (
    case_inputs,
    device_or_exit,
    inputs_ahead,
    leave_now,
    load_grader,
    load_reference,
)
from drillpe.grading.static import StaticReport, analyse, not_run, read_source
from drillpe.launch import contract
from drillpe.results.report import CheckResult, ExerciseResult, summarise

RECORDS_FILE, STUCK_FILE, REPORT_FILE = (contract.RECORDS_FILE, contract.STUCK_FILE,
                                          contract.REPORT_FILE)


@dataclass
class LearnerEnd(contract.LearnerEnd):
    """How the learner process ended, as the parent saw it (the line it sent)."""

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
        if self.memory_exceeded:
            return ("runtime.memory", "crash",
                    f"your code used more than {self.memory_limit / 2**30:.0f} GiB of memory "
                    "(all its processes together) and was stopped")
        if self.returncode is not None and self.returncode < 0:
            return ("runtime.exit", "crash",
                    f"the process running your code died (signal {-self.returncode})")
        return ("runtime.exit", "crash",
                f"your code ended the process (exit status {self.returncode})")

    @classmethod
    def from_json(cls, info: dict, stuck: list[str]) -> LearnerEnd:
        return cls(returncode=info.get("returncode"), timed_out=bool(info.get("timed_out")),
                   timeout_s=float(info.get("timeout_s", 0)),
                   memory_exceeded=bool(info.get("memory_exceeded")),
                   memory_limit=int(info.get("memory_limit") or 0),
                   records_overflow=bool(info.get("records_overflow")),
                   harm=str(info["harm"])[:300] if info.get("harm") else None, stuck=stuck)


FRAME = re.compile(r'^\s*File "(?P<file>.+)", line (?P<line>\d+) in (?P<name>\S+)')


def stuck_lines(dump: Path, learner_file: Path) -> list[str]:
    """The learner's own frames from faulthandler's dump, outermost first."""
    try:
        text = records.read_capped(dump, 1 << 16).decode("utf-8", "replace")
    except records.Tampered:
        return []
    target = str(learner_file.resolve())
    for block in text.split("\n\n"):  # one block per thread, most recent call first
        frames = [m for m in map(FRAME.match, block.splitlines()) if m and m["file"] == target]
        if frames:
            lines = []
            for m in reversed(frames):
                code = linecache.getline(target, int(m["line"])).strip()[:300]
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


def _compare_params(label: str, declared: str, learner: list | None,
                    keyword: tuple[str, ...] = ()) -> tuple[str | None, str | None]:
    """(problem, note). Names count only where the grader passes the parameter
    by keyword (it has a default, or ``keyword`` lists it); a parameter passed
    by position may be called anything (``query`` for ``q``), which is a note."""
    if learner is None:
        return f"{label}: cannot read its signature", None
    want = _declared_params(declared)
    got = [(p[0], p[2], p[3]) for p in learner if p[1] not in ("VAR_POSITIONAL", "VAR_KEYWORD")]
    by_keyword = {name for name, has_default, _ in want if has_default or name in keyword}
    renamed = []
    for (name, _, _), (got_name, _, _) in zip(want, got):
        if got_name != name and (name in by_keyword or got_name in by_keyword):
            renamed = None
            break
        if got_name != name:
            renamed.append((name, got_name))
    if renamed is None or len(got) < len(want) or any(not g[1] for g in got[len(want):]):
        return f"{label}{_fmt(got)} should be {label}{declared}", None
    for (name, has_default, default), (_, got_has, got_default) in zip(want, got):
        if has_default and not got_has:
            return f"{label}: parameter {name} needs the default {default!r}", None
        if has_default and isinstance(default, (int, float)) and not isinstance(default, bool) \
                and isinstance(got_default, (int, float)) and got_default != default:
            return f"{label}: {name} defaults to {got_default!r}; the exercise says {default!r}", \
                None
    if renamed:
        pairs = ", ".join(f"{got_name} for {name}" for name, got_name in renamed)
        return None, (f"{label} calls its positional parameters {pairs}: fine, the grader "
                      "passes them by position")
    return None, None


def _fmt(params: list) -> str:
    return "(" + ", ".join(p[0] if not p[1] else f"{p[0]}={p[2]!r}" for p in params) + ")"


# A default the file's text does not spell as a literal (``base=BASE``): only
# the run time knows its value, so it matches whatever the run time reports.
NOT_LITERAL = object()


def _literal(node: ast.AST) -> Any:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return NOT_LITERAL
    return value if type(value) in (int, float, str, bool, type(None)) else NOT_LITERAL


def _as_run(written: list[list], runtime: list[list] | None) -> list[list] | None:
    """The written parameters with each non-literal default taken from the
    run time; None when the two differ in anything the text does say."""
    if runtime is None:
        return [[n, k, h, None if d is NOT_LITERAL else d] for n, k, h, d in written]
    if len(runtime) != len(written):
        return None
    out = []
    for (name, kind, has, default), run in zip(written, runtime):
        if [name, kind, has] != run[:3] or (default is not NOT_LITERAL and default != run[3]):
            return None
        out.append(run)
    return out


def static_params(fn: ast.FunctionDef | ast.AsyncFunctionDef, drop_self: bool) -> list[list]:
    """A def's parameters, in the form the learner process reports them."""
    a = fn.args
    positional = [*a.posonlyargs, *a.args]
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    out = []
    for i, (arg, default) in enumerate(zip(positional, defaults)):
        kind = "POSITIONAL_ONLY" if i < len(a.posonlyargs) else "POSITIONAL_OR_KEYWORD"
        out.append([arg.arg, kind, default is not None,
                    _literal(default) if default is not None else None])
    if a.vararg:
        out.append([a.vararg.arg, "VAR_POSITIONAL", False, None])
    for arg, default in zip(a.kwonlyargs, a.kw_defaults):
        out.append([arg.arg, "KEYWORD_ONLY", default is not None,
                    _literal(default) if default is not None else None])
    if a.kwarg:
        out.append([a.kwarg.arg, "VAR_KEYWORD", False, None])
    if drop_self and out and out[0][0] == "self":
        out = out[1:]
    return out


def _last_binding(body: list[ast.stmt], name: str) -> ast.stmt | None:
    last = None
    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and \
                stmt.name == name:
            last = stmt
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Import,
                               ast.ImportFrom, ast.For, ast.With, ast.If, ast.Try)):
            bound = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and
                     isinstance(n.ctx, ast.Store)}
            bound |= {a.asname or a.name for n in ast.walk(stmt)
                      if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
            if name in bound:
                last = stmt
    return last


def static_api(tree: ast.Module | None, exercise: catalog.Exercise) -> dict[str, dict]:
    """Signatures as the file defines them, where a plain top-level def or
    class says so (undecorated, not rebound later): {label: (line, params)}."""
    out: dict[str, dict] = {}
    if tree is None:
        return out
    for item in exercise.api:
        node = _last_binding(tree.body, item.name)
        if node is not None and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                      ast.ClassDef)):
            node = _only_definition(tree, item.name) or node  # built in a factory function
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.decorator_list:
            out[item.name] = {"line": node.lineno, "params": static_params(node, False)}
        elif isinstance(node, ast.ClassDef):
            for method, key in (("__init__", "init"), ("forward", "forward")):
                fn = _last_binding(node.body, method)
                if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                        not fn.decorator_list:
                    out[f"{item.name}.{key}"] = {"line": fn.lineno,
                                                 "params": static_params(fn, True)}
    return out


def _only_definition(tree: ast.Module, name: str) -> ast.AST | None:
    """The one def or class called ``name`` anywhere in the file, if there is
    exactly one: its text, not what the learner process reports, says what
    the signature is."""
    found = [node for node in ast.walk(tree)
             if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
             and node.name == name]
    return found[0] if len(found) == 1 else None


def _valid_params(params: Any) -> bool:
    return params is None or (type(params) is list and all(
        type(p) is list and len(p) == 4 and type(p[0]) is str and type(p[1]) is str
        and type(p[2]) is bool and type(p[3]) in (int, float, str, bool, type(None))
        for p in params))


def checked_facts(exercise: catalog.Exercise, facts: Any) -> dict[str, Any]:
    """The learner process's API facts, refused unless well formed."""
    if type(facts) is not dict:
        raise records.Tampered("the API facts are malformed")
    out = {}
    for item in exercise.api:
        fact = facts.get(item.name)
        if type(fact) is not dict or type(fact.get("present")) is not bool:
            raise records.Tampered(f"the API facts about {item.name} are malformed")
        for key in ("is_class", "callable"):
            if key in fact and type(fact[key]) is not bool:
                raise records.Tampered(f"the API facts about {item.name} are malformed")
        for key in ("init", "forward", "signature"):
            if not _valid_params(fact.get(key)):
                raise records.Tampered(f"the API facts about {item.name} are malformed")
        out[item.name] = fact
    return out


def api_check(exercise: catalog.Exercise, facts: dict[str, Any],
              static: dict[str, dict]) -> tuple[CheckResult, list[str]]:
    """The API row, and sentences about signatures that differ at run time
    from the file's own definitions (tampering)."""
    missing, problems, forged, notes = [], [], [], []
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
            method = label.rpartition(".")[2] if "." in label else None
            key = {"__init__": "init", "forward": "forward"}.get(method or "", "signature")
            runtime = fact.get(key)
            written = static.get(item.name if key == "signature" else f"{item.name}.{key}")
            if written is not None:
                params = _as_run(written["params"], runtime)
                if params is None:
                    forged.append(f"{label} at run time is not the {label} written on line "
                                  f"{written['line']}")
                    params = _as_run(written["params"], None)
            else:
                params = runtime
            problem, note = _compare_params(label, declared, params, item.keyword)
            if problem:
                problems.append(problem)
            if note:
                notes.append(note)
    codes, parts = [], []
    if missing:
        codes.append("api.missing_symbol")
        parts.append("not defined: " + ", ".join(missing))
    if problems:
        codes.append("api.signature_mismatch")
        parts.extend(problems)
    row = CheckResult(
        id="api.names", title="Defines the exercise's names and signatures", level="core",
        status="fail" if parts else "pass",
        message="; ".join(parts + notes) if parts else "; ".join(
            ["all names defined: " + ", ".join(exercise.names), *notes]),
        diagnosis=codes,
    )
    return row, forged


# --------------------------------------------------------------------------
# Rules


def rules_check(static: StaticReport, runtime: dict | None, exercise: catalog.Exercise,
                tampering: list[str]) -> CheckResult:
    codes: list[str] = []
    parts: list[str] = []

    def add(code: str, text: str) -> None:
        if code not in codes:
            codes.append(code)
        if text not in parts:
            parts.append(text)

    for f in static.findings:
        if f.code.startswith("rules."):
            add(f.code, f"line {f.line}: {f.text}")
    for sentence in tampering:
        add("rules.tampering", sentence)
    runtime = runtime if type(runtime) is dict else {}
    for call in _list(runtime.get("banned_calls")):
        if type(call) is dict and type(call.get("name")) is str:
            line = call.get("line")
            add("rules.banned_api", f"called {call['name'][:100]}" +
                (f" (line {line})" if type(line) is int else ""))
    if runtime.get("reference_access"):
        add("rules.uses_reference", "tried to read drillpe's reference files")
    for module in _list(runtime.get("imported")):
        if module in exercise.banned_modules:
            add("rules.banned_api", f"imported {module}")
    tampered = [t[:140] for t in _list(runtime.get("tampered")) if type(t) is str]
    replaced = [t for t in tampered if " " not in t]  # names of what was swapped
    if replaced:
        add("rules.tampering", "replaced " + ", ".join(replaced[:6]))
    for sentence in [t for t in tampered if " " in t][:6]:  # what the guards refused
        add("rules.tampering", sentence)
    return CheckResult(
        id="rules.allowed", title="Follows the exercise's rules", level="core",
        status="fail" if parts else "pass",
        message="; ".join(parts) if parts else "no banned APIs, no reference access, no tampering",
        diagnosis=codes,
    )


def _list(value: Any) -> list:
    return value[:200] if type(value) is list else []


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


def judge_check(check: Check, rows: list | None, ctx: JudgeContext, end: LearnerEnd,
                seed: int, lost_after: str | None = None) -> CheckResult:
    """``lost_after``: where CUDA became unusable, when that was this check's last case."""
    result = CheckResult(id=check.id, title=check.title, level=check.level, status="pass")
    crashed = rows is not None and any(isinstance(r["out"], ExceptionOut) for r in rows)
    if lost_after is None and (rows is None or (
            len(rows) < len(check.cases) and not rows[-1]["failed"] and not crashed)):
        # The process ended before this check finished (the caller has made sure
        # the learner process did not claim to have finished).
        code, _, sentence = end.early_reason
        result.status, result.message, result.diagnosis = "error", f"not reached: {sentence}", [code]
        result.traceback = end.take_stuck()
        if result.traceback:
            result.message = f"stopped here: {sentence}"
        return result
    notes: list[str] = []  # what a judge says about a case it passes (advice, not a failure)
    for index, case in enumerate(check.cases):
        if index >= len(rows):
            break  # the learner stopped after a failing case; that case is the verdict
        row = rows[index]
        out = row["out"]
        kind, found = _verdict(check, index, row, ctx, seed)
        if kind == "pass":
            if isinstance(found, str) and found not in notes:
                notes.append(found)
        elif kind in ("fail", "changed"):
            failure = found
            result.status = failure.status
            suffix = f" for {describe_case(case)}" if case and failure.show_case else ""
            result.message = failure.message + suffix
            result.diagnosis = failure.diagnosis
            result.case = dict(case) if case else None
            result.heatmap = failure.heatmap
            if _too_small(failure.heatmap):
                result.heatmap = _larger_heatmap(check, rows, index, ctx, seed) or failure.heatmap
            result.traceback = failure.traceback
            if failure.diagnosis in (["runtime.exception"], ["output.nonfinite"]) or \
                    (isinstance(out, ExceptionOut) and "runtime.exception" in failure.diagnosis):
                named, note = _past_the_crash(check, rows, index, ctx, seed)
                result.diagnosis = [*result.diagnosis,
                                    *(c for c in named if c not in result.diagnosis)]
                result.message += note
            return result
        elif kind == "tampered":
            raise found
        else:  # a grader bug must not look like the learner's
            result.status = "error"
            result.message = (f"drillpe's grader failed on this case ({type(found).__name__}: "
                              f"{found}); this is a drillpe bug, please report it")
            result.case = dict(case) if case else None
            return result
    cases = len(check.cases)
    result.message = f"{cases} case{'s' if cases != 1 else ''} passed" if cases > 1 else "passed"
    if lost_after is not None and len(rows) < cases:
        # What ran passed; what did not run proves nothing either way.
        result.status = "skip"
        result.message = (f"{len(rows)} of {cases} cases ran and passed; the rest were not run: "
                          + lost_sentence(lost_after))
    if notes:
        result.message += " (" + "; ".join(notes) + ")"
    return result


def case_verdict(check: Check, index: int, row: dict, ctx: JudgeContext, seed: int,
                 names: bool = True) -> tuple[str, Any]:
    """What one case's record shows: ("pass", a note or None), ("fail", the
    Fail), ("changed", the Fail saying the call changed its inputs in place),
    ("tampered", the Tampered) or ("error", drillpe's own exception).
    A function of the check, the case and the record alone, so a verdict
    reached while the learner ran (drillpe.grading.judge_ahead) stands."""
    out = row["out"]
    try:
        x, digests = _prepared.pop((check.id, index, seed, str(ctx.device)), (None, None))
        if x is None:
            x = case_inputs(check, index, seed, ctx.device)
        if isinstance(out, ExceptionOut) and not check.handles_exceptions:
            raise exception_failure(out)
        if not row["failed"]:
            changed = _changed_inputs(x, row["inputs"], digests)
            if changed:
                names = ", ".join(changed)
                return "changed", Fail(f"your code changed its input{'s' if ',' in names else ''} "
                                       f"{names} in place", ["input.mutated"])
        with contextlib.nullcontext() if names else heat_only():
            note = check.judge_fn(ctx, x, check.cases[index], out) \
                if check.judge_fn is not None else None
        return "pass", note if isinstance(note, str) else None
    except Fail as failure:
        return "fail", failure
    except records.Tampered as exc:
        return "tampered", exc
    except Exception as exc:
        return "error", exc


def _verdict(check: Check, index: int, row: dict, ctx: JudgeContext, seed: int,
             names: bool = True) -> tuple[str, Any]:
    """case_verdict's answer, reached while the learner ran where the bytes are the same."""
    return (_ahead and _ahead.take(check.id, index, row["at"], row["size"])) or \
        case_verdict(check, index, row, ctx, seed, names)


def _goes_on_past(verdict: tuple[str, Any]) -> bool:
    """Whether _larger_heatmap looks at the next case after this one's verdict: a
    pass, or a failure without a heatmap large enough to show anything."""
    kind, found = verdict
    return kind == "pass" or (kind == "fail" and (found.heatmap is None or
                                                  _too_small(found.heatmap)))


# Codes that say something went wrong but not which mistake it was: a later
# case that ends in one of these explains nothing about the crash.
UNNAMED = ("output.", "runtime.", "api.", "input.", "device.", "rules.", "syntax.", "import.")


def _past_the_crash(check: Check, rows: list, first: int, ctx: JudgeContext, seed: int
                    ) -> tuple[list[str], str]:
    """(codes, sentence) for the cases after a crash (or a NaN, the crash
    numpy turns a division by zero into): the known mistake the first of
    them that runs shows, or that they all pass. A crash on the smallest case
    must not hide what the code does everywhere else."""
    judged = passed = crashed = 0
    for index in range(first + 1, len(rows)):
        out = rows[index]["out"]
        if isinstance(out, ExceptionOut) or rows[index]["failed"]:
            crashed += 1
            continue
        case = check.cases[index]
        try:
            x = case_inputs(check, index, seed, ctx.device)
            if _changed_inputs(x, rows[index]["inputs"]):
                continue
            judged += 1
            if check.judge_fn is not None:
                check.judge_fn(ctx, x, case, out)
            passed += 1
        except Fail as failure:
            named = [c for c in failure.diagnosis if not c.startswith(UNNAMED)]
            if named:
                where = describe_case(case)
                return named, (f"; at {where} its output is what {' + '.join(named)} "
                               "gives")
        except records.Tampered:
            raise
        except Exception:  # only evidence for a diagnosis; the crash is the verdict
            continue
    if check.crash_pattern is not None:
        outcomes = [(check.cases[i], isinstance(rows[i]["out"], ExceptionOut) or
                     bool(rows[i]["failed"])) for i in range(len(rows))]
        found = check.crash_pattern(outcomes)
        if found:
            return found[0], "; " + found[1]
    if judged and passed == judged:
        if not crashed:
            return [], (f"; the other {passed} case{'s' if passed != 1 else ''} after it "
                        "pass: only this one fails")
        return [], (f"; of the {passed + crashed} cases after it, {crashed} crash too "
                    "and the rest pass")
    return [], ""


# Each case's inputs and their digests, built while the learner's process is still
# running (they depend only on the seed), or by the warm worker before this process
# was forked: judge_check takes each one once, so a judge that changed its copy in
# place cannot hand it to a second use.
_prepared: dict[tuple[str, int, int, str], tuple[dict, dict[str, str]]] = {}
_ahead: judge_ahead.Ahead | None = None  # verdicts reached while the learner ran


def prepare_inputs(grader, seed: int, device: torch.device) -> None:
    """Build every case's inputs ahead of the learner's end (a cold check's judge
    otherwise waits idle, then builds them after)."""
    inputs_ahead(grader, seed, device, _prepared, keep=lambda x: (x, records.input_digests(x)))


def _changed_inputs(x: dict, reported: dict[str, str],
                    mine: dict[str, str] | None = None) -> list[str]:
    mine = mine if mine is not None else records.input_digests(x)
    if set(reported) != set(mine):
        raise records.Tampered("a case record does not account for the case's inputs")
    return [name for name, value in mine.items() if reported[name] != value]


def _too_small(heat: dict | None) -> bool:
    return heat is not None and (heat["rows"] < 8 or heat["cols"] < 8)


def _larger_heatmap(check: Check, rows: list, first: int, ctx: JudgeContext, seed: int
                    ) -> dict | None:
    """The smallest failing case is the one reported, but a 1x2 picture shows
    nothing: draw the error of the next failing case that is at least 8x8."""
    for index in range(first + 1, len(rows)):
        if isinstance(rows[index]["out"], ExceptionOut) or rows[index]["failed"]:
            return None
        # only its heatmap is read: the mistake is named from the first failing case
        verdict = _verdict(check, index, rows[index], ctx, seed, names=False)
        if not _goes_on_past(verdict):
            kind, found = verdict
            if kind == "fail":  # a heatmap large enough to show
                return {**found.heatmap, "case": describe_case(check.cases[index])}
            return None  # inputs changed in place, or the record or drillpe failed
    return None


def lost_believable(device: torch.device) -> bool:
    """Only on CUDA can a kernel's assert end a process's use of the device."""
    return device.type == "cuda"


def lost_place(active: list[Check], got: records.Records, device: torch.device) -> str | None:
    """Where the learner process says its GPU became unusable ("CHECK (case N)"), or
    None; raises Tampered for a claim no GPU could have made."""
    if got.lost is None:
        return None
    if not lost_believable(device):
        raise records.Tampered("the learner process says CUDA failed on the CPU")
    check = active[got.lost[0]]  # read_records checked it names a case that was sent
    return check.id + (f" (case {got.lost[1] + 1})" if len(check.cases) > 1 else "")


def lost_sentence(where: str) -> str:
    return (f"a device-side assert in {where} (usually an index out of "
            "range, which the CPU reports as an IndexError) left CUDA unusable in the process "
            "running your code; `drillpe check --device cpu` runs every check")


def skipped(check: Check, why: str) -> CheckResult:
    return CheckResult(id=check.id, title=check.title, level=check.level, status="skip",
                       message=why)


# --------------------------------------------------------------------------


def grade(exercise_id: str, learner_file: Path, run_dir: Path, device: torch.device, seed: int,
          end: LearnerEnd, static: StaticReport, grader, reference,
          consequence: bool = False) -> ExerciseResult:
    exercise = catalog.get(exercise_id)
    ctx = JudgeContext(ref=reference, device=device, seed=seed)
    active = grader.active(consequence)
    try:
        if end.harm:  # nothing from that run can be believed
            raise records.Tampered(end.harm)
        if end.records_overflow:
            raise records.Tampered(f"your code's outputs exceed the "
                                   f"{records.MAX_RECORDS_BYTES // 2**20} MiB drillpe accepts")
        data = records.read_capped(run_dir / RECORDS_FILE)
        if _ahead is not None:
            _ahead.confirm(data)
        try:
            got = records.read_records(data, len(active), [len(c.cases) for c in active])
        except (TypeError, ValueError, OverflowError, RuntimeError, MemoryError) as exc:
            # a check the validation missed: still the records' fault, not drillpe's
            raise records.Tampered(f"a record cannot be decoded ({type(exc).__name__})") \
                from None
        if got.load is not None and got.load["status"] == "ok":
            got.load["api"] = checked_facts(exercise, got.load["api"])
        if got.end is not None and got.truncated:
            raise records.Tampered("the records end in a partial frame")
        lost_where = lost_place(active, got, device)
        result = _grade(exercise, learner_file, device, seed, end, static, grader, ctx, got,
                        lost_where)
        if consequence and grader.consequences:
            result.consequence = consequence_of(grader, got, ctx, end, seed, lost_where)
        return result
    except records.Tampered as exc:
        return _untrustworthy(exercise, learner_file, device, seed, static, grader, str(exc))


def consequence_of(grader, got: records.Records, ctx: JudgeContext, end: LearnerEnd,
                   seed: int, lost_where: str | None = None) -> dict | None:
    """The report's ``consequence``: what the grader's first consequence check
    shows of the learner's stack (drillpe.grading.tiny_stack), or why it cannot
    be shown (``status`` "crash"). None when the file never loaded: the
    report's error says why."""
    if got.load is None or got.load["status"] != "ok":
        return None
    index = len(grader.checks)
    check = grader.consequences[0]
    absent = [n for n in check.needs if not got.load["api"].get(n, {}).get("present")]
    rows = got.cases.get(index)
    if absent:
        if rows:
            raise records.Tampered(f"records for {check.id}, which needs {absent[0]}, a name the "
                                   "load record says is missing")
        return {"status": "crash", "check": check.id,
                "message": f"needs {', '.join(absent)}, which your file does not define"}
    if rows is None and lost_where is not None:  # the GPU was lost before this check
        return {"status": "crash", "check": check.id,
                "message": "not run: " + lost_sentence(lost_where)}
    if rows is None or len(rows) < len(check.cases) and not rows[-1]["failed"]:
        if got.end is not None:
            raise records.Tampered(f"the learner process finished without the records of "
                                   f"{check.id}")
        return {"status": "crash", "check": check.id,
                "message": f"not reached: {end.early_reason[2]}"}
    out = rows[0]["out"]
    try:
        if isinstance(out, ExceptionOut):
            raise exception_failure(out)
        shown = check.judge_fn(ctx, case_inputs(check, 0, seed, ctx.device), check.cases[0], out)
    except Fail as failure:
        return {"status": "crash", "check": check.id, "message": failure.message,
                "diagnosis": failure.diagnosis}
    except records.Tampered:
        raise
    except Exception as exc:  # a grader bug must not look like the learner's
        return {"status": "error", "check": check.id,
                "message": f"drillpe's grader failed ({type(exc).__name__}: {exc}); this is a "
                           "drillpe bug, please report it"}
    return {**shown, "check": check.id}


def _untrustworthy(exercise: catalog.Exercise, learner_file: Path, device: torch.device,
                   seed: int, static: StaticReport, grader, why: str) -> ExerciseResult:
    """Records that fail their checks decide nothing but the verdict: fail."""
    sentence = f"what the learner process sent cannot be trusted: {why}"
    checks = [
        CheckResult(id="file.loads", title="Your file imports", level="core", status="skip",
                    message="not judged: the records are not trustworthy"),
        rules_check(static, None, exercise, [sentence]),
        cuda_check(static),
        *_api_placeholder(exercise, "not judged: the records are not trustworthy"),
        *[skipped(c, "not judged: the records are not trustworthy") for c in grader.checks],
    ]
    return _finish(exercise.id, learner_file, device, seed, checks,
                   {"kind": "rules", "message": sentence})


def _grade(exercise: catalog.Exercise, learner_file: Path, device: torch.device, seed: int,
           end: LearnerEnd, static: StaticReport, grader, ctx: JudgeContext,
           got: records.Records, lost_where: str | None = None) -> ExerciseResult:
    load = got.load
    runtime = got.end
    checks: list[CheckResult] = []
    error: dict[str, str] | None = None

    loads = CheckResult(id="file.loads", title="Your file imports", level="core", status="pass",
                        message="imported")
    if static.syntax_error:
        loads.status, loads.diagnosis = "fail", ["syntax.error"]
        loads.message = f"syntax error: {static.syntax_error}"
        loads.traceback = list(static.syntax_caret)
        error = {"kind": "syntax", "message": loads.message}
    elif load is not None and load["status"] == "refused":
        if not_run(static) is None:  # the judge's own reading is what counts
            raise records.Tampered("the learner process did not run a file the rules allow")
        loads.status = "skip"
        loads.message = ("not run: drillpe does not run a file that the rules check refuses "
                         "(below)")
        error = {"kind": "rules", "message": rules_check(static, runtime, exercise, []).message}
    elif load is None:
        code, kind, sentence = end.early_reason
        loads.status, loads.diagnosis, loads.message = "error", [code], f"while importing, {sentence}"
        loads.traceback = end.take_stuck()
        error = {"kind": kind, "message": loads.message}
    elif load["status"] != "ok":
        exc = load["error"]
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
        for row in (rules_check(static, runtime, exercise, []), cuda_check(static)):
            row.status, row.message = "skip", "not run: your file does not parse"
            checks.append(row)
    if error is not None:
        if not static.syntax_error:
            checks.append(rules_check(static, runtime, exercise, []))
            checks.append(cuda_check(static))
        if static.syntax_error:  # one cause for every row: the file does not parse
            why = "not run: your file does not parse"
        elif loads.status != "skip":
            why = "not run: your file does not import"
        else:
            why = "not run: drillpe does not run a file that the rules check refuses"
        checks.extend(_api_placeholder(exercise, why))
        checks.extend(skipped(c, why) for c in grader.checks)
        return _finish(exercise.id, learner_file, device, seed, checks, error)

    facts = load["api"]
    api_row, forged = api_check(exercise, facts, static_api(static.tree, exercise))
    checks.append(rules_check(static, runtime, exercise, forged))
    checks.append(cuda_check(static))
    checks.append(api_row)
    present = {name for name, fact in facts.items() if fact["present"]}
    graded = []
    for index, check in enumerate(grader.checks):
        absent = [n for n in check.needs if n not in present]
        rows = got.cases.get(index)
        if got.lost is not None and index > got.lost[0] and not absent:
            checks.append(skipped(check, "not run: " + lost_sentence(lost_where)))
            continue
        if absent:
            if rows:
                raise records.Tampered(f"records for {check.id}, which needs {absent[0]}, "
                                       "a name the load record says is missing")
            checks.append(skipped(check, f"not run: needs {', '.join(absent)}, which your file "
                                         "does not define"))
            continue
        lost_here = got.lost is not None and index == got.lost[0]
        complete = rows is not None and (len(rows) == len(check.cases) or rows[-1]["failed"]
                                         or lost_here)
        if runtime is not None and not complete:
            raise records.Tampered(f"the learner process finished without the records of "
                                   f"{check.id}")
        result = judge_check(check, rows, ctx, end, seed, lost_where if lost_here else None)
        checks.append(result)
        graded.append(result)

    if runtime is None:
        code, kind, sentence = end.early_reason
        error = {"kind": kind, "message": sentence}
        if all(c.status == "pass" for c in checks):
            # Everything asked for came back, but the process never said it had
            # finished (killed at the very end, or the end was not its own):
            # a verdict cannot stand on that.
            checks.append(CheckResult(id="run.finished", title="Grading ran to its end",
                                      level="core", status="error", diagnosis=[code],
                                      message=f"the learner process did not finish: {sentence}"))
    elif checks[1].status == "fail":
        error = {"kind": "rules", "message": checks[1].message}
    elif not graded:
        error = {"kind": "missing_symbol", "message": checks[3].message}
    elif all("api.not_implemented" in r.diagnosis for r in graded):
        error = {"kind": "not_implemented",
                 "message": "every part still raises NotImplementedError: write your code in the "
                            "stub's functions"}
    return _finish(exercise.id, learner_file, device, seed, checks, error)


def _api_placeholder(exercise: catalog.Exercise, why: str) -> list[CheckResult]:
    return [CheckResult(id="api.names", title="Defines the exercise's names and signatures",
                        level="core", status="skip", message=why)]


def _finish(exercise_id, learner_file, device, seed, checks, error) -> ExerciseResult:
    passed, score = summarise(checks)
    return ExerciseResult(exercise=exercise_id, file=str(learner_file), device=device.type,
                          passed=passed, score=score, duration_s=0.0, error=error,
                          checks=checks, seed=seed)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="drillpe.grading.judge")
    parser.add_argument("--exercise", required=True)
    parser.add_argument("--file", required=True, type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-dir", required=True, type=Path)
    parser.add_argument("--consequence", action="store_true",
                        help="also judge the grader's consequence checks (report: consequence)")
    parser.add_argument("--digest-fd", type=int, default=None,
                        help="a pipe to the CLI: the SHA-256 of the report, once it is written")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


def reader_ahead(path: Path, checks: list[Check], ctx: JudgeContext,
                 counts: list[int] | None = None) -> judge_ahead.Ahead:
    """What reads and judges the records file while the learner runs, judging as
    judge_check does (and, where a failing case's heatmap is too small, the later
    cases _larger_heatmap would judge)."""
    return judge_ahead.Ahead(
        path, checks, lambda check, index, row: case_verdict(check, index, row, ctx, ctx.seed),
        counts, looks_further=lambda verdict: verdict[0] == "fail" and
        _too_small(verdict[1].heatmap),
        heat_verdict=lambda check, index, row: case_verdict(check, index, row, ctx, ctx.seed,
                                                            names=False))


def judge_while_waiting(path: Path, checks: list[Check], ctx: JudgeContext,
                        counts: list[int] | None = None) -> None:
    """Until the learner's end arrives on stdin, judge the cases already in the
    records file (drillpe.grading.judge_ahead), so that little is left after it."""
    global _ahead
    _ahead = reader_ahead(path, checks, ctx, counts)
    wait = _ahead.wait
    while not select.select([sys.stdin], [], [], wait)[0]:
        wait = _ahead.step()


# The SHA-256 of the report this process wrote (run() sets it): a cold judge writes it
# down --digest-fd, a warm judge child passes it on with its word that it is done
# (drillpe.grading.warm_worker), and the CLI reads the report only if the file still
# holds those bytes (its folder is the user's: another process could replace it).
report_sha256: str | None = None


def run(args: argparse.Namespace, grader=None, reference=None) -> int:
    """One judge run. ``grader`` and ``reference`` may come preloaded from a
    warm worker (drillpe.grading.warm_worker), which forks a fresh process for every run."""
    device = device_or_exit(args.device)
    exercise = catalog.get(args.exercise)
    grader = grader if grader is not None else load_grader(args.exercise)
    reference = reference if reference is not None else load_reference(args.exercise)
    source = read_source(args.file)
    static = source if isinstance(source, StaticReport) else \
        analyse(source, exercise.banned, exercise.banned_modules)
    print("ready", flush=True)
    prepare_inputs(grader, args.seed, device)
    judge_while_waiting(args.run_dir / RECORDS_FILE, grader.checks,
                        JudgeContext(ref=reference, device=device, seed=args.seed),
                        counts=[len(c.cases) for c in grader.active(args.consequence)])

    line = sys.stdin.readline()
    if not line:
        return 5  # the parent went away
    end = LearnerEnd.from_json(json.loads(line), stuck_lines(args.run_dir / STUCK_FILE,
                                                              args.file))
    result = grade(args.exercise, args.file, args.run_dir, device, args.seed, end, static,
                   grader, reference, consequence=args.consequence)
    written = write_json(args.run_dir / REPORT_FILE, result.to_dict())
    global report_sha256
    report_sha256 = hashlib.sha256(written).hexdigest()
    if args.digest_fd is not None:  # a cold judge: the CLI's private pipe
        try:
            os.write(args.digest_fd, f"{report_sha256}\n".encode())
        except OSError:
            pass  # the CLI then has no digest, and fails the grade
    return 0


if __name__ == "__main__":
    # Started private: lifeline.start_private ran before torch was imported
    # (processes.module_argv(private=True)). Once the report is written, nothing is
    # left to do: tearing down an interpreter that holds torch took 0.3-0.4 s, which
    # the CLI waited out.
    leave_now(main())
