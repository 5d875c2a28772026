"""How far a running grade has got, read off the records as they stream by.

The learner process sends frames (``DPR1`` | u32 header length | JSON header |
blobs, drillpe.grading.records); a ``case`` header names the check by its
index. This scanner follows the frame boundaries to tell the CLI's status
line which check is running. It only informs a display: the judge validates
the records on its own, and anything unexpected here simply stops the
scanning.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable

MAGIC = b"DPR1"
MAX_HEADER = 64 * 1024  # larger headers are not read for progress


class RecordProgress:
    """Feed it the record bytes in order; it calls ``on_check(index)`` each
    time a case of a new check arrives."""

    def __init__(self, on_check: Callable[[int], None]):
        self.on_check = on_check
        self.buffer = bytearray()
        self.skip = 0  # blob bytes still to pass over
        self.last: int | None = None
        self.stopped = False

    def feed(self, data: bytes) -> None:
        if self.stopped:
            return
        if self.skip:
            taken = min(self.skip, len(data))
            self.skip -= taken
            data = data[taken:]
        self.buffer += data
        while not self.stopped and not self.skip and len(self.buffer) >= 8:
            if bytes(self.buffer[:4]) != MAGIC:
                self.stopped = True
                return
            (size,) = struct.unpack("<I", self.buffer[4:8])
            if size > MAX_HEADER:
                self.stopped = True
                return
            if len(self.buffer) < 8 + size:
                return
            try:
                header = json.loads(bytes(self.buffer[8:8 + size]))
                blobs = sum(int(n) for n in header.get("blobs", []))
            except (ValueError, TypeError, AttributeError):
                self.stopped = True
                return
            del self.buffer[:8 + size]
            taken = min(blobs, len(self.buffer))
            del self.buffer[:taken]
            self.skip = blobs - taken
            check = header.get("check") if header.get("kind") == "case" else None
            if type(check) is int and check != self.last:
                self.last = check
                try:
                    self.on_check(check)
                except Exception:  # a display problem never disturbs a grade
                    self.stopped = True
