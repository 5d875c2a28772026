"""Figures drawn from the history: per-exercise summaries, time spent, the
calendar of recent days and streaks. Pure functions of recorded events and
"now", so they are tested on made-up histories without a database or clock.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from drillpe.results.events import Attempt, Events

# Checks, hints and reveals closer together than this are counted as one
# stretch of work; a longer gap is a break and is not counted.
WORK_GAP_S = 15 * 60
STATUS_ORDER = {"failing": 0, "revealed": 1, "passed": 2, "new": 3}
# Watch grades of one exercise closer together than this are one burst of saves.
BURST_GAP_S = 120.0
# A reveal this soon after a pass, with no grade between, is a look back at the work
# that passed (as `drillpe diff ID answer` is, once passed), not help with a round.
LOOK_BACK_S = 6 * 3600.0


def tries(attempts: list[Attempt]) -> list[Attempt]:
    """The attempts that count as tries, oldest first (``pass/try`` in stats,
    the attempts of a round in ``next``).

    - A check of the untouched stub (the file's text was the exercise's stub,
      in any language, when it was recorded) is no try: nothing was tried.
    - A burst of watch saves is one try: consecutive ``watch`` grades of the
      exercise, each less than BURST_GAP_S seconds after the one before, with
      no pass before the last of them. A pass ends its burst, so a burst
      counts as passed exactly when its last grade passed; the burst is
      represented by that last grade.
    - Every ``check`` and every mock attempt is one try.
    - A check or watch grade of the same code as the try before it, on the same
      device and with the same verdict, is no new try: nothing new was tried, and
      counting it would make a pass look easier than the round that earned it.
    - A ``debug`` attempt (``drillpe debug --check``: fixing a planted mistake in a
      given answer) is no try of the exercise: its round is a session of its own.
    """
    counted: list[Attempt] = []
    for attempt in attempts:
        if attempt.untouched or attempt.source == "debug":
            continue
        previous = counted[-1] if counted else None
        if previous is not None and _repeats(attempt, previous):
            continue
        if (previous is not None and attempt.source == "watch" and previous.source == "watch"
                and not previous.passed and attempt.at - previous.at < BURST_GAP_S):
            counted[-1] = attempt  # the same burst; its latest grade stands for it
            continue
        counted.append(attempt)
    return counted


def _repeats(attempt: Attempt, previous: Attempt) -> bool:
    return (attempt.code is not None and attempt.code == previous.code
            and attempt.source in ("check", "watch") and previous.source in ("check", "watch")
            and attempt.device == previous.device and attempt.passed == previous.passed)


def look_back(events: Events, at: float) -> float | None:
    """When a reveal at ``at`` looks back at a pass: the time of that pass (the
    latest grade before ``at``, no more than LOOK_BACK_S before it); else None."""
    graded = [a for a in events.attempts
              if a.at <= at and not a.untouched and a.source != "debug"]
    if graded and graded[-1].passed and at - graded[-1].at <= LOOK_BACK_S:
        return graded[-1].at
    return None


def counted_reveals(events: Events) -> list[float]:
    """The reveals that count as help (a round with one is rated Again, stats'
    ◆): all but the looks back at a pass."""
    return [at for at in events.reveals if look_back(events, at) is None]


def _iso(at: float | None) -> str | None:
    if at is None:
        return None
    return datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="seconds")


def event_times(events: Events) -> list[float]:
    times = [a.at for a in events.attempts if not a.untouched] + [at for at, _ in events.hints] + events.reveals
    times += [w.started_at for w in events.work]
    times += [w.started_at + w.seconds for w in events.work]
    if events.legacy and events.legacy.last_at is not None:
        times.append(events.legacy.last_at)
    return sorted(times)


def time_spent(events: Events) -> float:
    """Seconds of work: watch and mock sessions as recorded, plus the gaps
    between checks, hints and reveals outside them when under WORK_GAP_S."""
    spans = [(w.started_at, w.started_at + w.seconds) for w in events.work]
    loose = sorted(t for t in ([a.at for a in events.attempts
                                if a.source == "check" and not a.untouched]
                               + [at for at, _ in events.hints] + events.reveals)
                   if not any(start <= t <= end for start, end in spans))
    gaps = sum(b - a for a, b in zip(loose, loose[1:]) if b - a <= WORK_GAP_S)
    return sum(w.seconds for w in events.work) + gaps


def summarise(events: Events, now: float) -> dict[str, Any]:
    attempts = tries(events.attempts)
    legacy = events.legacy
    passes = [a for a in attempts if a.passed]
    scores = [a.score for a in attempts] + ([legacy.best_score] if legacy and
                                            legacy.best_score is not None else [])
    last = attempts[-1] if attempts else None
    # a re-check of unchanged code is no try, but it is the latest check
    last_checked = max((a.at for a in events.attempts
                        if not a.untouched and a.source != "debug"), default=None)
    times = event_times(events)
    first_pass = passes[0] if passes else None
    first_event = times[0] if times else None
    hints_ever = max([level for _, level in events.hints] + [legacy.hints_seen if legacy else 0])
    revealed_ever = bool(counted_reveals(events)) or bool(legacy and legacy.revealed)
    if last is not None:
        last_result = "pass" if last.passed else "fail"
    else:
        last_result = legacy.last_result if legacy else None
    total_attempts = len(attempts) + (legacy.attempts if legacy else 0)
    total_passes = len(passes) + (legacy.passes if legacy else 0)

    if not total_attempts:
        status = "new"
    elif last_result != "pass":
        status = "failing"
    elif last is not None and last.revealed:
        status = "revealed"
    else:
        status = "passed"
    return {
        "exercise": events.exercise,
        "status": status,
        "attempts": total_attempts,
        "passes": total_passes,
        "best_score": max(scores) if scores else None,
        "last_result": last_result,
        "last_checked": _iso(last_checked if last_checked is not None
                             else (legacy.last_at if legacy else None)),
        "hints_seen": hints_ever,
        "revealed": revealed_ever,
        "attempts_to_first_pass": attempts.index(first_pass) + 1 if first_pass else None,
        "time_to_first_pass_s": (round(first_pass.at - first_event, 1)
                                 if first_pass and first_event is not None else None),
        "time_spent_s": round(time_spent(events), 1),
        "last_practised": _iso(times[-1]) if times else None,
        "days_since_practised": round((now - times[-1]) / 86400, 2) if times else None,
    }


def weakest_first(summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Failing before revealed before passed; never practised last; within a
    group, the lower best score and then the lower pass rate first."""
    def key(s: dict[str, Any]):
        rate = s["passes"] / s["attempts"] if s["attempts"] else 1.0
        return (STATUS_ORDER[s["status"]], s["best_score"] if s["best_score"] is not None else 0.0,
                rate, s["exercise"])
    return sorted(summaries, key=key)


def local_day(at: float) -> date:
    return datetime.fromtimestamp(at).date()


def calendar(all_events: list[Events], now: float, days: int = 28) -> list[dict[str, Any]]:
    """The last ``days`` local days, oldest first: attempts, passes, and
    whether anything at all was done (a hint or a session counts)."""
    today = local_day(now)
    per_day: dict[date, dict[str, Any]] = {
        today - timedelta(days=i): {"attempts": 0, "passes": 0, "active": False}
        for i in range(days)}
    for events in all_events:
        for a in tries(events.attempts):
            cell = per_day.get(local_day(a.at))
            if cell is not None:
                cell["attempts"] += 1
                cell["passes"] += int(a.passed)
                cell["active"] = True
        for t in event_times(events):
            cell = per_day.get(local_day(t))
            if cell is not None:
                cell["active"] = True
    return [{"date": d.isoformat(), **per_day[d]} for d in sorted(per_day)]


def streaks(all_events: list[Events], now: float) -> dict[str, int]:
    """current: consecutive active days up to today (or up to yesterday when
    today is still empty); longest: over the whole history."""
    active = sorted({local_day(t) for events in all_events for t in event_times(events)})
    longest = run = 0
    previous: date | None = None
    for day in active:
        run = run + 1 if previous is not None and day - previous == timedelta(days=1) else 1
        longest = max(longest, run)
        previous = day
    today = local_day(now)
    current = 0
    day = today if today in active else today - timedelta(days=1)
    active_set = set(active)
    while day in active_set:
        current += 1
        day -= timedelta(days=1)
    return {"current": current, "longest": longest, "active_days": len(active)}
