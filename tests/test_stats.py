"""drillpe stats: figures from made-up histories, the command's JSON and
table, and that the practice commands never import torch in the CLI."""

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta

import pytest
from conftest import run_cli

from drillpe.results import progress
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


def test_stats_command_json_and_table(isolated_places):
    history = History(isolated_places["home"])
    now = time.time()
    history.record_attempt(attempt("rope", now - 3600, False, 0.5, diagnoses=["rope.half_split"]))
    history.record_attempt(attempt("rope", now - 3000, True))
    history.record_attempt(attempt("learnable", now - 100, False, 0.25))
    history.close()

    res = run_cli("stats", "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    order = [e["exercise"] for e in data["exercises"]]
    assert order[0] == "learnable" and order[1] == "rope"  # weakest first, new ones last
    rope = data["exercises"][1]
    assert rope["attempts"] == 2 and rope["passes"] == 1 and rope["time_to_first_pass_s"] == 600
    assert data["streak"]["current"] >= 1 and len(data["calendar"]) == 28

    table = run_cli("stats", env={"COLUMNS": "100"})
    assert table.returncode == 0
    assert "learnable" in table.stdout and "failing" in table.stdout
    assert "streak" in table.stdout

    listed = json.loads(run_cli("list", "--json").stdout)["exercises"]
    rope_row = next(r for r in listed if r["id"] == "rope")
    assert rope_row["best"] == 1.0 and rope_row["status"] == "passed"
    assert next(r for r in listed if r["id"] == "relative")["status"] == "new"


def test_stats_on_an_empty_history():
    res = run_cli("stats")
    assert res.returncode == 0 and "Nothing recorded yet" in res.stdout


PROBE = """
import sys
from drillpe.cli import main
sys.argv = ["drillpe", *{args!r}]
try:
    main()
except SystemExit:
    pass
print("HEAVY:" + ",".join(sorted(m for m in ("torch", "numpy") if m in sys.modules)),
      file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["stats"], ["next"], ["mock", "--help"],
                                  ["mock", "start", "--no-live", "-e", "rope"],
                                  ["mock", "status"], ["watch", "--help"]])
def test_practice_commands_do_not_import_torch(args):
    res = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], capture_output=True,
                         text=True, timeout=120)
    assert [line for line in res.stderr.splitlines() if line.startswith("HEAVY:")] == ["HEAVY:"], \
        res.stderr


def test_stats_days_option_is_validated():
    assert run_cli("stats", "--days", "3").returncode == 2
    assert len(json.loads(run_cli("stats", "--json", "--days", "7").stdout)["calendar"]) == 7


def test_calendar_uses_local_days():
    now = datetime(2026, 3, 10, 0, 30).timestamp()
    late = (datetime(2026, 3, 9, 23, 50)).timestamp()
    cal = progress.calendar([Events("rope", attempts=[attempt("rope", late, True)])], now, 7)
    assert cal[-2]["date"] == (datetime(2026, 3, 10) - timedelta(days=1)).date().isoformat()
    assert cal[-2]["passes"] == 1 and cal[-1]["attempts"] == 0
