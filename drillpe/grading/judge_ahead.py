"""Judging cases while the learner process still runs.

The judge has nothing to do between loading its references and the
learner's end, and on a warm re-grade that end is half the wait: judging
every case only afterwards put the comparisons after the learner's calls
instead of beside them. :class:`Ahead` reads the records file as the
runner appends to it and judges each whole case frame as it arrives.

Nothing is decided here. A verdict is kept under the check, the case and
the digest of the frame's bytes, and the judge's real pass (which reads
and validates the finished file from its start, as before) uses a kept
verdict only for a frame with the same digest, whose verdict it would
compute identically; anything else it judges itself. Whatever goes wrong
while reading ahead (a partial frame, a malformed one, a file that is not
a file) only ends the reading ahead.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from drillpe.grading import records
from drillpe.launch.contract import MAX_RECORDS_BYTES

Verdict = tuple[str, Any]  # drillpe.grading.judge.case_verdict's answer


def frame_key(check_id: str, case: int, raw: memoryview | bytes) -> tuple[str, int, bytes]:
    return check_id, case, hashlib.blake2b(raw, digest_size=16).digest()


class Ahead:
    """``verdict(check, case_index, row)`` judges one case (the judge's own
    function); ``checks`` are the grader's checks, by the index records use."""

    def __init__(self, path: Path, checks: list, verdict: Callable[[Any, int, dict], Verdict]):
        self.path = path
        self.checks = checks
        self.verdict = verdict
        self.kept: dict[tuple[str, int, bytes], Verdict] = {}
        self.read = 0  # bytes of the file read so far
        self.pending = b""  # read, but not yet a whole frame
        self.failed: set[int] = set()  # checks with a failing case: later cases wait
        self.stopped = False

    def step(self) -> None:
        """Read what was appended since the last step and judge its whole frames."""
        if self.stopped:
            return
        try:
            self._step()
        except Exception:  # the real pass judges whatever was not judged here
            self.stopped = True

    def take(self, check_id: str, case: int, raw: memoryview | bytes) -> Verdict | None:
        if not self.kept:
            return None
        return self.kept.pop(frame_key(check_id, case, raw), None)

    def _step(self) -> None:
        data = self._new_bytes()
        if not data:
            return
        self.pending += data
        frames, _ = records.split_frames(self.pending)
        used = sum(len(f.raw) for f in frames)
        for f in frames:
            if f.kind == "case":
                self._judge(f)
            elif f.kind == "end":
                self.stopped = True
        self.pending = self.pending[used:]

    def _judge(self, f: records.Frame) -> None:
        index, case = f.header.get("check"), f.header.get("case")
        if type(index) is not int or type(case) is not int or \
                not 0 <= index < len(self.checks) or index in self.failed or \
                not 0 <= case < len(self.checks[index].cases):
            return
        check = self.checks[index]
        verdict = self.verdict(check, case, records.checked_case(f))
        self.kept[frame_key(check.id, case, f.raw)] = verdict
        if verdict[0] != "pass":
            self.failed.add(index)  # as the real pass, which stops at a failing case

    def _new_bytes(self) -> bytes:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(self.path, flags)
        except FileNotFoundError:  # the runner has not opened it yet
            return b""
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_RECORDS_BYTES:
                raise OSError("not a records file")
            if info.st_size < self.read:  # started again (the sandbox's second try)
                self.read, self.pending, self.failed = 0, b"", set()
            data = os.pread(fd, info.st_size - self.read, self.read)
        finally:
            os.close(fd)
        self.read += len(data)
        return data
