"""Mock interview sessions: state on disk and the pure parts of the flow.

A session lives in ``<home>/mock/<session-id>/``: ``session.json`` (written
atomically after every change, so closing the terminal loses nothing) and
the learner files, fresh stubs written there so earlier work is neither shown
nor overwritten. ``<home>/mock/current`` names the latest session. Who owns
what: this module holds the state and works without a terminal;
``drillpe.practice.interview`` runs the round and owns the terminal while it
does (live countdown, keys, follow-up questions); ``drillpe.render.practice_views``
draws; ``drillpe.commands.rounds`` only parses options and calls these.
"""

from __future__ import annotations

import ast
import json
import math
import random
import re
import secrets
import shlex
import stat
import time
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from drillpe.data import bundle, catalog, debug_material, files, i18n, places
from drillpe.data.files import write_atomic, write_json
from drillpe.data.limits import MAX_LEARNER_FILE, MAX_MINUTES
from drillpe.errors import UsageError
from drillpe.results.report import ExerciseResult

SCHEMA = 1
SESSION_FILE = "session.json"
CURRENT_FILE = "current"
DEFAULT_COUNT = 2
# Exit codes and checks of a grade that say "your code did not run" rather
# than "your code ran and gave a wrong answer".
NOT_RUNNING = ("api.not_implemented", "runtime.exception", "runtime.timeout", "runtime.exit")


def mock_root(home: Path | None = None) -> Path:
    return (home or places.home()) / "mock"


def followup_entries() -> dict[str, list[dict[str, str]]]:
    """exercise id -> the raw follow-up entries of its exercise.toml (with _zh siblings)."""
    return {eid: catalog.followups(eid) for eid in catalog.ids()}


def followups(lang: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """exercise id -> [{"id", "question", "answer", "diagnosis"}] in the chosen
    language; "diagnosis" lists the codes a question is keyed to ([] for the
    theory questions every session may draw)."""
    return {eid: [_in_language(q, lang) for q in items]
            for eid, items in followup_entries().items()}


def _in_language(entry: dict[str, Any], lang: str | None) -> dict[str, Any]:
    keyed = entry.get("diagnosis") or []
    return {"id": entry.get("id"), "question": i18n.pick(entry, "question", lang),
            "answer": i18n.pick(entry, "answer", lang),
            "diagnosis": [keyed] if isinstance(keyed, str) else list(keyed)}


def choose_followups(exercise_id: str, diagnoses: list[str], draw: str, count: int = 3,
                     lang: str | None = None) -> list[dict[str, Any]]:
    """The questions one exercise of a session asks: first the question keyed to
    the learner's own first diagnosed mistake that has one (what a strong
    interviewer asks about), then theory questions drawn with ``draw`` as the
    seed, so a session keeps its questions and two sessions differ."""
    bank = followups(lang).get(exercise_id, [])
    chosen = []
    for code in diagnoses:
        keyed = next((q for q in bank if code in q["diagnosis"]), None)
        if keyed is not None:
            chosen.append(keyed)
            break
    general = [q for q in bank if not q["diagnosis"]]
    rest = random.Random(f"{draw}:{exercise_id}").sample(general, len(general))
    return (chosen + rest)[:count]


@dataclass
class Followup:
    question: str  # in the language of the submit (what older sessions hold only)
    model_answer: str
    answer: str | None = None  # what the learner wrote; None: not asked yet
    skipped: bool = False
    rating: int | None = None  # self-rating 0..3
    # which question of the bank: its id ("rope.long_term_decay"), or "q1", "q2", ...
    # (its place, in sessions saved before the bank had ids); None: older sessions
    ref: str | None = None


def followup_texts(exercise_id: str, item: Followup, lang: str | None = None) -> tuple[str, str]:
    """(question, model answer) of a stored follow-up in the language asked for now.

    The bank entry is found by ``ref``, or, in a session saved before refs
    existed, by the stored question in either language. When the bank has
    changed since (the entry is gone, or it no longer has the stored
    question), the stored texts are shown as they were."""
    entries = catalog.followups(exercise_id)
    entry = next((e for e in entries if item.ref is not None and e.get("id") == item.ref), None)
    if entry is None and item.ref is not None and item.ref.startswith("q") \
            and item.ref[1:].isdigit():
        number = int(item.ref[1:])
        if 1 <= number <= len(entries):
            entry = entries[number - 1]
    if entry is None or item.question not in _questions(entry):
        entry = next((e for e in entries if item.question in _questions(e)), None)
    if entry is None:
        return item.question, item.model_answer
    return i18n.pick(entry, "question", lang), i18n.pick(entry, "answer", lang)


def _questions(entry: dict[str, str]) -> set[str]:
    return {i18n.pick(entry, "question", lang) for lang in i18n.LANGS}


@dataclass
class Session:
    id: str
    folder: str
    exercises: list[str]
    minutes: float
    started_at: float
    seed: int | None = None
    state: str = "running"  # running, submitted
    submitted_at: float | None = None
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    hints: dict[str, int] = field(default_factory=dict)
    revealed: dict[str, bool] = field(default_factory=dict)
    followups: dict[str, list[Followup]] = field(default_factory=dict)
    # The live view's graded column (what 'g' showed last), kept for ``mock resume``:
    # exercise id -> {"passed", "score", "failing": the first failing core check's title}
    graded: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The language the session was started in: resume, status, submit and questions
    # speak it unless --lang says otherwise (None: a session from before this field).
    lang: str | None = None
    # The attempt timeline of the round: exercise id -> its grades, oldest first
    # (add_step); the last is marked "final" at submit. Older sessions have none.
    timeline: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # The debug round (--rounds write,debug): a correct answer with one planted mistake,
    # <folder>/ID.debug.py, to fix and name (plant_debug; README "The debug round").
    debug: dict[str, Any] | None = None
    schema: int = SCHEMA

    # time -----------------------------------------------------------------
    @property
    def deadline(self) -> float:
        return self.started_at + self.minutes * 60

    def time_left(self, now: float) -> float:
        """Seconds left (negative: over time)."""
        end = self.submitted_at if self.submitted_at is not None else now
        return self.deadline - end

    def time_used(self, now: float) -> float:
        end = self.submitted_at if self.submitted_at is not None else now
        return max(0.0, end - self.started_at)

    def over_time(self, now: float) -> float:
        return max(0.0, -self.time_left(now))

    # places ---------------------------------------------------------------
    def path(self, exercise_id: str) -> Path:
        return places.learner_file(exercise_id, Path(self.folder))

    def state_path(self) -> Path:
        return Path(self.folder) / SESSION_FILE

    # storage ----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Session:
        """A session from its saved state; ValueError names the first field
        whose value has the wrong type (a hand-edited or damaged file)."""
        if not isinstance(data, dict):
            raise ValueError("the state is not a JSON object")
        _validate(data, SESSION_FIELDS, "", _required(cls))
        if data["state"] == "submitted" and data.get("submitted_at") is None:
            raise ValueError('field submitted_at is null, but state is "submitted"')
        for eid, entry in (data.get("results") or {}).items():
            _validate(entry, RESULT_FIELDS, f"results.{eid}.", RESULT_REQUIRED)
        for eid, items in (data.get("followups") or {}).items():
            for index, item in enumerate(items):
                if not isinstance(item, dict):
                    raise ValueError(f"followups.{eid}[{index}] is not an object")
                _validate(item, FOLLOWUP_FIELDS, f"followups.{eid}[{index}].",
                          _required(Followup))
        data = dict(data)
        data["followups"] = {eid: [Followup(**f) for f in items]
                             for eid, items in data.get("followups", {}).items()}
        return cls(**data)

    def save(self) -> None:
        write_json(self.state_path(), self.to_dict())


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)


def _mapping_of(check):
    return lambda v: isinstance(v, dict) and all(isinstance(k, str) and check(x)
                                                 for k, x in v.items())


def _optional(check):
    return lambda v: v is None or check(v)


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


UNIX_TIME_MAX = 2**33  # the year 2242: a time past it is a hand edit, not a clock

# What each saved field must hold, and how to say it.
SESSION_FIELDS = {
    "id": (lambda v: isinstance(v, str) and re.fullmatch(r"[\w.-]+", v) is not None
           and v.strip(".") != "", "a session name (letters, digits, . _ -)"),
    "folder": (lambda v: isinstance(v, str) and v != "" and Path(v).is_dir(),
               "the session's folder, which must exist"),
    "exercises": (lambda v: isinstance(v, list) and v != [] and all(
        isinstance(x, str) and x in catalog.ids() for x in v), "a list of known exercise ids"),
    "minutes": (lambda v: _number(v) and 0 < v <= MAX_MINUTES,
                f"a number of minutes from 0 to {MAX_MINUTES:g}"),
    "started_at": (lambda v: _number(v) and 0 <= v < UNIX_TIME_MAX, "a Unix time"),
    "seed": (_optional(lambda v: _integer(v) and 0 <= v < 2**63), "0 to 2**63 - 1, or null"),
    "state": (lambda v: v in ("running", "submitted"), '"running" or "submitted"'),
    "submitted_at": (_optional(lambda v: _number(v) and 0 <= v < UNIX_TIME_MAX),
                     "a Unix time or null"),
    "results": (_mapping_of(lambda x: isinstance(x, dict)), "an object of results"),
    "hints": (_mapping_of(lambda v: _integer(v) and 0 <= v <= 1000), "an object of levels"),
    "revealed": (_mapping_of(lambda x: isinstance(x, bool)), "an object of true/false"),
    "followups": (_mapping_of(lambda x: isinstance(x, list)), "an object of lists"),
    "graded": (_mapping_of(lambda x: isinstance(x, dict) and isinstance(x.get("passed"), bool)
                           and _number(x.get("score")) and 0 <= x["score"] <= 1
                           and (x.get("failing") is None or isinstance(x["failing"], str))),
               'an object of {"passed", "score", "failing"}'),
    "lang": (_optional(lambda v: v in i18n.LANGS), f"one of {', '.join(i18n.LANGS)}, or null"),
    "timeline": (_mapping_of(lambda x: isinstance(x, list) and all(isinstance(s, dict)
                                                                   for s in x)),
                 "an object of lists of grades"),
    "debug": (_optional(lambda v: _debug_entry_ok(v)),
              'null or {"exercise", "code", "variant", "choices", ...}'),
    "schema": (lambda v: v == SCHEMA, f"{SCHEMA} (this drillpe's session format)"),
}
FOLLOWUP_FIELDS = {
    "question": (lambda v: isinstance(v, str), "a string"),
    "model_answer": (lambda v: isinstance(v, str), "a string"),
    "answer": (_optional(lambda v: isinstance(v, str)), "a string or null"),
    "skipped": (lambda v: isinstance(v, bool), "true or false"),
    "rating": (_optional(lambda v: _integer(v) and 0 <= v <= 3), "0 to 3, or null"),
    "ref": (_optional(lambda v: isinstance(v, str)), "a string or null"),
}
def _strings(value) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


RESULT_FIELDS = {  # what result_entry() writes
    "passed": (lambda v: isinstance(v, bool), "true or false"),
    "score": (lambda v: _number(v) and 0 <= v <= 1, "a number from 0 to 1"),
    "diagnoses": (_strings, "a list of strings"),
    "failed_checks": (_strings, "a list of strings"),
    "error": (_optional(lambda v: isinstance(v, dict) and
                        all(isinstance(v.get(k), str) for k in ("kind", "message"))),
              'null or {"kind", "message"}'),
    "duration_s": (_number, "a number"),
    "seed": (_optional(_integer), "an integer or null"),
    "device": (lambda v: isinstance(v, str), "a string"),
}
RESULT_REQUIRED = ("passed", "score")


def _debug_entry_ok(v) -> bool:
    return (isinstance(v, dict) and v.get("exercise") in catalog.ids()
            and isinstance(v.get("code"), str) and _integer(v.get("variant"))
            and _strings(v.get("choices")) and v.get("code") in v["choices"]
            and (v.get("answer") is None or isinstance(v["answer"], str))
            and (v.get("result") is None or isinstance(v["result"], dict)))


def _required(cls) -> tuple[str, ...]:
    """A dataclass's fields without a default: the ones a saved state must hold."""
    return tuple(f.name for f in fields(cls)
                 if f.default is MISSING and f.default_factory is MISSING)


def _validate(data: dict, checks: dict, prefix: str, required: tuple[str, ...]) -> None:
    for key in data:
        if key not in checks:
            raise ValueError(f"unknown field {prefix}{key}")
    for key, (check, wanted) in checks.items():
        if key not in data:
            if key in required:
                raise ValueError(f"field {prefix}{key} is missing")
            continue
        if not check(data[key]):
            raise ValueError(f"field {prefix}{key} should be {wanted}, not {data[key]!r:.60}")


def new_id(now: float, root: Path) -> str:
    stamp = datetime.fromtimestamp(now).strftime("%Y%m%d-%H%M%S")
    while True:
        candidate = f"{stamp}-{secrets.token_hex(2)}"
        if not (root / candidate).exists():
            return candidate


def default_minutes(exercise_ids: list[str]) -> float:
    return float(sum(catalog.get(eid).minutes for eid in exercise_ids))


def parse_exercise_list(text: str | None) -> list[str]:
    """'rope, sinusoidal' -> ['rope', 'sinusoidal'], each checked against the catalog."""
    if not text:
        return []
    ids = [part.strip() for part in text.split(",") if part.strip()]
    for eid in ids:
        try:
            catalog.get(eid)
        except catalog.UnknownExercise as exc:
            raise UsageError(str(exc)) from None
    if len(set(ids)) != len(ids):
        raise UsageError(f"--exercises names an exercise twice: {text}")
    return ids


def create(exercise_ids: list[str], minutes: float, seed: int | None, now: float | None = None,
           home: Path | None = None, debug: bool = False) -> Session:
    """A new session folder with fresh stubs (and with ``debug``, a debug file);
    it becomes the current session."""
    now = time.time() if now is None else now
    root = mock_root(home)
    session_id = new_id(now, root)
    folder = root / session_id
    folder.mkdir(parents=True)
    session = Session(id=session_id, folder=str(folder), exercises=list(exercise_ids),
                      minutes=float(minutes), started_at=now, seed=seed, lang=i18n.current())
    for eid in exercise_ids:
        write_atomic(session.path(eid), mock_stub(eid, session.path(eid)))
    if debug:
        plant_debug(session)
    session.save()
    write_atomic(root / CURRENT_FILE, session_id + "\n")
    return session


def mock_stub(exercise_id: str, path: Path, lang: str | None = None) -> str:
    """The stub as a mock session holds it: its last line says how to grade
    there (g in the mock window, or ``drillpe check ID --file PATH``) instead of
    ``drillpe check ID``, which looks in the workspace, not in the session."""
    stub = bundle.stub_path(exercise_id, lang).read_text(encoding="utf-8")
    line = i18n.pick(bundle.exercise_data("ui")["mock_stub_line"], "text", lang).format(
        id=exercise_id, path=shlex.quote(Path(path).as_posix()))
    # the stub's own line, whatever its words: the one that ends in `drillpe check ID`
    pattern = re.compile(rf"^.*drillpe check {re.escape(exercise_id)}[ \t]*$", re.MULTILINE)
    return pattern.sub(lambda _: line, stub, count=1)


ROUNDS = ("write", "debug")
DEBUG_MINUTES = 8.0  # what a debug round adds to the default time


def parse_rounds(text: str | None) -> tuple[str, ...]:
    """'write,debug' -> ('write', 'debug'); a session always has a write round."""
    rounds = tuple(dict.fromkeys(p.strip() for p in (text or "write").split(",") if p.strip()))
    unknown = [r for r in rounds if r not in ROUNDS]
    if unknown or not rounds:
        raise UsageError(catalog.ui("mock_rounds_unknown", rounds=i18n.listing(ROUNDS),
                                    given=repr(text)))
    if "write" not in rounds:
        raise UsageError(catalog.ui("mock_rounds_no_write"))
    return rounds


def debug_path(session: Session) -> Path | None:
    if not session.debug:
        return None
    return debug_material.debug_file(session.debug["exercise"], Path(session.folder))


def plant_debug(session: Session) -> None:
    """Draw the debug round (seeded by the session's seed): an exercise with debug
    material, another than the write round's when there is one, and one of its
    variants; write its file, whose last docstring line says how to grade it here."""
    rng = random.Random(session.seed if session.seed is not None else secrets.randbits(32))
    ids = debug_material.exercise_ids()
    others = [e for e in ids if e not in session.exercises] or ids
    variant = debug_material.draw(rng.choice(others), rng)
    session.debug = {"exercise": variant.exercise, "code": variant.code,
                     "variant": variant.number, "choices": debug_material.choices(variant, rng),
                     "answer": None, "result": None}
    path = debug_path(session)
    text = debug_material.debug_text(variant, session.lang)
    line = i18n.pick(bundle.exercise_data("ui")["mock_debug_stub_line"], "text",
                     session.lang).format(id=variant.exercise,
                                          path=shlex.quote(path.as_posix()))
    pattern = re.compile(rf"^.*drillpe debug {re.escape(variant.exercise)} --check[ \t]*$",
                         re.MULTILINE)
    write_atomic(path, pattern.sub(lambda _: line, text, count=1))


def debug_report(session: Session) -> dict[str, Any] | None:
    """The debug round in the report: fixed (graded with no mistake left), named
    (the answer is the planted code); its score is half each."""
    entry = session.debug
    if not entry:
        return None
    result = entry.get("result") or None
    fixed = bool(result and result["passed"] and not result.get("diagnoses"))
    named = entry.get("answer") == entry["code"]
    return {"exercise": entry["exercise"], "file": str(debug_path(session)),
            "code": entry["code"], "choices": entry["choices"], "answer": entry.get("answer"),
            "fixed": fixed, "named": named, "graded": result is not None,
            "diagnoses": (result or {}).get("diagnoses", []),
            "score": (float(fixed) + float(named)) / 2, "passed": fixed and named}


def speak(session: Session) -> Session:
    """A session goes on in the language it was started in, unless --lang says
    otherwise for this command."""
    if session.lang and not i18n.chosen():
        i18n.choose(session.lang)
    return session


def _read_small(path: Path) -> str:
    """A state file's text; anything but a regular file of at most STATE_LIMIT bytes
    is refused with OSError (a FIFO there hung `mock status`, a 200 GB sparse file
    ran it out of memory: a reviewer's)."""
    if not path.is_file():
        raise FileNotFoundError(2, "not a file", str(path)) if not path.exists() \
            else OSError("not a regular file")
    if path.stat().st_size > STATE_LIMIT:
        raise OSError("larger than 1 MiB")
    return path.read_text(encoding="utf-8")


STATE_LIMIT = 1 << 20


def load(session_id: str | None = None, home: Path | None = None) -> Session:
    root = mock_root(home)
    if session_id is None:
        try:
            session_id = _read_small(root / CURRENT_FILE).strip()
        except (OSError, UnicodeDecodeError):
            raise UsageError("no mock interview yet. Start one with: drillpe mock "
                             "(or drillpe mock start --no-live)") from None
    path = root / session_id / SESSION_FILE
    try:
        data = json.loads(_read_small(path))
        return Session.from_dict(data)
    except FileNotFoundError:
        known = ", ".join(sorted(p.name for p in root.glob("*/") if (p / SESSION_FILE).is_file()))
        raise UsageError(f"no mock session {session_id!r}" +
                         (f"; sessions: {known}" if known else "")) from None
    except (OSError, ValueError, TypeError, RecursionError, MemoryError) as exc:
        raise UsageError(f"the state of mock session {session_id} is unreadable ({exc!r}): "
                         f"{places.display(path)}. Your files in that folder are untouched."
                         ) from None


# files -------------------------------------------------------------------


def file_status(session: Session, exercise_id: str) -> dict[str, Any]:
    """What can be told without running anything: exists, edited, parses."""
    path = session.path(exercise_id)
    status: dict[str, Any] = {"exercise": exercise_id, "file": str(path), "exists": path.exists(),
                              "edited": False, "parses": None, "syntax_error": None,
                              "unreadable": None}
    if not status["exists"]:
        return status
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO: opening it would wait for a writer
            raise OSError(f"{files.kind_of(info.st_mode)}, not a regular file")
        if info.st_size > MAX_LEARNER_FILE:  # a 200 GB sparse file: MemoryError
            raise OSError(f"larger than {MAX_LEARNER_FILE >> 20} MiB, more than a check grades")
        text = files.read_regular(path, MAX_LEARNER_FILE).decode("utf-8")
    except (OSError, ValueError, MemoryError) as exc:
        status["parses"], status["unreadable"] = False, str(exc)
        return status
    status["edited"] = not any(text == mock_stub(exercise_id, path, lang) for lang in i18n.LANGS)
    try:
        ast.parse(text, filename=str(path))
        status["parses"] = True
    except SyntaxError as exc:
        status["parses"] = False
        status["syntax_error"] = f"line {exc.lineno}: {exc.msg}"
    except (ValueError, RecursionError, MemoryError) as exc:
        # a NUL byte, or nesting too deep for Python's parser (a reviewer's 100,000
        # minus signs): Python cannot import it either
        status["parses"] = False
        status["syntax_error"] = f"Python cannot parse it ({type(exc).__name__})"
    return status


def run_status(result: ExerciseResult) -> dict[str, Any]:
    """From a grade, only whether the file imports and runs (not its score):
    what a candidate would know by running their own code."""
    loads = next((c for c in result.checks if c.id == "file.loads"), None)
    imports = loads is not None and loads.status == "pass"
    problem = None
    if not imports:
        problem = loads.message if loads else "does not import"
    else:
        for check in result.checks:
            hit = [code for code in check.diagnosis if code in NOT_RUNNING]
            if hit:
                problem = check.message or hit[0]
                break
    return {"imports": imports, "runs": imports and problem is None, "problem": problem}


# results and report --------------------------------------------------------


def result_entry(result: ExerciseResult) -> dict[str, Any]:
    failed = [c.id for c in result.checks if c.status in ("fail", "error")]
    return {"passed": result.passed, "score": result.score, "diagnoses": result.diagnoses,
            "failed_checks": failed, "error": result.error, "duration_s": result.duration_s,
            "seed": result.seed, "device": result.device}


def add_step(session: Session, exercise_id: str, result: ExerciseResult, at: float,
             kept: dict[str, str], final: bool = False) -> None:
    """One grade into the round's timeline of the exercise, with how its
    diagnoses changed from the grade before. ``kept``: the sha256 (hex) of its
    source ("code") and report ("report") in the history. A final grade of the
    version graded last marks that step final instead of repeating it."""
    steps = session.timeline.setdefault(exercise_id, [])
    before = steps[-1] if steps else None
    if final and before is not None and before.get("sha256") == kept.get("code") \
            and before["passed"] == result.passed and before["score"] == result.score:
        before["final"] = True
        before["report_sha256"] = kept.get("report")
        return
    diagnoses = list(result.diagnoses)
    previous = before["diagnoses"] if before else []
    steps.append({"at": at, "passed": bool(result.passed), "score": float(result.score),
                  "diagnoses": diagnoses,
                  "fixed": [c for c in previous if c not in diagnoses],
                  "new": [c for c in diagnoses if c not in previous],
                  "sha256": kept.get("code"), "report_sha256": kept.get("report"),
                  "final": final})


def attach_followups(session: Session, per_exercise: int = 3) -> None:
    """Give each exercise its follow-up questions (once; answers are kept).
    Each is stored by its id in the bank, so it is shown in the language of
    whoever asks later (``drillpe mock questions --lang zh``)."""
    for eid in session.exercises:
        if eid not in session.followups:
            diagnoses = (session.results.get(eid) or {}).get("diagnoses") or []
            session.followups[eid] = [
                Followup(q["question"], q["answer"], ref=q["id"])
                for q in choose_followups(eid, diagnoses, session.id, per_exercise)]


def first_failing(result: ExerciseResult) -> str | None:
    """What the live view says of a failing grade: the mistake named on the first
    failing core check (else any failing check), without the exercise's prefix
    (`sin_cos_swapped`, `attention.mask_ignored`); the check's title when no
    mistake is named."""
    if not result.failing_checks:
        return None
    first = result.failing_checks[0]
    named = [code for code in first.diagnosis if code != "output.mismatch"]
    if named:
        return named[0].removeprefix(f"{result.exercise}.")
    return first.title


def graded_entry(result: ExerciseResult) -> dict[str, Any]:
    """What the live view's graded column shows of a grade (kept in the session)."""
    return {"passed": result.passed, "score": result.score, "failing": first_failing(result)}


def verdict(entry: dict[str, Any] | None, revealed: bool) -> str:
    if entry is None:
        return "not graded"
    if revealed:
        return "revealed"
    return "pass" if entry["passed"] else "fail"


def report(session: Session, now: float) -> dict[str, Any]:
    """The final report: score, time, per-exercise verdicts, hints, reveals, follow-ups."""
    exercises = []
    for eid in session.exercises:
        entry = session.results.get(eid)
        revealed = bool(session.revealed.get(eid))
        asked = session.followups.get(eid, [])
        rated = [f.rating for f in asked if f.rating is not None]
        exercises.append({
            "exercise": eid,
            "file": str(session.path(eid)),
            "verdict": verdict(entry, revealed),
            "passed": bool(entry and entry["passed"] and not revealed),
            "score": entry["score"] if entry else 0.0,
            "diagnoses": entry["diagnoses"] if entry else [],
            "error": entry["error"] if entry else None,
            "hints": session.hints.get(eid, 0),
            "revealed": revealed,
            "followups": [asdict(f) for f in asked],
            "followup_rating": round(sum(rated) / (3 * len(rated)), 3) if rated else None,
            "timeline": session.timeline.get(eid, []),
        })
    scores = [e["score"] for e in exercises]
    debug = debug_report(session)
    if debug is not None:
        scores.append(debug["score"])
    return {
        "schema": SCHEMA,
        "session": session.id,
        "folder": session.folder,
        "state": session.state,
        "started_at": session.started_at,
        "submitted_at": session.submitted_at,
        "minutes": session.minutes,
        "time_used_s": round(session.time_used(now), 1),
        "time_left_s": round(session.time_left(now), 1),
        "over_time_s": round(session.over_time(now), 1),
        "score": round(sum(scores) / len(scores), 4) if scores else 0.0,
        "passed": bool(exercises) and all(e["passed"] for e in exercises)
        and (debug is None or debug["passed"]),
        "exercises": exercises,
        # only in a session with a debug round: the reports of others keep their shape
        **({"debug": debug} if debug is not None else {}),
    }


def status(session: Session, now: float) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "session": session.id,
        "folder": session.folder,
        "state": session.state,
        "minutes": session.minutes,
        "time_left_s": round(session.time_left(now), 1),
        "over_time_s": round(session.over_time(now), 1),
        "files": [file_status(session, eid) for eid in session.exercises],
        # the debug round's file and answer choices (never the code planted)
        **({"debug": {"exercise": session.debug["exercise"], "file": str(debug_path(session)),
                      "choices": session.debug["choices"],
                      "answered": session.debug.get("answer") is not None}}
           if session.debug else {}),
    }
