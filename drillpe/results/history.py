"""What the learner has done: every graded attempt (with the source it
graded and its report: the attempt timeline, drillpe.results.timeline), hint,
reveal, stretch of work (watch, mock) and mock session, in
``<home>/history.sqlite3``.

SQLite from the standard library, in WAL mode so a watch in one terminal and
``drillpe hint`` in another can both write. Every record is one transaction:
readers see it whole or not at all. The schema version is SQLite's
``user_version``; :data:`MIGRATIONS` brings an older file up to date, in order.
A file SQLite cannot read is moved aside (never deleted) and a fresh one
begins, with a warning that says where the old one went. An older
``progress.json`` is imported once and kept beside it.

Commands use only the methods of :class:`History`; the figures shown by
``stats``, ``next`` and ``list`` come from :mod:`drillpe.results.progress`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from drillpe.data import bundle, files, places
from drillpe.data.limits import MAX_LEARNER_FILE
from drillpe.results import timeline
from drillpe.results.events import Attempt, Events, Legacy, Work
from drillpe.results.progress import counted_reveals, summarise
from drillpe.results.report import ExerciseResult

__all__ = ["Attempt", "Events", "History", "Legacy", "Work"]

FILENAME = "history.sqlite3"
# The retention setting: keep the sources of the last N distinct versions of each
# exercise's file (unset or empty: keep every one). Rows and reports are always kept.
KEEP_ENV = "DRILLPE_KEEP_SOURCES"
LEGACY_FILENAME = "progress.json"
BUSY_TIMEOUT_S = 10.0

# Each entry brings the file from version i to i + 1, inside one transaction.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY,
        exercise TEXT NOT NULL,
        at REAL NOT NULL,
        passed INTEGER NOT NULL,
        score REAL NOT NULL,
        error_kind TEXT,
        failed_checks TEXT NOT NULL DEFAULT '[]',
        diagnoses TEXT NOT NULL DEFAULT '[]',
        duration_s REAL,
        hints_used INTEGER NOT NULL DEFAULT 0,
        revealed INTEGER NOT NULL DEFAULT 0,
        source TEXT NOT NULL DEFAULT 'check',
        session TEXT,
        seed INTEGER,
        device TEXT
    );
    CREATE INDEX attempts_by_exercise ON attempts (exercise, at);
    CREATE TABLE hints (id INTEGER PRIMARY KEY, exercise TEXT NOT NULL, level INTEGER NOT NULL,
                        at REAL NOT NULL);
    CREATE TABLE reveals (id INTEGER PRIMARY KEY, exercise TEXT NOT NULL, at REAL NOT NULL);
    """,
    """
    CREATE TABLE work (
        id INTEGER PRIMARY KEY,
        exercise TEXT NOT NULL,
        started_at REAL NOT NULL,
        seconds REAL NOT NULL,
        source TEXT NOT NULL,
        session TEXT
    );
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        started_at REAL NOT NULL,
        ended_at REAL NOT NULL,
        score REAL,
        report TEXT NOT NULL
    );
    CREATE TABLE legacy (
        exercise TEXT PRIMARY KEY,
        attempts INTEGER NOT NULL,
        passes INTEGER NOT NULL,
        best_score REAL,
        last_result TEXT,
        last_at REAL,
        hints_seen INTEGER NOT NULL,
        revealed INTEGER NOT NULL
    );
    """,
    # Hints come in ladders: the exercise's general one (part '') and one per part of
    # the exercise (the mask, the table, ...); each ladder counts its own levels.
    """
    ALTER TABLE hints ADD COLUMN part TEXT NOT NULL DEFAULT ''
    """,
    # A check of the untouched stub is recorded (marked untouched) but is no
    # try in stats and next (drillpe.results.progress.tries). Older rows were edited files.
    """
    ALTER TABLE attempts ADD COLUMN untouched INTEGER NOT NULL DEFAULT 0
    """,
    # The attempt timeline (drillpe.results.timeline): the source and report of every
    # grade, as content-addressed blobs compressed against the text before them.
    # code_sha NULL: no source kept (graded before this, or dropped by the retention
    # setting, then code_pruned = 1). counted = 0: a grade inside a mock round, in the
    # timeline only (the mock's final grade is the try).
    """
    CREATE TABLE blobs (
        sha BLOB PRIMARY KEY,
        base BLOB,
        depth INTEGER NOT NULL DEFAULT 0,
        data BLOB NOT NULL
    );
    ALTER TABLE attempts ADD COLUMN code_sha BLOB;
    ALTER TABLE attempts ADD COLUMN report_sha BLOB;
    ALTER TABLE attempts ADD COLUMN code_pruned INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE attempts ADD COLUMN counted INTEGER NOT NULL DEFAULT 1
    """,
    # The graded source with its comments and blank lines left out (timeline.code_key):
    # a check of the same code as the try before it is no new try, a comment-only
    # edit included. It outlives the source when the retention setting drops that.
    """
    ALTER TABLE attempts ADD COLUMN code_key BLOB
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def _iso(at: float | None) -> str | None:
    if at is None:
        return None
    return datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="seconds")


def _parse_iso(text: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except (TypeError, ValueError):
        return None


class History:
    def __init__(self, home: Path | None = None, clock=time.time, warn=None):
        # warn(message): how a problem found after opening is said; the CLI
        # passes its renderer, the notebook API gets plain stderr.
        self.late_warning = warn or _stderr_warning
        self.home = home or places.home()
        self.path = self.home / FILENAME
        self.clock = clock
        self.warning: str | None = None
        self.persistent = True
        self.conn = self._open()

    # opening, migrating, recovering -----------------------------------------
    def _connect(self, target: str | Path, wal: bool = True) -> sqlite3.Connection:
        conn = sqlite3.connect(str(target), timeout=BUSY_TIMEOUT_S, isolation_level=None)
        conn.row_factory = sqlite3.Row
        if wal and target != ":memory:":
            self._use_wal(conn)
        return conn

    @staticmethod
    def _use_wal(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")

    def _open(self) -> sqlite3.Connection:
        """The history, or an in-memory stand-in with a warning. A file is set
        aside only when it is positively damaged, and then byte-identical:
        it is inspected read-only before anything writes to it. A file that
        cannot be read or written for another reason (permissions, a full
        disk, another drillpe's lock) is left exactly as it is."""
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return self._in_memory(f"cannot create {self.home} ({exc})")
        fresh = not self.path.exists()
        if not fresh:
            try:
                version = self._inspect()
            except (sqlite3.DatabaseError, OSError) as exc:
                if isinstance(exc, sqlite3.DatabaseError) and _corrupt(exc):
                    return self._fresh_after(self._start_over(exc))
                return self._in_memory(self._unusable(exc))
            if version > SCHEMA_VERSION:
                return self._in_memory(
                    f"{self.path} was written by a newer drillpe (history schema {version}; "
                    f"this one knows {SCHEMA_VERSION}); it is left untouched")
        try:
            # WAL only once the file is known to be ours: switching the journal
            # mode rewrites the header of a file that may be someone else's.
            conn = self._connect(self.path, wal=False)
            self._migrate(conn)
            self._use_wal(conn)
        except sqlite3.DatabaseError as exc:
            if _corrupt(exc):
                return self._fresh_after(self._start_over(exc))
            return self._in_memory(self._unusable(exc))
        return self._fresh_after(conn) if fresh else conn

    def _inspect(self) -> int:
        """The schema version of an existing file, read without writing to it;
        raises Corrupt when SQLite's own check finds damage."""
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
        finally:
            conn.close()
        if problems != ["ok"]:
            raise Corrupt("; ".join(problems[:3]))
        return version

    def _unusable(self, exc: Exception) -> str:
        if _busy(exc):
            return f"{self.path} is locked by another drillpe ({exc})"
        return f"{self.path} cannot be used ({exc}); it is left untouched"

    def _fresh_after(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        if self.persistent:
            self._import_progress_json(conn)
        return conn

    def _in_memory(self, why: str) -> sqlite3.Connection:
        self.persistent = False
        self._warn(f"drillpe cannot keep its history: {why}. This run's progress is not "
                   "recorded.")
        conn = self._connect(":memory:")
        self._migrate(conn)
        return conn

    def _start_over(self, exc: Exception) -> sqlite3.Connection:
        """Move the unreadable file (and its WAL files) aside and begin a fresh one."""
        try:
            aside = places.move_to_backup(self.path)
            for suffix in ("-wal", "-shm"):
                side = Path(f"{self.path}{suffix}")
                if side.exists():
                    os.replace(side, f"{aside}{suffix}")
        except OSError as move_exc:
            return self._in_memory(f"{self.path} is unreadable ({exc}) and could not be moved "
                                   f"aside ({move_exc})")
        self._warn(f"drillpe's history file was unreadable ({exc}); it was moved to "
                   f"{places.display(aside)} and a fresh one started.")
        try:
            conn = self._connect(self.path)
            self._migrate(conn)
        except sqlite3.DatabaseError as again:
            return self._in_memory(f"a fresh {self.path} cannot be created ({again})")
        return conn

    def _warn(self, message: str) -> None:
        self.warning = message if self.warning is None else f"{self.warning}\n{message}"

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        for target, script in enumerate(MIGRATIONS, start=1):
            if conn.execute("PRAGMA user_version").fetchone()[0] >= target:
                continue
            # BEGIN IMMEDIATE, then look again: another drillpe may have
            # migrated between our read and our lock.
            conn.execute("BEGIN IMMEDIATE")
            try:
                if conn.execute("PRAGMA user_version").fetchone()[0] < target:
                    for statement in script.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {target}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _import_progress_json(self, conn: sqlite3.Connection) -> None:
        legacy_path = self.home / LEGACY_FILENAME
        if not legacy_path.is_file():
            return
        try:
            data = json.loads(legacy_path.read_text(encoding="utf-8"))
            exercises = data["exercises"]
            rows = [(exercise_id, int(e.get("attempts", 0)), int(e.get("passes", 0)),
                     e.get("best_score"), e.get("last_result"), _parse_iso(e.get("last_checked")),
                     int(e.get("hints_seen", 0)), int(bool(e.get("revealed"))))
                    for exercise_id, e in exercises.items()]
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            aside = places.move_to_backup(legacy_path)
            self._warn(f"the old progress file was unreadable ({exc}); it was moved to "
                       f"{places.display(aside)} and not imported.")
            return
        with self._transaction(conn):
            conn.executemany("INSERT OR REPLACE INTO legacy VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        aside = places.move_to_backup(legacy_path)
        self._warn(f"imported {len(rows)} exercise(s) from the old progress file into "
                   f"{places.display(self.path)}; the old file is kept as "
                   f"{places.display(aside)}.")

    @contextmanager
    def _transaction(self, conn: sqlite3.Connection | None = None) -> Iterator[sqlite3.Connection]:
        conn = conn or self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise

    def _write(self, statements: list[tuple[str, tuple]]) -> None:
        """One transaction. A file found broken now is moved aside, a fresh
        one started, and the record written there; a busy one is said aloud."""
        for attempt in range(2):
            try:
                with self._transaction() as conn:
                    for sql, params in statements:
                        conn.execute(sql, params)
                return
            except sqlite3.DatabaseError as exc:
                if not _corrupt(exc) or attempt or not self.persistent:
                    self.late_warning(f"could not record this in drillpe's history ({exc}).")
                    return
                self.conn.close()
                self.warning = None
                self.conn = self._start_over(exc)
                if self.warning:
                    self.late_warning(self.warning)

    def _query(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            if not _corrupt(exc) or not self.persistent:
                self.late_warning(f"could not read drillpe's history ({exc}).")
                return []
            self.conn.close()
            self.warning = None
            self.conn = self._start_over(exc)
            if self.warning:
                self.late_warning(self.warning)
            return []

    def close(self) -> None:
        self.conn.close()

    # what commands read ---------------------------------------------------
    def events(self, exercise_id: str | None = None) -> dict[str, Events]:
        """Everything recorded, per exercise (one exercise when named), oldest first."""
        where, params = ("WHERE exercise = ?", (exercise_id,)) if exercise_id else ("", ())
        out: dict[str, Events] = {}

        def entry(eid: str) -> Events:
            return out.setdefault(eid, Events(eid))

        counted = f"{where} AND counted = 1" if where else "WHERE counted = 1"
        for row in self._query(f"SELECT * FROM attempts {counted} ORDER BY at, id", params):
            entry(row["exercise"]).attempts.append(_attempt(row))
        for row in self._query(f"SELECT * FROM hints {where} ORDER BY at, id", params):
            entry(row["exercise"]).hints.append((row["at"], row["level"]))
        for row in self._query(f"SELECT * FROM reveals {where} ORDER BY at, id", params):
            entry(row["exercise"]).reveals.append(row["at"])
        for row in self._query(f"SELECT * FROM work {where} ORDER BY started_at, id", params):
            entry(row["exercise"]).work.append(Work(row["exercise"], row["started_at"],
                                                    row["seconds"], row["source"], row["session"]))
        for row in self._query(f"SELECT * FROM legacy {where}", params):
            entry(row["exercise"]).legacy = Legacy(
                row["exercise"], row["attempts"], row["passes"], row["best_score"],
                row["last_result"], row["last_at"], row["hints_seen"], bool(row["revealed"]))
        return out

    def exercise_summary(self, exercise_id: str) -> dict[str, Any]:
        """attempts, passes, best_score, last_result, last_checked, hints_seen,
        revealed, and the figures of drillpe.results.progress.summarise."""
        events = self.events(exercise_id).get(exercise_id, Events(exercise_id))
        return summarise(events, self.clock())

    def hints_seen(self, exercise_id: str, part: str | None = None) -> int:
        """The highest hint level seen in this round (since the last pass): of
        one ladder when ``part`` is given ('' is the general one), else of any."""
        if part is None:
            return self._round_state(exercise_id)[0]
        rows = self._query("SELECT MAX(at) AS at FROM attempts WHERE exercise = ? AND passed = 1 "
                           "AND counted = 1",
                           (exercise_id,))
        since = rows[0]["at"] if rows and rows[0]["at"] is not None else float("-inf")
        rows = self._query("SELECT MAX(level) AS level FROM hints WHERE exercise = ? AND part = ? "
                           "AND at >= ?", (exercise_id, part, since))
        seen = int(rows[0]["level"] or 0) if rows else 0
        if part == "" and since == float("-inf"):
            legacy = self._query("SELECT hints_seen FROM legacy WHERE exercise = ?", (exercise_id,))
            seen = max(seen, legacy[0]["hints_seen"] if legacy else 0)
        return seen

    def last_failed_checks(self, exercise_id: str) -> list[str]:
        """The checks that failed in the latest recorded attempt ([] when it passed)."""
        rows = self._query("SELECT failed_checks FROM attempts WHERE exercise = ? AND counted = 1 "
                           "ORDER BY at DESC, id DESC LIMIT 1", (exercise_id,))
        if not rows:
            return []
        try:
            failed = json.loads(rows[0]["failed_checks"] or "[]")
        except ValueError:
            return []
        return [c for c in failed if isinstance(c, str)] if isinstance(failed, list) else []

    def sessions(self, kind: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Recorded sessions, newest first: their stored reports."""
        sql = "SELECT report FROM sessions" + (" WHERE kind = ?" if kind else "")
        sql += " ORDER BY started_at DESC" + (f" LIMIT {int(limit)}" if limit else "")
        rows = self._query(sql, (kind,) if kind else ())
        return [json.loads(row["report"]) for row in rows]

    def hints_between(self, exercise_id: str, start: float, end: float) -> int:
        rows = self._query("SELECT MAX(level) AS level FROM hints WHERE exercise = ? AND at >= ? "
                           "AND at <= ?", (exercise_id, start, end))
        return int(rows[0]["level"] or 0) if rows else 0

    def revealed_between(self, exercise_id: str, start: float, end: float) -> bool:
        rows = self._query("SELECT COUNT(*) AS n FROM reveals WHERE exercise = ? AND at >= ? "
                           "AND at <= ?", (exercise_id, start, end))
        return bool(rows and rows[0]["n"])

    def _round_state(self, exercise_id: str) -> tuple[int, bool]:
        """(highest hint level, revealed?) since the last passing attempt."""
        rows = self._query("SELECT MAX(at) AS at FROM attempts WHERE exercise = ? AND passed = 1 "
                           "AND counted = 1",
                           (exercise_id,))
        since = rows[0]["at"] if rows and rows[0]["at"] is not None else float("-inf")
        now = float("inf")
        legacy_hints = 0
        if since == float("-inf"):
            legacy = self._query("SELECT hints_seen FROM legacy WHERE exercise = ?", (exercise_id,))
            legacy_hints = legacy[0]["hints_seen"] if legacy else 0
        # a look back at that pass (progress.look_back) is no help with this round
        events = self.events(exercise_id).get(exercise_id, Events(exercise_id))
        return (max(self.hints_between(exercise_id, since, now), legacy_hints),
                any(since < at for at in counted_reveals(events)))

    # what commands record ---------------------------------------------------
    def record_check(self, result: ExerciseResult, *, source: str = "check",
                     session: str | None = None, at: float | None = None,
                     file: Path | None = None, text: str | None = None,
                     counted: bool = True, untouched: bool | None = None) -> Attempt:
        """Record one grade, with its report and the graded source (``text``, else
        ``file`` read now) in the timeline. ``file``: the graded file; when it is
        still the exercise's stub the attempt is marked untouched (no try).
        ``counted=False``: a grade inside a mock round (timeline only).
        ``untouched``: whether the file is still as it was handed out, where its
        stub is not the exercise's (a mock session's); None: compare with the stub."""
        if text is None and file is not None:
            text = read_source(file)
        hints, revealed = self._round_state(result.exercise)
        attempt = Attempt.from_result(result, self.clock() if at is None else at,
                                      hints_used=hints, revealed=revealed, source=source,
                                      session=session,
                                      untouched=untouched if untouched is not None else (
                                          text is not None and bundle.is_stub(
                                              result.exercise, text)))
        statements: list[tuple[str, tuple]] = []
        code = self._blob(result.exercise, "code_sha", text, statements)
        report = self._blob(result.exercise, "report_sha",
                            timeline.stored_report(result.to_dict()), statements)
        statements.append((INSERT_ATTEMPT, _attempt_row(attempt, code, report, counted,
                                                        text=text)))
        self._write(statements)
        self.apply_retention(result.exercise)
        return attempt

    def record_attempt(self, attempt: Attempt) -> None:
        self._write([(
            INSERT_ATTEMPT, _attempt_row(attempt))])

    def record_hint(self, exercise_id: str, level: int, at: float | None = None,
                    part: str = "") -> None:
        self._write([("INSERT INTO hints (exercise, level, at, part) VALUES (?, ?, ?, ?)",
                      (exercise_id, int(level), self.clock() if at is None else at, part))])

    def record_reveal(self, exercise_id: str, at: float | None = None) -> None:
        self._write([("INSERT INTO reveals (exercise, at) VALUES (?, ?)",
                      (exercise_id, self.clock() if at is None else at))])

    def record_work(self, work: Work) -> None:
        if work.seconds <= 0:
            return
        self._write([("INSERT INTO work (exercise, started_at, seconds, source, session) "
                      "VALUES (?, ?, ?, ?, ?)",
                      (work.exercise, work.started_at, work.seconds, work.source, work.session))])

    def record_session(self, session_id: str, kind: str, started_at: float, ended_at: float,
                       score: float | None, report: dict[str, Any],
                       attempts: tuple[Attempt, ...] | list[Attempt] = (),
                       work: tuple[Work, ...] | list[Work] = (),
                       kept: dict[str, dict[str, str]] | None = None) -> None:
        """A whole session in one transaction: its report, attempts and time.
        ``kept``: exercise -> {"code": sha256 hex, "report": sha256 hex} of blobs
        stored with :meth:`keep` for its final attempt."""
        kept = kept or {}
        statements = [("INSERT OR REPLACE INTO sessions (id, kind, started_at, ended_at, score, "
                       "report) VALUES (?, ?, ?, ?, ?, ?)",
                       (session_id, kind, started_at, ended_at, score,
                        json.dumps(report, ensure_ascii=False)))]
        statements.append(("DELETE FROM attempts WHERE session = ? AND counted = 1",
                           (session_id,)))
        statements.append(("DELETE FROM work WHERE session = ?", (session_id,)))
        for a in attempts:
            # a debug round's attempt is of another file than the write round's
            shas = kept.get(a.exercise, {}) if a.source != "debug" else {}
            statements.append((INSERT_ATTEMPT, _attempt_row(
                a, _unhex(shas.get("code")), _unhex(shas.get("report")))))
        for w in work:
            statements.append(("INSERT INTO work (exercise, started_at, seconds, source, session) "
                               "VALUES (?, ?, ?, ?, ?)",
                               (w.exercise, w.started_at, w.seconds, w.source, w.session)))
        self._write(statements)

    # the timeline ---------------------------------------------------------------
    def keep(self, exercise_id: str, code: str | None, result: ExerciseResult | None
             ) -> dict[str, str]:
        """Store a source and a report for an attempt recorded later (a mock's
        final grades); returns their sha256 in hex for record_session."""
        statements: list[tuple[str, tuple]] = []
        out = {}
        sha = self._blob(exercise_id, "code_sha", code, statements)
        if sha:
            out["code"] = sha.hex()
        if result is not None:
            out["report"] = self._blob(exercise_id, "report_sha",
                                       timeline.stored_report(result.to_dict()),
                                       statements).hex()
        self._write(statements)
        return out

    def _blob(self, exercise_id: str, column: str, text: str | None,
              statements: list[tuple[str, tuple]]) -> bytes | None:
        """The key of ``text`` (None for None), adding to ``statements`` what
        stores it when it is not stored yet: compressed against the latest text
        of the same kind of this exercise, unless that chain is MAX_DEPTH deep."""
        if text is None:
            return None
        key = timeline.sha(text)
        if self._query("SELECT 1 FROM blobs WHERE sha = ?", (key,)):
            return key
        base, depth = None, 0
        rows = self._query(f"SELECT a.{column} AS sha, b.depth AS depth FROM attempts a "
                           f"JOIN blobs b ON b.sha = a.{column} WHERE a.exercise = ? "
                           "ORDER BY a.at DESC, a.id DESC LIMIT 1", (exercise_id,))
        if rows and rows[0]["depth"] < timeline.MAX_DEPTH:
            base, depth = rows[0]["sha"], rows[0]["depth"] + 1
        base_text = self.text(base) if base is not None else None
        if base_text is None:
            base, depth = None, 0
        statements.append(("INSERT OR IGNORE INTO blobs (sha, base, depth, data) "
                           "VALUES (?, ?, ?, ?)",
                           (key, base, depth, timeline.pack(text, base_text))))
        return key

    def text(self, key: bytes | None) -> str | None:
        """The text stored under ``key``; None when it is not there."""
        if key is None:
            return None
        chain = []
        while key is not None:
            rows = self._query("SELECT base, data FROM blobs WHERE sha = ?", (key,))
            if not rows:
                return None
            chain.append(rows[0]["data"])
            key = rows[0]["base"]
            if len(chain) > timeline.MAX_DEPTH + 1:
                return None  # a loop: not one drillpe wrote
        text = None
        for data in reversed(chain):
            text = timeline.unpack(data, text)
        return text

    def timeline(self, exercise_id: str) -> list[timeline.Entry]:
        """Every graded attempt of the exercise, numbered, oldest first."""
        rows = self._query("SELECT * FROM attempts WHERE exercise = ? ORDER BY at, id",
                           (exercise_id,))
        return timeline.number_entries([_entry(row) for row in rows])

    def report(self, entry: timeline.Entry) -> ExerciseResult | None:
        text = self.text(entry.report_sha)
        if text is None:
            return None
        try:
            data = json.loads(text)
            data["duration_s"] = entry.duration_s or 0.0
            return ExerciseResult.from_dict(data)
        except (TypeError, ValueError, AttributeError):
            return None  # not a report this drillpe can read: the attempt's row still speaks

    def passed_or_revealed(self, exercise_id: str) -> bool:
        """Whether the model answer may be shown next to the learner's attempts."""
        summary = self.exercise_summary(exercise_id)
        return bool(summary.get("passes")) or bool(summary.get("revealed")) or bool(
            self._query("SELECT 1 FROM reveals WHERE exercise = ? LIMIT 1", (exercise_id,)))

    def apply_retention(self, exercise_id: str, keep: int | None = None) -> int:
        """Drop the sources of all but the last ``keep`` distinct versions of the
        exercise's file (default: the setting $DRILLPE_KEEP_SOURCES; unset keeps
        all). The attempts stay, marked pruned. Returns how many were dropped."""
        keep = retention() if keep is None else keep
        if keep is None:
            return 0
        rows = self._query("SELECT code_sha, MAX(at) AS last FROM attempts WHERE exercise = ? "
                           "AND code_sha IS NOT NULL GROUP BY code_sha ORDER BY last DESC",
                           (exercise_id,))
        dropped = [row["code_sha"] for row in rows[keep:]]
        if not dropped:
            return 0
        for key in dropped:  # one at a time: each may store others against a new base
            self._write([("UPDATE attempts SET code_sha = NULL, code_pruned = 1 "
                          "WHERE exercise = ? AND code_sha = ?", (exercise_id, key)),
                         *self._unlink(key, exercise_id)])
        return len(dropped)

    def _unlink(self, key: bytes, exercise_id: str) -> list[tuple[str, tuple]]:
        """Statements that delete a blob once this exercise's attempts no longer
        use it, unless another attempt still does; the blobs compressed against
        it are first stored against its own base."""
        if self._query("SELECT 1 FROM attempts WHERE (code_sha = ? AND exercise != ?) "
                       "OR report_sha = ? LIMIT 1", (key, exercise_id, key)):
            return []
        rows = self._query("SELECT base, depth FROM blobs WHERE sha = ?", (key,))
        if not rows:
            return []
        base, depth = rows[0]["base"], rows[0]["depth"]
        base_text = self.text(base)
        if base_text is None:
            base, depth = None, 0
        statements = []
        for child in self._query("SELECT sha FROM blobs WHERE base = ?", (key,)):
            statements.append(("UPDATE blobs SET base = ?, depth = ?, data = ? WHERE sha = ?",
                               (base, depth, timeline.pack(self.text(child["sha"]), base_text),
                                child["sha"])))
        statements.append(("DELETE FROM blobs WHERE sha = ?", (key,)))
        return statements

    # export and import ---------------------------------------------------------
    def export_rows(self, exercise_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Every attempt (of one exercise when named) with its source and report,
        oldest first: what ``drillpe history --export`` writes, a line each."""
        where, params = ("WHERE exercise = ?", (exercise_id,)) if exercise_id else ("", ())
        for row in self._query(f"SELECT * FROM attempts {where} ORDER BY at, id", params):
            report = self.text(row["report_sha"])
            yield {"exercise": row["exercise"], "at": row["at"], "origin": row["source"],
                   "session": row["session"], "counted": bool(row["counted"]),
                   "passed": bool(row["passed"]), "score": row["score"],
                   "error": row["error_kind"],
                   "failed_checks": json.loads(row["failed_checks"] or "[]"),
                   "diagnoses": json.loads(row["diagnoses"] or "[]"),
                   "duration_s": row["duration_s"], "hints_used": row["hints_used"],
                   "revealed": bool(row["revealed"]), "seed": row["seed"],
                   "device": row["device"], "untouched": bool(row["untouched"]),
                   "source": self.text(row["code_sha"]),
                   "source_pruned": bool(row["code_pruned"]),
                   "report": json.loads(report) if report is not None else None}

    def import_rows(self, rows: list[dict[str, Any]]) -> tuple[int, int]:
        """Add exported attempts; one already here (same exercise, time, origin,
        session) is skipped, so importing a file twice adds nothing. Returns
        (added, already there)."""
        added = skipped = 0
        for data in rows:
            if self._query("SELECT 1 FROM attempts WHERE exercise = ? AND at = ? AND source = ? "
                           "AND session IS ? AND counted = ?",
                           (data["exercise"], float(data["at"]), data["origin"], data["session"],
                            int(data["counted"]))):
                skipped += 1
                continue
            statements: list[tuple[str, tuple]] = []
            code = self._blob(data["exercise"], "code_sha", data["source"], statements)
            report = self._blob(data["exercise"], "report_sha", None if data["report"] is None
                                else json.dumps(data["report"], ensure_ascii=False,
                                                sort_keys=True, separators=(",", ":")),
                                statements)
            attempt = Attempt(
                exercise=data["exercise"], at=float(data["at"]), passed=data["passed"],
                score=float(data["score"]), error_kind=data["error"],
                failed_checks=data["failed_checks"], diagnoses=data["diagnoses"],
                duration_s=data["duration_s"], hints_used=data["hints_used"],
                revealed=data["revealed"], source=data["origin"], session=data["session"],
                seed=data["seed"], device=data["device"], untouched=data["untouched"])
            statements.append((INSERT_ATTEMPT, _attempt_row(
                attempt, code, report, data["counted"], pruned=data["source_pruned"],
                text=data["source"])))
            self._write(statements)
            added += 1
        for exercise_id in {d["exercise"] for d in rows}:
            self.apply_retention(exercise_id)
        return added, skipped


INSERT_ATTEMPT = (
    "INSERT INTO attempts (exercise, at, passed, score, error_kind, failed_checks, diagnoses, "
    "duration_s, hints_used, revealed, source, session, seed, device, untouched, code_sha, "
    "report_sha, counted, code_pruned, code_key) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def _attempt_row(a: Attempt, code: bytes | None = None, report: bytes | None = None,
                 counted: bool = True, pruned: bool = False, text: str | None = None) -> tuple:
    return (a.exercise, a.at, int(a.passed), a.score, a.error_kind, json.dumps(a.failed_checks),
            json.dumps(a.diagnoses), a.duration_s, a.hints_used, int(a.revealed), a.source,
            a.session, a.seed, a.device, int(a.untouched), code, report, int(counted),
            int(pruned and code is None), timeline.code_key(text) if text is not None else None)


def _entry(row: sqlite3.Row) -> timeline.Entry:
    return timeline.Entry(
        number=0, id=row["id"], exercise=row["exercise"], at=row["at"], origin=row["source"],
        session=row["session"], counted=bool(row["counted"]), passed=bool(row["passed"]),
        score=row["score"], error_kind=row["error_kind"],
        diagnoses=json.loads(row["diagnoses"] or "[]"), untouched=bool(row["untouched"]),
        duration_s=row["duration_s"], code_sha=row["code_sha"], report_sha=row["report_sha"],
        pruned=bool(row["code_pruned"]), code_key=row["code_key"])


def retention() -> int | None:
    """$DRILLPE_KEEP_SOURCES as a number of sources to keep per exercise (None: all)."""
    value = os.environ.get(KEEP_ENV, "").strip()
    if not value or value.lower() == "all":
        return None
    try:
        return max(1, int(value))
    except ValueError:
        return None


def _unhex(value: str | None) -> bytes | None:
    try:
        return bytes.fromhex(value) if value else None
    except ValueError:
        return None


def read_source(file: Path) -> str | None:
    """A learner file's text as the timeline keeps it; None when it cannot be read
    (or is no regular file: a FIFO put there would block a plain read)."""
    try:
        data = files.read_regular(Path(file), MAX_LEARNER_FILE + 1)
        return None if len(data) > MAX_LEARNER_FILE else data.decode("utf-8")
    except (OSError, ValueError):
        return None


def _attempt(row: sqlite3.Row) -> Attempt:
    return Attempt(exercise=row["exercise"], at=row["at"], passed=bool(row["passed"]),
                   score=row["score"], error_kind=row["error_kind"],
                   failed_checks=json.loads(row["failed_checks"] or "[]"),
                   diagnoses=json.loads(row["diagnoses"] or "[]"), duration_s=row["duration_s"],
                   hints_used=row["hints_used"], revealed=bool(row["revealed"]),
                   source=row["source"], session=row["session"], seed=row["seed"],
                   device=row["device"], untouched=bool(row["untouched"]),
                   code=row["code_key"].hex() if row["code_key"] else None)


class Corrupt(sqlite3.DatabaseError):
    """SQLite's quick_check found damage in the history file."""


def _corrupt(exc: Exception) -> bool:
    """Damage in the file itself, as opposed to a lock, a permission, a full
    disk or an I/O error: only damage justifies setting a history aside."""
    if isinstance(exc, Corrupt):
        return True
    name = getattr(exc, "sqlite_errorname", "")  # Python 3.11+
    if name:
        return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text


def _busy(exc: Exception) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def _stderr_warning(message: str) -> None:
    print(f"drillpe: warning: {message}", file=sys.stderr)
