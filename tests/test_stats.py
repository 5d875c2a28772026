"""drillpe stats: figures from made-up histories, the command's JSON and
table (tests/test_no_torch_in_cli.py holds that the practice commands never
import torch in the CLI)."""

import json
import time
from datetime import datetime, timedelta

from conftest import printed

from drillpe.results import progress, timeline
from drillpe.results.history import Attempt, Events, History, Work

DAY = 86400.0


def attempt(exercise, at, passed, score=None, source="check", **kw):
    return Attempt(exercise, at, passed, score if score is not None else float(passed),
                   source=source, **kw)


def test_summary_of_a_made_up_history():
    t0 = 1_000_000.0
    events = Events("rope", attempts=[attempt("rope", t0 + 60, False, 0.4),
                                      attempt("rope", t0 + 300, False, 0.6),
                                      attempt("rope", t0 + 600, True)],
                    hints=[(t0, 1)])
    s = progress.summarise(events, t0 + 700)
    assert (s["attempts"], s["passes"], s["best_score"]) == (3, 1, 1.0)
    assert s["attempts_to_first_pass"] == 3
    assert s["time_to_first_pass_s"] == 600.0  # from the first hint
    assert s["time_spent_s"] == 600.0  # gaps 60 + 240 + 300, all under 15 min
    assert s["status"] == "passed" and s["hints_seen"] == 1


def test_time_spent_skips_breaks_and_counts_sessions():
    t0 = 1_000_000.0
    events = Events("rope", attempts=[attempt("rope", t0, False), attempt("rope", t0 + 120, False),
                                      attempt("rope", t0 + 5000, True)],  # a break before
                    work=[Work("rope", t0 + 9000, 900.0, "watch")])
    assert progress.time_spent(events) == 120.0 + 900.0


def test_weakest_first():
    summaries = [
        {"exercise": "a", "status": "passed", "best_score": 1.0, "passes": 2, "attempts": 2},
        {"exercise": "b", "status": "failing", "best_score": 0.8, "passes": 0, "attempts": 3},
        {"exercise": "c", "status": "new", "best_score": None, "passes": 0, "attempts": 0},
        {"exercise": "d", "status": "failing", "best_score": 0.2, "passes": 0, "attempts": 1},
        {"exercise": "e", "status": "revealed", "best_score": 1.0, "passes": 1, "attempts": 4},
    ]
    assert [s["exercise"] for s in progress.weakest_first(summaries)] == ["d", "b", "e", "a", "c"]


def test_calendar_and_streaks():
    now = datetime(2026, 3, 10, 12, 0).timestamp()
    days = [datetime(2026, 3, 10, 9).timestamp(), datetime(2026, 3, 9, 9).timestamp(),
            datetime(2026, 3, 8, 9).timestamp(), datetime(2026, 3, 1, 9).timestamp(),
            datetime(2026, 3, 2, 9).timestamp()]
    events = [Events("rope", attempts=[attempt("rope", t, i == 0) for i, t in enumerate(days)]),
              Events("learnable", hints=[(datetime(2026, 3, 5, 9).timestamp(), 1)])]
    cal = progress.calendar(events, now, days=14)
    assert len(cal) == 14 and cal[-1]["date"] == "2026-03-10"
    assert cal[-1] == {"date": "2026-03-10", "attempts": 1, "passes": 1, "active": True}
    assert next(c for c in cal if c["date"] == "2026-03-05")["active"]
    assert progress.streaks(events, now) == {"current": 3, "longest": 3, "active_days": 6}
    # today still empty: the streak up to yesterday counts
    tomorrow = (datetime(2026, 3, 11, 8)).timestamp()
    assert progress.streaks(events, tomorrow)["current"] == 3
    assert progress.streaks(events, tomorrow + DAY)["current"] == 0


def test_stats_command_json_and_table(cli, isolated_places):
    history = History(isolated_places["home"])
    now = time.time()
    history.record_attempt(attempt("rope", now - 3600, False, 0.5, diagnoses=["rope.half_split"]))
    history.record_attempt(attempt("rope", now - 3000, True))
    history.record_attempt(attempt("learnable", now - 100, False, 0.25))
    history.close()

    res = cli("stats", "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    order = [e["exercise"] for e in data["exercises"]]
    assert order[0] == "learnable" and order[1] == "rope"  # weakest first, new ones last
    rope = data["exercises"][1]
    assert rope["attempts"] == 2 and rope["passes"] == 1 and rope["time_to_first_pass_s"] == 600
    assert data["streak"]["current"] >= 1 and len(data["calendar"]) == 28

    table = cli("stats", env={"COLUMNS": "100"})
    assert table.returncode == 0
    assert "learnable" in table.stdout and "failing" in table.stdout
    assert "streak" in table.stdout

    listed = json.loads(cli("list", "--json").stdout)["exercises"]
    rope_row = next(r for r in listed if r["id"] == "rope")
    assert rope_row["best"] == 1.0 and rope_row["status"] == "passed"
    assert next(r for r in listed if r["id"] == "relative")["status"] == "new"


def test_stats_on_an_empty_history(isolated_places, capsys):
    from conftest import cli_in_process

    code, shown = cli_in_process(capsys, "stats")
    assert code == 0 and "Nothing recorded yet" in shown
    # a hint is practice: a newcomer who had seen one was told nothing was recorded
    History(isolated_places["home"]).record_hint("rope", 1)
    code, shown = cli_in_process(capsys, "stats")
    assert "Nothing recorded yet" not in shown and "drillpe next" in shown


def test_stats_days_option_is_validated(cli):
    assert cli("stats", "--days", "3").returncode == 2
    assert len(json.loads(cli("stats", "--json", "--days", "7").stdout)["calendar"]) == 7


def test_calendar_uses_local_days():
    now = datetime(2026, 3, 10, 0, 30).timestamp()
    late = (datetime(2026, 3, 9, 23, 50)).timestamp()
    cal = progress.calendar([Events("rope", attempts=[attempt("rope", late, True)])], now, 7)
    assert cal[-2]["date"] == (datetime(2026, 3, 10) - timedelta(days=1)).date().isoformat()
    assert cal[-2]["passes"] == 1 and cal[-1]["attempts"] == 0


def test_tries_skip_untouched_stubs_and_count_a_watch_burst_once():
    gap = progress.BURST_GAP_S
    t0 = 1_000_000.0
    attempts = [
        attempt("rope", t0, False, untouched=True),  # the stub as written: no try
        attempt("rope", t0 + 10, False, source="watch"),  # a burst of saves ...
        attempt("rope", t0 + 40, False, source="watch"),
        attempt("rope", t0 + 40 + gap - 1, False, 0.5, source="watch"),  # ... ends here
        attempt("rope", t0 + 40 + 2 * gap, False, source="watch"),  # a pause: a new try
        attempt("rope", t0 + 41 + 2 * gap, True, source="watch"),  # a pass ends a burst
        attempt("rope", t0 + 42 + 2 * gap, True, source="watch"),  # so this is one more
        attempt("rope", t0 + 43 + 2 * gap, False),  # plain checks each count
        attempt("rope", t0 + 44 + 2 * gap, False),
    ]
    counted = progress.tries(attempts)
    assert [a.at - t0 for a in counted] == [40 + gap - 1, 41 + 2 * gap, 42 + 2 * gap,
                                            43 + 2 * gap, 44 + 2 * gap]
    s = progress.summarise(Events("rope", attempts=attempts), t0 + 10_000)
    assert (s["passes"], s["attempts"], s["best_score"]) == (2, 5, 1.0)
    assert s["attempts_to_first_pass"] == 2


def test_a_recheck_of_unchanged_code_is_no_new_try(isolated_places, tmp_path):
    from drillpe.practice import schedule
    from drillpe.results.report import ExerciseResult

    history = History(isolated_places["home"])
    t0 = 1_000_000.0
    answer = tmp_path / "rope.py"

    def grade(code, passed, at, device="cpu"):
        answer.write_text(code)
        result = ExerciseResult("rope", "rope.py", device, passed, float(passed), 0.1, None, [])
        history.record_check(result, file=answer, at=at)

    grade("wrong = 1\n", False, t0)
    grade("wrong = 2\n", False, t0 + 60)
    history.record_hint("rope", 2, at=t0 + 90)
    grade("right = 1\n", True, t0 + 120)  # a hard-won pass
    grade("right = 1\n", True, t0 + 3 * DAY)  # the same file, checked again
    grade("# now commented\nright = 1  # why\n\n", True, t0 + 3 * DAY + 1)  # the same code
    grade("right = 1\n", True, t0 + 3 * DAY + 5, device="cuda")  # another device: a try
    events = history.events()["rope"]
    assert [a.at - t0 for a in progress.tries(events.attempts)] == [0, 60, 120, 3 * DAY + 5]
    rounds = schedule.rounds_of(events, 20)
    assert [(len(r.attempts), r.rating) for r in rounds][0] == (3, "hard")
    s = progress.summarise(events, t0 + 4 * DAY)
    assert (s["attempts"], s["passes"], s["attempts_to_first_pass"]) == (4, 2, 3)
    assert s["last_checked"] == progress._iso(t0 + 3 * DAY + 5)  # still the latest check
    assert timeline.code_key("x = (1,\n     2)\n") == timeline.code_key("x = (1, 2)  # c\n")
    assert timeline.code_key("x = 1\n") != timeline.code_key("x = 2\n")
    assert timeline.code_key("def f(:\n  # broken\n") == timeline.code_key("def f(:  \n# broken\n\n")
    # code the history no longer keeps (None) is never taken for a repeat
    bare = [attempt("rope", t0, True), attempt("rope", t0 + 1, True)]
    assert len(progress.tries(bare)) == 2
    # an unchanged file whose verdict changed (a flaky answer) is a try
    flaky = [attempt("rope", t0, True, code="ab"), attempt("rope", t0 + 1, False, code="ab")]
    assert len(progress.tries(flaky)) == 2


def test_only_untouched_checks_leave_an_exercise_new():
    events = Events("alibi", attempts=[attempt("alibi", 1000.0, False, untouched=True),
                                       attempt("alibi", 2000.0, False, untouched=True)])
    s = progress.summarise(events, 3000.0)
    assert (s["status"], s["attempts"], s["last_practised"]) == ("new", 0, None)
    assert progress.calendar([events], 3000.0, 7)[-1]["attempts"] == 0


def test_a_check_of_the_unedited_stub_is_recorded_as_untouched(isolated_places, tmp_path):
    from drillpe.data import bundle
    from drillpe.results.report import ExerciseResult

    history = History(isolated_places["home"])
    result = ExerciseResult("rope", "rope.py", "cpu", False, 0.0, 0.1, None, [])
    for lang in ("en", "zh"):
        stub = tmp_path / f"stub-{lang}.py"
        stub.write_text(bundle.stub_path("rope", lang).read_text(encoding="utf-8"),
                        encoding="utf-8")
        assert history.record_check(result, file=stub).untouched
    edited = tmp_path / "edited.py"
    edited.write_text(bundle.stub_path("rope").read_text() + "\n# my first line\n")
    assert not history.record_check(result, file=edited).untouched
    assert not history.record_check(result).untouched  # no file: the notebook API
    stored = history.events()["rope"].attempts
    assert [a.untouched for a in stored] == [True, True, False, False]
    assert history.exercise_summary("rope")["attempts"] == 2




def _summaries(now):
    revealed = Events("rope", attempts=[attempt("rope", now - 600, False, 0.5),
                                        attempt("rope", now - 60, True)],
                      hints=[(now - 500, 2)], reveals=[now - 300])
    plain = Events("learnable", attempts=[attempt("learnable", now - 100, True)])
    return [progress.summarise(e, now) for e in (revealed, plain)]


def test_stats_table_marks_reveals_and_fits_80_columns(monkeypatch):
    from drillpe.data import i18n
    from drillpe.render import practice_views as view

    now = time.time()
    summaries = _summaries(now)
    streak = {"current": 1, "longest": 1, "active_days": 1}
    days = progress.calendar([], now, 28)
    shown = printed(lambda: view.stats(summaries, days, streak, []))
    rope = next(line for line in shown.splitlines() if line.strip().startswith("rope"))
    learnable = next(line for line in shown.splitlines() if line.strip().startswith("learnable"))
    assert f"2 {view.REVEALED_MARK}" in rope and view.REVEALED_MARK not in learnable
    assert "revealed" in shown  # the caption says what the mark means
    assert max(len(line) for line in shown.splitlines()) <= 80 and "…" not in shown
    monkeypatch.setattr(i18n, "_chosen", "zh")
    shown = printed(lambda: view.stats(summaries, days, streak, []))
    for english in ("Progress, weakest first", "pass/try", "1st pass", "Last 28 days", "streak"):
        assert english not in shown
    assert "练习进度" in shown and "通过/尝试" in shown and "看过参考实现" in shown


def test_calendar_has_weekday_rows_faint_empty_days_and_today():
    from drillpe.render import practice_views as view

    now = datetime(2026, 12, 4, 12, 0).timestamp()  # a Friday
    events = Events("rope", attempts=[attempt("rope", datetime(2026, 12, 1, 9).timestamp(), True),
                                      attempt("rope", datetime(2026, 11, 20, 9).timestamp(),
                                              False)])
    days = progress.calendar([events], now, 14)  # 11-21 (a Saturday) to 12-04
    lines = printed(lambda: view.out.print(view.calendar(days, {"current": 0, "longest": 1,
                                                              "active_days": 2}))).splitlines()
    header = next(line for line in lines if "Mo" in line)
    assert header.split() == ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"]
    rows = [line for line in lines if line.startswith("  11-") or line.startswith("  12-")]
    assert [r.split()[0] for r in rows] == ["11-16", "11-23", "11-30"]  # Mondays

    def cell(row, weekday):  # the 3 characters from a weekday label on
        start = header.index(["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"][weekday])
        return row[start:start + 3]

    assert cell(rows[0], 0).strip() == ""  # 11-16: before the range, blank
    assert cell(rows[0], 5).strip() == "□"  # 11-21: in range, nothing done: a faint cell
    assert cell(rows[2], 1).strip() == "■"  # 12-01, a Tuesday: passed
    assert cell(rows[2], 4) == "[□]"  # today, Friday 12-04, in brackets
    assert cell(rows[2], 5).strip() == ""  # tomorrow: not drawn
    assert "today" in lines[-1]


def test_stats_mock_status_and_bench_take_lang(cli):
    stats = cli("stats", "--lang", "zh")
    assert stats.returncode == 0 and "练习进度" in stats.stdout, stats.stderr
    assert cli("mock", "start", "--no-live", "-e", "rope").returncode == 0
    status = cli("mock", "status", "--lang", "zh")
    assert status.returncode == 0 and "模拟面试" in status.stdout and "未改动" in status.stdout
    bench = cli("bench", "rope", "--lang", "zh")  # no learner file: a usage error, not
    assert bench.returncode == 2 and "No such option" not in bench.stderr  # an unknown option
