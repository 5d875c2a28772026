"""The attempt timeline's pure parts: how a source or a report is stored,
how diagnoses changed from one attempt to the next, how attempts are
numbered, and the export format. The history (drillpe.results.history)
keeps the rows and blobs; this module has no database.

Storage. Every text (a graded source, a report) is a *blob* keyed by the
sha256 of its UTF-8 bytes, so saving the same file twice stores it once.
A blob is raw deflate, compressed with a *base* as zlib's preset
dictionary: the previous text of the same kind for the same exercise.
A learner's next save differs from the last by a few lines, so it costs
tens of bytes instead of a whole file. Chains are short: a blob whose base
is already MAX_DEPTH deep is stored on its own (a keyframe), so reading any
text decompresses at most MAX_DEPTH + 1 blobs.

Numbering. Attempts are numbered 1, 2, ... in the order they were graded
(time, then record), as ``drillpe history`` shows them; every graded
attempt has a number, whether its source was kept or not. ``-1`` is the
last attempt, ``-2`` the one before; ``answer`` names the model answer.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import time
import tokenize
import zlib
from dataclasses import dataclass, field
from typing import Any

from drillpe.results.report import ExerciseResult

MAX_DEPTH = 8
KEY_LIMIT = 256 * 1024
LEVEL = 9
WBITS = -15  # raw deflate: no header or checksum (the sha256 key checks the text)
EXPORT_FORMAT = "drillpe-attempt"
EXPORT_VERSION = 1
ORIGINS = ("check", "watch", "mock")
ANSWER = "answer"  # in `drillpe diff ID A B`: the model answer


def sha(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def code_key(text: str) -> bytes:
    """The sha256 of ``text``'s tokens, comments and blank lines left out: two
    sources with the same key differ at most in those (and in spacing inside a
    line). A file that does not tokenize is keyed by its lines, stripped, blank
    ones left out; one over KEY_LIMIT characters (no answer is) by its text."""
    if len(text) > KEY_LIMIT:
        return sha(text)  # tokenizing a reviewer's 2 MB line took 4 s of every check
    key = hashlib.sha256()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type not in (tokenize.COMMENT, tokenize.NL):
                key.update(f"{tok.type}\0{tok.string}\0".encode("utf-8", "surrogatepass"))
    except (tokenize.TokenError, SyntaxError, ValueError, RecursionError, MemoryError):
        return sha("\n".join(line.strip() for line in text.splitlines() if line.strip()))
    return key.digest()


def pack(text: str, base: str | None) -> bytes:
    """``text`` compressed, with ``base`` (when given) as the dictionary."""
    packer = (zlib.compressobj(LEVEL, zlib.DEFLATED, WBITS, zdict=base.encode("utf-8"))
              if base else zlib.compressobj(LEVEL, zlib.DEFLATED, WBITS))
    return packer.compress(text.encode("utf-8")) + packer.flush()


def unpack(data: bytes, base: str | None) -> str:
    unpacker = (zlib.decompressobj(WBITS, zdict=base.encode("utf-8")) if base
                else zlib.decompressobj(WBITS))
    return (unpacker.decompress(data) + unpacker.flush()).decode("utf-8")


def stored_report(report: dict[str, Any]) -> str:
    """The report as kept: its JSON without the grading time (the attempt's row
    holds it), so two grades of one source usually store one report."""
    slim = {k: v for k, v in report.items() if k != "duration_s"}
    return json.dumps(slim, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def changes(before: list[str], now: list[str]) -> tuple[list[str], list[str]]:
    """(fixed, new): the diagnoses of the attempt before that are gone now,
    and the ones that are new, each in the order they were named."""
    return [c for c in before if c not in now], [c for c in now if c not in before]


@dataclass
class Entry:
    """One attempt of the timeline, as ``drillpe history`` shows it."""

    number: int
    id: int  # the attempt's row
    exercise: str
    at: float
    origin: str  # check, watch or mock
    session: str | None
    counted: bool  # False: a grade inside a mock round (the mock's final grade counts)
    passed: bool
    score: float
    error_kind: str | None
    diagnoses: list[str]
    fixed: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    untouched: bool = False
    duration_s: float | None = None
    code_sha: bytes | None = None
    report_sha: bytes | None = None
    pruned: bool = False  # the source was dropped by the retention setting
    code_key: bytes | None = None  # code_key() of the source (None: graded before keys)
    same_as: int | None = None  # the latest earlier attempt with the same code

    @property
    def source_state(self) -> str:
        """kept, pruned (by the retention setting) or none (graded before
        drillpe kept sources)."""
        if self.code_sha is not None:
            return "kept"
        return "pruned" if self.pruned else "none"

    def to_dict(self, iso) -> dict[str, Any]:
        return {"n": self.number, "at": iso(self.at), "origin": self.origin,
                "session": self.session, "counted": self.counted, "passed": self.passed,
                "score": self.score, "error": self.error_kind, "diagnoses": self.diagnoses,
                "fixed": self.fixed, "new": self.new, "untouched": self.untouched,
                "duration_s": self.duration_s, "source": self.source_state,
                "sha256": self.code_sha.hex() if self.code_sha else None}


def number_entries(entries: list[Entry]) -> list[Entry]:
    """Number the entries 1.. and fill in how each one's diagnoses changed and
    which earlier attempt graded the same code (comments and blank lines aside)."""
    before: list[str] = []
    seen: dict[bytes, int] = {}
    for number, entry in enumerate(entries, start=1):
        entry.number = number
        entry.fixed, entry.new = changes(before, entry.diagnoses)
        before = entry.diagnoses
        key = entry.code_key or entry.code_sha  # rows from before keys: the exact source
        if key is not None:
            entry.same_as = seen.get(key)
            seen[key] = number
    return entries


class BadIndex(ValueError):
    """An attempt number that is not one."""


def pick(spec: str, count: int) -> int | None:
    """The 0-based place of attempt ``spec`` among ``count`` (None: the model
    answer). 1 is the first, -1 the last; BadIndex says what went wrong."""
    if spec.strip().lower() == ANSWER:
        return None
    try:
        number = int(spec)
    except ValueError:
        raise BadIndex(spec) from None
    if number > 0 and number <= count:
        return number - 1
    if number < 0 and -number <= count:
        return count + number
    raise BadIndex(spec)


# export and import -----------------------------------------------------------

ATTEMPT_KEYS = {
    "exercise": str, "at": (int, float), "origin": str, "session": (str, type(None)),
    "counted": bool, "passed": bool, "score": (int, float), "error": (str, type(None)),
    "failed_checks": list, "diagnoses": list, "duration_s": (int, float, type(None)),
    "hints_used": int, "revealed": bool, "seed": (int, type(None)),
    "device": (str, type(None)), "untouched": bool, "source": (str, type(None)),
    "source_pruned": bool, "report": (dict, type(None)),
}


EARLIEST_AT = 1577836800.0  # 2020-01-01 UTC


def export_line(row: dict[str, Any]) -> str:
    return json.dumps({"format": EXPORT_FORMAT, "version": EXPORT_VERSION, **row},
                      ensure_ascii=False, sort_keys=True)


def import_line(line: str, known: set[str]) -> dict[str, Any]:
    """One exported attempt, checked; ValueError says what is wrong with it."""
    data = json.loads(line)
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise ValueError(f'not a drillpe attempt (its "format" is not "{EXPORT_FORMAT}")')
    if data.get("version") != EXPORT_VERSION:
        raise ValueError(f"written by another drillpe (version {data.get('version')!r}, "
                         f"this one reads {EXPORT_VERSION})")
    for key, kind in ATTEMPT_KEYS.items():
        value = data.get(key)
        if key not in data or not isinstance(value, kind) or (
                isinstance(value, bool) and kind in ((int, float), int)):
            raise ValueError(f"field {key} is missing or has the wrong type")
    if data["exercise"] not in known:
        raise ValueError(f"unknown exercise {data['exercise']!r}")
    if not all(isinstance(c, str) for c in data["diagnoses"] + data["failed_checks"]):
        raise ValueError("diagnoses and failed_checks must be lists of strings")
    if data["origin"] not in ORIGINS:
        raise ValueError(f"origin must be one of {', '.join(ORIGINS)}")
    if not math.isfinite(data["at"]) or not math.isfinite(data["score"]):
        raise ValueError("at and score must be finite numbers")
    # A time in milliseconds, or from before drillpe existed, would break every
    # screen that shows a date; allow a day of clock skew between machines.
    if not EARLIEST_AT <= data["at"] <= time.time() + 86400:
        raise ValueError(f"at must be a time in seconds since 1970, between 2020 and now "
                         f"(not {data['at']!r}: milliseconds?)")
    if not 0.0 <= data["score"] <= 1.0:
        raise ValueError(f"score must be between 0 and 1 (not {data['score']!r})")
    duration = data["duration_s"]
    if duration is not None and not (math.isfinite(duration) and 0 <= duration <= 86400):
        raise ValueError(f"duration_s must be between 0 and 86400 seconds (not {duration!r})")
    if data["report"] is not None:
        try:
            ExerciseResult.from_dict({**data["report"], "duration_s": 0.0})
        except (TypeError, ValueError, AttributeError):
            raise ValueError("its report is not a drillpe report (not the shape "
                             "drillpe check --json writes)") from None
    return data
