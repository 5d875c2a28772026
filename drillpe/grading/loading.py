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
    """The traceback lines that point into the learner's own file.

    Walked by hand: traceback.extract_tb reads the source line of every frame, and
    a learner's exception raised inside torch passes through many of torch's files,
    which a freshly forked grade has never read (a fifth of a warm rope grade's time).
    Each file is resolved once, and only the learner's own lines are read."""
    target = str(Path(learner_file).resolve())
    same_file: dict[str, bool] = {}
    lines = []
    for frame, lineno in traceback.walk_tb(tb):
        filename = frame.f_code.co_filename
        same = same_file.get(filename)
        if same is None:
            try:
                same = filename == target or str(Path(filename).resolve()) == target
            except (OSError, ValueError):
                same = False
            same_file[filename] = same
        if same:
            code = linecache.getline(filename, lineno or 0).strip()
            lines.append(f"line {lineno}, in {frame.f_code.co_name}: {clip(code)}")
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
