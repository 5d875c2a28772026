"""Writing the user's files so that nothing is ever half-written: a temporary
file beside the target, synced, then renamed into place."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any


def not_a_file(path: Path) -> str:
    """Why ``path`` is no learner file, for an error: missing, a folder, or
    something else (a FIFO there once hung `mock submit`, which opened it)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return f"no such file: {path}"
    if stat.S_ISDIR(mode):
        return f"{path} is a folder, not a learner file"
    return f"{path} is {kind_of(mode)}, not a regular file: not a learner file"


def kind_of(mode: int) -> str:
    """'a FIFO', 'a socket', ... for a mode that is not a regular file's."""
    return ("a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a folder" if stat.S_ISDIR(mode) else "not a file")


def read_regular(path: Path, limit: int) -> bytes:
    """At most ``limit`` bytes of a regular file. Opened without blocking and
    checked after opening, so a FIFO swapped in after any earlier check raises
    ValueError (the message of not_a_file) instead of waiting for a writer."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(not_a_file(path))
        return fh.read(limit)


def write_atomic(path: Path, text: str) -> None:
    """Write text so that readers see the old file or the new one, never half."""
    path = Path(path)
    tmp = write_beside(path, text)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_beside(path: Path, text: str) -> Path:
    """``text`` in a new, synced temporary file in ``path``'s folder (so a
    rename puts it in place); a full disk or a read-only folder fails here,
    before anything of the user's is touched."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        # mkstemp makes 0600; give the file the mode a plain open() would (or keep the old one).
        os.fchmod(fd, path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask())
        # errors="replace": a lone surrogate from a learner's exception message
        # becomes "?" rather than a file drillpe cannot write
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:  # named after the file the user knows, not our temporary one
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    except BaseException:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: Path, data: Any) -> bytes:
    """``data`` as JSON, written atomically; returns the bytes written."""
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    write_atomic(path, text)
    return text.encode("utf-8", errors="replace")  # as write_beside encodes it
