"""Single key presses for watch mode and the live mock interview.

On a POSIX terminal, stdin is put in cbreak mode (keys arrive without Enter,
Ctrl-C still interrupts) and restored on exit, whatever happens. When stdin
is a pipe, its characters are read the same way, so scripts and tests can
drive the keys; at end of input, key reading stops and the loop goes on.
"""

from __future__ import annotations

import os
import select
import sys
import time

# Escape sequences read as named keys when asked for (``Keys(arrows=True)``:
# replay); watch and the mock ignore them, as they always did.
ARROWS = {"\x1b[D": "left", "\x1bOD": "left", "\x1b[C": "right", "\x1bOC": "right",
          "\x1b[A": "up", "\x1bOA": "up", "\x1b[B": "down", "\x1bOB": "down",
          "\x1b[H": "home", "\x1bOH": "home", "\x1b[1~": "home", "\x1b[7~": "home",
          "\x1b[F": "end", "\x1bOF": "end", "\x1b[4~": "end", "\x1b[8~": "end"}


def split_keys(text: str) -> list[str]:
    """Keys in ``text``: the named escape sequences of ARROWS, other single
    characters; unknown escape sequences and white space are dropped."""
    keys: list[str] = []
    at = 0
    while at < len(text):
        if text[at] == "\x1b":
            name = next((seq for seq in ARROWS if text.startswith(seq, at)), None)
            if name is not None:
                keys.append(ARROWS[name])
                at += len(name)
                continue
            at += 1  # the rest of an unknown sequence: its letters are dropped below
            while at < len(text) and not text[at].isalpha() and text[at] != "~":
                at += 1
            at += 1
            continue
        if not text[at].isspace():
            keys.append(text[at])
        at += 1
    return keys


class Keys:
    def __init__(self, stream=None, arrows: bool = False):
        self.arrows = arrows
        stream = sys.stdin if stream is None else stream
        try:
            self.fd: int | None = stream.fileno()
        except (AttributeError, OSError, ValueError):
            self.fd = None
        self.is_tty = self.fd is not None and os.isatty(self.fd)
        self._saved = None
        self._pending = ""
        self.closed = self.fd is None

    def __enter__(self) -> Keys:
        if self.is_tty:
            try:
                # deferred: POSIX terminals only
                import termios
                import tty

                self._saved = termios.tcgetattr(self.fd)
                tty.setcbreak(self.fd)
            except (ImportError, OSError):
                self._saved = None
        return self

    def __exit__(self, *exc) -> None:
        if self._saved is not None:
            # deferred: POSIX terminals only
            import termios

            try:
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            except OSError:
                pass
            self._saved = None

    def poll(self, timeout: float) -> str | None:
        """The next key, waiting at most ``timeout`` seconds; None if none came."""
        if self._pending:
            key, self._pending = self._pending[0], self._pending[1:]
            return key
        if self.closed:
            time.sleep(timeout)
            return None
        try:
            readable, _, _ = select.select([self.fd], [], [], timeout)
        except (OSError, ValueError):
            self.closed = True
            return None
        if not readable:
            return None
        try:
            data = os.read(self.fd, 64)
        except OSError:
            data = b""
        if not data:
            self.closed = True  # end of input: keep watching, stop reading
            return None
        text = data.decode("utf-8", errors="ignore")
        if self.arrows:
            self._pending = split_keys(text)
            return self.poll(0) if self._pending else None
        if text.startswith("\x1b"):
            return None  # arrow keys and other escape sequences: ignored
        self._pending = "".join(ch for ch in text if not ch.isspace())
        return self.poll(0) if self._pending else None
