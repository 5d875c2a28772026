"""The mock interview flow: grading a session, recording it, the follow-up
questions, and the live terminal view (countdown, per-file status, keys).

This module owns the terminal while a round runs. Session state and the pure
parts are in drillpe.practice.mock; what is drawn is in
drillpe.render.practice_views; drillpe.commands.rounds only parses options. The session file is saved after every step, so a
closed terminal loses nothing: ``drillpe mock resume``, ``status`` and
``submit`` carry on from disk.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from drillpe.data import catalog, debug_material, places
from drillpe.launch.runner import GradeRequest, grade
from drillpe.practice import mock
from drillpe.practice.watch import FileWatcher, signature
from drillpe.results.history import Attempt, History, Work, read_source
from drillpe.results.report import ExerciseResult

TICK_S = 0.1
JOIN_ON_LEAVE_S = 30.0  # a grade under way when leaving: time for its own cleanup


def _empty_if_deleted(path: Path) -> None:
    """A deleted answer is graded as an empty file, which fails as "missing names".
    Only where nothing is: a link is not written through, and a FIFO or folder
    put there is left for the grade to refuse with a clear error (opening a FIFO
    to write it once hung `mock submit`)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o644))
    except FileExistsError:
        pass


def grade_file(session: mock.Session, exercise_id: str, launcher=None, timeout: float = 20.0
               ) -> ExerciseResult:
    path = session.path(exercise_id)
    _empty_if_deleted(path)
    seed = session.seed if session.seed is not None else 0
    return grade(GradeRequest(exercise_id=exercise_id, file=path, seed=seed, timeout=timeout,
                              display_path=places.display(path)), launcher=launcher)


def grade_debug(session: mock.Session, launcher=None, timeout: float = 20.0
                ) -> ExerciseResult | None:
    """The debug round's file, graded like the others (None without a debug round)."""
    path = mock.debug_path(session)
    if path is None:
        return None
    _empty_if_deleted(path)
    seed = session.seed if session.seed is not None else 0
    return grade(GradeRequest(exercise_id=session.debug["exercise"], file=path, seed=seed,
                              timeout=timeout, display_path=places.display(path)),
                 launcher=launcher)


def submit(session: mock.Session, results: dict[str, ExerciseResult], history: History,
           now: float, debug: ExerciseResult | None = None) -> dict:
    """Record the grades, hints and reveals of the session and mark it submitted."""
    session.results = {eid: mock.result_entry(r) for eid, r in results.items()}
    for eid, result in results.items():  # the final grades into the timeline
        text = _source(session, eid)
        mock.add_step(session, eid, result, now, history.keep(eid, text, result), final=True)
    if session.debug is not None and debug is not None:
        session.debug["result"] = mock.result_entry(debug)
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
            seed=entry.get("seed"), device=entry.get("device"),
            # a stub left as the session wrote it is no try, as for check and watch
            untouched=_untouched(session, eid)))
    entry = (session.debug or {}).get("result")
    if entry is not None:  # the debug round: no try of its exercise (progress.tries)
        attempts.append(Attempt(
            exercise=session.debug["exercise"], at=now, passed=bool(entry["passed"]),
            score=float(entry["score"]), error_kind=(entry.get("error") or {}).get("kind"),
            failed_checks=entry.get("failed_checks", []), diagnoses=entry.get("diagnoses", []),
            duration_s=entry.get("duration_s"), source="debug", session=session.id,
            seed=entry.get("seed"), device=entry.get("device")))
    share = session.time_used(now) / max(1, len(session.exercises))
    work = [Work(eid, session.started_at, share, "mock", session.id) for eid in session.exercises]
    kept = {}
    for eid, steps in session.timeline.items():
        final = next((s for s in reversed(steps) if s.get("final")), None)
        if final is not None:
            kept[eid] = {"code": final.get("sha256"), "report": final.get("report_sha256")}
    history.record_session(session.id, "mock", session.started_at, now, report["score"], report,
                           attempts, work, kept)
    return report


def _source(session: mock.Session, exercise_id: str) -> str | None:
    return read_source(session.path(exercise_id))


def _untouched(session: mock.Session, exercise_id: str) -> bool:
    status = mock.file_status(session, exercise_id)
    return status["exists"] and not status["edited"]


def ask_followups(session: mock.Session, history: History, read: Callable[[str], str]) -> None:
    """Ask each pending question, in the language chosen now (the questions are
    stored by id); show the model answer after an answer or a skip; take a
    self-rating. Saved after every question. Ctrl-D or Ctrl-C stops, keeping
    what was answered (``drillpe mock questions`` goes on)."""
    # deferred: screens load when the round draws
    from drillpe.render import practice_views as view

    try:
        if session.debug is not None and session.debug.get("answer") is None:
            ask_debug_name(session, read)
        for eid in session.exercises:
            items = session.followups.get(eid, [])
            pending = [f for f in items if f.answer is None and not f.skipped]
            if not pending:
                continue
            view.followup_intro(eid, len(items))
            for number, item in enumerate(items, 1):
                if item.answer is not None or item.skipped:
                    continue
                question, model_answer = mock.followup_texts(eid, item)
                view.followup_question(number, len(items), question)
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
                view.followup_answer(model_answer)
                if not item.skipped:
                    item.rating = rating(read, view.rating_prompt(), view.followup_bad_rating)
                session.save()
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        session.save()
        record(session, history)


def ask_debug_name(session: mock.Session, read: Callable[[str], str]) -> None:
    """The debug round's question, multiple choice: which mistake was planted?
    An empty answer leaves it for later (``drillpe mock questions``)."""
    # deferred: screens load when the round draws
    from drillpe.render import debug_views

    choices = session.debug["choices"]
    debug_views.mock_question(str(mock.debug_path(session)), choices)
    while True:
        answer = read(debug_views.prompt_text(len(choices))).strip()
        if not answer:
            return
        code = debug_material.answer_code(answer, choices)
        if code is not None:
            break
        debug_views.bad_answer(answer, choices)
    session.debug["answer"] = code
    session.save()
    debug_views.answered(code == session.debug["code"], code, session.debug["code"])


def rating(read: Callable[[str], str], prompt: str, bad: Callable[[str], None]) -> int:
    """A self-rating 0..3; anything else is said to be out of range and asked again."""
    while True:
        answer = read(prompt).strip()
        if answer in ("0", "1", "2", "3"):
            return int(answer)
        bad(answer)


# ---------------------------------------------------------------------------
# the live view


class Live:
    """State of the live mock: cached grades per file version, so grading on
    save, on 'g' and at the end never grades the same file twice.

    Grades run in a background thread, one at a time, while the UI loop keeps
    redrawing the clock and reading keys: :meth:`tick` starts the next grade
    that is due and collects a finished one. A grade raises nothing in the
    thread: a drillpe error is carried back and raised by :meth:`tick` in the
    loop, as a synchronous grade would have."""

    def __init__(self, session: mock.Session, history: History, launcher):
        self.session = session
        self.history = history
        self.launcher = launcher
        self.watcher = FileWatcher([session.path(eid) for eid in session.exercises])
        self.cache: dict[str, tuple[tuple | None, ExerciseResult]] = {}
        self.focus = 0
        self.message: str | None = None
        self.hint = None
        self.confirm_submit = False
        self.queue: list[str] = []  # exercises to grade, in order
        self.want_shown = False  # 'g' was pressed: show the grades once the queue is done
        self.job: threading.Thread | None = None
        self.job_exercise: str | None = None
        self._done: tuple | None = None  # (exercise, signature, result or exception, source)

    # the cache ---------------------------------------------------------------
    def fresh(self, eid: str) -> bool:
        sig = signature(self.session.path(eid))
        cached = self.cache.get(eid)
        return cached is not None and sig is not None and cached[0] == sig

    def result(self, eid: str) -> ExerciseResult:
        """The grade of the file as it is now (graded here, in the caller's thread,
        unless cached)."""
        if self.fresh(eid):
            return self.cache[eid][1]
        sig = signature(self.session.path(eid))
        text = _source(self.session, eid)
        result = grade_file(self.session, eid, self.launcher)
        self.cache[eid] = (sig, result)
        self._keep(eid, result, text)
        return result

    def _keep(self, eid: str, result: ExerciseResult, text: str | None) -> None:
        """A grade of the round into the history's timeline (not a try: the
        final grade at submit is) and the session's."""
        now = time.time()
        self.history.record_check(result, source="mock", session=self.session.id, at=now,
                                  text=text, counted=False,
                                  untouched=_untouched(self.session, eid))
        kept = self.history.keep(eid, text, result)  # stored just now: only the keys
        mock.add_step(self.session, eid, result, now, kept)
        self.session.save()

    # background grades ----------------------------------------------------
    @property
    def grading(self) -> frozenset[str]:
        """The exercises being graded or waiting for a grade."""
        running = {self.job_exercise} if self.job is not None else set()
        return frozenset(running | set(self.queue))

    def request(self, eid: str) -> None:
        if eid not in self.queue and eid != self.job_exercise:
            self.queue.append(eid)

    def _run(self, eid: str, sig) -> None:
        text = _source(self.session, eid)  # the version graded, read before the grade
        try:
            outcome = grade_file(self.session, eid, self.launcher)
        except BaseException as exc:  # carried to the UI loop, raised there
            outcome = exc
        self._done = (eid, sig, outcome, text)

    def _collect(self) -> None:
        """Take in the grade that finished, if one did."""
        if self.job is None or self.job.is_alive():
            return
        self.job.join()
        eid, sig, outcome, text = self._done
        self.job, self.job_exercise, self._done = None, None, None
        if isinstance(outcome, BaseException):
            raise outcome
        self.cache[eid] = (sig, outcome)
        self._keep(eid, outcome, text)
        if signature(self.session.path(eid)) != sig:
            self.request(eid)  # saved again while it was graded

    def tick(self) -> None:
        """Collect a finished grade, start the next one, show the grades after 'g'."""
        self._collect()
        while self.job is None and self.queue:
            eid = self.queue.pop(0)
            if self.fresh(eid):
                continue
            sig = signature(self.session.path(eid))
            self.job_exercise = eid
            self.job = threading.Thread(target=self._run, args=(eid, sig),
                                        name=f"drillpe-grade-{eid}", daemon=True)
            self.job.start()
        if self.want_shown and self.job is None and not self.queue:
            self.want_shown = False
            self.show({eid: self.cache[eid][1] for eid in self.session.exercises
                       if eid in self.cache})
            if self.message == catalog.ui("mock_grading"):
                self.message = None

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the grade under way (without raising what it raised)."""
        if self.job is not None:
            self.job.join(timeout)

    # what the keys and saves ask for --------------------------------------
    def grade_now(self) -> None:
        """'g': grade every file not graded in its current version, in the background."""
        for eid in self.session.exercises:
            if not self.fresh(eid):
                self.request(eid)
        self.want_shown = True
        self.message = catalog.ui("mock_grading")

    def show(self, results: dict[str, ExerciseResult]) -> None:
        """Put grades in the graded column, and keep them for ``mock resume``."""
        for eid, result in results.items():
            self.session.graded[eid] = mock.graded_entry(result)
        self.session.save()

    def runs(self) -> dict:
        return {eid: mock.run_status(r) for eid, (_, r) in self.cache.items()}

    def files(self) -> list[dict]:
        return [mock.file_status(self.session, eid) for eid in self.session.exercises]

    def on_save(self) -> bool:
        changed = self.watcher.changed()
        for path in changed:
            self.watcher.settle(path)
            self.request(Path(path).stem)
        return bool(changed)

    def grade_all(self) -> dict[str, ExerciseResult]:
        """Every file as it is now (the end of the round): the grade under way is
        waited for, the rest graded here."""
        self.wait()
        self.queue.clear()
        self._collect()
        results = {eid: self.result(eid) for eid in self.session.exercises}
        self.show(results)
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
                                   self.session.graded, self.focus, self.message, self.hint,
                                   self.grading)


def run_live(state: Live, keys) -> str:
    """The live countdown until submit, time up, or leaving. Returns
    'submit', 'time' or 'left'; ``state`` keeps the grades for the end.
    Grades run in the background: the clock and the keys never wait for one."""
    # deferred: rich.live and the screens load only when the round draws
    from rich.live import Live as RichLive

    from drillpe.render import practice_views as view

    session = state.session
    for eid in session.exercises:  # first status of each file (pays the torch import once)
        state.request(eid)
    with RichLive(state.view(), console=view.out, auto_refresh=False,
                  redirect_stdout=False, redirect_stderr=False) as live:
        while True:
            state.tick()
            if session.time_left(time.time()) <= 0:
                state.message = catalog.ui("mock_time_up")
                live.update(state.view(), refresh=True)
                return "time"
            key = keys.poll(TICK_S)
            if key is not None:
                if key != "s":
                    state.confirm_submit = False
                if key in ("q", "Q"):
                    return "left"
                if key == "g":
                    state.grade_now()
                elif key == "h":
                    state.next_hint()
                elif key == "s":
                    if state.confirm_submit:
                        return "submit"
                    state.confirm_submit = True
                    state.message = catalog.ui("mock_confirm_submit")
                elif key.isdigit() and 1 <= int(key) <= len(session.exercises):
                    state.focus = int(key) - 1
                    state.hint = None
            state.on_save()
            live.update(state.view(), refresh=True)
