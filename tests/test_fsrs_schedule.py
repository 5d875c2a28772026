"""drillpe next on FSRS: a week of practice on a fake clock, recorded through the
history, schedules as the fsrs package says; a misconception shown in one exercise
brings back another where it can recur. The expected dates come from fsrs itself,
fed with the ratings the module's docstring promises (written out by hand here)."""

import json
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import fsrs

from drillpe.data import catalog, i18n
from drillpe.practice import schedule
from drillpe.results.history import Attempt, Events, History, Legacy
from drillpe.results.report import CheckResult, ExerciseResult

DAY = 86400.0
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc).timestamp()  # a Monday, 09:00 UTC


def report(exercise, passed, diagnoses=()):
    checks = [CheckResult(id="file.loads", title="imports", level="core", status="pass"),
              CheckResult(id=f"{exercise}.values", title="values", level="core",
                          status="pass" if passed else "fail", diagnosis=list(diagnoses))]
    return ExerciseResult(exercise=exercise, file=f"{exercise}.py", device="cpu", passed=passed,
                          score=1.0 if passed else 0.4, duration_s=0.3, error=None,
                          checks=checks)


class Clock:
    def __init__(self, at):
        self.at = at

    def __call__(self):
        return self.at


def fsrs_due(reviews):
    """The due date fsrs gives after ``reviews`` ((unix time, Rating), oldest first),
    with the scheduler the README describes: one 10-minute (re)learning step, no fuzz."""
    s = fsrs.Scheduler(learning_steps=(timedelta(minutes=10),),
                       relearning_steps=(timedelta(minutes=10),), enable_fuzzing=False)
    card = fsrs.Card(card_id=7, due=datetime.fromtimestamp(reviews[0][0], timezone.utc))
    for at, rating in reviews:
        card, _ = s.review_card(card, rating, datetime.fromtimestamp(at, timezone.utc))
    return card.due.timestamp()


def plan_now(history, now):
    plans, mistakes = schedule.schedule_all(history.events(), list(catalog.load().values()), now)
    return {p.exercise: p for p in plans}, [p.exercise for p in plans], mistakes


def test_a_week_of_practice_schedules_as_fsrs_says(isolated_places):
    clock = Clock(T0)
    history = History(isolated_places["home"], clock=clock)
    R = fsrs.Rating

    def check(exercise, passed, at, diagnoses=()):
        clock.at = at
        history.record_check(report(exercise, passed, diagnoses))

    # Monday: rope fails, then passes five minutes later (a pass after failures: Hard);
    # sinusoidal passes on its first check (Good).
    check("rope", False, T0, ["rope.only_q_rotated"])  # no misconception
    check("rope", True, T0 + 300)
    check("sinusoidal", True, T0 + 1200)
    by_id, order, _ = plan_now(history, T0 + 1500)
    rope = [(T0 + 300, R.Hard)]
    sinusoidal = [(T0 + 1200, R.Good)]
    assert by_id["rope"].due_at == fsrs_due(rope)  # Hard on a new card: still learning
    assert by_id["sinusoidal"].due_at == fsrs_due(sinusoidal)
    assert by_id["sinusoidal"].due_at - (T0 + 1200) >= DAY  # a first pass is days away
    assert by_id["rope"].last.rating == "hard" and by_id["sinusoidal"].last.rating == "good"
    assert order[0] == "rope" and by_id["rope"].group == 1  # its learning step is due

    # Tuesday: rope passes on the first try (Good).
    check("rope", True, T0 + DAY)
    rope.append((T0 + DAY, R.Good))
    # Wednesday: sinusoidal fails, the reference is revealed, then it passes (Again).
    check("sinusoidal", False, T0 + 2 * DAY, ["sinusoidal.exponent_i_over_d"])
    clock.at = T0 + 2 * DAY + 600
    history.record_reveal("sinusoidal")
    check("sinusoidal", True, T0 + 2 * DAY + 1200)
    sinusoidal.append((T0 + 2 * DAY + 1200, R.Again))
    by_id, order, _ = plan_now(history, T0 + 2 * DAY + 1300)
    assert by_id["sinusoidal"].due_at == fsrs_due(sinusoidal)
    assert by_id["sinusoidal"].due_at == T0 + 2 * DAY + 1200 + schedule.RELEARN_S
    assert by_id["sinusoidal"].last.rating == "again" and by_id["sinusoidal"].repetitions == 0
    # Thursday: sinusoidal passes, with a hint first (Hard); alibi, first check passes (Good).
    clock.at = T0 + 3 * DAY
    history.record_hint("sinusoidal", 1)
    check("sinusoidal", True, T0 + 3 * DAY + 60)
    sinusoidal.append((T0 + 3 * DAY + 60, R.Hard))
    check("alibi", True, T0 + 3 * DAY + 3600)
    alibi = [(T0 + 3 * DAY + 3600, R.Good)]
    # Saturday: rope again, first try (Good); alibi fails twice and gives up (Again).
    check("rope", True, T0 + 5 * DAY)
    rope.append((T0 + 5 * DAY, R.Good))
    check("alibi", False, T0 + 5 * DAY + 600, ["alibi.sign_flipped"])
    check("alibi", False, T0 + 5 * DAY + 900, ["alibi.sign_flipped"])
    alibi.append((T0 + 5 * DAY + 900, R.Again))

    # Sunday evening: every date is fsrs's own.
    now = T0 + 6 * DAY + 10 * 3600
    by_id, order, _ = plan_now(history, now)
    for exercise, reviews in (("rope", rope), ("sinusoidal", sinusoidal), ("alibi", alibi)):
        assert by_id[exercise].due_at == fsrs_due(reviews), exercise
        assert by_id[exercise].rounds == len(reviews)
    assert [r.rating for r in schedule.all_rounds(history.events()["rope"], 20)] == [
        "hard", "good", "good"]
    assert order[0] == "alibi" and by_id["alibi"].group == 0  # failed and due
    due = [p for p in by_id.values() if p.group in (0, 1)]
    # due on its own card, or brought back by a due misconception (alibi's sign: direction)
    assert all((p.misconception or p).due_at <= now for p in due)
    assert {p.misconception.id for p in due if p.misconception} == {"direction"}
    later = [p for p in by_id.values() if p.group == 3]
    assert all(p.due_at > now for p in later)
    assert [p.exercise for p in later] == sorted((p.exercise for p in later),
                                                  key=lambda eid: by_id[eid].due_at)
    assert order[-len(later):] == [p.exercise for p in later]
    # the ease is FSRS's own: a Good at the due date's interval over the current one
    rope_plan = by_id["rope"]
    assert rope_plan.ease is not None and rope_plan.ease > 1
    history.close()


def test_a_look_at_the_reference_right_after_a_pass_counts_against_no_round(isolated_places):
    """A learner who passed and then compared with the reference (helper-145's
    `reveal --diff`) found their next round rated Again and stats' ◆. A reveal
    within LOOK_BACK_S of a pass, before another grade, looks back at it; one made
    later, or after a failing grade, is help with the round it falls in."""
    from drillpe.results.progress import LOOK_BACK_S, summarise

    clock = Clock(T0)
    history = History(isolated_places["home"], clock=clock)

    def check(exercise, passed, at):
        clock.at = at
        return history.record_check(report(exercise, passed))

    def reveal(exercise, at):
        clock.at = at
        history.record_reveal(exercise)

    def ratings(exercise):
        return [r.rating for r in schedule.all_rounds(history.events()[exercise], 20)]

    # rope: a pass, a look back ten minutes later, and days later a clean pass: Good
    check("rope", True, T0)
    reveal("rope", T0 + 600)
    assert not check("rope", True, T0 + 3 * DAY).revealed  # the attempt's flag agrees
    assert ratings("rope") == ["good", "good"]
    assert not summarise(history.events()["rope"], T0 + 4 * DAY)["revealed"]  # no ◆
    # days after a pass the reference is no look back: the review it comes before is Again
    reveal("rope", T0 + 3 * DAY + LOOK_BACK_S + 60)
    assert check("rope", True, T0 + 3 * DAY + LOOK_BACK_S + 120).revealed
    assert ratings("rope") == ["good", "good", "again"]
    assert summarise(history.events()["rope"], T0 + 5 * DAY)["revealed"]
    # alibi: passed, then a failing grade, then the reference: help with that round
    check("alibi", True, T0)
    check("alibi", False, T0 + 60)
    reveal("alibi", T0 + 120)
    check("alibi", True, T0 + 180)
    assert ratings("alibi") == ["good", "again"]
    history.close()


def test_reveal_says_whether_it_counts_against_the_round(cli, isolated_places):
    res = cli("reveal", "alibi")
    assert res.returncode == 0
    assert "A reveal counts against your round of alibi" in " ".join(res.stdout.split())
    raw = cli("reveal", "alibi", "--raw")  # stdout the source alone, the note on stderr
    assert "counts against" not in raw.stdout and "counts against your round" in raw.stderr
    clock = Clock(time.time() - 300)
    history = History(isolated_places["home"], clock=clock)
    history.record_check(report("rope", True))
    history.close()
    said = " ".join(cli("reveal", "rope").stdout.split())
    assert re.search(r"You passed rope 5m0\ds ago: a look at the reference now looks back at "
                     r"that pass, and counts against no round", said), said
    history = History(isolated_places["home"], clock=Clock(time.time() - 10))
    history.record_check(report("alibi", True))
    history.close()
    assert "You passed alibi just now:" in " ".join(cli("reveal", "alibi").stdout.split())


def test_a_misconception_in_rope_brings_back_an_exercise_where_it_recurs(isolated_places):
    clock = Clock(T0)
    history = History(isolated_places["home"], clock=clock)
    for at, passed, codes in ((T0, False, ["rope.half_split"]), (T0 + 300, True, [])):
        clock.at = at
        history.record_check(report("rope", passed, codes))
    pairing = catalog.misconceptions()["pairing"]
    assert {"rope", "rope_neox", "rope_2d"} <= set(pairing.exercises)

    # ten minutes in, the misconception's learning step is due (FSRS: Again on a new card)
    by_id, order, mistakes = plan_now(history, T0 + 3600)
    shown = {m.id: m for m in mistakes}
    assert list(shown) == ["pairing"]
    m = shown["pairing"]
    assert m.due_at == fsrs_due([(T0, fsrs.Rating.Again)]) and m.due
    assert m.codes == ["rope.half_split"] and m.last_exercise == "rope" and m.made_week == 1
    back = m.exercise
    assert back in pairing.exercises and back != "rope"  # another exercise where it can occur
    assert back == "rope_neox"  # never practised, and first after rope in the data's order
    p = by_id[back]
    assert p.misconception is m and p.group == 1
    never = [eid for eid in order if by_id[eid].group == 2]
    assert order.index(back) < order.index(never[0])  # ahead of the never-practised ones
    assert p.reason == (f"interleaved and half-split pairs mixed up showed in your code once "
                        f"this week (rope.half_split); {back} asks for it too")
    assert p.to_dict()["misconception"] == "pairing"

    # shown again in rope_neox (its own code for the same idea): twice this week
    for at, passed, codes in ((T0 + 7200, False, ["rope_neox.interleaved"]),
                              (T0 + 7500, True, [])):
        clock.at = at
        history.record_check(report("rope_neox", passed, codes))
    by_id, order, mistakes = plan_now(history, T0 + 4 * 3600)
    m = mistakes[0]
    assert m.made == 2 and m.codes == ["rope_neox.interleaved", "rope.half_split"]
    assert m.last_exercise == "rope_neox" and m.exercise == "rope_2d"  # rope is more recent
    assert "twice this week" in by_id[m.exercise].reason
    i18n.choose("zh")
    try:
        _, _, zh = plan_now(history, T0 + 4 * 3600)
        zh_by_id, _, _ = plan_now(history, T0 + 4 * 3600)
        assert "出现了 2 次“交错配对与前后对半混淆”" in zh_by_id[m.exercise].reason
        assert zh[0].name == "交错配对与前后对半混淆"
    finally:
        i18n.choose("en")

    # a clean pass where it can recur is a Good review: the card goes days ahead
    clock.at = T0 + 5 * 3600
    history.record_check(report(m.exercise, True))
    _, _, mistakes = plan_now(history, T0 + 5 * 3600 + 60)
    R = fsrs.Rating
    assert mistakes[0].due_at == fsrs_due([(T0, R.Again), (T0 + 7200, R.Again),
                                           (T0 + 5 * 3600, R.Good)])
    assert not mistakes[0].due and mistakes[0].exercise is None
    history.close()


def test_an_old_misconception_says_when(isolated_places):
    history = History(isolated_places["home"], clock=lambda: T0)
    history.record_check(report("sinusoidal", False, ["sinusoidal.fairseq_exponent"]), at=T0)
    by_id, _, mistakes = plan_now(history, T0 + 10 * DAY)
    assert mistakes[0].id == "exponent" and mistakes[0].made_week == 0
    back = mistakes[0].exercise
    assert back != "sinusoidal" and back in catalog.misconceptions()["exponent"].exercises
    assert "10 d ago (sinusoidal.fairseq_exponent)" in by_id[back].reason
    history.close()


def test_a_misconception_only_one_exercise_asks_for_brings_it_back_and_says_so(
        isolated_places):
    """ALiBi's slopes recur only in alibi: "alibi asks for it too" read oddly where alibi
    was where they showed (helper-145); the sentence says no other exercise asks."""
    assert catalog.misconceptions()["alibi_slopes"].exercises == ("alibi",)
    history = History(isolated_places["home"], clock=lambda: T0)
    history.record_check(report("alibi", False, ["alibi.naive_slopes"]), at=T0)
    history.record_check(report("alibi", True, []), at=T0 + 60)
    by_id, _, mistakes = plan_now(history, T0 + 10 * DAY)
    slopes = next(m for m in mistakes if m.id == "alibi_slopes")
    assert slopes.exercise == "alibi" == slopes.last_exercise
    assert "no other exercise asks for it: alibi again" in by_id["alibi"].reason
    assert "asks for it too" not in by_id["alibi"].reason
    history.close()


def test_every_misconception_names_known_codes_in_two_exercises_or_more():
    found = catalog.misconceptions()
    for required in ("exponent", "pairing", "mask", "scale", "offset", "alibi_slopes", "buckets"):
        assert required in found
    for m in found.values():
        assert m.codes and all(code in catalog.diagnosis_entries() for code in m.codes)
        assert m.exercises and m.name
    assert {"sinusoidal", "rope", "rope_scaling"} <= set(found["exponent"].exercises)
    assert {"rope", "relative"} <= set(found["mask"].exercises)


def test_next_json_keeps_its_keys_and_adds_misconceptions(cli, isolated_places):
    history = History(isolated_places["home"])
    history.record_attempt(Attempt("rope", time.time() - 7200, False, 0.4,
                                            diagnoses=["rope.exponent_i_over_d"]))
    history.close()
    data = json.loads(cli("next", "--json").stdout)
    assert data["schema"] == 1 and data["scheduler"] == "fsrs"
    old = {"exercise", "due_at", "interval_days", "ease", "repetitions", "rounds",
           "last_quality", "due", "reason"}
    assert all(old <= set(p) for p in data["plan"])
    assert [m["id"] for m in data["misconceptions"]] == ["exponent"]
    assert data["misconceptions"][0]["exercise"] in catalog.misconceptions()["exponent"].exercises


PROBE = """
import sys
from drillpe.cli import main
sys.argv = ["drillpe", *{args!r}]
try:
    main()
except SystemExit:
    pass
print("FSRS:" + str("fsrs" in sys.modules), file=sys.stderr)
"""


def test_fsrs_is_imported_only_when_scheduling(isolated_places):
    for args in (["--help"], ["list"]):
        res = subprocess.run([sys.executable, "-c", PROBE.format(args=args)],
                             capture_output=True, text=True, timeout=120)
        assert "FSRS:False" in res.stderr.splitlines(), (args, res.stderr)


def test_an_old_history_replays_without_migration():
    """Nothing is stored for FSRS: even a progress.json import (totals only) is replayed."""
    legacy = Events("rope", legacy=Legacy("rope", 3, 1, 1.0, "pass", T0, 0, False))
    later = Events("alibi", legacy=Legacy("alibi", 2, 0, 0.5, "fail", T0, 1, False))
    p = schedule.plan(legacy, 20, T0 + DAY)
    assert p.due_at == fsrs_due([(T0, fsrs.Rating.Good)]) and p.group == 3
    q = schedule.plan(later, 20, T0 + DAY)
    assert q.due_at == fsrs_due([(T0, fsrs.Rating.Again)]) and q.group == 0
