"""Run-time refusals for a process where learner code runs beside drillpe's own
with nothing around it: no code built from text, no frame taken from the stack.

Why these two. The rules check reads the learner's text, and every round of
review found another way to read an attribute by a name built at run time
(``functools.update_wrapper`` given a tuple of names, a dataclass field renamed
before ``astuple``), and through it the builtins' ``exec``. With ``exec`` the
code walked the frames to drillpe's guards and switched them off, or, in the
bench, to the timing code's globals. Every such chain needs text made into code
or a frame of the stack, whatever its first step; these refusals take both away.

What stays allowed is decided by the code objects of the frames that ask, which
the asking code cannot choose: an import compiling a file (the importlib chain),
``ast.parse`` (a tree, not code: tracebacks' carets use it), ``namedtuple`` and
the dataclass decorator (they build their source from names they check to be
identifiers; we check the dataclass's again), and readers that use a frame and
never hand it back (traceback's summaries, typing's, enum's and logging's
lookups of the caller's module and line).
"""

from __future__ import annotations

import ast
import collections
import dataclasses
import enum
import importlib._bootstrap as bootstrap
import importlib._bootstrap_external as bootstrap_external
import logging
import sys
import threading
import traceback
import typing
import warnings
from types import CodeType, FrameType
from typing import Any

FRAME_ATTRIBUTES = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame"})
# Python's own events for these: code from text, a frame of the stack, a frame
# attribute read (tracebacks', generators', coroutines')
EVENTS = frozenset({"compile", "sys._getframe", "object.__getattr__"})


def _code(owner: Any, *path: str) -> CodeType | None:
    """The code object at ``owner.path`` (None where this Python has no such
    function, or a builtin stands there)."""
    obj = owner
    for name in path:
        obj = getattr(obj, name, None)
        obj = getattr(obj, "__func__", obj)  # classmethods
    return getattr(obj, "__code__", None)


def _inner(outer: CodeType | None, name: str) -> CodeType | None:
    """A function defined inside ``outer`` (its code is one of outer's constants)."""
    for const in outer.co_consts if outer else ():
        if isinstance(const, CodeType) and const.co_name == name:
            return const
    return None


def _chains(*chains: tuple[CodeType | None, ...]) -> list[tuple[CodeType, ...]]:
    """The chains this Python has every link of."""
    return [chain for chain in chains if chain and all(chain)]  # type: ignore[misc]


_EXTRACT = _code(traceback.StackSummary, "extract")
_FROM_EXTENDED = _code(traceback.StackSummary, "_extract_from_extended_frame_gen")
_EXTENDED = _inner(_EXTRACT, "extended_frame_gen")

# Who may compile text: (the asking frame, its caller, ...), innermost first.
COMPILE_CHAINS = _chains(
    (_code(ast, "parse"),),
    (_code(collections, "namedtuple"),),
    (_code(bootstrap, "_call_with_frames_removed"),
     _code(bootstrap_external.SourceLoader, "source_to_code"),
     _code(bootstrap_external.SourceLoader, "get_code")),
    # a thread's uncaught exception, printed by C code that parses the line for its carets
    (_inner(_code(threading, "_make_invoke_excepthook"), "invoke_excepthook"),),
)
# Who may take a frame: readers that keep it to themselves.
FRAME_CHAINS = _chains(
    (_code(collections, "namedtuple"),),
    (_code(typing, "_caller"),),
    (_code(enum.EnumMeta, "_create_"),),
    (_code(logging, "currentframe"), _code(logging.Logger, "findCaller")),
    (_code(warnings, "warn"),),  # where the C accelerator is missing
    (_code(traceback, "extract_stack"),),
    (_code(traceback, "format_stack"),),
    (_code(traceback, "print_stack"),),
    (_code(traceback, "clear_frames"),),
    # the generators that yield frames, while StackSummary turns them into summaries
    (_code(traceback, "walk_tb"), _EXTENDED, _FROM_EXTENDED),
    (_code(traceback, "walk_tb"), _EXTRACT),
    (_code(traceback, "_walk_tb_with_full_positions"), _FROM_EXTENDED),
    (_code(traceback, "walk_stack"), _EXTENDED, _FROM_EXTENDED),
    (_code(traceback, "walk_stack"), _EXTRACT),
)
_DATACLASS_FILE = dataclasses.__file__
_PROCESS_CLASS = _code(dataclasses, "_process_class")


def _matches(frame: FrameType | None, chains: list[tuple[CodeType, ...]]) -> bool:
    for chain in chains:
        at = frame
        for code in chain:
            if at is None or at.f_code is not code:
                break
            at = at.f_back
        else:
            return True
    return False


def _dataclass_being_built(frame: FrameType | None) -> bool:
    """``frame`` is the dataclass decorator's own code, building a class whose
    every field name is an identifier (the names go into the source it compiles)."""
    if frame is None or frame.f_code.co_filename != _DATACLASS_FILE:
        return False
    at = frame
    for _ in range(8):
        if at is None:
            return False
        if at.f_code is _PROCESS_CLASS:
            fields = at.f_locals.get("fields")
            if not isinstance(fields, dict):
                return False
            names = [*fields, *(getattr(f, "name", None) for f in fields.values())]
            return all(type(n) is str and n.isidentifier() for n in names)
        at = at.f_back
    return False


class Reach:
    """The refusals, as one audit hook. ``armed`` while learner code may run;
    ``refused`` says what was refused, for the report (tampering)."""

    def __init__(self, refused: list[str] | None = None, learner_file: str = "") -> None:
        self.armed = False
        self.learner_file = learner_file
        self.refused: list[str] = refused if refused is not None else []
        self._inside: set[int] = set()  # threads in the hook (its own frame lookups)
        sys.addaudithook(self._audit)

    def _audit(self, event: str, args: tuple) -> None:
        if not self.armed or event not in EVENTS:
            return
        if event == "object.__getattr__" and (len(args) < 2 or args[1] not in FRAME_ATTRIBUTES):
            return
        me = threading.get_ident()
        if me in self._inside:
            return
        self._inside.add(me)
        try:
            try:
                asking = sys._getframe(1)
            except ValueError:  # no Python frame: the interpreter itself, no learner code
                return
            if event == "compile":
                allowed = _matches(asking, COMPILE_CHAINS) or _dataclass_being_built(asking)
                what = "built code from text at run time"
            else:
                allowed = _matches(asking, FRAME_CHAINS)
                what = f"took a frame of the running program ({event} {args[-1]!s:.20})" \
                    if event != "sys._getframe" else \
                    "took a frame of the running program (sys._getframe)"
            if allowed:
                return
            where = f"line {asking.f_lineno}" \
                if asking.f_code.co_filename == self.learner_file else \
                f"{asking.f_code.co_filename[-80:]}:{asking.f_lineno}"
            self.refused.append(f"{what}, at {where}")
        finally:
            self._inside.discard(me)
        raise PermissionError(f"drillpe: learner code may not do this ({what})")
