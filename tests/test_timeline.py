"""The attempt timeline: sources and reports kept per grade (deduplicated,
compressed against the text before), history / diff / replay, export and
import, the retention setting, reset --all. Attempts are recorded straight
through the history with made-up reports: nothing here grades."""

import json
import sqlite3

import pytest
from conftest import cli_run, run_cli

from drillpe.data import bundle
from drillpe.practice.keys import split_keys
from drillpe.results import timeline
from drillpe.results.history import FILENAME, MIGRATIONS, History
from drillpe.results.report import CheckResult, ExerciseResult

STUB = bundle.stub_path("rope").read_text(encoding="utf-8")
ANSWER = bundle.solution_path("rope").read_text(encoding="utf-8")


def result(passed=False, score=0.5, diagnoses=("rope.half_split",), exercise="rope"):
    checks = [CheckResult(id="file.loads", title="imports", level="core", status="pass"),
              CheckResult(id=f"{exercise}.values", title="values", level="core",
                          status="pass" if passed else "fail", diagnosis=list(diagnoses),
                          message="" if passed else "max |Δ| 5.9 at [0, 0, 3, 1]")]
    return ExerciseResult(exercise=exercise, file=f"{exercise}.py", device="cpu", passed=passed,
                          score=score, duration_s=0.4, error=None, checks=checks, seed=3)


def edit(n: int) -> str:
    """The stub after ``n`` small saves."""
    return STUB.replace("raise NotImplementedError", "\n    ".join(
        f"x{i} = {i}  # step {i}" for i in range(n)) + "\n    raise NotImplementedError", 1)


T0 = 1_790_000_000.0  # 2026: an import refuses times before 2020


def record_three(home):
    history = History(home)
    history.record_check(result(), at=T0 + 100.0, text=edit(1))
    history.record_check(result(diagnoses=("attention.mask_ignored",)), at=T0 + 200.0,
                         text=edit(2))
    history.record_check(result(passed=True, score=1.0, diagnoses=()), at=T0 + 300.0,
                         text=edit(3))
    return history


def blob_count(home) -> int:
    conn = sqlite3.connect(home / FILENAME)
    return conn.execute("SELECT COUNT(*) FROM blobs").fetchone()[0]


def test_a_history_from_before_the_timeline_opens_and_keeps_its_attempts(isolated_places):
    """Migration 5: older attempts stay, numbered, with no source; new ones keep theirs."""
    home = isolated_places["home"]
    home.mkdir(parents=True)
    conn = sqlite3.connect(home / FILENAME)
    conn.executescript(";".join(MIGRATIONS[:4]) + "; PRAGMA user_version = 4;")
    conn.execute("INSERT INTO attempts (exercise, at, passed, score, diagnoses) "
                 "VALUES ('rope', 5, 0, 0.5, '[\"rope.half_split\"]')")
    conn.commit()
    conn.close()
    history = History(home)
    assert history.warning is None
    history.record_check(result(passed=True, score=1.0, diagnoses=()), at=10.0, text=edit(1))
    old, new = history.timeline("rope")
    assert (old.number, old.source_state, history.text(old.code_sha)) == (1, "none", None)
    assert (new.number, new.source_state, history.text(new.code_sha)) == (2, "kept", edit(1))
    assert new.fixed == ["rope.half_split"] and new.new == []
    assert history.exercise_summary("rope")["attempts"] == 2


def test_an_identical_source_is_stored_once_and_every_text_reads_back(isolated_places):
    home = isolated_places["home"]
    history = History(home)
    for at in (1.0, 2.0, 3.0):
        history.record_check(result(), at=at, text=edit(1))
    assert blob_count(home) == 2  # one source, one report (the grading time is not in it)
    entries = history.timeline("rope")
    assert len(entries) == 3 and len({e.code_sha for e in entries}) == 1
    assert [e.same_as for e in entries] == [None, 1, 2]
    from drillpe.render.timeline_views import change_text

    assert change_text(entries[2]).plain == "still rope.half_split, the same code as #2"
    for n in range(2, 30):  # distinct saves: chains stay short, every text comes back whole
        history.record_check(result(score=n / 100), at=10.0 + n, text=edit(n))
    conn = sqlite3.connect(home / FILENAME)
    assert conn.execute("SELECT MAX(depth) FROM blobs").fetchone()[0] == timeline.MAX_DEPTH
    entries = history.timeline("rope")
    assert [history.text(e.code_sha) for e in entries[3:]] == [edit(n) for n in range(2, 30)]
    assert history.report(entries[-1]).score == 0.29


def test_a_small_edit_costs_far_less_than_its_file(isolated_places):
    home = isolated_places["home"]
    history = History(home)
    history.record_check(result(), at=1.0, text=edit(1))
    conn = sqlite3.connect(home / FILENAME)
    before = conn.execute("SELECT SUM(LENGTH(data)) FROM blobs").fetchone()[0]
    history.record_check(result(), at=2.0, text=edit(2))
    after = conn.execute("SELECT SUM(LENGTH(data)) FROM blobs").fetchone()[0]
    assert after - before < len(edit(2)) // 10


def test_the_change_is_said_from_one_attempt_to_the_next(cli, isolated_places):
    record_three(isolated_places["home"])
    shown = cli("history", "rope")
    assert shown.returncode == 0, shown.stderr
    flat = " ".join(shown.stdout.split())
    assert "fixed rope.half_split, now attention.mask_ignored" in flat
    assert "fixed attention.mask_ignored" in flat
    assert "the same code as" not in flat  # three different sources
    zh = cli("history", "rope", "--lang", "zh")
    assert "修好了 rope.half_split，新出现 attention.mask_ignored" in " ".join(zh.stdout.split())


def test_history_json_shape(cli, isolated_places):
    record_three(isolated_places["home"])
    shown = cli("history", "rope", "--json")
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert document["schema"] == 1 and document["exercise"] == "rope"
    first, second, third = document["attempts"]
    assert set(first) == {"n", "at", "origin", "session", "counted", "passed", "score", "error",
                          "diagnoses", "fixed", "new", "untouched", "duration_s", "source",
                          "sha256"}
    assert [a["n"] for a in document["attempts"]] == [1, 2, 3]
    assert second["fixed"] == ["rope.half_split"] and second["new"] == ["attention.mask_ignored"]
    assert third["passed"] is True and third["source"] == "kept"
    assert first["at"].startswith("2026-09-21T14:15:00")  # T0 + 100, in UTC


def test_diff_defaults_to_the_last_two_and_takes_numbers_from_either_end(cli, isolated_places):
    record_three(isolated_places["home"])
    last_two = cli("diff", "rope")
    assert last_two.returncode == 0, last_two.stderr
    assert "attempt 2 (" in last_two.stdout and "attempt 3 (" in last_two.stdout
    assert "+    x2 = 2  # step 2" in last_two.stdout
    assert not [line for line in last_two.stdout.splitlines() if line.startswith("-    x")]
    first_last = cli("diff", "rope", "1", "-1")
    assert "attempt 1 (" in first_last.stdout and "attempt 3 (" in first_last.stdout
    assert "+    x1 = 1  # step 1" in first_last.stdout
    bad = cli("diff", "rope", "7")
    assert bad.returncode == 2 and "7 is not an attempt of rope: it has 3" in bad.stderr


def test_diff_needs_two_sources(cli, isolated_places):
    History(isolated_places["home"]).record_check(result(), at=1.0, text=edit(1))
    alone = cli("diff", "rope")
    assert alone.returncode == 2 and "a diff needs two" in alone.stderr


def test_the_model_answer_is_refused_until_a_pass_or_a_reveal(cli, isolated_places):
    home = isolated_places["home"]
    history = History(home)
    history.record_check(result(), at=1.0, text=edit(1))
    refused = cli("diff", "rope", "-1", "answer")
    assert refused.returncode == 2
    assert "once you pass it, or after drillpe reveal rope" in " ".join(refused.stderr.split())
    secret = [line for line in ANSWER.splitlines() if "torch." in line][0].strip()
    assert secret not in refused.stdout + refused.stderr
    history.record_reveal("rope", at=2.0)
    shown = cli("diff", "rope", "-1", "answer")
    assert shown.returncode == 0, shown.stderr
    assert "model answer (rope)" in shown.stdout and secret in shown.stdout


def test_export_and_import_round_trip_and_a_second_import_adds_nothing(isolated_places,
                                                                       tmp_path, monkeypatch,
                                                                       capsys):
    # In this process (ten CLI processes fewer): what is exported, imported and refused
    # does not depend on the process it ran in.
    record_three(isolated_places["home"])
    out = tmp_path / "timeline.jsonl"
    exported = cli_run(capsys, "history", "--export", out)
    assert exported.returncode == 0, exported.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["source"] == edit(1)
    again = cli_run(capsys, "history", "--export", out, "rope")  # the earlier export is kept
    assert again.returncode == 0 and "moved to" in again.stdout
    assert [p.read_text(encoding="utf-8").splitlines() for p in tmp_path.glob("timeline.*")] \
        == [lines, lines]
    assert json.loads(lines[2])["report"]["passed"] is True
    other = tmp_path / "other-home"
    monkeypatch.setenv("DRILLPE_HOME", str(other))
    first = cli_run(capsys, "history", "--import", out)
    assert first.returncode == 0 and "3 new, 0 already here" in first.stdout, first.stderr
    again = cli_run(capsys, "history", "--import", out)
    assert "0 new, 3 already here" in again.stdout
    there = History(other)
    entries = there.timeline("rope")
    assert [there.text(e.code_sha) for e in entries] == [edit(1), edit(2), edit(3)]
    assert [e.fixed for e in entries] == [[], ["rope.half_split"], ["attention.mask_ignored"]]
    assert there.report(entries[0]).checks[1].message == "max |Δ| 5.9 at [0, 0, 3, 1]"
    assert there.exercise_summary("rope")["passes"] == 1
    # a line that is not an attempt: nothing of the file is imported
    out.write_text(lines[0] + "\n{\"format\": \"other\"}\n", encoding="utf-8")
    broken = cli_run(capsys, "history", "--import", out)
    assert broken.returncode == 2 and "line 2" in broken.stderr
    # values that would break every screen later are refused at the door
    first = json.loads(lines[0])
    for field, value, says in (("at", first["at"] * 1000, "milliseconds"), ("at", 5.0, "2020"),
                               ("score", 7.5, "between 0 and 1"),
                               ("duration_s", -3.0, "duration_s")):
        out.write_text(json.dumps({**first, field: value}) + "\n", encoding="utf-8")
        refused = cli_run(capsys, "history", "--import", out)
        assert refused.returncode == 2 and says in refused.stderr, (field, refused.stderr)
        assert "Traceback" not in refused.stderr
    assert cli_run(capsys, "history", "rope").returncode == 0


def test_retention_drops_old_sources_but_never_an_attempt(cli, isolated_places, monkeypatch):
    monkeypatch.setenv("DRILLPE_KEEP_SOURCES", "2")
    history = History(isolated_places["home"])
    for n in range(1, 13):
        history.record_check(result(), at=float(n), text=edit(n))
    entries = history.timeline("rope")
    assert len(entries) == 12  # every attempt stays
    assert [e.source_state for e in entries] == ["pruned"] * 10 + ["kept"] * 2
    assert [history.text(e.code_sha) for e in entries[-2:]] == [edit(11), edit(12)]
    assert all(history.report(e) is not None for e in entries)  # reports are kept
    shown = cli("history", "rope")
    assert "source dropped by the retention setting" in " ".join(shown.stdout.split())
    refused = cli("diff", "rope", "1", "2")
    assert refused.returncode == 2 and "dropped by the retention setting" in refused.stderr


def test_grades_inside_a_mock_round_are_in_the_timeline_but_no_try(isolated_places):
    history = History(isolated_places["home"])
    history.record_check(result(), at=1.0, text=edit(1), source="mock", session="s1",
                         counted=False)
    history.record_check(result(), at=2.0, text=edit(2), source="mock", session="s1",
                         counted=False)
    assert [e.counted for e in history.timeline("rope")] == [False, False]
    assert "rope" not in history.events()
    history.record_session("s1", "mock", 0.0, 3.0, 0.5, {"schema": 1}, [])
    assert len(history.timeline("rope")) == 2  # a session's record replaces only its tries


def test_reset_all_backs_up_every_started_file_and_says_where(cli, isolated_places):
    ws = isolated_places["workspace"]
    for exercise in ("rope", "alibi"):
        assert cli("start", exercise).returncode == 0
    (ws / "rope.py").write_text(edit(2), encoding="utf-8")
    done = cli("reset", "--all")
    assert done.returncode == 0, done.stderr
    backups = sorted(ws.glob("rope.backup-*.py"))
    assert len(backups) == 1 and backups[0].read_text(encoding="utf-8") == edit(2)
    assert (ws / "rope.py").read_text(encoding="utf-8") == STUB
    assert backups[0].name in done.stdout
    assert "alibi: was the untouched stub" in done.stdout  # nothing to back up there
    assert not list(ws.glob("alibi.backup-*"))
    assert cli("reset", "rope", "--all").returncode == 2


def test_replay_without_a_terminal_prints_every_attempt(cli, isolated_places):
    record_three(isolated_places["home"])
    shown = cli("replay", "rope")
    assert shown.returncode == 0, shown.stderr
    assert "Not a terminal" in shown.stdout
    for n in (1, 2, 3):
        assert f"rope · attempt {n} of 3" in shown.stdout
    assert shown.stdout.count("PASS") == 1 and shown.stdout.count("FAIL") == 2


def test_the_replay_screen_fits_80_by_24(isolated_places):
    from drillpe.render import timeline_views as view

    history = History(isolated_places["home"])
    many = result()
    many.checks += [CheckResult(id=f"rope.c{i}", title=f"check {i}", level="core",
                                status="fail", diagnosis=["rope.half_split"],
                                message="a long message " * 8) for i in range(30)]
    history.record_check(many, at=1.0, text=edit(1))
    entry = history.timeline("rope")[0]
    lines = view.pv.render_lines_of(
        view.replay_view(entry, 1, history.report(entry), size=(80, 24)), 80)
    assert len(lines) <= 23
    plain = ["".join(seg.text for seg in line) for line in lines]
    assert plain[0].startswith("rope · attempt 1 of 1")
    assert any("FAIL" in line for line in plain)


def test_arrow_keys_are_named_only_when_asked_for():
    assert split_keys("\x1b[D\x1b[Cq \x1b[5~x\x1bOD") == ["left", "right", "q", "x", "left"]


@pytest.mark.parametrize("spec,count,place", [("1", 3, 0), ("-1", 3, 2), ("-3", 3, 0),
                                              ("answer", 3, None)])
def test_attempt_numbers(spec, count, place):
    assert timeline.pick(spec, count) == place


@pytest.mark.parametrize("spec", ["0", "4", "-4", "last", ""])
def test_numbers_that_are_not_attempts(spec):
    with pytest.raises(timeline.BadIndex):
        timeline.pick(spec, 3)


def test_a_mock_round_keeps_each_grade_and_its_report_shows_them(isolated_places, monkeypatch):
    """Grades of the round (on save, on g) are in the timeline, not tries; the submit
    adds the final grade, the try, with its source; the report lists the steps."""
    import time

    from drillpe.practice import interview, mock

    session = mock.create(["rope"], 10, 0)
    grades = [result(), result(diagnoses=("attention.mask_ignored",)),
              result(passed=True, score=1.0, diagnoses=())]
    monkeypatch.setattr(interview, "grade_file", lambda *a, **kw: grades.pop(0))
    history = History()
    state = interview.Live(session, history, launcher=None)
    for n in (1, 2):
        session.path("rope").write_text(edit(n), encoding="utf-8")
        state.request("rope")
        for _ in range(200):
            state.tick()
            if not state.grading:
                break
            time.sleep(0.01)
    session.path("rope").write_text(edit(3), encoding="utf-8")
    report = interview.submit(session, state.grade_all(), history, time.time())
    steps = report["exercises"][0]["timeline"]
    assert [(s["passed"], s["fixed"], s["new"]) for s in steps] == [
        (False, [], ["rope.half_split"]),
        (False, ["rope.half_split"], ["attention.mask_ignored"]),
        (True, ["attention.mask_ignored"], [])]
    assert steps[-1]["final"] and not steps[0]["final"]
    entries = history.timeline("rope")
    assert [(e.origin, e.counted) for e in entries] == [("mock", False), ("mock", False),
                                                       ("mock", False), ("mock", True)]
    assert history.text(entries[-1].code_sha) == edit(3)
    assert history.exercise_summary("rope")["attempts"] == 1  # the final grade is the try
    interview.record(session, history)  # again, after the questions: nothing doubled
    assert len(history.timeline("rope")) == 4


def test_each_watch_regrade_keeps_the_source_it_graded(isolated_places, tmp_path):
    from drillpe.practice.watch import Item, Session

    path = tmp_path / "rope.py"
    path.write_text(edit(1), encoding="utf-8")
    history = History()
    session = Session([Item("rope", path)], lambda item: result(), history)
    session.grade(session.items[0])
    path.write_text(edit(2), encoding="utf-8")
    session.grade(session.items[0])
    entries = history.timeline("rope")
    assert [(e.origin, history.text(e.code_sha)) for e in entries] == [("watch", edit(1)),
                                                                      ("watch", edit(2))]


def test_check_keeps_the_source_it_graded(isolated_places):
    """Through the CLI (a file that does not parse is answered without a grading child)."""
    ws = isolated_places["workspace"]
    ws.mkdir(parents=True)
    broken = "def broken(:\n    pass\n"
    (ws / "learnable.py").write_text(broken, encoding="utf-8")
    assert run_cli("check", "learnable").returncode == 1
    history = History(isolated_places["home"])
    (entry,) = history.timeline("learnable")
    assert history.text(entry.code_sha) == broken and entry.diagnoses
    assert history.report(entry).passed is False
