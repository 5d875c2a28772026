"""Loading Python files by path, and tracebacks trimmed to the learner's file."""

from __future__ import annotations

import importlib.util
import linecache
import sys
import traceback
from pathlib import Path
from types import ModuleType, TracebackType

LINE_CAP = 300  # characters of one line of the learner's code in a traceback


def load_module(path: Path, name: str) -> ModuleType:
    """Import ``path`` as module ``name`` (registered in sys.modules first, so
    dataclasses and pickling inside it work)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def learner_frames(tb: TracebackType | None, learner_file: Path) -> list[str]:
    """The traceback lines that point into the learner's own file."""
    target = str(Path(learner_file).resolve())
    lines = []
    for frame in traceback.extract_tb(tb):
        try:
            same = str(Path(frame.filename).resolve()) == target
        except OSError:
            same = False
        if same:
            code = (frame.line or linecache.getline(frame.filename, frame.lineno or 0)).strip()
            lines.append(f"line {frame.lineno}, in {frame.name}: {clip(code)}")
    return lines[-8:]


def clip(text: str, cap: int = LINE_CAP) -> str:
    return text if len(text) <= cap else text[:cap] + f"… ({len(text) - cap} more characters)"


def exception_lines(exc: BaseException, learner_file: Path) -> list[str]:
    """Learner frames, then the exception itself (SyntaxError shows its line)."""
    lines = learner_frames(exc.__traceback__, learner_file)
    if isinstance(exc, SyntaxError) and exc.lineno:
        text = (exc.text or "").rstrip("\n")
        lines.append(f"line {exc.lineno}: {clip(text.strip())}")
    try:
        message = str(exc)
    except BaseException:  # noqa: BLE001  (the learner's own __str__)
        message = "(its message could not be read)"
    lines.append(clip(f"{type(exc).__name__}: {message}".rstrip(": "), 1000))
    return lines
