"""The mock interview flow: grading a session, recording it, the follow-up
questions, and the live terminal view (countdown, per-file status, keys).

This module owns the terminal while a round runs. Session state and the pure
parts are in drillpe.practice.mock; what is drawn is in
drillpe.render.practice_views; drillpe.commands.rounds only parses options. The session file is saved after every step, so a
closed terminal loses nothing: ``drillpe mock resume``, ``status`` and
``submit`` carry on from disk.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from drillpe.data import catalog, places
from drillpe.launch.runner import GradeRequest, grade
from drillpe.practice import mock
from drillpe.practice.watch import FileWatcher, signature
from drillpe.results.history import Attempt, History, Work
from drillpe.results.report import ExerciseResult

TICK_S = 0.1
RATING_PROMPT = "How close was your answer? 0 not at all · 1 partly · 2 mostly · 3 fully: "


def grade_file(session: mock.Session, exercise_id: str, launcher=None, timeout: float = 20.0
               ) -> ExerciseResult:
    path = session.path(exercise_id)
    if not path.is_file():
        # the stub was deleted: grade an empty file, which fails as "missing names"
        path.write_text("", encoding="utf-8")
    seed = session.seed if session.seed is not None else 0
    return grade(GradeRequest(exercise_id=exercise_id, file=path, seed=seed, timeout=timeout,
                              display_path=places.display(path)), launcher=launcher)


def submit(session: mock.Session, results: dict[str, ExerciseResult], history: History,
           now: float) -> dict:
    """Record the grades, hints and reveals of the session and mark it submitted."""
    session.results = {eid: mock.result_entry(r) for eid, r in results.items()}
    session.state = "submitted"
    session.submitted_at = now
    for eid in session.exercises:
        session.hints[eid] = max(session.hints.get(eid, 0),
                                 history.hints_between(eid, session.started_at, now))
        session.revealed[eid] = (session.revealed.get(eid, False)
                                 or history.revealed_between(eid, session.started_at, now))
    mock.attach_followups(session)
    session.save()
    return record(session, history)


def record(session: mock.Session, history: History) -> dict:
    """Write the session, its attempts and its time into the history (again
    after the follow-ups: the record is replaced, never doubled)."""
    now = session.submitted_at or time.time()
    report = mock.report(session, now)
    attempts = []
    for eid in session.exercises:
        entry = session.results.get(eid)
        if entry is None:
            continue
        attempts.append(Attempt(
            exercise=eid, at=now, passed=bool(entry["passed"]), score=float(entry["score"]),
            error_kind=(entry.get("error") or {}).get("kind"),
            failed_checks=entry.get("failed_checks", []), diagnoses=entry.get("diagnoses", []),
            duration_s=entry.get("duration_s"), hints_used=session.hints.get(eid, 0),
            revealed=bool(session.revealed.get(eid)), source="mock", session=session.id,
            seed=entry.get("seed"), device=entry.get("device")))
    share = session.time_used(now) / max(1, len(session.exercises))
    work = [Work(eid, session.started_at, share, "mock", session.id) for eid in session.exercises]
    history.record_session(session.id, "mock", session.started_at, now, report["score"], report,
                           attempts, work)
    return report


def ask_followups(session: mock.Session, history: History, read: Callable[[str], str]) -> None:
    """Ask each pending question; show the model answer after an answer or a
    skip; take a self-rating. Saved after every question. Ctrl-D or Ctrl-C
    stops, keeping what was answered (``drillpe mock questions`` goes on)."""
    # deferred: screens load when the round draws
    from drillpe.render import practice_views as view

    try:
        for eid in session.exercises:
            items = session.followups.get(eid, [])
            pending = [f for f in items if f.answer is None and not f.skipped]
            if not pending:
                continue
            view.followup_intro(eid, len(items))
            for number, item in enumerate(items, 1):
                if item.answer is not None or item.skipped:
                    continue
                view.followup_question(number, len(items), item.question)
                lines = []
                while True:
                    line = read("> ")
                    if not line.strip():
                        break
                    if not lines and line.strip().lower() == "skip":
                        lines.append("skip")
                        break
                    lines.append(line.rstrip())
                text = "\n".join(lines).strip()
                if not text or text.lower() == "skip":
                    item.skipped, item.answer, item.rating = True, "", 0
                else:
                    item.answer = text
                view.followup_answer(item.model_answer)
                if not item.skipped:
                    item.rating = _rating(read)
                session.save()
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        session.save()
        record(session, history)


def _rating(read: Callable[[str], str]) -> int:
    while True:
        answer = read(RATING_PROMPT).strip()
        if answer in ("0", "1", "2", "3"):
            return int(answer)


# ---------------------------------------------------------------------------
# the live view


class Live:
    """State of the live mock: cached grades per file version, so grading on
    save, on 'g' and at the end never grades the same file twice."""

    def __init__(self, session: mock.Session, history: History, launcher):
        self.session = session
        self.history = history
        self.launcher = launcher
        self.watcher = FileWatcher([session.path(eid) for eid in session.exercises])
        self.cache: dict[str, tuple[tuple | None, ExerciseResult]] = {}
        self.shown: dict[str, ExerciseResult] = {}  # after 'g'
        self.focus = 0
        self.message: str | None = None
        self.hint = None
        self.confirm_submit = False

    def result(self, eid: str) -> ExerciseResult:
        path = self.session.path(eid)
        sig = signature(path)
        cached = self.cache.get(eid)
        if cached is not None and cached[0] == sig and sig is not None:
            return cached[1]
        result = grade_file(self.session, eid, self.launcher)
        self.cache[eid] = (signature(path), result)
        return result

    def runs(self) -> dict:
        return {eid: mock.run_status(r) for eid, (_, r) in self.cache.items()}

    def files(self) -> list[dict]:
        return [mock.file_status(self.session, eid) for eid in self.session.exercises]

    def on_save(self) -> bool:
        changed = self.watcher.changed()
        for path in changed:
            self.watcher.settle(path)
            self.result(Path(path).stem)
        return bool(changed)

    def grade_all(self) -> dict[str, ExerciseResult]:
        results = {eid: self.result(eid) for eid in self.session.exercises}
        self.shown = dict(results)
        return results

    def next_hint(self) -> None:
        eid = self.session.exercises[self.focus]
        exercise = catalog.get(eid)
        # an interview starts the hints over: level 1 is the first one asked here
        level = min(self.session.hints.get(eid, 0) + 1, len(exercise.hints))
        self.history.record_hint(eid, level)
        self.session.hints[eid] = max(self.session.hints.get(eid, 0), level)
        self.session.save()
        # deferred: screens load when the round draws
        from drillpe.render import practice_views as view

        self.hint = view.hint_panel(exercise, level)

    def view(self):
        # deferred: screens load when the round draws
        from drillpe.render import practice_views as view

        return view.mock_live_view(self.session, time.time(), self.files(), self.runs(),
                                   self.shown, self.focus, self.message, self.hint)


def run_live(state: Live, keys) -> str:
    """The live countdown until submit, time up, or leaving. Returns
    'submit', 'time' or 'left'; ``state`` keeps the grades for the end."""
    # deferred: rich.live and the screens load only when the round draws
    from rich.live import Live as RichLive

    from drillpe.render import practice_views as view

    session = state.session
    with RichLive(state.view(), console=view.out, auto_refresh=False,
                  redirect_stdout=False, redirect_stderr=False) as live:
        for eid in session.exercises:  # first status of each file (pays the torch import once)
            state.result(eid)
            live.update(state.view(), refresh=True)
        while True:
            if session.time_left(time.time()) <= 0:
                state.message = "Time is up: grading…"
                live.update(state.view(), refresh=True)
                return "time"
            key = keys.poll(TICK_S)
            if key is not None:
                if key != "s":
                    state.confirm_submit = False
                if key in ("q", "Q"):
                    return "left"
                if key == "g":
                    state.message = "Grading…"
                    live.update(state.view(), refresh=True)
                    state.grade_all()
                    state.message = None
                elif key == "h":
                    state.next_hint()
                elif key == "s":
                    if state.confirm_submit:
                        return "submit"
                    state.confirm_submit = True
                    state.message = "Press s again to submit now (any other key cancels)."
                elif key.isdigit() and 1 <= int(key) <= len(session.exercises):
                    state.focus = int(key) - 1
                    state.hint = None
            state.on_save()
            live.update(state.view(), refresh=True)
