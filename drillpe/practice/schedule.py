"""What to practise next: spaced repetition over the history (SM-2 style).

Attempts on one exercise are grouped into rounds (a round ends at a pass, at
a long break, or with its mock session). Each round gets a quality from 0 to
5, and SM-2's rule turns the qualities into the next review date:

- revealed the reference during the round → 1 (counts as failed);
- no pass → 2 (failed: back in RELEARN_S, the repetitions start over);
- passed with hints or after many attempts → 3;
- passed without hints in a few attempts → 4;
- passed on the first attempt of the round, no hints, within the exercise's
  time budget → 5.

A passed round's interval is 1 day, then 6, then the previous interval times
the ease factor, which grows with good rounds and shrinks with poor ones.
Pure functions of events and "now": tested on made-up histories.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drillpe.data import catalog, places
from drillpe.results.history import Attempt, Events
from drillpe.results.progress import tries

DAY_S = 86400.0
ROUND_GAP_S = 6 * 3600.0  # a longer pause between attempts starts a new round
RELEARN_S = 10 * 60.0  # a failed exercise comes back this soon
EASE_START = 2.5
EASE_MIN = 1.3
FEW_ATTEMPTS = 3


@dataclass
class Round:
    attempts: list[Attempt]
    start: float
    end: float
    quality: int
    hints: int
    revealed: bool
    passed: bool
    diagnoses: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """One exercise's place in the schedule at ``now``."""

    exercise: str
    due_at: float | None  # None: never practised
    interval_s: float
    ease: float
    repetitions: int
    last: Round | None
    rounds: int
    reason: str = ""
    group: int = 0  # 0 failed and due, 1 review due, 2 never practised, 3 not yet due
    overdue_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"exercise": self.exercise, "due_at": self.due_at,
                "interval_days": round(self.interval_s / DAY_S, 3), "ease": round(self.ease, 2),
                "repetitions": self.repetitions, "rounds": self.rounds,
                "last_quality": self.last.quality if self.last else None,
                "due": self.group in (0, 1, 2), "reason": self.reason}


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
    for group in groups:
        start, end = group[0].at, group[-1].at
        # hints and reveals between the previous round and this round's end belong to it
        hints = max([lvl for at, lvl in events.hints if previous_end < at <= end]
                    + [a.hints_used for a in group] + [0])
        revealed = (any(previous_end < at <= end for at in events.reveals)
                    or any(a.revealed for a in group))
        # when work on it began: a watch or mock session says; plain checks cannot
        begun = min([w.started_at for w in events.work
                     if previous_end < w.started_at + w.seconds and w.started_at <= end]
                    + [start])
        passed_at = next((a for a in group if a.passed), None)
        if revealed:
            quality = 1
        elif passed_at is None:
            quality = 2
        elif hints or group.index(passed_at) + 1 > FEW_ATTEMPTS:
            quality = 3
        elif passed_at is group[0] and passed_at.at - begun <= minutes * 60:
            quality = 5
        else:
            quality = 4
        diagnoses = [] if passed_at else list(group[-1].diagnoses)
        rounds.append(Round(group, start, end, quality, hints, revealed, passed_at is not None,
                            diagnoses))
        previous_end = end
    return rounds


def _legacy_round(events: Events) -> Round | None:
    legacy = events.legacy
    if legacy is None or not legacy.attempts or legacy.last_at is None:
        return None
    passed = legacy.passes > 0 and legacy.last_result == "pass"
    quality = 1 if legacy.revealed else (4 if passed else 2)
    return Round([], legacy.last_at, legacy.last_at, quality, legacy.hints_seen, legacy.revealed,
                 passed)


def plan(events: Events, minutes: int, now: float) -> Plan:
    rounds = rounds_of(events, minutes)
    legacy = _legacy_round(events)
    if legacy is not None and (not rounds or legacy.end < rounds[0].start):
        rounds.insert(0, legacy)
    ease, reps, interval = EASE_START, 0, 0.0
    for r in rounds:
        q = r.quality
        if q < 3:
            reps, interval = 0, RELEARN_S
        else:
            reps += 1
            interval = DAY_S if reps == 1 else 6 * DAY_S if reps == 2 else interval * ease
        ease = max(EASE_MIN, ease + 0.1 - (5 - q) * (0.08 + (5 - q) * 0.02))
    last = rounds[-1] if rounds else None
    due_at = last.end + interval if last else None
    result = Plan(events.exercise, due_at, interval, ease, reps, last, len(rounds))
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
        if last.quality < 3:
            p.group = 0
            p.reason = ui("why_failed_due", what=what, when=when)
        else:
            p.group = 1
            p.reason = ui("why_review_due", what=what, when=when, interval=ago(p.interval_s),
                          overdue=ago(p.overdue_s))
    else:
        p.group = 3
        p.reason = ui("why_later", what=what, when=when, wait=ago(-p.overdue_s))


def started(exercise_id: str, workspace: Path) -> bool:
    """Whether the learner has a file for the exercise: in this workspace, or
    where ``start`` wrote it before (so ``next`` offers a reset, never a second start)."""
    here = places.learner_file(exercise_id, workspace)
    return here.is_file() or bool(places.started_elsewhere(exercise_id, here))


def recommend(all_events: dict[str, Events], exercises: list, now: float) -> list[Plan]:
    """Every exercise, the one to practise now first.

    Order: failed and due (oldest due first), reviews due (most overdue
    relative to their interval first), never practised (catalog order),
    then the rest by due date.
    """
    plans = []
    for order, ex in enumerate(exercises):
        p = plan(all_events.get(ex.id) or Events(ex.id), ex.minutes, now)
        plans.append((order, p))

    def key(item):
        order, p = item
        if p.group == 0:
            return (0, p.due_at, order)
        if p.group == 1:
            return (1, -p.overdue_s / max(p.interval_s, RELEARN_S), order)
        if p.group == 2:
            return (2, 0.0, order)
        return (3, p.due_at, order)

    return [p for _, p in sorted(plans, key=key)]


def pick_for_mock(all_events: dict[str, Events], exercises: list, count: int, now: float,
                  seed: int | None) -> list[str]:
    """``count`` distinct exercise ids, drawn with weights that favour weak
    and never-done exercises: failed or revealed 4, never done 3, review due
    2, the rest 1. The same seed and history give the same draw."""
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
