"""The history database: round trip, migrations, recovery from a broken
file, import of the old progress.json. Every test has its own DRILLPE_HOME."""

import json
import sqlite3

from drillpe.results.history import FILENAME, MIGRATIONS, SCHEMA_VERSION, Attempt, History, Work
from drillpe.results.report import CheckResult, ExerciseResult


def result(exercise="rope", passed=False, score=0.5, diagnoses=("rope.half_split",)):
    checks = [CheckResult(id="file.loads", title="imports", level="core", status="pass"),
              CheckResult(id=f"{exercise}.values", title="values", level="core",
                          status="pass" if passed else "fail", diagnosis=list(diagnoses))]
    return ExerciseResult(exercise=exercise, file=f"{exercise}.py", device="cpu", passed=passed,
                          score=score, duration_s=0.4, error=None, checks=checks, seed=3)


def test_round_trip(isolated_places):
    home = isolated_places["home"]
    history = History(home, clock=lambda: 1000.0)
    history.record_hint("rope", 1, at=900.0)
    attempt = history.record_check(result(), at=1000.0)
    assert attempt.hints_used == 1 and not attempt.revealed
    assert attempt.failed_checks == ["rope.values"]
    history.record_reveal("rope", at=1100.0)
    history.record_check(result(passed=True, score=1.0, diagnoses=()), at=1200.0)
    history.close()

    again = History(home, clock=lambda: 2000.0)
    assert again.warning is None
    events = again.events()["rope"]
    assert [a.passed for a in events.attempts] == [False, True]
    assert events.attempts[0].diagnoses == ["rope.half_split"]
    assert events.attempts[1].revealed and events.attempts[1].hints_used == 1
    assert events.hints == [(900.0, 1)] and events.reveals == [1100.0]
    summary = again.exercise_summary("rope")
    assert summary["attempts"] == 2 and summary["passes"] == 1
    assert summary["best_score"] == 1.0 and summary["last_result"] == "pass"
    assert summary["revealed"] is True and summary["status"] == "revealed"
    assert summary["attempts_to_first_pass"] == 2
    assert summary["time_to_first_pass_s"] == 300.0  # from the first hint to the pass
    # a pass starts a new round: hints count from 1 again
    assert again.hints_seen("rope") == 0
    assert again.exercise_summary("sinusoidal")["status"] == "new"


def test_file_is_wal_with_schema_version(isolated_places):
    History(isolated_places["home"]).record_hint("rope", 1)
    conn = sqlite3.connect(isolated_places["home"] / FILENAME)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)


def test_older_schema_is_migrated_in_place(isolated_places):
    home = isolated_places["home"]
    home.mkdir(parents=True)
    conn = sqlite3.connect(home / FILENAME)
    conn.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")
    conn.execute("INSERT INTO attempts (exercise, at, passed, score) VALUES ('rope', 5, 1, 1.0)")
    conn.commit()
    conn.close()
    history = History(home)
    assert history.warning is None
    assert history.exercise_summary("rope")["passes"] == 1
    history.record_work(Work("rope", 10.0, 60.0, "watch"))  # a table from migration 2
    assert history.events()["rope"].work[0].seconds == 60.0


def test_a_history_from_before_untouched_attempts_opens(isolated_places):
    """Migration 4 (attempts.untouched): the attempts of an older file are tries."""
    home = isolated_places["home"]
    home.mkdir(parents=True)
    conn = sqlite3.connect(home / FILENAME)
    conn.executescript(";".join(MIGRATIONS[:3]) + "; PRAGMA user_version = 3;")
    conn.execute("INSERT INTO attempts (exercise, at, passed, score) VALUES ('rope', 5, 0, 0.0)")
    conn.commit()
    conn.close()
    history = History(home)
    assert history.warning is None
    assert [a.untouched for a in history.events()["rope"].attempts] == [False]
    assert history.exercise_summary("rope")["attempts"] == 1
    history.record_attempt(Attempt("rope", 6.0, False, 0.0, untouched=True))
    assert history.exercise_summary("rope")["attempts"] == 1  # the stub check is no try
    assert len(history.events()["rope"].attempts) == 2  # but it is kept, marked


def test_corrupt_file_is_moved_aside_and_a_fresh_one_started(isolated_places):
    home = isolated_places["home"]
    home.mkdir(parents=True)
    garbage = b"this is not a database" * 100
    (home / FILENAME).write_bytes(garbage)
    history = History(home)
    assert history.warning and "moved to" in history.warning
    backups = list(home.glob("history.backup-*.sqlite3"))
    assert len(backups) == 1 and backups[0].read_bytes() == garbage
    history.record_check(result())
    assert History(home).exercise_summary("rope")["attempts"] == 1


def test_corrupt_file_through_the_cli(cli, isolated_places):
    home = isolated_places["home"]
    home.mkdir(parents=True)
    (home / FILENAME).write_bytes(b"\0garbage" * 512)
    res = cli("list")
    assert res.returncode == 0, res.stderr
    assert "warning" in res.stderr and "moved to" in res.stderr
    assert "Traceback" not in res.stderr
    assert list(home.glob("history.backup-*.sqlite3"))
    assert cli("stats").returncode == 0


def test_newer_schema_is_left_untouched(isolated_places):
    home = isolated_places["home"]
    home.mkdir(parents=True)
    conn = sqlite3.connect(home / FILENAME)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    before = (home / FILENAME).read_bytes()
    history = History(home)
    assert not history.persistent and "newer drillpe" in history.warning
    history.record_hint("rope", 1)  # in memory only, no crash
    assert (home / FILENAME).read_bytes() == before


def test_progress_json_is_imported_once_and_kept(isolated_places):
    home = isolated_places["home"]
    home.mkdir(parents=True)
    old = {"schema": 1, "exercises": {"rope": {
        "attempts": 4, "passes": 1, "best_score": 0.9, "last_result": "pass",
        "last_checked": "2026-01-02T03:04:05+00:00", "hints_seen": 2, "revealed": False}}}
    (home / "progress.json").write_text(json.dumps(old))
    history = History(home)
    assert "imported 1 exercise" in history.warning
    assert not (home / "progress.json").exists()
    assert json.loads(next(home.glob("progress.backup-*.json")).read_text()) == old
    summary = history.exercise_summary("rope")
    assert summary["attempts"] == 4 and summary["passes"] == 1 and summary["best_score"] == 0.9
    assert history.hints_seen("rope") == 2
    assert History(home).warning is None  # not imported twice


def test_session_records_replace_not_double(isolated_places):
    history = History(isolated_places["home"])
    attempt = Attempt("rope", 50.0, True, 1.0, source="mock", session="s1")
    for _ in range(2):
        history.record_session("s1", "mock", 0.0, 50.0, 1.0, {"session": "s1"}, [attempt],
                               [Work("rope", 0.0, 50.0, "mock", "s1")])
    assert history.sessions("mock") == [{"session": "s1"}]
    events = history.events()["rope"]
    assert len(events.attempts) == 1 and len(events.work) == 1


def test_unwritable_home_does_not_crash(isolated_places, tmp_path):
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("")
    history = History(blocker / "home")
    assert not history.persistent and "cannot" in history.warning
    history.record_check(result())
    assert history.exercise_summary("rope")["attempts"] == 1
