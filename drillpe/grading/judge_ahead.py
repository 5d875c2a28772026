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
a file that is not a file) only ends the reading ahead.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from drillpe.grading import records
from drillpe.launch.contract import MAX_RECORDS_BYTES

Verdict = tuple[str, Any]  # drillpe.grading.judge.case_verdict's answer
POLL_MIN_S, POLL_MAX_S = 0.002, 0.032


class Ahead:
    """``verdict(check, case_index, row)`` judges one case (the judge's own
    function); ``checks`` are the grader's checks, by the index records use."""

    def __init__(self, path: Path, checks: list, verdict: Callable[[Any, int, dict], Verdict]):
        self.path = path
        self.checks = checks
        self.verdict = verdict
        self.kept: dict[tuple[str, int, int, int], Verdict] = {}
        self.seen = bytearray()  # the file's bytes read so far
        self.used = 0  # of which whole frames
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
            self.stopped = True
            return None
        return None if self.stopped else self.wait

    def confirm(self, data: bytes) -> None:
        """The finished file: kept verdicts count only if it starts with what was read."""
        self.stopped = True
        # bytearray.startswith(memoryview) compares in place (memcmp); 7 MB in 0.5 ms
        del self.seen[self.used:]
        self.confirmed = len(data) >= self.used and \
            self.seen.startswith(memoryview(data)[:self.used])

    def take(self, check_id: str, case: int, at: int, size: int) -> Verdict | None:
        if not self.confirmed or at + size > self.used:
            return None
        return self.kept.pop((check_id, case, at, size), None)

    def _step(self) -> bool:
        if not self._read_more():
            return False
        frames, _ = records.split_frames(bytes(memoryview(self.seen)[self.used:]))
        base = self.used
        for f in frames:
            if f.kind == "case":
                self._judge(f, base + f.at)
            elif f.kind == "end":
                self.stopped = True
            self.used = base + f.at + len(f.raw)
        return True

    def _judge(self, f: records.Frame, at: int) -> None:
        index, case = f.header.get("check"), f.header.get("case")
        if type(index) is not int or type(case) is not int or \
                not 0 <= index < len(self.checks) or index in self.failed or \
                not 0 <= case < len(self.checks[index].cases):
            return
        check = self.checks[index]
        verdict = self.verdict(check, case, records.checked_case(f))
        self.kept[(check.id, case, at, len(f.raw))] = verdict
        if verdict[0] != "pass":
            self.failed.add(index)  # as the real pass, which stops at a failing case

    def _read_more(self) -> bool:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(self.path, flags)
        except FileNotFoundError:  # the runner has not opened it yet
            return False
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_RECORDS_BYTES:
                raise OSError("not a records file")
            if info.st_size < len(self.seen):  # written again: what was read is not there
                raise OSError("the records file shrank")
            data = os.pread(fd, info.st_size - len(self.seen), len(self.seen))
        finally:
            os.close(fd)
        self.seen += data
        return bool(data)
