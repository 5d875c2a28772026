"""The debug round (drillpe debug): its material and its command.

Every variant shipped in exercises/ID/debug/variants.toml, graded through the warm
workers, fails with exactly the code it names, and the base it is made from (the
same file with the mistake fixed) passes with no diagnosis, in both languages.
Every diagnosis code has a variant unless drillpe.data.debug_material says why not.
The command is run in-process (grades go to the warm workers): it never touches
the learner's ID.py, backs up a debug file it replaces, records a debug attempt
that `hint` reads and a session that says what was named, and speaks Chinese.
"""

from __future__ import annotations

import json
import re
import sqlite3

import pytest
from conftest import cli_run

from drillpe.data import bundle, catalog, debug_material
from drillpe.launch.runner import GradeRequest, grade

pytestmark = pytest.mark.usefixtures("warm_grading")


def all_variants():
    return [v for eid in debug_material.exercise_ids() for v in debug_material.variants(eid)]


def _name(variant) -> str:
    return f"{variant.exercise}#{variant.number}:{variant.code}"


def _grade(tmp_path, exercise_id, text, launcher):
    path = tmp_path / f"{exercise_id}.debug.py"
    path.write_text(text, encoding="utf-8")
    return grade(GradeRequest(exercise_id=exercise_id, file=path, timeout=60), launcher=launcher)


def _summary(result) -> str:
    return "\n".join(f"  {c.id} {c.status}: {c.message} {c.diagnosis}" for c in result.checks)


@pytest.mark.parametrize("variant", all_variants(), ids=_name)
def test_each_variant_fails_with_exactly_its_code(variant, tmp_path, warm):
    result = _grade(tmp_path, variant.exercise, debug_material.debug_text(variant, "en"), warm)
    assert set(result.diagnoses) == {variant.code}, _summary(result)
    assert result.error is None or variant.code.startswith("api."), result.error


# The two languages differ only in the docstring (test_a_variant_is_a_small_edit...):
# the Chinese file is graded once, for the scan that reads the file's text.
@pytest.mark.parametrize(("exercise_id", "lang"), [(e, "en") for e in debug_material.exercise_ids()]
                         + [("rope", "zh")])
def test_the_fixed_file_passes(exercise_id, lang, tmp_path, warm):
    result = _grade(tmp_path, exercise_id, debug_material.fixed_text(exercise_id, lang), warm)
    assert result.passed and not result.diagnoses, _summary(result)


def test_every_exercise_has_debug_material():
    assert debug_material.exercise_ids() == sorted(catalog.ids())


@pytest.mark.parametrize("exercise_id", catalog.ids())
def test_every_code_of_an_exercise_has_a_variant(exercise_id):
    missing = set(catalog.exercise_diagnoses(exercise_id)) - set(
        debug_material.codes(exercise_id))
    assert not missing, f"no variant in exercises/{exercise_id}/debug/variants.toml for {missing}"


def test_every_common_code_has_a_variant_or_a_reason():
    common = set(bundle.exercise_data("common")["diagnoses"])
    covered = {v.code for v in all_variants()}
    reasons = set(debug_material.NOT_DEBUG_MATERIAL)
    assert not (common & covered & reasons), "a code with a variant is also listed as impossible"
    assert common - covered == reasons, "every common code: a variant, or a reason it has none"
    exercise_codes = {c for eid in catalog.ids() for c in catalog.exercise_diagnoses(eid)}
    assert covered <= common | exercise_codes  # no variant names an unknown code


@pytest.mark.parametrize("variant", all_variants(), ids=_name)
def test_a_variant_is_a_small_edit_without_a_telltale_comment(variant):
    en, zh = debug_material.debug_text(variant, "en"), debug_material.debug_text(variant, "zh")
    header_en = debug_material.header(variant.exercise, "en")
    header_zh = debug_material.header(variant.exercise, "zh")
    assert en[len(header_en):] == zh[len(header_zh):]  # the same code in both languages
    assert header_en != header_zh
    assert f"drillpe debug {variant.exercise} --check" in header_en
    code = debug_material.code_text(variant)
    assert code != debug_material.base(variant.exercise)
    for replace in variant.replaces:
        assert "#" not in replace, "no comment points at the mistake"
        assert variant.code not in replace


def _cli(*args, capsys):
    """The command in this process (cli_run): its grades go to the shared warm workers
    where the test asks for warm_grading; what a round says and records is the same."""
    res = cli_run(capsys, *args)
    return res.returncode, res.stdout, res.stderr


def _history(isolated_places):
    conn = sqlite3.connect(isolated_places["home"] / "history.sqlite3")
    conn.row_factory = sqlite3.Row
    return conn


def test_a_round_from_start_to_end(isolated_places, capsys, warm_grading):
    workspace = isolated_places["workspace"]
    workspace.mkdir(parents=True)
    mine = workspace / "rope.py"
    mine.write_text("my own work\n")
    code, out, _ = _cli("debug", "rope", "--seed", 1, capsys=capsys)
    assert code == 0
    target = workspace / "rope.debug.py"
    assert mine.read_text() == "my own work\n"  # never the learner's file
    assert "drillpe debug rope --check" in out and "drillpe debug rope --answer N" in out
    entry = debug_material.rounds()["rope"]
    variant = debug_material.variants("rope")[entry["variant"] - 1]
    assert target.read_text() == debug_material.debug_text(variant, "en")
    assert entry["code"] == variant.code and variant.code in entry["choices"]
    assert len(entry["choices"]) == debug_material.CHOICES
    for number, choice in enumerate(entry["choices"], start=1):
        assert f"{number}. {choice}" in out

    # The unfixed file fails; the scorecard keeps the name of the mistake back.
    code, out, _ = _cli("debug", "--check", capsys=capsys)
    assert code == 1
    why = out.split("Which mistake is it?")[0]
    assert variant.code not in why and "Why" not in why
    assert "Not fixed yet" in out
    with _history(isolated_places) as conn:
        row = conn.execute("SELECT source, session, passed, failed_checks FROM attempts").fetchone()
    assert row["source"] == "debug" and row["session"] == entry["id"] and not row["passed"]
    # hint reads the debug attempt's failing checks, as after any check
    failing = json.loads(row["failed_checks"])
    ladder = catalog.ladder_for("rope", failing)
    code, out, _ = _cli("hint", "rope", capsys=capsys)
    assert code == 0 and ladder.hints[0].split()[0] in out

    # Named right (by its number), then fixed: the round is done and recorded.
    number = entry["choices"].index(variant.code) + 1
    code, out, _ = _cli("debug", "rope", "--answer", number, capsys=capsys)
    assert code == 0 and f"Right: the mistake was {variant.code}" in out
    target.write_text(debug_material.fixed_text("rope", "en"))
    code, out, _ = _cli("debug", "rope", "--check", capsys=capsys)
    assert code == 0 and "Fixed" in out and "fixed yes, named yes" in out
    with _history(isolated_places) as conn:
        sessions = conn.execute("SELECT kind, score, report FROM sessions").fetchall()
        attempts = conn.execute("SELECT passed FROM attempts ORDER BY at").fetchall()
    assert [s["kind"] for s in sessions] == ["debug"] and sessions[0]["score"] == 1.0
    report = json.loads(sessions[0]["report"])
    assert report["named"] is True and report["fixed"] is True and report["checks"] == 2
    assert report["code"] == variant.code and report["answer"] == variant.code
    assert [a["passed"] for a in attempts] == [0, 1]
    # a debug round is no try of the exercise itself
    code, out, _ = _cli("list", "--json", capsys=capsys)
    rope = next(r for r in json.loads(out)["exercises"] if r["id"] == "rope")
    assert rope["attempts"] == 0

    # One answer per round.
    code, _, err = _cli("debug", "rope", "--answer", variant.code, capsys=capsys)
    assert code == 2 and "already answered" in err


def test_a_wrong_answer_and_a_replaced_debug_file(isolated_places, capsys):
    workspace = isolated_places["workspace"]
    assert _cli("debug", "alibi", "--seed", 2, capsys=capsys)[0] == 0
    target = workspace / "alibi.debug.py"
    target.write_text("my half-done fix\n")
    code, out, _ = _cli("debug", "alibi", "--seed", 3, capsys=capsys)
    assert code == 0
    backups = list(workspace.glob("alibi.debug.backup-*.py"))
    assert len(backups) == 1 and backups[0].read_text() == "my half-done fix\n"
    assert backups[0].name in out
    entry = debug_material.rounds()["alibi"]
    wrong = next(c for c in entry["choices"] if c != entry["code"])
    code, _, err = _cli("debug", "alibi", "--answer", "9", capsys=capsys)
    assert code == 2 and "1 to 5" in err
    code, out, _ = _cli("debug", "alibi", "--answer", wrong, capsys=capsys)
    assert code == 1 and f"the mistake was {entry['code']}" in out
    assert debug_material.rounds()["alibi"]["named"] is False


def test_usage_errors(isolated_places, capsys):
    code, _, err = _cli("debug", "--check", capsys=capsys)
    assert code == 2 and "no debug round yet" in err
    code, _, err = _cli("debug", "rope", "--answer", "1", capsys=capsys)
    assert code == 2 and "drillpe debug rope" in err
    code, _, err = _cli("debug", "rope", "--check", "--answer", "1", capsys=capsys)
    assert code == 2 and "two steps" in err
    assert _cli("debug", "rope", capsys=capsys)[0] == 0
    (isolated_places["workspace"] / "rope.debug.py").unlink()
    code, _, err = _cli("debug", "rope", "--check", capsys=capsys)
    assert code == 2 and "is gone" in err


def test_without_an_id_the_seed_draws_the_exercise(isolated_places, capsys):
    assert _cli("debug", "--seed", 5, capsys=capsys)[0] == 0
    first = dict(debug_material.rounds())
    assert len(first) == 1
    [(exercise_id, entry)] = first.items()
    (isolated_places["workspace"] / f"{exercise_id}.debug.py").unlink()
    assert _cli("debug", "--seed", 5, capsys=capsys)[0] == 0
    again = debug_material.rounds()[exercise_id]
    assert (again["code"], again["choices"]) == (entry["code"], entry["choices"])


def test_in_chinese(isolated_places, capsys):
    code, out, _ = _cli("debug", "sinusoidal", "--seed", 0, "--lang", "zh", capsys=capsys)
    assert code == 0 and "找到这处错误并改正" in out and "是哪一种错误" in out
    text = (isolated_places["workspace"] / "sinusoidal.debug.py").read_text()
    assert text.startswith('"""drillpe 练习') and "drillpe debug sinusoidal --check" in text
    entry = debug_material.rounds()["sinusoidal"]
    code, out, _ = _cli("debug", "sinusoidal", "--answer", entry["code"], "--lang", "zh",
                        capsys=capsys)
    assert code == 0 and "答对了" in out and re.search(r"改法：", out)


# ---------------------------------------------------------------- in a mock interview
@pytest.fixture
def shared_workers(warm, monkeypatch):
    """mock submit's own warm workers are the test session's."""
    from contextlib import contextmanager

    from drillpe.launch import warm_pool

    @contextmanager
    def launcher():
        yield warm

    monkeypatch.setattr(warm_pool, "launcher", launcher)


def test_a_mock_with_a_debug_round(isolated_places, capsys, shared_workers, warm_grading):
    from drillpe.practice import mock

    code, out, _ = _cli("mock", "start", "--no-live", "--rounds", "write,debug", "--exercises",
                        "rope", "--seed", 4, "--json", capsys=capsys)
    assert code == 0
    status = json.loads(out)
    session = mock.load()
    planted = session.debug
    assert planted["exercise"] != "rope" and planted["code"] in planted["choices"]
    # status says the file and the choices, not which choice is right
    assert set(status["debug"]) == {"exercise", "file", "choices", "answered"}
    assert status["debug"]["file"] == str(mock.debug_path(session))
    text = mock.debug_path(session).read_text()
    assert f"drillpe check {planted['exercise']} --file" in text  # how to grade it here
    assert session.minutes == mock.default_minutes(["rope"]) + mock.DEBUG_MINUTES

    mock.debug_path(session).write_text(debug_material.fixed_text(planted["exercise"], "en"))
    number = planted["choices"].index(planted["code"]) + 1
    code, out, _ = _cli("mock", "submit", "--answer", number, "--json", capsys=capsys)
    report = json.loads(out)
    assert report["debug"]["fixed"] and report["debug"]["named"] and report["debug"]["score"] == 1
    assert report["score"] == pytest.approx((0.0 + 1.0) / 2)  # rope left as a stub
    with _history(isolated_places) as conn:
        rows = conn.execute("SELECT exercise, source FROM attempts ORDER BY exercise").fetchall()
    assert sorted((r["exercise"], r["source"]) for r in rows) == sorted(
        [("rope", "mock"), (planted["exercise"], "debug")])


def test_the_mock_asks_the_debug_question_as_multiple_choice(isolated_places, capsys):
    from drillpe.practice import interview, mock

    session = mock.create(["rope"], 10, seed=1, debug=True)
    right = session.debug["choices"].index(session.debug["code"]) + 1
    replies = iter(["", "nonsense", str(right)])
    interview.ask_debug_name(session, lambda prompt: "")  # Enter: later
    assert mock.load().debug["answer"] is None
    next(replies)
    interview.ask_debug_name(session, lambda prompt: next(replies))
    out = capsys.readouterr().out
    assert "nonsense is not an answer here" in out and "Right: the mistake was" in out
    assert mock.load().debug["answer"] == session.debug["code"]
    assert mock.report(mock.load(), 0.0)["debug"]["named"] is True


def test_rounds_are_checked(isolated_places, capsys):
    code, _, err = _cli("mock", "start", "--no-live", "--rounds", "debug,dance", capsys=capsys)
    assert code == 2 and "--rounds takes write, debug" in err
    code, _, err = _cli("mock", "start", "--no-live", "--rounds", "debug", capsys=capsys)
    assert code == 2 and "--rounds write,debug" in err
    code, _, err = _cli("mock", "start", "--no-live", "--rounds", "debug", "--lang", "zh",
                        capsys=capsys)
    assert code == 2 and "模拟面试一定有写代码的环节" in err


def test_a_live_mock_asks_which_mistake_was_planted(isolated_places):
    """The live round with --rounds write,debug: the debug file beside the stub,
    its question before the follow-ups, and the report's debug entry."""
    import os
    import shutil

    from conftest import ROOT
    from pty_driver import Terminal

    from drillpe.practice import mock

    env = dict(os.environ, TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    term = Terminal(["mock", "--rounds", "write,debug", "-e", "sinusoidal", "--minutes", "5",
                     "--seed", "2"], env)
    try:
        term.expect(r"imports ✓", 120)
        session = mock.load()
        shutil.copy(ROOT / "solutions" / "sinusoidal.py", session.path("sinusoidal"))
        mock.debug_path(session).write_text(
            debug_material.fixed_text(session.debug["exercise"], "en"))
        term.send("s")
        term.expect(r"Press s again", 30)
        term.send("s")
        term.expect(r"which mistake was planted", 120)
        term.send(f"{session.debug['choices'].index(session.debug['code']) + 1}\n")
        term.expect(r"Right: the mistake was", 30)
        for _ in range(3):
            term.expect(r"Q\d/3", 30)
            term.send("skip\n")
        assert term.wait(60) == 0
        assert "fixed yes, named yes" in term.text()
    finally:
        term.close()
    report = mock.report(mock.load(), 0.0)
    assert report["debug"]["passed"] and report["passed"] and report["score"] == 1.0
