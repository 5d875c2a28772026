"""Judging cases while the learner process still runs.

The judge has nothing to do between loading its references and the
learner's end, and on a warm re-grade that end is half the wait: judging
every case only afterwards put the comparisons after the learner's calls
instead of beside them. :class:`Ahead` reads the records file as the
runner appends to it and judges each whole case frame as it arrives.

Nothing is decided here. A verdict is kept under the check, the case and
where its frame lies in the file; the judge's real pass reads and validates
the finished file from its start, as before, and uses kept verdicts only
when the finished file begins with exactly the bytes read here
(:meth:`Ahead.confirm`): then the frame at that place is the same frame,
whose verdict it would compute identically. Anything else it judges itself.
Whatever goes wrong while reading ahead (a partial frame, a malformed one,
frames out of the order the real pass demands, a file that is not a file,
more bytes than an honest grade writes) only ends the reading ahead, so a
hostile stream costs the judge no more than the real pass alone would.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from drillpe.grading import records
from drillpe.grading.api import ExceptionOut

Verdict = tuple[str, Any]  # drillpe.grading.judge.case_verdict's answer
POLL_MIN_S, POLL_MAX_S = 0.002, 0.032
# Far above what any exercise's honest records hold (under 10 MiB); beyond it
# the judge's pass alone reads the file, and no copy is kept.
MAX_AHEAD_BYTES = 64 * 1024 * 1024


class Ahead:
    """``verdict(check, case_index, row)`` judges one case (the judge's own
    function); ``checks`` are the grader's checks, by the index records use;
    ``counts``: how many cases each check records may name has (the consequence
    checks follow the grader's own; they are left to the real pass)."""

    def __init__(self, path: Path, checks: list, verdict: Callable[[Any, int, dict], Verdict],
                 counts: list[int] | None = None,
                 looks_further: Callable[[Verdict], bool] = lambda verdict: False,
                 heat_verdict: Callable[[Any, int, dict], Verdict] | None = None):
        self.path = path
        self.checks = checks
        # A failing verdict for which the real pass goes on through the check's later
        # cases (a heatmap too small to show anything: it draws the next larger one).
        self.looks_further = looks_further
        self.looking: set[int] = set()
        self.counts = [len(c.cases) for c in checks] if counts is None else counts
        self.verdict = verdict
        # for the later cases of a check being looked through for a larger heatmap:
        # the real pass reads only their heatmaps (judge._larger_heatmap)
        self.heat_verdict = heat_verdict or verdict
        self.kept: dict[tuple[str, int, int, int], Verdict] = {}
        # The whole frames read so far, as read: views of what each read returned, not
        # one growing copy (a rope grade's 7 MB, copied and grown in steps, cost a
        # third of this pass's page faults in a freshly forked judge).
        self.consumed: list[memoryview] = []
        self.consumed_size = 0
        self.unread: list[bytes] = []  # read, not yet a whole frame
        self.unread_size = 0
        self.need = 8  # bytes the next frame needs before it is worth parsing
        self.read = 0
        self.last: tuple[int, int] | None = None  # the last case seen; None before the load
        self.failed: set[int] = set()  # checks with a failing case: later cases wait
        self.stopped = False
        self.confirmed = False
        self.wait = POLL_MIN_S

    def step(self) -> float | None:
        """Read what was appended since the last step and judge its whole frames.
        Returns how long to wait before the next step (None: no next step):
        short while records arrive, longer while none do (the learner is still
        importing torch, or its code is slow), so the waiting costs no CPU."""
        if self.stopped:
            return None
        try:
            self.wait = POLL_MIN_S if self._step() else min(self.wait * 2, POLL_MAX_S)
        except Exception:  # the real pass judges whatever was not judged here
            self._give_up()
            return None
        return None if self.stopped else self.wait

    def confirm(self, data: bytes) -> None:
        """The finished file: kept verdicts count only if it starts with what was read."""
        self.stopped = True
        self.confirmed = len(data) >= self.consumed_size and self._starts(data)

    def _starts(self, data: bytes) -> bool:
        # bytes.startswith(view, at) compares in place (memcmp): 7 MB in 0.5 ms
        at = 0
        for chunk in self.consumed:
            if not data.startswith(chunk, at):
                return False
            at += len(chunk)
        return True

    def take(self, check_id: str, case: int, at: int, size: int) -> Verdict | None:
        if not self.confirmed or at + size > self.consumed_size:
            return None
        return self.kept.pop((check_id, case, at, size), None)

    def _give_up(self) -> None:
        self.stopped = True
        self.kept, self.consumed, self.consumed_size, self.unread = {}, [], 0, []

    def _step(self) -> bool:
        data = self._read_more()
        if not data:
            return False
        self.unread.append(data)
        self.unread_size += len(data)
        if self.unread_size < self.need:  # the next frame is still incomplete
            return True
        pending = b"".join(self.unread)
        frames, _ = records.split_frames(pending)
        base = self.consumed_size
        used = 0
        for f in frames:
            if not self._in_order(f):
                self._give_up()  # the real pass refuses this stream anyway
                return True
            if f.kind == "case":
                self._judge(f, base + f.at)
            used = f.at + len(f.raw)
            if self.stopped:
                break
        if used:
            self.consumed.append(memoryview(pending)[:used])
            self.consumed_size += used
        rest = pending[used:]
        self.unread, self.unread_size = ([rest] if rest else []), len(rest)
        self.need = records.frame_need(rest) if rest else 8
        return True

    def _in_order(self, f: records.Frame) -> bool:
        """The order drillpe.grading.records.read_records demands: one load, then
        cases check by check and case by case, then one end."""
        if f.kind == "load":
            if self.last is not None:
                return False
            self.last = (-1, -1)
            return True
        if self.last is None:
            return False
        if f.kind == "end":
            self.stopped = True
            return True
        index, case = f.header.get("check"), f.header.get("case")
        if f.kind != "case" or type(index) is not int or type(case) is not int or \
                not 0 <= index < len(self.counts) or not 0 <= case < self.counts[index]:
            return False
        expected = (self.last[0], self.last[1] + 1) if index == self.last[0] else (index, 0)
        if (index, case) != expected or index < self.last[0]:
            return False
        self.last = (index, case)
        return True

    def _judge(self, f: records.Frame, at: int) -> None:
        index, case = f.header["check"], f.header["case"]
        if index >= len(self.checks) or index in self.failed or \
                case >= len(self.checks[index].cases):
            return  # a consequence check, or cases after a failing one: the real pass's
        check = self.checks[index]
        row = records.checked_case(f)
        if index in self.looking and (row["failed"] or isinstance(row["out"], ExceptionOut)):
            self.failed.add(index)  # where the real pass stops looking for a larger heatmap
            return
        verdict = (self.heat_verdict if index in self.looking else self.verdict)(check, case, row)
        self.kept[(check.id, case, at, len(f.raw))] = verdict
        if verdict[0] == "pass":
            return
        if self.looks_further(verdict):
            self.looking.add(index)  # the real pass judges the later cases too
        else:
            self.failed.add(index)  # as the real pass, which stops here

    def _read_more(self) -> bytes:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(self.path, flags)
        except FileNotFoundError:  # the runner has not opened it yet
            return b""
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_AHEAD_BYTES:
                raise OSError("not a records file an honest grade writes")
            if info.st_size < self.read:  # written again: what was read is not there
                raise OSError("the records file shrank")
            data = os.pread(fd, info.st_size - self.read, self.read)
        finally:
            os.close(fd)
        self.read += len(data)
        return data
