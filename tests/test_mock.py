"""Mock interviews: the non-live path (start --no-live, status, submit),
over time, the follow-up bank, and one live session in a pseudo-terminal."""

import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

from drillpe.data import catalog
from drillpe.practice import mock
from drillpe.results.history import History

FIXTURES = ROOT / "tests" / "fixtures"


def start(*args):
    res = run_cli("mock", "start", "--no-live", "--json", *args)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_start_writes_fresh_stubs_in_its_own_folder(isolated_places):
    ws = isolated_places["workspace"]
    ws.mkdir(parents=True)
    (ws / "rope.py").write_text("# my earlier work\n")
    data = start("--exercises", "rope,sinusoidal", "--minutes", "30")
    folder = Path(data["folder"])
    assert folder.parent == isolated_places["home"] / "mock" and folder.name == data["session"]
    for eid in ("rope", "sinusoidal"):
        stub = (ROOT / "exercises" / eid / "stub.py").read_text()
        assert (folder / f"{eid}.py").read_text() == stub
    assert (ws / "rope.py").read_text() == "# my earlier work\n"  # untouched
    assert 1790 < data["time_left_s"] <= 1800
    assert [f["edited"] for f in data["files"]] == [False, False]

    status = run_cli("mock", "status")
    assert status.returncode == 0 and "left" in status.stdout and "untouched" in status.stdout
    text = run_cli("mock", "start", "--no-live", "-e", "learnable")
    assert text.returncode == 0 and "Session folder" in text.stdout


def test_submit_grades_records_and_is_not_doubled(isolated_places):
    data = start("-e", "sinusoidal,rope", "--seed", "4")
    folder = Path(data["folder"])
    shutil.copy(ROOT / "solutions" / "sinusoidal.py", folder / "sinusoidal.py")
    shutil.copy(FIXTURES / "rope" / "half_split.py", folder / "rope.py")
    assert run_cli("hint", "rope").returncode == 0
    status = json.loads(run_cli("mock", "status", "--json").stdout)
    assert [f["edited"] for f in status["files"]] == [True, True]

    res = run_cli("mock", "submit", "--json", timeout=300)
    assert res.returncode == 1, res.stderr  # rope fails
    report = json.loads(res.stdout)
    by_id = {e["exercise"]: e for e in report["exercises"]}
    assert by_id["sinusoidal"]["verdict"] == "pass" and by_id["sinusoidal"]["score"] == 1.0
    assert by_id["rope"]["verdict"] == "fail" and "rope.half_split" in by_id["rope"]["diagnoses"]
    assert by_id["rope"]["hints"] == 1 and by_id["sinusoidal"]["hints"] == 0
    assert report["over_time_s"] == 0 and report["state"] == "submitted"
    assert 2 <= len(by_id["rope"]["followups"]) <= 3
    assert all(f["model_answer"] and f["answer"] is None for f in by_id["rope"]["followups"])

    again = run_cli("mock", "submit", "--json")
    assert json.loads(again.stdout)["exercises"] == report["exercises"]
    history = History(isolated_places["home"])
    assert [s["session"] for s in history.sessions("mock")] == [data["session"]]
    rope = history.events()["rope"]
    assert len(rope.attempts) == 1 and rope.attempts[0].source == "mock"
    assert rope.attempts[0].hints_used == 1
    stats = json.loads(run_cli("stats", "--json").stdout)
    assert stats["mock_sessions"][0]["session"] == data["session"]
    assert next(e for e in stats["exercises"] if e["exercise"] == "sinusoidal")["passes"] == 1


def test_submit_after_the_deadline_is_graded_and_marked_over_time():
    data = start("-e", "learnable", "--minutes", "0.01")  # 0.6 s
    time.sleep(1.5)
    status = run_cli("mock", "status")
    assert "time is up" in status.stdout
    res = run_cli("mock", "submit", "--json", timeout=300)
    report = json.loads(res.stdout)
    assert res.returncode == 1 and report["over_time_s"] >= 0.8
    assert report["exercises"][0]["verdict"] == "fail"  # the untouched stub
    assert report["time_used_s"] >= 1.4
    text = run_cli("mock", "submit", "--session", data["session"])
    assert "over time" in text.stdout


def test_seed_makes_the_draw_reproducible():
    first = start("--seed", "11", "--count", "2")
    second = start("--seed", "11", "--count", "2")
    assert [f["exercise"] for f in first["files"]] == [f["exercise"] for f in second["files"]]
    assert first["session"] != second["session"]


def test_bad_input_is_a_usage_error():
    assert run_cli("mock", "status").returncode == 2  # no session yet
    res = run_cli("mock", "start", "--no-live", "-e", "ropee")
    assert res.returncode == 2 and "Did you mean rope" in res.stderr
    assert run_cli("mock", "start", "--no-live", "-e", "rope,rope").returncode == 2
    too_many = str(len(catalog.ids()) + 1)
    assert run_cli("mock", "start", "--no-live", "--count", too_many).returncode == 2
    assert run_cli("mock", "submit", "--session", "nope").returncode == 2
    live = run_cli("mock", "--minutes", "5")  # no terminal here
    assert live.returncode == 2 and "--no-live" in live.stderr
    assert "Traceback" not in live.stderr


def test_every_exercise_has_two_or_three_followups():
    bank = mock.followups()
    for eid in catalog.ids():
        assert 2 <= len(bank[eid]) <= 3, eid
        assert all(q["question"].endswith("?") and len(q["answer"]) > 80 for q in bank[eid])


def test_report_and_time_on_a_made_up_session(tmp_path):
    session = mock.Session(id="s", folder=str(tmp_path), exercises=["rope", "learnable"],
                           minutes=10, started_at=1000.0)
    assert session.time_left(1300.0) == 300.0 and session.over_time(1300.0) == 0
    session.results = {"rope": {"passed": True, "score": 1.0, "diagnoses": [], "error": None},
                       "learnable": {"passed": False, "score": 0.5, "diagnoses": ["x"],
                                     "error": None}}
    session.revealed = {"rope": True}
    session.submitted_at = 1000.0 + 660
    report = mock.report(session, 99999.0)
    assert report["over_time_s"] == 60 and report["time_used_s"] == 660
    assert [e["verdict"] for e in report["exercises"]] == ["revealed", "fail"]
    assert report["score"] == 0.75 and report["passed"] is False


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminal")
def test_live_two_exercise_interview_in_a_terminal(isolated_places):
    """A newcomer's run: start, see the countdown, write one answer, grade,
    take a hint, submit, answer a follow-up, and find it in stats."""
    from pty_driver import Terminal

    env = dict(os.environ, TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    term = Terminal(["mock", "-e", "sinusoidal,learnable", "--minutes", "5", "--seed", "1"], env)
    try:
        term.expect(r"\d\d:\d\d", 120)
        term.expect(r"imports ✓", 120)
        folder = next((isolated_places["home"] / "mock").glob("2*/"))
        shutil.copy(ROOT / "solutions" / "sinusoidal.py", folder / "sinusoidal.py")
        term.expect(r"runs ✓", 60)
        term.send("2")
        term.send("h")
        term.expect(r"learnable · hint 1 of", 30)
        term.send("g")
        term.expect(r"PASS 100%", 60)
        term.send("s")
        term.expect(r"Press s again", 30)
        term.send("s")
        term.expect(r"Q1/3", 120)
        term.send("The pair rotates as position moves\n")
        term.send("\n")
        term.expect(r"How close", 30)
        term.send("2\n")
        for _ in range(5):  # skip the rest
            term.expect(r"Q\d/3", 30)
            term.send("skip\n")
        assert term.wait(60) == 1  # learnable was left as a stub
        out = term.text()
        assert "Model answer" in out and "score 50%" in out
    finally:
        term.close()
    stats = json.loads(run_cli("stats", "--json").stdout)
    session = stats["mock_sessions"][0]
    verdicts = {e["exercise"]: e["verdict"] for e in session["exercises"]}
    assert verdicts == {"sinusoidal": "pass", "learnable": "fail"}
    learnable = next(e for e in session["exercises"] if e["exercise"] == "learnable")
    assert learnable["hints"] == 1
    sinusoidal = next(e for e in session["exercises"] if e["exercise"] == "sinusoidal")
    assert sinusoidal["followups"][0]["rating"] == 2 and sinusoidal["followup_rating"] is not None
