"""Run-time refusals for a process where learner code runs beside drillpe's own
with nothing around it: no code built from text, and no frame of the stack taken
by the learner's code.

Why these two. The rules check reads the learner's text, and every round of
review found another way to read an attribute by a name built at run time
(``functools.update_wrapper`` given a tuple of names, a dataclass whose fields a
metaclass named at run time), and through it the builtins' ``exec``. With
``exec`` the code walked the frames to drillpe's guards and switched them off,
or, in the bench, to the timing code's globals. These refusals take both steps
away, whatever the route to them; and the hooks, once armed, have no off switch.

What stays allowed is decided by the code objects of the frames that ask, which
the asking code cannot choose. Text: an import compiling a file (the importlib
chain, and the text must be the file's), a library module's code while it is
imported, ``ast.parse`` (a tree, not code:
tracebacks' carets use it), ``namedtuple``, a string annotation's ``ForwardRef``,
and the dataclass decorator (its field names must be plain identifiers). Code made
from text runs only where it was made (namedtuple, the dataclass decorator, a
library's import): a ForwardRef is never evaluated.
Frames: library code may take them for itself (torch and typing look up their
caller's module), except the functions that hand frames to their callers
(``inspect.currentframe``, ``traceback.walk_stack``, ...), which only traceback's
summaries and logging's caller lookup may use. The learner's own code, and code
made from text, may take none.
"""

from __future__ import annotations

import ast
import collections
import dataclasses
import enum
import importlib._bootstrap as bootstrap
import importlib._bootstrap_external as bootstrap_external
import inspect
import logging
import os
import re
import sys
import threading
import traceback
import typing
import warnings
from stat import S_ISREG
from types import CodeType
from typing import Any

FRAME_ATTRIBUTES = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame"})
# Python's own events for these: code from text, a frame of the stack, a frame
# attribute read (tracebacks', generators', coroutines')
EVENTS = frozenset({"compile", "exec", "sys._getframe", "object.__getattr__",
                    *("gc.get_objects", "gc.get_referrers", "gc.get_referents",
                      "sys._current_frames", "sys.settrace", "sys.setprofile",
                      "sys.addaudithook")})
# Events that reach every object or frame: the learner's code may not raise them (a
# reviewer's found the bench's random draw through gc.get_objects and fixed it). An
# audit hook of its own would run its code at every audited event drillpe's raises.
REACHING = frozenset({"gc.get_objects", "gc.get_referrers", "gc.get_referents",
                      "sys._current_frames", "sys.settrace", "sys.setprofile",
                      "sys.addaudithook"})
# All of them are refused wherever the learner's code is on the stack, whichever library
# asks: a reviewer's went through bdb.Bdb.set_trace and cProfile.Profile.__enter__
# (library code calling sys.settrace and sys.setprofile for it) and ran its code in the
# bench's refill; the next had copy.copy call gc.get_referrers and found the bench's key.


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
    # a string annotation compiled to be evaluated later (a class of torch's that
    # print(tensor) imports has one); evaluating it is refused by the rules check
    (_code(typing.ForwardRef, "__init__"),),
    # a thread's uncaught exception, printed by C code that parses the line for its carets
    (_inner(_code(threading, "_make_invoke_excepthook"), "invoke_excepthook"),),
)
# An import compiling a module's file (its text is checked against the file too).
IMPORT_CHAINS = _chains(
    (_code(bootstrap, "_call_with_frames_removed"),
     _code(bootstrap_external.SourceLoader, "source_to_code"),
     _code(bootstrap_external.SourceLoader, "get_code")),
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
# The library functions that hand frames to whoever calls them: from these, only the
# chains above; any other library code may take frames for itself (torch's and
# typing's look up their caller's module and line).
FRAME_GIVERS = frozenset(filter(None, (
    _code(inspect, "currentframe"), _code(inspect, "stack"), _code(inspect, "trace"),
    _code(inspect, "getouterframes"), _code(inspect, "getinnerframes"),
    _code(traceback, "walk_stack"), _code(traceback, "walk_tb"),
    _code(traceback, "_walk_tb_with_full_positions"), _code(logging, "currentframe"),
)))


class Reach:
    """The refusals, as one audit hook installed by ``arm`` (from then on, with no
    off switch: a reviewer's code found the guards' object and set its flag).
    ``refused`` says what was refused, for the report (tampering)."""

    def __init__(self, refused: list[str] | None = None, learner_file: str = "",
                 declared: frozenset[str] | None = None) -> None:
        """``declared``: the names the learner's file annotates in class bodies (its
        dataclasses' fields); None: any identifier."""
        self.learner_file = learner_file
        self.declared = declared
        self.refused: list[str] = refused if refused is not None else []
        self._armed = False

    def arm(self) -> None:
        if not self._armed:
            self._armed = True
            sys.addaudithook(_hook(self.refused, self.learner_file, self.declared))


def _hook(refused: list[str], learner_file: str, declared: frozenset[str] | None):
    """The audit hook. Everything it uses is bound here, when it is armed: module
    globals could be replaced by code that reaches this module."""
    getframe, get_ident, PermissionError_ = sys._getframe, threading.get_ident, PermissionError
    events, frame_attributes, reaching = EVENTS, FRAME_ATTRIBUTES, REACHING
    compile_chains, import_chains, frame_chains = (tuple(COMPILE_CHAINS), tuple(IMPORT_CHAINS),
                                                   tuple(FRAME_CHAINS))
    text_runners = tuple(_chains((_code(collections, "namedtuple"),)))
    givers, dataclass_file = FRAME_GIVERS, dataclasses.__file__
    realpath, stat, is_regular, code_type = os.path.realpath, os.stat, S_ISREG, CodeType
    trampoline = _code(bootstrap, "_call_with_frames_removed")
    exec_module = _code(bootstrap_external._LoaderBasics, "exec_module")
    process_class = _code(dataclasses, "_process_class")
    inside: set[int] = set()  # threads in the hook (its own frame lookups re-enter it)

    def matches(frame, chains) -> bool:
        for chain in chains:
            at = frame
            for code in chain:
                if at is None or at.f_code is not code:
                    break
                at = at.f_back
            else:
                return True
        return False

    def a_files_text(args: tuple) -> bool:
        """What the import chain compiles is the text of the file it names, not text
        that a loader of the learner's own (its ``get_data`` overridden) handed it."""
        source, filename = (*args, None, None)[:2]
        if type(source) is str:
            source = source.encode("utf-8")
        if type(source) is not bytes or type(filename) is not str:
            return False
        try:
            # a file on disk: not an in-memory file or a pipe the learner's code wrote
            # the model answer into and named by /proc/self/fd (a reviewer's memfd)
            real = realpath(filename)
            if real.startswith(("/proc/", "/dev/")) or not is_regular(stat(real).st_mode):
                return False
            with open(real, "rb") as file:
                return file.read() == source
        except OSError:
            return False

    def dataclass_being_built(frame) -> bool:
        """``frame`` is the dataclass decorator's own code, building a class whose every
        field name is a plain identifier: the names go into the source it compiles, and
        its methods read and set attributes by them (a reviewer's metaclass gave one
        fields named __globals__ and __closure__, and read them off any object)."""
        at = frame
        for _ in range(8):
            # only the decorator's own frames in between: a reviewer's descriptor, read
            # while the decorator collected the fields, called _create_fn with its text
            if at is None or at.f_code.co_filename != dataclass_file:
                return False
            if at.f_code is process_class:
                fields = at.f_locals.get("fields")
                if type(fields) is not dict:
                    return False
                names = [*fields, *(getattr(f, "name", None) for f in fields.values())]
                if not all(type(n) is str and n.isidentifier() and not n.startswith("__")
                           for n in names):
                    return False
                # and names the learner's file declares in a class body, unless a
                # library's import makes the class (a reviewer's class built by
                # type() got fields named from_file and _create_fn)
                return declared is None or all(n in declared for n in names) or \
                    library_import(at)
            at = at.f_back
        return False

    def learners(frame) -> bool:
        """Whether the learner's code, or code made from text, is on the stack."""
        at = frame
        while at is not None:
            if not library(at) and not at.f_code.co_filename.startswith("<frozen "):
                return True
            at = at.f_back
        return False

    def library(frame) -> bool:
        """Code of a file on disk other than the learner's: not text made into code
        ("<string>"), not the learner's."""
        name = frame.f_code.co_filename
        return name != learner_file and not name.startswith("<")

    def frame_allowed(frame) -> bool:
        """Library code may take frames for itself; a function that hands frames out
        only to library code that called it (not a giver either), or to traceback's
        summaries and logging's caller lookup."""
        if matches(frame, frame_chains):
            return True
        if frame.f_code not in givers:
            return library(frame)
        caller = frame.f_back
        return caller is not None and library(caller) and caller.f_code not in givers

    def library_import(frame) -> bool:
        """A library module's own code, run by an import: mpmath (which
        torch.testing.assert_close imports) builds its arithmetic from text so."""
        at = frame
        while at is not None:
            if at.f_code is trampoline:
                return at.f_back is not None and at.f_back.f_code is exec_module
            if not library(at):
                return False
            at = at.f_back
        return False

    def hook(event: str, args: tuple) -> None:
        if event not in events:
            return
        if event == "object.__getattr__" and (len(args) < 2 or args[1] not in frame_attributes):
            return
        me = get_ident()
        if me in inside:
            return
        inside.add(me)
        try:
            try:
                asking = getframe(1)
            except ValueError:  # no Python frame: the interpreter itself, no learner code
                return
            if event == "compile":
                allowed = matches(asking, compile_chains) or dataclass_being_built(asking) \
                    or (matches(asking, import_chains) and a_files_text(args)) \
                    or library_import(asking)
                what = "built code from text at run time"
            elif event in reaching:
                # not while the learner's code is anywhere on the stack: a reviewer's had
                # copy.copy call gc.get_referrers (a partial set as its __copy__), whose
                # frame is a library's, and read the bench's key from what it found
                allowed = library(asking) and not learners(asking)
                what = {"sys.addaudithook": "added an audit hook",
                        "sys.settrace": "set a trace function (sys.settrace)",
                        "sys.setprofile": "set a profile function (sys.setprofile)",
                        }.get(event, f"reached every object or frame ({event})")
            elif event == "exec":
                # code made from text is run only by what made it: a string annotation's
                # ForwardRef is compiled freely and never evaluated (a reviewer's
                # evaluated typing.Optional["getattr"]'s and had every builtin)
                code = args[0] if args else None
                name = code.co_filename if type(code) is code_type else "<"
                allowed = not name.startswith("<") or name.startswith("<frozen ") or \
                    matches(asking, text_runners) or dataclass_being_built(asking) or \
                    library_import(asking)
                what = "ran code made from text at run time"
            else:
                allowed = frame_allowed(asking)
                what = "took a frame of the running program (sys._getframe)" \
                    if event == "sys._getframe" else \
                    f"took a frame of the running program ({args[1]})"
            if allowed:
                return
            where = f"line {asking.f_lineno}" if asking.f_code.co_filename == learner_file \
                else f"{asking.f_code.co_filename[-80:]}:{asking.f_lineno}"
            refused.append(f"{what}, at {where}")
        finally:
            inside.discard(me)
        raise PermissionError_(f"drillpe: learner code may not do this ({what})")

    return hook


# The names torch looks classes up by (a storage's type("torch.FloatStorage"), and its
# sparse and CUDA kin): nothing else, and no step through another module or a private name
TORCH_CLASS_NAME = re.compile(r"torch(\.cuda)?(\.sparse)?\.[A-Z][A-Za-z0-9]*(Storage|Tensor)")


def torch_names_only(tampering: list[str]) -> None:
    """torch finds classes by dotted strings (a storage's ``type("torch.FloatStorage")``):
    torch._utils._import_dotted_name imports the first part and reads attributes down
    the rest. Given any other string it imports any module and runs its top level (a
    reviewer's ran ``this`` through a storage's type()), and a string that starts with
    torch's name reads on through torch's own imports (the next reviewer's
    ``"torch.os.system"`` and ``"torch.__builtins__"``, handed back by the
    AttributeError that followed, ran a shell and read the bench's key). Only the
    names of torch's tensor and storage classes, and only a class comes back; in every
    module that bound the function (torch binds it at its import)."""
    torch_utils = sys.modules.get("torch._utils")
    if torch_utils is None:  # torch not imported: nothing of it to look names up with
        return
    original = torch_utils._import_dotted_name

    def torch_names_only(name):
        if type(name) is str and TORCH_CLASS_NAME.fullmatch(name):
            found = original(name)
            if isinstance(found, type):
                return found
        tampering.append(f"looked up {str(name)[:80]!r} by a dotted string (as a storage's "
                         "type() does), which may only name torch's tensor and storage classes")
        raise PermissionError("drillpe: only torch's tensor and storage classes may be looked "
                              "up by a string here")

    for name, module in list(sys.modules.items()):
        if (name == "torch" or name.startswith("torch.")) and \
                vars(module).get("_import_dotted_name") is original:
            module._import_dotted_name = torch_names_only


def plain_enum_names(tampering: list[str]) -> None:
    """Enum's functional API (``Enum("E", [(name, value), ...])``) puts every name it
    is given into the new class's namespace: a special name made at run time becomes a
    class attribute the reading never saw (a reviewer's gave a class numpy's
    ``__array_interface__`` so, and read raw memory). Here its names may not start
    with an underscore; no exercise needs one."""
    enum_module = sys.modules.get("enum")
    if enum_module is None:
        return
    enum_type = enum_module.EnumType
    original = enum_type.__dict__["_create_"]

    def plain_names_only(cls, class_name, names, **kwargs):
        # Read once, the way _create_ reads them (a reviewer's object gave keys() one
        # name and its iteration another), and handed on as the plain list checked.
        if type(names) is str:
            given = listed = names.replace(",", " ").split()
        elif isinstance(names, str):  # a str subclass: its split may say anything
            given = listed = [names]
        elif hasattr(names, "keys"):  # a mapping: its iteration, then its values
            listed = list(names)
            given = [(name, names[name]) for name in listed]
        else:  # names, or (name, value) pairs, each item read once
            given = [item if type(item) is str else tuple(item) for item in names]
            listed = [item if type(item) is str else item[0] if len(item) == 2 else None
                      for item in given]
        odd = [name for name in listed if type(name) is not str or name.startswith("_")]
        if odd:
            tampering.append(f"gave an Enum the name {str(odd[0])[:60]!r} through its "
                             "functional API")
            raise PermissionError("drillpe: an Enum's names may not start with an "
                                  "underscore here")
        return original(cls, class_name, given, **kwargs)

    enum_type._create_ = plain_names_only
