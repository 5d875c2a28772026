"""What to practise next: FSRS spaced repetition over the history, for the
exercises and for the misconceptions the learner has shown.

Nothing is stored: every ``next`` replays the recorded attempts through the
``fsrs`` package (FSRS-6, its default weights), so an old history needs no
migration and the plan always follows the history as it is.

Reviews. Attempts on one exercise are grouped into rounds (a round ends at a
pass, at a break of more than ROUND_GAP_S, or with its mock session); each
round is one FSRS review, at the time of its last attempt (the pass, or the
last failure), rated:

- the reference revealed during the round → Again (a look within LOOK_BACK_S
  of a pass, before another grade, looks back at that pass: not during a round);
- no pass → Again;
- passed after failed tries, or with hints → Hard;
- passed on the round's first try, no hints → Good; Easy when, moreover, a
  watch or mock session says how long the work took and it was within the
  exercise's time budget (a plain ``check`` cannot tell how long it took).

The Scheduler keeps FSRS's defaults (desired retention 0.9) except: one
learning and one relearning step of 10 minutes (a failed exercise comes back
within 10 minutes; a first pass goes straight to a review days later), and no
fuzz (the same history gives the same plan). An old ``progress.json`` import
is one review at its last check: Good when it passed, else Again.

Misconceptions (``[misconceptions]`` in exercises/common.toml) are cards too.
A round on an exercise where one can recur is a review of it: Again, at the
first attempt that showed one of its codes; else Good, at the round's end,
when the round passed without a reveal; else no review. Only a misconception
the learner has shown is scheduled. When it is due it brings back an
exercise where it can recur, another one than where it was last shown when
there is one (the least recently practised, never practised first, then in
the order common.toml lists its codes), and ``next`` says why.

Pure functions of events and "now": tested on made-up histories.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from drillpe.data import catalog, places
from drillpe.results.history import Attempt, Events
from drillpe.results.progress import counted_reveals, tries

DAY_S = 86400.0
WEEK_S = 7 * DAY_S
ROUND_GAP_S = 6 * 3600.0  # a longer pause between attempts starts a new round
RELEARN_S = 10 * 60.0  # FSRS's (re)learning step: a failed exercise comes back this soon
FEW_ATTEMPTS = 3
RATINGS = ("again", "hard", "good", "easy")  # fsrs.Rating 1..4


@dataclass
class Round:
    attempts: list[Attempt]
    start: float
    end: float
    quality: int  # SM-2's 0..5 (kept for next --json's last_quality)
    hints: int
    revealed: bool
    passed: bool
    diagnoses: list[str] = field(default_factory=list)  # the last attempt's, when failed
    rating: str = "again"  # the FSRS review this round is
    shown: list[str] = field(default_factory=list)  # every code named in the round, in order
    shown_at: dict[str, float] = field(default_factory=dict)  # code -> its first time


@dataclass
class Misconception:
    """One misconception's place in the schedule at ``now``."""

    id: str
    name: str
    due_at: float | None
    interval_s: float
    made: int  # rounds that showed it
    made_week: int  # of them, in the last 7 days
    codes: list[str]  # the codes that named it, latest first
    last_at: float | None  # when it last showed
    last_exercise: str | None  # where
    exercise: str | None = None  # where it comes back (when due)
    due: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "due_at": self.due_at,
                "interval_days": round(self.interval_s / DAY_S, 3), "due": self.due,
                "shown": self.made, "shown_this_week": self.made_week, "codes": self.codes,
                "last_shown_at": self.last_at, "last_exercise": self.last_exercise,
                "exercise": self.exercise}


@dataclass
class Plan:
    """One exercise's place in the schedule at ``now``."""

    exercise: str
    due_at: float | None  # None: never practised
    interval_s: float
    ease: float | None  # how much a good review at the due date multiplies the interval
    repetitions: int  # reviews since the last Again
    last: Round | None
    rounds: int
    reason: str = ""
    group: int = 0  # 0 failed and due, 1 review due, 2 never practised, 3 not yet due
    overdue_s: float = 0.0
    stability_days: float | None = None
    difficulty: float | None = None
    misconception: Misconception | None = None  # the misconception that brings it back

    def to_dict(self) -> dict[str, Any]:
        return {"exercise": self.exercise, "due_at": self.due_at,
                "interval_days": round(self.interval_s / DAY_S, 3),
                "ease": None if self.ease is None else round(self.ease, 2),
                "repetitions": self.repetitions, "rounds": self.rounds,
                "last_quality": self.last.quality if self.last else None,
                "due": self.group in (0, 1, 2), "reason": self.reason,
                "last_rating": self.last.rating if self.last else None,
                "stability_days": (None if self.stability_days is None
                                   else round(self.stability_days, 3)),
                "difficulty": None if self.difficulty is None else round(self.difficulty, 3),
                "misconception": self.misconception.id if self.misconception else None}


# -- FSRS ---------------------------------------------------------------------

def scheduler():
    """The FSRS scheduler drillpe uses (see the module's docstring)."""
    # deferred: fsrs is needed only when something is scheduled, never at CLI start
    import fsrs

    step = (timedelta(seconds=RELEARN_S),)
    return fsrs.Scheduler(learning_steps=step, relearning_steps=step, enable_fuzzing=False)


def utc(at: float) -> datetime:
    return datetime.fromtimestamp(at, timezone.utc)


def replay(reviews: list[tuple[float, str]], fsrs_scheduler=None):
    """The FSRS card after ``reviews`` ((unix time, rating name), oldest first), or None."""
    # deferred: fsrs is needed only when something is scheduled, never at CLI start
    import fsrs

    if not reviews:
        return None
    s = fsrs_scheduler or scheduler()
    card = fsrs.Card(card_id=1, due=utc(reviews[0][0]))
    for at, rating in reviews:
        card, _ = s.review_card(card, fsrs.Rating(RATINGS.index(rating) + 1), utc(at))
    return card


def _growth(s, card) -> float | None:
    """A good review at the due date's new interval over the current one (SM-2's ease)."""
    # deferred: fsrs is needed only when something is scheduled, never at CLI start
    import fsrs

    if card is None or card.last_review is None or card.step is not None:
        return None
    interval = (card.due - card.last_review).total_seconds()
    if interval <= 0:
        return None
    after, _ = s.review_card(card, fsrs.Rating.Good, card.due)
    return (after.due - card.due).total_seconds() / interval


# -- rounds ---------------------------------------------------------------------

def rounds_of(events: Events, minutes: int) -> list[Round]:
    """Split the attempts into rounds and rate each one."""
    groups: list[list[Attempt]] = []
    # tries only: a check of the untouched stub is none, a burst of watch saves is one
    for attempt in tries(events.attempts):
        current = groups[-1] if groups else None
        if (current is None or current[-1].passed
                or attempt.at - current[-1].at > ROUND_GAP_S
                or attempt.session != current[-1].session):
            groups.append([attempt])
        else:
            current.append(attempt)
    rounds = []
    previous_end = float("-inf")
    reveals = counted_reveals(events)  # a look back at a pass is no help with the next round
    for group in groups:
        start, end = group[0].at, group[-1].at
        # hints and reveals between the previous round and this round's end belong to it
        hints = max([lvl for at, lvl in events.hints if previous_end < at <= end]
                    + [a.hints_used for a in group] + [0])
        revealed = (any(previous_end < at <= end for at in reveals)
                    or any(a.revealed for a in group))
        # when work on it began: a watch or mock session says; plain checks cannot
        worked = [w.started_at for w in events.work
                  if previous_end < w.started_at + w.seconds and w.started_at <= end]
        begun = min(worked + [start])
        passed_at = next((a for a in group if a.passed), None)
        first_try = passed_at is group[0]
        in_budget = passed_at is not None and passed_at.at - begun <= minutes * 60
        if revealed:
            quality, rating = 1, "again"
        elif passed_at is None:
            quality, rating = 2, "again"
        elif hints or not first_try:
            rating = "hard"
            quality = 3 if hints or group.index(passed_at) + 1 > FEW_ATTEMPTS else 4
        elif in_budget:
            quality, rating = 5, ("easy" if worked else "good")
        else:
            quality, rating = 4, "good"
        diagnoses = [] if passed_at else list(group[-1].diagnoses)
        # every code named in the round, watch saves inside a burst included
        shown_at: dict[str, float] = {}
        for a in events.attempts:
            if previous_end < a.at <= end and not a.untouched:
                for code in a.diagnoses:
                    shown_at.setdefault(code, a.at)
        rounds.append(Round(group, start, end, quality, hints, revealed, passed_at is not None,
                            diagnoses, rating, list(shown_at), shown_at))
        previous_end = end
    return rounds


def _legacy_round(events: Events) -> Round | None:
    legacy = events.legacy
    if legacy is None or not legacy.attempts or legacy.last_at is None:
        return None
    passed = legacy.passes > 0 and legacy.last_result == "pass"
    quality = 1 if legacy.revealed else (4 if passed else 2)
    rating = "good" if passed and not legacy.revealed else "again"
    return Round([], legacy.last_at, legacy.last_at, quality, legacy.hints_seen, legacy.revealed,
                 passed, rating=rating)


def all_rounds(events: Events, minutes: int) -> list[Round]:
    rounds = rounds_of(events, minutes)
    legacy = _legacy_round(events)
    if legacy is not None and (not rounds or legacy.end < rounds[0].start):
        rounds.insert(0, legacy)
    return rounds


def plan(events: Events, minutes: int, now: float, fsrs_scheduler=None,
         rounds: list[Round] | None = None) -> Plan:
    rounds = all_rounds(events, minutes) if rounds is None else rounds
    s = (fsrs_scheduler or scheduler()) if rounds else None  # no fsrs for a blank history
    card = replay([(r.end, r.rating) for r in rounds], s)
    reps = 0
    for r in rounds:
        reps = 0 if r.rating == "again" else reps + 1
    last = rounds[-1] if rounds else None
    if card is None:
        result = Plan(events.exercise, None, 0.0, None, 0, None, 0)
    else:
        due_at = card.due.timestamp()
        result = Plan(events.exercise, due_at, due_at - card.last_review.timestamp(),
                      _growth(s, card), reps, last, len(rounds),
                      stability_days=card.stability, difficulty=card.difficulty)
    _explain(result, now)
    return result


def ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / DAY_S:.0f} d"


def _explain(p: Plan, now: float) -> None:
    """The plan's group and its reason, in the chosen language."""
    ui = catalog.ui
    if p.last is None:
        p.group, p.reason = 2, ui("why_never")
        return
    last = p.last
    when = ago(now - last.end)
    what = ui(f"why_q{last.quality}")
    if last.quality == 4 and last.attempts:
        n = next(i for i, a in enumerate(last.attempts, 1) if a.passed)
        what = ui("why_passed_in", n=n) if n > 1 else ui("why_first_over")
    if last.quality == 3:
        what = ((ui("why_hint_one") if last.hints == 1 else ui("why_hints", n=last.hints))
                if last.hints else ui("why_after", n=len(last.attempts)))
    if last.quality == 2 and last.diagnoses:
        what += " (" + ", ".join(last.diagnoses[:2]) + ")"
    p.overdue_s = now - p.due_at
    if p.overdue_s >= 0:
        if last.rating == "again":
            p.group = 0
            p.reason = ui("why_failed_due", what=what, when=when)
        else:
            p.group = 1
            p.reason = ui("why_review_due", what=what, when=when, interval=ago(p.interval_s),
                          overdue=ago(p.overdue_s))
    else:
        p.group = 3
        p.reason = ui("why_later", what=what, when=when, wait=ago(-p.overdue_s))


# -- misconceptions ---------------------------------------------------------------

def misconception_plans(rounds: dict[str, list[Round]], now: float,
                        fsrs_scheduler=None) -> list[Misconception]:
    """Every misconception the learner has shown, with its FSRS card's due date
    (``rounds``: exercise id -> its rounds). Most overdue (relative to its
    interval) first."""
    s = fsrs_scheduler or scheduler()
    out = []
    for m in catalog.misconceptions().values():
        codes = set(m.codes)
        reviews: list[tuple[float, str]] = []
        shown: list[tuple[float, str, str]] = []  # (at, code, exercise)
        for eid in m.exercises:
            for r in rounds.get(eid, []):
                mine = [(r.shown_at[c], c) for c in r.shown if c in codes]
                if mine:
                    first = min(at for at, _ in mine)
                    reviews.append((first, "again"))
                    shown.extend((at, code, eid) for at, code in mine)
                    shown.append((first, "", eid))  # one per round, for the counts
                elif r.passed and not r.revealed and r.attempts:
                    reviews.append((r.end, "good"))
        if not shown:
            continue
        reviews.sort()
        card = replay(reviews, s)
        occasions = [item for item in shown if not item[1]]
        latest = max(occasions)
        named = sorted((item for item in shown if item[1]), reverse=True)
        codes_seen = list(dict.fromkeys(code for _, code, _ in named))
        due_at = card.due.timestamp()
        out.append(Misconception(
            m.id, m.name, due_at, due_at - card.last_review.timestamp(), len(occasions),
            sum(1 for at, _, _ in occasions if now - at <= WEEK_S), codes_seen, latest[0],
            latest[2], due=due_at <= now))
    out.sort(key=lambda mp: (-(now - mp.due_at) / max(mp.interval_s, RELEARN_S), mp.id))
    return out


def _times(n: int) -> str:
    ui = catalog.ui
    return ui("times_once") if n == 1 else ui("times_twice") if n == 2 else ui("times_n", n=n)


def _bring_back(plans: dict[str, Plan], mp: Misconception, now: float) -> None:
    """Attach a due misconception to an exercise where it can recur, and say why."""
    candidates = list(catalog.misconceptions()[mp.id].exercises)
    others = [eid for eid in candidates if eid != mp.last_exercise and eid in plans]
    pool = others or [eid for eid in candidates if eid in plans]
    free = [eid for eid in pool if plans[eid].misconception is None]
    if not free:
        return

    def practised(eid: str) -> float:
        last = plans[eid].last
        return float("-inf") if last is None else last.end

    chosen = min(free, key=lambda eid: (practised(eid), candidates.index(eid)))
    mp.exercise = chosen
    p = plans[chosen]
    p.misconception = mp
    codes = ", ".join(mp.codes[:2])
    # "alibi asks for it too" read oddly where alibi was where it showed (helper-145)
    same = "_same" if chosen == mp.last_exercise else ""
    if mp.made_week:
        sentence = catalog.ui("why_misconception" + same, name=mp.name,
                              times=_times(mp.made_week), codes=codes, id=chosen)
    else:
        sentence = catalog.ui("why_misconception_old" + same, name=mp.name,
                              when=ago(now - mp.last_at), codes=codes, id=chosen)
    if p.group == 0:  # failed and due already: that comes first, the misconception adds to it
        p.reason = f"{p.reason}; {sentence}"
    else:
        p.group, p.reason = 1, sentence


# -- the order ---------------------------------------------------------------------

def started(exercise_id: str, workspace: Path) -> bool:
    """Whether the learner has a file for the exercise: in this workspace, or
    where ``start`` wrote it before (so ``next`` offers a reset, never a second start)."""
    here = places.learner_file(exercise_id, workspace)
    return here.is_file() or bool(places.started_elsewhere(exercise_id, here))


def schedule_all(all_events: dict[str, Events], exercises: list,
                 now: float) -> tuple[list[Plan], list[Misconception]]:
    """Every exercise, the one to practise now first; and every misconception shown.

    Order: failed and due (oldest due first), reviews due, a due misconception's
    exercise among them (most overdue relative to their interval first), never
    practised, then the rest by due date. Never practised ones come in the order of
    ``exercises`` (the commands pass `list`'s) from the one after the exercise
    practised last (after a first pass of rope, rope_neox, not sinusoidal: the path
    the learner is on). `check` after a pass names the first of this order.
    """
    s = scheduler()
    rounds = {ex.id: all_rounds(all_events.get(ex.id) or Events(ex.id), ex.minutes)
              for ex in exercises}
    order = {ex.id: n for n, ex in enumerate(exercises)}
    latest = max(((r[-1].end, ex_id) for ex_id, r in rounds.items() if r), default=None)
    start = order[latest[1]] + 1 if latest else 0
    plans = {ex.id: plan(all_events.get(ex.id) or Events(ex.id), ex.minutes, now, s,
                         rounds[ex.id]) for ex in exercises}
    mistakes = misconception_plans(rounds, now, s)
    for mp in mistakes:
        if mp.due:
            _bring_back(plans, mp, now)

    def key(p: Plan):
        if p.group == 0:
            return (0, p.due_at, order[p.exercise])
        if p.group == 1:
            card = p.misconception if p.overdue_s < 0 or p.due_at is None else p
            overdue = now - card.due_at
            return (1, -overdue / max(card.interval_s, RELEARN_S), order[p.exercise])
        if p.group == 2:
            return (2, 0.0, (order[p.exercise] - start) % len(order))
        return (3, p.due_at, order[p.exercise])

    return sorted(plans.values(), key=key), mistakes


def learners_plan(all_events: dict[str, Events], now: float
                  ) -> tuple[list[Plan], list[Misconception]]:
    """:func:`schedule_all` over every exercise in `drillpe list`'s order: what `next`
    shows and what `check` names after a pass (one call, so the two cannot differ)."""
    return schedule_all(all_events, catalog.by_topic(), now)


def recommend(all_events: dict[str, Events], exercises: list, now: float) -> list[Plan]:
    """Every exercise, the one to practise now first (see :func:`schedule_all`)."""
    return schedule_all(all_events, exercises, now)[0]


def pick_for_mock(all_events: dict[str, Events], exercises: list, count: int, now: float,
                  seed: int | None) -> list[str]:
    """``count`` distinct exercise ids, drawn with weights that favour weak
    and never-done exercises: failed or revealed 4, never done 3, review due
    (or brought back by a misconception) 2, the rest 1. The same seed and
    history give the same draw."""
    weights = {0: 4.0, 2: 3.0, 1: 2.0, 3: 1.0}
    pool = [(p.exercise, weights[p.group]) for p in recommend(all_events, exercises, now)]
    pool.sort(key=lambda item: item[0])  # draw order must not depend on ties in recommend
    rng = random.Random(seed)
    chosen: list[str] = []
    while pool and len(chosen) < count:
        total = sum(w for _, w in pool)
        x = rng.uniform(0, total)
        for index, (exercise_id, w) in enumerate(pool):
            x -= w
            if x <= 0 or index == len(pool) - 1:
                chosen.append(exercise_id)
                del pool[index]
                break
    return chosen
