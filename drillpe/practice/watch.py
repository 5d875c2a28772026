"""Watch mode: re-grade a learner file each time it is saved.

The loop polls the files' (mtime, size, inode) every POLL_S, which catches
in-place writes and editors' write-then-rename alike without a dependency;
a changed file is re-read until it stops changing (SETTLE_S), then graded by
the warm workers (drillpe.launch.warm_pool), so a grade costs a fork, not a torch import.
The view is a callback object (drillpe.render.practice_views), so the loop is
driven the same way from a terminal, a pipe or a test.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from drillpe.launch import processes
from drillpe.results.history import History, Work, read_source
from drillpe.results.progress import WORK_GAP_S
from drillpe.results.report import ExerciseResult

POLL_S = 0.01
SETTLE_S = 0.005
SETTLE_MAX_S = 0.5


def signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class FileWatcher:
    """Which of some files changed since the last look."""

    def __init__(self, paths: list[Path]):
        self.signatures = {path: signature(path) for path in paths}

    def changed(self) -> list[Path]:
        out = []
        for path, old in self.signatures.items():
            new = signature(path)
            if new != old:
                self.signatures[path] = new
                if new is not None:  # a file missing mid-save comes back changed
                    out.append(path)
        return out

    def settle(self, path: Path) -> None:
        """Wait until ``path`` stops changing: an editor may still be writing. An empty
        file waits until it fills, for SETTLE_MAX_S at most: a save that truncates the
        file and then writes it was seen empty between the two on a busy machine (the
        writer held off the core for more than SETTLE_S), graded as an empty file, and
        graded again once written (two scorecards for one save)."""
        deadline = time.monotonic() + SETTLE_MAX_S
        while time.monotonic() < deadline:
            time.sleep(SETTLE_S)
            now = signature(path)
            if now == self.signatures[path] and (now is None or now[1] > 0):
                return
            self.signatures[path] = now


@dataclass
class Item:
    exercise: str
    path: Path
    result: ExerciseResult | None = None
    saved_at: float | None = None  # monotonic time the change was seen
    latency_s: float | None = None  # from the change being seen to the result
    grades: int = 0
    saves: list[float] = field(default_factory=list)  # wall-clock times
    graded_at: float | None = None  # wall-clock time the latest result came back
    grading: bool = False  # a grade of a newer save is running: ``result`` is stale


class Session:
    """The watch loop's state: what is watched, the latest result of each,
    which one is shown. ``grade`` grades one item (warm, in practice)."""

    def __init__(self, items: list[Item], grade: Callable[[Item], ExerciseResult],
                 history: History | None, clock: Callable[[], float] = time.time):
        self.items = items
        self.grade_fn = grade
        self.history = history
        self.clock = clock
        self.started_at = clock()
        self.watcher = FileWatcher([item.path for item in items])
        self.focus = 0
        self.message: str | None = None
        # Called with an item just before it is graded, so a screen can mark its
        # old result as stale while the new grade runs.
        self.on_grading: Callable[[Item], None] | None = None
        self._unrecorded: list[tuple[ExerciseResult, Path, str | None]] = []

    @property
    def focused(self) -> Item:
        return self.items[self.focus]

    def grade(self, item: Item, seen_at: float | None = None,
              record_now: bool = True) -> ExerciseResult:
        """Grade one item. ``record_now=False``: the grade waits for
        record_grades() to go into the history (the loops draw the scorecard
        first); the source it keeps is read now, right after the grade."""
        seen_at = time.monotonic() if seen_at is None else seen_at
        item.grading = True
        self.focus = self.items.index(item)
        if self.on_grading is not None:
            self.on_grading(item)
        try:
            result = self.grade_fn(item)
        finally:
            item.grading = False
        item.result = result
        item.graded_at = self.clock()
        item.grades += 1
        item.latency_s = time.monotonic() - seen_at
        self.focus = self.items.index(item)
        if self.history is not None:
            self._unrecorded.append((result, item.path, read_source(item.path)))
            if record_now:
                self.record_grades()
        return result

    def record_grades(self) -> None:
        """Write the grades not yet in the history."""
        pending, self._unrecorded = self._unrecorded, []
        for result, path, text in pending:
            self.history.record_check(result, source="watch", file=path, text=text)

    def poll(self) -> list[Item]:
        """Grade every file saved since the last poll; returns those graded
        (their history waits for record_grades())."""
        graded = []
        for path in self.watcher.changed():
            seen_at = time.monotonic()
            self.watcher.settle(path)
            item = next(i for i in self.items if i.path == path)
            item.saves.append(self.clock())
            self.grade(item, seen_at, record_now=False)
            graded.append(item)
        return graded

    def select(self, key: str) -> bool:
        """Number keys focus an exercise; True when the key did that."""
        if key.isdigit() and 1 <= int(key) <= len(self.items):
            self.focus = int(key) - 1
            return True
        return False

    def work(self) -> list[Work]:
        """Time spent per exercise: from the start of the watch, the gaps
        between its saves shorter than a break (WORK_GAP_S)."""
        out = []
        for item in self.items:
            if not item.saves:
                continue
            marks = [self.started_at, *item.saves]
            seconds = sum(b - a for a, b in zip(marks, marks[1:]) if b - a <= WORK_GAP_S)
            if seconds > 0:
                out.append(Work(item.exercise, self.started_at, seconds, "watch"))
        return out

    def record_work(self) -> None:
        if self.history is None:
            return
        self.record_grades()
        for work in self.work():
            self.history.record_work(work)


def run(session: Session, keys, *, live: bool, as_json: bool, quiet: bool,
        show_hint: Callable[[str], object]) -> None:
    """The loop: grade everything once, then on every save, until q, Ctrl-C,
    SIGTERM or SIGHUP. ``show_hint(exercise_id)`` returns a renderable."""
    # deferred: screens load when the watch draws
    from drillpe import render
    from drillpe.render import practice_views as view

    def emit(item: Item) -> None:
        if as_json:
            render.print_json({"event": "graded", "grade": item.grades,
                               "latency_s": round(item.latency_s or 0.0, 4),
                               **item.result.to_dict()}, indent=None)
        elif not live:
            view.watch_graded(item, quiet)

    def handle(key: str | None) -> tuple[bool, object | None]:
        """(quit?, hint renderable to show)"""
        if key is None:
            return False, None
        if key in ("q", "Q"):
            return True, None
        if key == "h":
            return False, show_hint(session.focused.exercise)
        session.select(key)
        return False, None

    with interrupt_on_signals():
        try:
            if live:
                _run_live(session, keys, handle, view)
            else:
                if not as_json:
                    view.watch_started([str(i.path) for i in session.items], live=False)
                for item in session.items:
                    session.grade(item, record_now=False)
                    emit(item)
                    session.record_grades()
                while True:
                    stop, hint = handle(keys.poll(POLL_S))
                    if stop:
                        break
                    if hint is not None and not as_json:
                        view.out.print(hint)
                    for item in session.poll():
                        emit(item)
                    session.record_grades()
        except KeyboardInterrupt:
            pass
        finally:
            session.record_work()
    if not as_json:
        view.watch_ended(session.items, full=live)


def _run_live(session: Session, keys, handle, view) -> None:
    # deferred: the live display loads only in a terminal
    from rich.live import Live

    hint = None
    status = "starting the warm graders (torch loads once)…"
    with Live(view.watch_view(session, status, hint), console=view.out, auto_refresh=False,
              redirect_stdout=False, redirect_stderr=False) as screen:
        def grading(item: Item) -> None:
            screen.update(view.watch_view(session, view.watch_status(item), hint), refresh=True)

        session.on_grading = grading
        for item in session.items:
            session.grade(item)
        session.focus = 0
        screen.update(view.watch_view(session, view.watch_status(session.focused), hint),
                      refresh=True)
        while True:
            focus_before = session.focus
            stop, new_hint = handle(keys.poll(POLL_S))
            if stop:
                return
            graded = session.poll()
            if new_hint is not None:
                hint = new_hint
            elif graded or session.focus != focus_before:
                hint = None
            else:
                continue
            screen.update(view.watch_view(session, view.watch_status(session.focused), hint),
                          refresh=True)
            session.record_grades()


class interrupt_on_signals:
    """SIGTERM and SIGHUP (terminal closed) stop the loop like Ctrl-C, so the
    work time is recorded and the warm workers are closed; the CLI then exits
    128 + the signal's number, as for any command a signal ends."""

    def __enter__(self):

        self.saved = {}
        for name in ("SIGTERM", "SIGHUP"):
            sig = getattr(signal, name, None)
            if sig is not None:
                self.saved[sig] = signal.signal(sig, self._raise)
        return self

    @staticmethod
    def _raise(signum, frame):
        processes.note_signal(signum)
        raise KeyboardInterrupt

    def __exit__(self, *exc):

        for sig, handler in self.saved.items():
            signal.signal(sig, handler)
