"""drillpe next: spaced-repetition order on made-up histories."""

import json
import time
from collections import Counter

from drillpe.data import catalog
from drillpe.practice import schedule
from drillpe.results.history import Attempt, Events, History

DAY = schedule.DAY_S
NOW = 2_000_000_000.0


def att(exercise, at, passed, **kw):
    return Attempt(exercise, at, passed, float(passed), **kw)


def plans(events: dict, now=NOW):
    return schedule.recommend(events, list(catalog.load().values()), now)


def test_never_practised_in_catalog_order():
    assert [p.exercise for p in plans({})] == catalog.ids()
    assert all(p.reason == "never practised" for p in plans({}))


def test_after_a_pass_check_names_what_next_names(tmp_path):
    """A newcomer who passed rope first was told "drillpe start rope_neox" by check and
    "sinusoidal" by next; later, with a review due, check named one exercise and next
    another. check's line after a pass is now next's top pick, with its reason; never
    practised exercises follow on from the one practised last, in list's order."""
    from drillpe.commands.core import _what_next

    now = time.time()
    history = History(tmp_path / "home", clock=lambda: now)
    history.record_attempt(att("rope", now - 60, True))
    listed = [ex.id for ex in catalog.by_topic()]
    after = listed[listed.index("rope") + 1:] + listed[:listed.index("rope")]
    order = schedule.recommend(history.events(), catalog.by_topic(), now)
    assert [p.exercise for p in order if p.group == 2] == after
    assert order[0].exercise == after[0] == "rope_neox"
    said = _what_next(history, tmp_path / "ws")
    assert said == catalog.ui("pass_next", id="rope_neox", why="never practised"), said
    # a failed exercise due again leads in both
    history.record_attempt(att("alibi", now - 3600, False, diagnoses=["alibi.slopes_naive"]))
    top = schedule.recommend(history.events(), catalog.by_topic(), now)[0]
    assert top.exercise == "alibi" and top.group == 0
    assert _what_next(history, tmp_path / "ws").startswith("Next: drillpe start alibi — failed")
    # the one practised last leads the never practised, whatever came before it
    events = {"rope": Events("rope", attempts=[att("rope", NOW - 60, True)]),
              "alibi": Events("alibi", attempts=[att("alibi", NOW - 30, True)])}
    new = [p.exercise for p in schedule.recommend(events, catalog.by_topic(), NOW)
           if p.group == 2]
    assert new[0] == listed[listed.index("alibi") + 1] and "rope_neox" in new


def test_failed_comes_back_first_once_due():
    events = {"rope": Events("rope", attempts=[att("rope", NOW - 3600, False,
                                                   diagnoses=["rope.half_split"])])}
    first = plans(events)[0]
    assert first.exercise == "rope" and first.group == 0
    assert "failed" in first.reason and "rope.half_split" in first.reason
    # just failed: back soon, not this second; never-practised ones come first meanwhile
    fresh = {"rope": Events("rope", attempts=[att("rope", NOW - 60, False)])}
    order = [p.exercise for p in plans(fresh)]
    assert order[-1] == "rope" and plans(fresh)[-1].due_at == NOW - 60 + schedule.RELEARN_S


def test_revealed_counts_as_failed():
    events = {"rope": Events("rope", attempts=[att("rope", NOW - 2 * DAY, True)],
                             reveals=[NOW - 2 * DAY - 60])}
    p = schedule.plan(events["rope"], 20, NOW)
    assert p.last.quality == 1 and p.repetitions == 0 and p.interval_s == schedule.RELEARN_S
    assert p.group == 0 and "revealed" in p.reason


def test_intervals_grow_and_fast_passes_go_later():
    fast = Events("rope", attempts=[att("rope", NOW - 10 * DAY, True),
                                    att("rope", NOW - 9 * DAY, True)])
    helped = Events("rope", attempts=[att("rope", NOW - 10 * DAY, False),
                                      att("rope", NOW - 10 * DAY + 60, True),
                                      att("rope", NOW - 9 * DAY, True)],
                    hints=[(NOW - 10 * DAY - 30, 2)])
    p_fast = schedule.plan(fast, 20, NOW)
    p_helped = schedule.plan(helped, 20, NOW)
    assert [r.quality for r in schedule.rounds_of(fast, 20)] == [5, 5]
    assert [r.quality for r in schedule.rounds_of(helped, 20)] == [3, 5]
    assert [r.rating for r in schedule.rounds_of(fast, 20)] == ["good", "good"]
    assert [r.rating for r in schedule.rounds_of(helped, 20)] == ["hard", "good"]
    # FSRS: a pass with help keeps the exercise nearer than two clean passes
    assert p_fast.interval_s > p_helped.interval_s >= DAY
    assert p_fast.difficulty < p_helped.difficulty and p_fast.repetitions == 2
    third = Events("rope", attempts=fast.attempts + [att("rope", NOW - DAY, True)])
    assert schedule.plan(third, 20, NOW).interval_s > p_fast.interval_s


def test_order_failed_then_due_reviews_then_new_then_later():
    events = {
        "sinusoidal": Events("sinusoidal", attempts=[att("sinusoidal", NOW - 3 * DAY, True)]),
        "learnable": Events("learnable", attempts=[att("learnable", NOW - 3600, True)]),
        "rope": Events("rope", attempts=[att("rope", NOW - DAY, False)]),
    }
    order = plans(events)
    # never tried: in catalog order from the one after learnable, practised last
    ids = catalog.ids()
    after = ids[ids.index("learnable") + 1:] + ids[:ids.index("learnable")]
    new = [eid for eid in after if eid not in events]
    assert [p.exercise for p in order] == ["rope", "sinusoidal", *new, "learnable"]
    assert [p.group for p in order] == [0, 1] + [2] * len(new) + [3]
    assert "review due" in order[1].reason and "next review in" in order[-1].reason


def test_rounds_split_at_passes_breaks_and_sessions():
    events = Events("rope", attempts=[
        att("rope", 0, False), att("rope", 60, True),  # round 1 ends with the pass
        att("rope", 100, False),  # round 2
        att("rope", 100 + schedule.ROUND_GAP_S + 1, False),  # round 3 after a break
        att("rope", 100 + schedule.ROUND_GAP_S + 2, True, session="mock-1"),  # its own session
    ])
    assert [len(r.attempts) for r in schedule.rounds_of(events, 20)] == [2, 1, 1, 1]


def test_mock_draw_is_reproducible_and_favours_weak():
    exercises = list(catalog.load().values())
    events = {eid: Events(eid, attempts=[att(eid, NOW - 3600, True)])
              for eid in ("sinusoidal", "learnable", "relative")}
    events["rope"] = Events("rope", attempts=[att("rope", NOW - 3600, False)])
    first = schedule.pick_for_mock(events, exercises, 2, NOW, seed=7)
    assert first == schedule.pick_for_mock(events, exercises, 2, NOW, seed=7)
    assert len(set(first)) == 2
    drawn = Counter(schedule.pick_for_mock(events, exercises, 1, NOW, seed=s)[0]
                    for s in range(400))
    assert drawn["rope"] > 2 * max(drawn[e] for e in ("sinusoidal", "learnable", "relative"))


def test_next_command(cli, isolated_places):
    history = History(isolated_places["home"])
    history.record_attempt(att("relative", time.time() - 7200, False, diagnoses=["relative.no_key_term"]))
    history.close()
    res = cli("next", "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["next"] == "relative" and data["plan"][0]["due"]
    assert data["plan"][0]["last_rating"] == "again" and data["scheduler"] == "fsrs"
    text = cli("next", env={"COLUMNS": "120"})
    assert "Practise now: relative" in text.stdout and "relative.no_key_term" in text.stdout


def test_next_offers_a_reset_only_for_a_started_exercise(cli, isolated_places):
    fresh = cli("next", env={"COLUMNS": "120"}).stdout
    assert "drillpe start sinusoidal, then drillpe watch sinusoidal" in fresh
    assert "reset" not in fresh  # never started: nothing to reset
    workspace = isolated_places["workspace"]
    workspace.mkdir(parents=True)
    (workspace / "sinusoidal.py").write_text("# started\n")
    started = cli("next", env={"COLUMNS": "120"}).stdout
    assert "drillpe watch sinusoidal" in started and "drillpe reset sinusoidal" in started
    assert "drillpe start sinusoidal" not in started


def test_next_in_chinese(cli, isolated_places):
    history = History(isolated_places["home"])
    history.record_attempt(att("relative", time.time() - 7200, False,
                               diagnoses=["relative.no_key_term"]))
    history.close()
    shown = cli("next", "--lang", "zh", env={"COLUMNS": "120"}).stdout
    for english in ("Practise now", "why:", "Then", "never practised", "failed exercises"):
        assert english not in shown
    assert "现在练习" in shown and "原因" in shown and "之后" in shown and "从未练习" in shown


def test_a_watch_burst_is_one_attempt_of_a_round():
    t0 = 1_000_000.0
    saves = [att("rope", t0 + 20 * i, i == 5, source="watch") for i in range(6)]
    p = schedule.plan(Events("rope", attempts=saves), 20, t0 + 200)
    assert p.last.quality == 5 and len(p.last.attempts) == 1  # one try, passed in budget
    stub = [att("rope", t0 - 50, False, untouched=True)]
    assert schedule.plan(Events("rope", attempts=stub), 20, t0).reason == "never practised"
