"""Run `python -m drillpe ...` in a pseudo-terminal and talk to it like a
user: what it shows (ANSI codes stripped), and key presses."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Za-z0-9]|\r")


class Terminal:
    def __init__(self, args: list[str], env: dict, cols: int = 120, rows: int = 50):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen([sys.executable, "-m", "drillpe", *args], stdin=slave,
                                     stdout=slave, stderr=slave, env=env,
                                     start_new_session=True)
        os.close(slave)
        self.raw = b""
        self.seen = 0  # expect() looks past what an earlier expect() matched

    def _read(self, timeout: float) -> None:
        readable, _, _ = select.select([self.master], [], [], timeout)
        if readable:
            try:
                self.raw += os.read(self.master, 65536)
            except OSError:  # the other side closed
                time.sleep(timeout)

    def text(self) -> str:
        return ANSI.sub(b"", self.raw).decode("utf-8", "replace")

    def expect(self, pattern: str, timeout: float = 60) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            match = re.compile(pattern).search(self.text(), self.seen)
            if match:
                self.seen = match.end()
                return match
            if time.monotonic() > deadline or (self.proc.poll() is not None and
                                               not select.select([self.master], [], [], 0.2)[0]):
                raise AssertionError(f"{pattern!r} not shown; the screen ended with:\n"
                                     f"{self.text()[-3000:]}")
            self._read(0.1)

    def send(self, keys: str) -> None:
        os.write(self.master, keys.encode())
        time.sleep(0.05)

    def wait(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(0.1)
        self._read(0.2)
        return self.proc.wait(timeout=1)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        os.close(self.master)
