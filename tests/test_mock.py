"""Mock interviews: the non-live path (start --no-live, status, submit),
over time, the follow-up bank, and one live session in a pseudo-terminal."""

import ast
import json
import os
import re
import shlex
import shutil
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, cli_in_process, printed, run_cli

from drillpe.data import bundle, catalog, i18n
from drillpe.practice import interview, mock
from drillpe.render import practice_views as view
from drillpe.results.history import History
from drillpe.results.report import CheckResult, ExerciseResult

FIXTURES = ROOT / "tests" / "fixtures"


def start(cli, *args):
    res = cli("mock", "start", "--no-live", "--json", *args)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_start_writes_fresh_stubs_in_its_own_folder(cli, isolated_places):
    ws = isolated_places["workspace"]
    ws.mkdir(parents=True)
    (ws / "rope.py").write_text("# my earlier work\n")
    data = start(cli, "--exercises", "rope,sinusoidal", "--minutes", "30")
    folder = Path(data["folder"])
    assert folder.parent == isolated_places["home"] / "mock" and folder.name == data["session"]
    for eid in ("rope", "sinusoidal"):
        stub = (ROOT / "exercises" / eid / "stub.py").read_text()
        written = (folder / f"{eid}.py").read_text()
        assert written == mock.mock_stub(eid, folder / f"{eid}.py")
        # the stub, except its `drillpe check ID` line (which looks in the workspace)
        differ = [(a, b) for a, b in zip(stub.splitlines(), written.splitlines()) if a != b]
        assert len(stub.splitlines()) == len(written.splitlines()) and len(differ) == 1
        assert differ[0][0].endswith(f"drillpe check {eid}")
    assert (ws / "rope.py").read_text() == "# my earlier work\n"  # untouched
    assert 1790 < data["time_left_s"] <= 1800
    assert [f["edited"] for f in data["files"]] == [False, False]

    status = cli("mock", "status")
    assert status.returncode == 0 and "left" in status.stdout and "untouched" in status.stdout
    text = cli("mock", "start", "--no-live", "-e", "learnable")
    assert text.returncode == 0 and "Session folder" in text.stdout


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_mock_stub_says_how_to_grade_there(tmp_path, lang):
    """P12: the stub's own check command grades the session's file, not the workspace's."""
    folder = tmp_path / "mock session"  # a space in the path is quoted
    for eid in catalog.ids():
        path = folder / f"{eid}.py"
        text = mock.mock_stub(eid, path, lang)
        line = next(x for x in text.splitlines() if "drillpe check" in x)
        assert " g " in line or "按 g" in line
        command = shlex.split(line[line.index("drillpe check"):])
        assert command == ["drillpe", "check", eid, "--file", str(path)], line
        ast.parse(text)  # still Python
        assert mock.mock_stub(eid, path, lang) != bundle.stub_path(eid, lang).read_text()


def _reload(session):
    return mock.Session.from_dict(json.loads(session.state_path().read_text()))


def _session(tmp_path, exercises=("rope",), **kw):
    return mock.Session(id="s", folder=str(tmp_path), exercises=list(exercises), minutes=10,
                        started_at=time.time(), **kw)


def test_followups_are_stored_by_id_and_shown_in_the_language_asked(tmp_path, monkeypatch):
    session = _session(tmp_path)
    mock.attach_followups(session)  # English here (the submit ran without --lang)
    session.save()
    bank = catalog.followups("rope")
    items = _reload(session).followups["rope"]
    by_id = {q["id"]: q for q in bank}
    assert len(items) == 3 and all(f.ref in by_id for f in items)  # the bank's ids
    second = by_id[items[1].ref]
    assert items[0].question == by_id[items[0].ref]["question"]
    question, answer = mock.followup_texts("rope", items[1], "zh")
    assert (question, answer) == (second["question_zh"], second["answer_zh"])
    assert mock.followup_texts("rope", items[1], "en")[0] == second["question"]
    # a session saved when a ref was the place in the bank ("q2")
    placed = mock.Followup(bank[1]["question"], bank[1]["answer"], ref="q2")
    assert mock.followup_texts("rope", placed, "zh")[0] == bank[1]["question_zh"]
    # a session saved before refs existed: found by its stored question
    old = mock.Followup(bank[2]["question"], bank[2]["answer"])
    assert mock.followup_texts("rope", old, "zh")[0] == bank[2]["question_zh"]
    # a question no longer in the bank is shown as it was stored
    gone = mock.Followup("An old question?", "Its answer.", ref="q1")
    assert mock.followup_texts("rope", gone, "zh") == ("An old question?", "Its answer.")


def test_questions_asked_in_chinese_after_an_english_submit(tmp_path, isolated_places,
                                                           monkeypatch):
    session = _session(tmp_path)
    session.results = {"rope": {"passed": True, "score": 1.0, "diagnoses": [], "error": None}}
    session.state, session.submitted_at = "submitted", time.time()
    mock.attach_followups(session)  # submit ran in English
    session.save()
    first = next(q for q in catalog.followups("rope") if q["id"] == session.followups["rope"][0].ref)
    monkeypatch.setattr(i18n, "_chosen", "zh")  # drillpe mock questions --lang zh
    typed = iter(["旋转只依赖位置差", "", "7", "3", "skip", "skip"])
    shown = printed(lambda: interview.ask_followups(_reload(session), History(), lambda p:
                                                     next(typed)), width=100)
    flat = shown.replace("\n", "").replace(" ", "").replace("│", "")
    assert first["question_zh"].replace(" ", "") in flat
    assert first["answer_zh"][:15].replace(" ", "") in flat
    assert first["question"] not in shown and "追问" in shown and "参考回答" in shown
    assert "0、1、2 或 3" in shown  # the 7
    saved = _reload(session).followups["rope"]
    assert [f.rating for f in saved] == [3, 0, 0] and saved[0].answer == "旋转只依赖位置差"


def test_an_older_session_file_still_loads(tmp_path):
    """Saved before graded and followup refs existed."""
    data = {"id": "old", "folder": str(tmp_path), "exercises": ["rope"], "minutes": 5.0,
            "started_at": 1000.0, "seed": None, "state": "submitted", "submitted_at": 1200.0,
            "results": {"rope": {"passed": False, "score": 0.5}}, "hints": {}, "revealed": {},
            "followups": {"rope": [{"question": catalog.followups("rope")[0]["question"],
                                    "model_answer": "a", "answer": None, "skipped": False,
                                    "rating": None}]},
            "schema": 1}
    session = mock.Session.from_dict(data)
    assert session.graded == {} and session.followups["rope"][0].ref is None
    assert mock.followup_texts("rope", session.followups["rope"][0], "zh")[0] == \
        catalog.followups("rope")[0]["question_zh"]
    with pytest.raises(ValueError, match="graded"):
        mock.Session.from_dict({**data, "graded": {"rope": {"passed": "yes", "score": 1}}})


def test_a_rating_out_of_range_says_what_is_allowed():
    typed = iter(["7", "x", "", "2"])
    said = []
    assert interview.rating(lambda prompt: next(typed), "0-3? ", said.append) == 2
    assert said == ["7", "x", ""]
    shown = printed(lambda: view.followup_bad_rating("7"))
    assert "0, 1, 2 or 3" in shown and "'7'" in shown




def test_leave_message_is_wrapped_between_words(tmp_path):
    text = printed(lambda: view.mock_left("20261204-064858-8fca"), width=60)
    lines = text.splitlines()
    assert len(lines) > 1 and all(len(line) <= 60 for line in lines)
    assert " ".join(line.strip() for line in lines) == \
        catalog.ui("mock_left", id="20261204-064858-8fca")  # no word cut in two


def _result(eid, passed, failing=()):
    checks = [CheckResult("file.loads", "file imports", "core", "pass")]
    checks += [CheckResult(f"{eid}.extra", "an extra check", "extra", "fail")]
    checks += [CheckResult(f"{eid}.{n}", title, "core", "fail") for n, title in enumerate(failing)]
    checks += [CheckResult(f"{eid}.ok", "a passing check", "core", "pass")]
    return ExerciseResult(eid, f"{eid}.py", "cpu", passed, 0.5 if failing else 1.0, 0.1, None,
                          checks)


def test_live_view_names_the_failing_check_and_follows_lang(tmp_path, monkeypatch):
    session = _session(tmp_path, ("rope", "sinusoidal"))
    for eid in session.exercises:
        session.path(eid).write_text(mock.mock_stub(eid, session.path(eid)))
    session.graded = {"rope": mock.graded_entry(
        _result("rope", False, ["mask == 0 excludes keys", "dropout is applied"])),
        "sinusoidal": mock.graded_entry(_result("sinusoidal", True))}
    assert session.graded["rope"]["failing"] == "mask == 0 excludes keys"  # core first
    named = _result("rope", False, ["mask == 0 excludes keys"])
    named.checks[2].diagnosis = ["output.mismatch", "attention.mask_ignored"]
    assert mock.first_failing(named) == "attention.mask_ignored"  # the mistake, when named
    named.checks[2].diagnosis = ["rope.half_split"]
    assert mock.first_failing(named) == "half_split"  # the row already names the exercise

    def draw():
        files = [mock.file_status(session, eid) for eid in session.exercises]
        view.out.print(view.mock_live_view(session, time.time(), files, {}, session.graded, 0,
                                           None, None, frozenset({"sinusoidal"})))

    shown = printed(draw)
    rope_line = next(i for i, line in enumerate(shown.splitlines()) if "rope.py" in line)
    assert "FAIL 50%" in shown.splitlines()[rope_line]
    assert "mask == 0 excludes" in shown.splitlines()[rope_line + 1]
    assert "PASS 100%" in shown and "grading…" in shown and "untouched" in shown
    assert max(len(line) for line in shown.splitlines()) <= 80
    monkeypatch.setattr(i18n, "_chosen", "zh")
    shown = printed(draw)
    assert "评分中" in shown and "未改动" in shown and "立即评分" in shown and "untouched" not in shown
    hint = printed(lambda: view.out.print(view.hint_panel(catalog.get("rope"), 1)))
    assert "再按 h" in hint and "h again" not in hint


class _Keys:
    """Keys pressed at given moments (seconds after the first poll)."""

    def __init__(self, script):
        self.script = list(script)
        self.start = None

    def poll(self, timeout):
        self.start = self.start or time.monotonic()
        time.sleep(timeout)
        if self.script and time.monotonic() - self.start >= self.script[0][0]:
            return self.script.pop(0)[1]
        return None


class _RecordingHistory:
    def __init__(self):
        self.hints = []
        self.grades = []  # (exercise, source text, counted): the round's timeline

    def record_hint(self, eid, level, **kw):
        self.hints.append((eid, level))

    def record_check(self, result, *, text=None, counted=True, **kw):
        self.grades.append((result.exercise, text, counted))

    def keep(self, eid, text, result):
        return {"code": "c0de", "report": "4e90"}


def test_the_clock_and_the_keys_go_on_while_a_grade_runs(tmp_path, monkeypatch):
    """P8: a slow grade runs in the background; the view keeps redrawing, keys
    pressed meanwhile are handled, and q leaves at once; the grade then ends."""
    session = _session(tmp_path)
    session.path("rope").write_text("def RoPE(q, k):\n    while True: pass\n")
    release = threading.Event()
    graded = []

    def slow_grade(session, eid, launcher=None, timeout=20.0):
        release.wait(30)
        graded.append(eid)
        return _result(eid, False, ["RoPE matches"])

    monkeypatch.setattr(interview, "grade_file", slow_grade)
    draws = []
    state = interview.Live(session, _RecordingHistory(), launcher=None)
    monkeypatch.setattr(state, "view", lambda: draws.append(sorted(state.grading)) or "")
    keys = _Keys([(0.3, "g"), (0.6, "h"), (0.9, "q")])
    started = time.monotonic()
    assert interview.run_live(state, keys) == "left"
    assert time.monotonic() - started < 5  # not waiting for the grade
    assert len(draws) >= 8 and draws[-1] == ["rope"]  # redrawn all along, grading shown
    assert state.hint is not None and session.hints == {"rope": 1}  # h, pressed meanwhile
    release.set()
    state.wait(10)
    assert graded == ["rope"] and not state.job.is_alive()


def test_a_background_grade_lands_in_the_graded_column_and_errors_surface(tmp_path,
                                                                          monkeypatch):
    session = _session(tmp_path)
    session.path("rope").write_text("x = 1\n")
    outcomes = [_result("rope", False, ["mask == 0 excludes keys"]), RuntimeError("judge died")]

    def grade(session, eid, launcher=None, timeout=20.0):
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(interview, "grade_file", grade)
    state = interview.Live(session, _RecordingHistory(), launcher=None)
    state.grade_now()
    assert state.grading == {"rope"}
    for _ in range(100):
        state.tick()
        if not state.grading and not state.want_shown:
            break
        time.sleep(0.02)
    assert session.graded["rope"] == {"passed": False, "score": 0.5,
                                      "failing": "mask == 0 excludes keys"}
    assert _reload(session).graded == session.graded  # kept for resume
    # the grade is in the attempt timeline, with the source it graded; not a try
    assert state.history.grades == [("rope", "x = 1\n", False)]
    assert [step["score"] for step in _reload(session).timeline["rope"]] == [0.5]
    session.path("rope").write_text("x = 22\n")  # a save: graded again, and it fails inside
    assert state.on_save() and state.grading == {"rope"}
    with pytest.raises(RuntimeError, match="judge died"):
        for _ in range(100):
            state.tick()
            time.sleep(0.02)


def in_process_submit(capsys, monkeypatch, warm):
    """`drillpe mock submit --json` run in this process, its grades on the shared warm
    workers (a submit of several files otherwise starts warm workers of its own: two torch
    processes): (exit code, stdout). What a submit reports and records does not depend on
    how the grades ran."""
    import contextlib

    from drillpe.launch import warm_pool

    monkeypatch.setattr(warm_pool, "launcher", lambda: contextlib.nullcontext(warm))
    return cli_in_process(capsys, "mock", "submit", "--json")


def test_submit_grades_records_and_is_not_doubled(cli, isolated_places, warm_grading, monkeypatch,
                                                  capsys):
    data = start(cli, "-e", "sinusoidal,rope", "--seed", "4")
    folder = Path(data["folder"])
    shutil.copy(ROOT / "solutions" / "sinusoidal.py", folder / "sinusoidal.py")
    shutil.copy(FIXTURES / "rope" / "half_split.py", folder / "rope.py")
    assert cli("hint", "rope").returncode == 0
    status = json.loads(cli("mock", "status", "--json").stdout)
    assert [f["edited"] for f in status["files"]] == [True, True]

    code, out = in_process_submit(capsys, monkeypatch, warm_grading)
    assert code == 1, out  # rope fails
    report = json.loads(out)
    by_id = {e["exercise"]: e for e in report["exercises"]}
    assert by_id["sinusoidal"]["verdict"] == "pass" and by_id["sinusoidal"]["score"] == 1.0
    assert by_id["rope"]["verdict"] == "fail" and "rope.half_split" in by_id["rope"]["diagnoses"]
    assert by_id["rope"]["hints"] == 1 and by_id["sinusoidal"]["hints"] == 0
    assert report["over_time_s"] == 0 and report["state"] == "submitted"
    assert 2 <= len(by_id["rope"]["followups"]) <= 3
    assert all(f["model_answer"] and f["answer"] is None for f in by_id["rope"]["followups"])

    again = cli("mock", "submit", "--json")
    assert json.loads(again.stdout)["exercises"] == report["exercises"]
    history = History(isolated_places["home"])
    assert [s["session"] for s in history.sessions("mock")] == [data["session"]]
    rope = history.events()["rope"]
    assert len(rope.attempts) == 1 and rope.attempts[0].source == "mock"
    assert rope.attempts[0].hints_used == 1
    stats = json.loads(cli("stats", "--json").stdout)
    assert stats["mock_sessions"][0]["session"] == data["session"]
    assert next(e for e in stats["exercises"] if e["exercise"] == "sinusoidal")["passes"] == 1


def test_submit_after_the_deadline_is_graded_and_marked_over_time(cli, warm_grading, monkeypatch,
                                                                   capsys):
    data = start(cli, "-e", "learnable", "--minutes", "0.01")  # 0.6 s
    time.sleep(1.5)
    status = cli("mock", "status")
    assert "time is up" in status.stdout
    code, out = in_process_submit(capsys, monkeypatch, warm_grading)
    report = json.loads(out)
    assert code == 1 and report["over_time_s"] >= 0.8
    assert report["exercises"][0]["verdict"] == "fail"  # the untouched stub
    assert report["time_used_s"] >= 1.4
    text = cli("mock", "submit", "--session", data["session"])
    assert "over time" in text.stdout
    # a limit of under a minute in the unit of the time used ("0.01 min" read as a typo)
    assert re.search(r"time used \d+s of 1s", text.stdout), text.stdout
    # a second submit grades and records nothing, and says so (a newcomer read its
    # "Recorded in your history" as a second record)
    assert "already submitted" in text.stderr and "not graded again" in text.stderr
    assert "Recorded in your history" not in text.stdout
    assert "In your history since it was submitted" in text.stdout
    status = " ".join(cli("mock", "status").stdout.split())
    assert "(submitted): its report: drillpe mock submit" in status, status
    # the stub says how to reach the mock window where none was opened (--no-live)
    stub = (Path(data["folder"]) / "learnable.py").read_text()
    assert "g in the mock window (drillpe mock resume opens it in a terminal;" in stub


def test_seed_makes_the_draw_reproducible(cli):
    first = start(cli, "--seed", "11", "--count", "2")
    second = start(cli, "--seed", "11", "--count", "2")
    assert [f["exercise"] for f in first["files"]] == [f["exercise"] for f in second["files"]]
    assert first["session"] != second["session"]


def test_bad_input_is_a_usage_error(cli):
    assert cli("mock", "status").returncode == 2  # no session yet
    res = cli("mock", "start", "--no-live", "-e", "ropee")
    assert res.returncode == 2 and "Did you mean rope" in res.stderr
    assert cli("mock", "start", "--no-live", "-e", "rope,rope").returncode == 2
    too_many = str(len(catalog.ids()) + 1)
    assert cli("mock", "start", "--no-live", "--count", too_many).returncode == 2
    assert cli("mock", "submit", "--session", "nope").returncode == 2
    live = cli("mock", "--minutes", "5")  # no terminal here
    assert live.returncode == 2 and "--no-live" in live.stderr
    assert "Traceback" not in live.stderr


def test_every_exercise_has_enough_followups():
    bank = mock.followups()
    for eid in catalog.ids():
        general = [q for q in bank[eid] if not q["diagnosis"]]
        assert len(general) >= 3, eid  # a session without a diagnosis still asks three
        assert all(q["question"].endswith("?") and len(q["answer"]) > 80 for q in bank[eid])
        ids = [q["id"] for q in bank[eid]]
        assert all(i and i.startswith(f"{eid}.") for i in ids) and len(set(ids)) == len(ids)


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


def _processes_with(home) -> list[str]:
    """Processes started with this DRILLPE_HOME (the CLI and every child it made)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if f"DRILLPE_HOME={home}".encode() in (proc / "environ").read_bytes():
                    found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                pass
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_leaving_during_a_slow_grade_is_quick_and_leaves_no_process(isolated_places):
    """P8 in a real terminal: the clock ticks while a looping file is graded, and
    q during that grade leaves at once, its processes gone."""
    from pty_driver import Terminal

    env = dict(os.environ, TERM="xterm-256color")
    term = Terminal(["mock", "-e", "rope", "--minutes", "5"], env, cols=80, rows=24)
    try:
        term.expect(r"imports ✓", 120)
        folder = next((isolated_places["home"] / "mock").glob("2*/"))
        answer = (ROOT / "solutions" / "rope.py").read_text()
        (folder / "rope.py").write_text(answer.replace(
            "def RoPE(q, k):",
            "def RoPE(q, k):\n    import time\n    while True:\n        time.sleep(0.01)\n", 1))
        term.send("g")
        term.expect(r"grading…", 30)
        first = term.expect(r"(\d\d:\d\d) ", 10).group(1)
        until = time.monotonic() + 2.5  # the clock shows seconds: one tick is enough
        later = []
        while time.monotonic() < until and not (later and later[-1] != first):
            term._read(0.05)
            later = re.findall(r"(\d\d:\d\d) ", term.text()[term.seen:])
        assert later and later[-1] != first  # the clock went on during the grade
        assert "FAIL" not in term.text()[term.seen:]  # the grade was still running
        term.send("q")
        left = time.monotonic()
        assert term.wait(30) == 0
        assert time.monotonic() - left < 10
        assert "drillpe mock resume" in term.text()
    finally:
        term.close()
    time.sleep(0.5)
    assert _processes_with(isolated_places["home"]) == []


# Exercises whose every own diagnosis has a follow-up about that mistake: the
# seed exercises and the three the interview practice leans on most.
KEYED = ("sinusoidal", "learnable", "relative", "rope", "rope_neox", "alibi", "rope_scaling",
         "rope_convert")


@pytest.mark.parametrize("exercise_id", KEYED)
def test_every_diagnosis_has_a_followup_about_it(exercise_id):
    bank = mock.followups()[exercise_id]
    keyed = {code for q in bank for code in q["diagnosis"]}
    missing = set(catalog.exercise_diagnoses(exercise_id)) - keyed
    assert not missing, f"{exercise_id}: no follow-up keyed to {sorted(missing)}"
    known = set(catalog.diagnosis_entries())
    assert keyed <= known, f"{exercise_id}: keyed to unknown codes {sorted(keyed - known)}"
    for q in mock.followups("zh")[exercise_id]:
        assert q["question"].endswith("？") and len(q["answer"]) > 40, q["id"]


def test_the_first_followup_is_about_the_learners_own_mistake(tmp_path):
    session = mock.Session(id="s1", folder=str(tmp_path), exercises=["rope", "learnable"],
                           minutes=10, started_at=1000.0)
    session.results = {
        "rope": {"passed": False, "score": 0.4, "diagnoses": ["rope.half_split"], "error": None},
        "learnable": {"passed": True, "score": 1.0, "diagnoses": [], "error": None}}
    mock.attach_followups(session)
    rope = session.followups["rope"]
    assert rope[0].ref == "rope.load_interleaved" and "half-split" in rope[0].question
    assert len(rope) == 3 and not any(f.ref == "rope.load_interleaved" for f in rope[1:])
    # no diagnosis: only questions every session may draw, none keyed to a mistake
    general = {q["id"] for q in mock.followups()["learnable"] if not q["diagnosis"]}
    assert {f.ref for f in session.followups["learnable"]} <= general
    # a later --lang zh shows the same question in Chinese, found by its id
    question, answer = mock.followup_texts("rope", rope[0], "zh")
    assert "前后对半" in question and "permute" in answer


def test_a_session_draws_its_theory_questions_by_its_id():
    first = mock.choose_followups("rope", [], "session-a", count=3)
    assert first == mock.choose_followups("rope", [], "session-a", count=3)
    drawn = {q["id"] for s in range(12) for q in mock.choose_followups("rope", [], f"s{s}")}
    assert len(drawn) > 3  # sessions differ, so the whole bank gets asked over time


def test_a_session_goes_on_in_the_language_it_was_started_in(tmp_path, monkeypatch):
    """`mock --lang zh`, then `mock resume` (or status, submit, questions) without
    --lang: still Chinese; --lang on the later command wins."""
    from drillpe.data import i18n

    monkeypatch.setattr(i18n, "_chosen", "zh")
    session = mock.create(["rope"], 10, None, home=tmp_path)
    assert session.lang == "zh"
    monkeypatch.setattr(i18n, "_chosen", None)
    mock.speak(mock.load(session.id, home=tmp_path))
    assert i18n.current() == "zh"
    monkeypatch.setattr(i18n, "_chosen", "en")
    mock.speak(mock.load(session.id, home=tmp_path))
    assert i18n.current() == "en"


def test_an_untouched_mock_file_is_recorded_as_no_try(tmp_path):
    """A session submitted with a stub left as the session wrote it does not turn
    an exercise into 'failing' (as an untouched check in the workspace does not)."""
    from drillpe.practice import interview

    session = mock.create(["rope", "sinusoidal"], 10, None, home=tmp_path)
    shutil.copy(ROOT / "solutions" / "sinusoidal.py", session.path("sinusoidal"))
    entry = {"passed": False, "score": 0.0, "failed_checks": [], "diagnoses": [], "error": None}
    session.results = {"rope": dict(entry), "sinusoidal": dict(entry, passed=True, score=1.0)}
    session.submitted_at = session.started_at + 60
    history = History(tmp_path)
    interview.record(session, history)
    attempts = {a.exercise: a for e in history.events().values() for a in e.attempts}
    assert attempts["rope"].untouched and not attempts["sinusoidal"].untouched


def test_a_second_session_says_the_first_is_still_running(cli, isolated_places):
    first = start(cli, "-e", "rope")
    res = cli("mock", "start", "-e", "rope", "--no-live", "--json")
    assert res.returncode == 0
    said = " ".join(res.stderr.split())
    assert f"session {first['session']} is still running" in said
    assert f"drillpe mock resume --session {first['session']}" in said


def test_a_file_python_cannot_parse_is_a_status_not_a_crash(tmp_path):
    """100,000 minus signs made ast.parse raise MemoryError, a million `.b` a
    RecursionError: `mock status`, `submit` and the live view exited 3 (a reviewer)."""
    session = mock.create(["rope", "sinusoidal", "alibi"], 10, None, home=tmp_path)
    session.path("rope").write_text("x = " + "-" * 100_000 + "1\n")
    session.path("sinusoidal").write_text("x = a" + ".b" * 1_000_000 + "\n")
    session.path("alibi").write_bytes(b"x = 1\0\n")
    for eid in ("rope", "sinusoidal", "alibi"):
        status = mock.file_status(session, eid)
        assert status["parses"] is False and status["edited"], status
        assert status["syntax_error"], status


def test_an_answer_that_is_not_a_regular_file_is_refused_not_waited_on(tmp_path):
    """A FIFO put in place of an answer hung `mock submit` (it opened the FIFO to
    write an empty answer) and would hang any read; a dangling link was written
    through, making a file where it pointed (a reviewer's FIFO)."""
    from drillpe.errors import UsageError

    session = mock.create(["rope", "alibi"], 10, None, home=tmp_path)
    session.path("rope").unlink()
    os.mkfifo(session.path("rope"))
    session.path("alibi").unlink()
    session.path("alibi").symlink_to(tmp_path / "elsewhere.py")
    status = mock.file_status(session, "rope")
    assert status["exists"] and status["parses"] is False, status
    assert status["unreadable"] == "a FIFO, not a regular file", status
    assert "unreadable: a FIFO" in view._file_state(status, None).plain
    said = {}

    def submit_both():
        for eid in ("rope", "alibi"):
            try:
                interview.grade_file(session, eid)
            except UsageError as exc:
                said[eid] = str(exc)

    worker = threading.Thread(target=submit_both, daemon=True)
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "grading a FIFO answer waited for a writer"
    assert said["rope"].endswith("rope.py is a FIFO, not a regular file: not a learner file")
    assert said["alibi"].startswith("no such file"), said
    assert not (tmp_path / "elsewhere.py").exists()
