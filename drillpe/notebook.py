"""Grading from a notebook or a script: ``drillpe.check("rope", source)``.

``source`` is one of
- a path (str or os.PathLike) to a learner file;
- a module that was imported from a file (its file on disk is graded, as it
  is now on disk, not the module's in-memory state);
- a dict of the learner's objects, e.g. ``globals()`` in a Jupyter notebook
  or ``{"RoPE": RoPE, "attention": attention, ...}``.

In every case the code is graded exactly as ``drillpe check`` grades it: in
a separate learner process, beside a judge process holding the references,
so the learner's code never shares a process with them (nor with the
caller's). For a dict, that means the objects are *re-created from their
source*: drillpe recovers each function's and class's source
(``inspect.getsource``, which also sees code typed in Jupyter cells), adds
the modules and plain constants found in the dict, and grades the file it
wrote. The helpers those objects use travel with them even when the dict
does not name them: drillpe follows the names each function reads from its
globals and its closures (and their helpers in turn), so
``drillpe.check("rope", {"RoPE": RoPE, ...})`` also carries ``angles``.
A lambda bound to a name travels as ``name = lambda ...``.

What cannot travel: state that is not code or a plain constant (a dict
filled at run time, a model instance's trained weights); it shows up as an
ordinary NameError failure in the report. Code typed at a plain ``python``
prompt keeps no source at all: drillpe refuses it with a UsageError that
says so, rather than grading a file without it (IPython and Jupyter keep
every cell's source, so there it works).
"""

from __future__ import annotations

import ast
import functools
import inspect
import linecache
import os
import sys
import tempfile
import textwrap
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from drillpe.data import catalog, limits
from drillpe.errors import UsageError
from drillpe.results.report import ExerciseResult

# Every generated learner file starts like the stubs, so code written
# against the stubs' imports works unchanged; the dict's own entries follow
# and win.
PRELUDE = (
    "import math\n"
    "\n"
    "import torch\n"
    "import torch.nn.functional as F\n"
    "from torch import nn\n"
)
CONSTANT_TYPES = (int, float, str, bool, type(None), complex, bytes)


def check(exercise: str, source: Any, *, device: str = "cpu", seed: int = 0,
          timeout: float = 20.0, record: bool = False) -> Report:
    """Grade ``source`` as exercise ``exercise``; returns the report the CLI
    renders (``.passed``, ``.score``, ``.checks``, ``.to_json()``; shown as
    a scorecard in Jupyter). ``record=True`` also counts it in the history,
    as ``drillpe check`` does."""
    # deferred: the launcher loads only when something is graded
    from drillpe.launch.runner import GradeRequest, grade

    try:
        exercise_id = catalog.get(exercise).id
    except catalog.UnknownExercise as exc:
        raise UsageError(str(exc)) from None
    if device not in ("cpu", "cuda", "auto"):
        raise UsageError(f"unknown device {device!r}: use cpu, cuda or auto")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or \
            not limits.MIN_TIMEOUT_S <= timeout <= limits.MAX_TIMEOUT_S:  # NaN fails too
        raise UsageError(f"timeout must be a number of seconds from {limits.MIN_TIMEOUT_S:g} "
                         f"to {limits.MAX_TIMEOUT_S:g}, not {timeout!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= limits.MAX_SEED:
        raise UsageError(f"seed must be an integer from 0 to 2**63 - 1, not {seed!r}")
    with tempfile.TemporaryDirectory(prefix="drillpe-notebook-") as tmp:
        path, shown = _learner_file(exercise_id, source, Path(tmp),
                                    needed=catalog.get(exercise_id).names)
        result = grade(GradeRequest(exercise_id=exercise_id, file=path, device=device,
                                    seed=seed, timeout=timeout, display_path=shown))
        try:  # the source graded, for the attempt timeline
            graded = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            graded = None
    if record:
        # deferred: sqlite3 only when record=True
        from drillpe.results.history import History

        History().record_check(result, text=graded)
    return Report.from_dict(result.to_dict())


class Report(ExerciseResult):
    """A report as ``check`` returns it: Jupyter and IPython show it as the
    CLI's scorecard (rich, rendered on demand: nothing is imported for a report
    that is never displayed). The wire format itself knows nothing of screens."""

    def _repr_html_(self) -> str:
        # deferred: rich, only when a report is shown
        from drillpe import render
        from drillpe.render.tool_views import capture

        return capture(render.scorecard, self, html=True)

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        # deferred: rich, only when a report is shown
        from drillpe import render
        from drillpe.render.tool_views import capture

        printer.text(repr(self) if cycle else capture(render.scorecard, self, html=False))

    def __repr__(self) -> str:
        # A plain python prompt shows repr: one line, not the dataclass's forty.
        failing = [c.id for c in self.checks if c.status in ("fail", "error")]
        said = f", failing: {', '.join(failing[:3])}" + (" …" if len(failing) > 3 else "") \
            if failing else ""
        return (f"<drillpe report {self.exercise}: {'PASS' if self.passed else 'FAIL'} "
                f"{self.score:.0%}{said}; print(report) or report.show() for the scorecard>")

    def __str__(self) -> str:
        # deferred: rich, only when a report is shown
        from drillpe import render
        from drillpe.render.tool_views import capture

        return capture(render.scorecard, self, html=False)

    def show(self) -> None:
        """Print the scorecard, as ``drillpe check`` does."""
        print(str(self))


def _learner_file(exercise_id: str, source: Any, tmpdir: Path,
                  needed: tuple[str, ...] = ()) -> tuple[Path, str]:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        if not path.is_file():
            raise UsageError(f"no such file: {path}")
        return path, str(path)
    if isinstance(source, types.ModuleType):
        file = getattr(source, "__file__", None)
        if file and Path(file).is_file() and Path(file).suffix == ".py":
            return Path(file), file
        source = vars(source)  # a module built in memory: grade its objects
    if isinstance(source, Mapping):
        text, names = objects_source(source, needed=needed, exercise=exercise_id)
        path = tmpdir / f"{exercise_id}.py"
        path.write_text(text, encoding="utf-8")
        return path, f"<objects: {', '.join(names) or 'none'}>"
    raise UsageError("source must be a path to a learner file, a module, or a dict of your "
                     f"objects (e.g. globals()), not {type(source).__name__}")


# --------------------------------------------------------------------------- objects -> file


def objects_source(objects: Mapping[str, Any], needed: tuple[str, ...] = (),
                   exercise: str = "ID") -> tuple[str, list[str]]:
    """A learner file re-creating ``objects`` and the helpers they use:
    imports for modules and library objects, plain constants, then the
    source of every function and class defined by the user, in the order
    they were written. A name in ``needed`` (the exercise's API), or a
    helper one of them uses, whose source cannot be found is a UsageError."""
    objects, helpers = with_helpers({name: _unwrapped(obj) for name, obj in objects.items()})
    imports: list[str] = []
    constants: list[str] = []
    defined: list[tuple[tuple[str, int], str, str]] = []
    sourceless: list[tuple[str, str]] = []
    for name, obj in objects.items():
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("__") or \
                (name.startswith("_") and name not in helpers):  # IPython's _, _i1, _oh
            continue
        if _is_drillpe(obj):  # `import drillpe` / `from drillpe import check` in the notebook
            continue
        if isinstance(obj, functools.partial) and (name in needed or name in helpers):
            raise UsageError(f"{name} is a functools.partial, which drillpe cannot write into "
                             f"a file for the grader; define it with def (def {name}(...): "
                             f"return {getattr(obj.func, '__name__', 'f')}(...)).")
        if isinstance(obj, types.ModuleType):
            imports.append(_import_module_line(name, obj))
        elif inspect.isfunction(obj) or inspect.isclass(obj):
            if _is_library_object(obj):
                line = _import_object_line(name, obj)
                if line:
                    imports.append(line)
                continue
            if obj.__name__ == "<lambda>":
                text, where = _lambda_source(name, obj)
            else:
                text, where = _object_source(obj)
                if text is not None and obj.__name__ != name:  # keep both names working
                    text += f"\n{name} = {obj.__name__}\n"
            if text is None:
                sourceless.append((name, _defining_file(obj) or "?"))
                continue
            defined.append((where, name, text))
        elif _is_constant(obj):
            constants.append(f"{name} = {obj!r}")
        elif callable(obj):  # a library function bound to a name (from torch import sin)
            line = _import_object_line(name, obj)
            if line:
                imports.append(line)
    missing = [(name, file) for name, file in sourceless if name in needed or name in helpers]
    if missing:
        raise UsageError(_no_source_message(missing, exercise))
    defined.sort(key=lambda item: item[0])
    extra_imports = sorted(set(imports) - set(PRELUDE.splitlines()))
    parts = [PRELUDE, "\n".join(extra_imports), "\n".join(constants)]
    parts.extend(text for _, _, text in _unique(defined))
    return "\n\n\n".join(p.strip("\n") for p in parts if p.strip()) + "\n", \
        [name for _, name, _ in defined]


def with_helpers(objects: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """``objects`` plus what their code reads from its globals and closures,
    followed transitively: (everything, the names that were added). The
    caller's names win over a helper's of the same name."""
    found: dict[str, Any] = dict(objects)
    helpers: set[str] = set()
    queue = [obj for obj in objects.values() if _is_user_code(obj) and not _is_drillpe(obj)]
    seen: set[int] = set()
    while queue:
        obj = queue.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        for name, value in _reads(obj):
            if _is_drillpe(value):
                continue
            helpers.add(name)  # read by the code: kept even when private (_rot)
            if name in found:
                continue
            found[name] = value = _unwrapped(value)
            if _is_user_code(value):
                queue.append(value)
    return found, helpers


def _unwrapped(obj: Any) -> Any:
    """The user's function inside a functools wrapper (``@lru_cache``, ``@wraps``):
    its source, decorators included, re-creates the wrapper."""
    inner = getattr(obj, "__wrapped__", None)
    if inner is not None and not inspect.isfunction(obj) and inspect.isfunction(inner) \
            and not _is_library_object(inner):
        return inner
    return obj


def _is_user_code(obj: Any) -> bool:
    return (inspect.isfunction(obj) or inspect.isclass(obj)) and not _is_library_object(obj)


def _reads(obj: Any):
    """(name, value) for every global and closure variable that ``obj``'s
    functions (a class's methods, properties and bases too) refer to."""
    functions = [obj] if inspect.isfunction(obj) else []
    if inspect.isclass(obj):
        for member in vars(obj).values():
            for inner in (member, getattr(member, "__func__", None),
                          getattr(member, "fget", None), getattr(member, "fset", None)):
                if inspect.isfunction(inner):
                    functions.append(inner)
        module = sys.modules.get(getattr(obj, "__module__", "") or "")
        space = functions[0].__globals__ if functions else vars(module) if module else {}
        for base in obj.__bases__:
            name = base.__name__
            if space.get(name) is base:
                yield name, base
    for function in functions:
        code = function.__code__
        for name in _definition_names(function):
            if name in function.__globals__:
                yield name, _unwrapped(function.__globals__[name])
        for name in _global_names(code):
            if name in function.__globals__:
                yield name, function.__globals__[name]
        for name, cell in zip(code.co_freevars, function.__closure__ or ()):
            try:
                value = cell.cell_contents
            except ValueError:  # not assigned yet
                continue
            if _is_user_code(value) or _is_constant(value) or isinstance(value, types.ModuleType):
                yield name, value


def _definition_names(function: types.FunctionType) -> list[str]:
    """Names a ``def`` line reads when it runs: its decorators and default
    values (``base=SCALE_BASE``), which the function's code never mentions."""
    try:
        node = ast.parse(textwrap.dedent(inspect.getsource(function))).body[0]
    except (OSError, TypeError, SyntaxError, IndexError):
        return []
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return []
    parts = [*node.decorator_list, *node.args.defaults,
             *(d for d in node.args.kw_defaults if d is not None)]
    return [n.id for part in parts for n in ast.walk(part) if isinstance(n, ast.Name)]


def _global_names(code: types.CodeType):
    yield from code.co_names
    for const in code.co_consts:  # nested functions, comprehensions, lambdas
        if isinstance(const, types.CodeType):
            yield from _global_names(const)


def _lambda_source(name: str, obj: Any) -> tuple[str | None, tuple[str, int]]:
    """``name = lambda ...``, cut from the lambda's line in its file or cell."""
    code = obj.__code__
    lines = linecache.getlines(code.co_filename)
    if not lines:
        return None, ("", 0)
    try:
        tree = ast.parse("".join(lines))
    except SyntaxError:
        return None, ("", 0)
    text = "".join(lines)
    arguments = list(code.co_varnames[:code.co_argcount + code.co_kwonlyargcount])
    for node in ast.walk(tree):
        if isinstance(node, ast.Lambda) and node.lineno == code.co_firstlineno and \
                [a.arg for a in node.args.posonlyargs + node.args.args +
                 node.args.kwonlyargs] == arguments:
            segment = ast.get_source_segment(text, node)
            if segment:  # parenthesised: a lambda may span lines inside brackets
                return f"{name} = ({segment})\n", (code.co_filename, node.lineno)
    return None, ("", 0)


def _no_source_message(missing: list[tuple[str, str]], exercise: str) -> str:
    names = ", ".join(name for name, _ in missing)
    files = sorted({file for _, file in missing})
    where = "a plain python prompt" if "<stdin>" in files else ", ".join(files)
    return (f"the source of {names} cannot be found: it was typed at {where}, which keeps no "
            "source, so drillpe cannot send it to the grader. Save your code in a file and pass "
            f"its path (drillpe.check(\"{exercise}\", \"my_answer.py\")), or use IPython or Jupyter, "
            "which keep every cell's source.")


def _is_drillpe(obj: Any) -> bool:
    """drillpe itself, or anything it defines: the caller's tools, not the answer."""
    module = obj.__name__ if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", "")
    return isinstance(module, str) and (module == "drillpe" or module.startswith("drillpe."))


def _unique(defined):
    seen: set[str] = set()
    for where, name, text in defined:
        if text not in seen:
            seen.add(text)
            yield where, name, text


def _is_constant(obj: Any) -> bool:
    if isinstance(obj, tuple):
        return all(_is_constant(item) for item in obj)
    return isinstance(obj, CONSTANT_TYPES) and len(repr(obj)) < 10_000


def _import_module_line(name: str, module: types.ModuleType) -> str:
    real = module.__name__
    if real == name:
        return f"import {real}"
    if "." in real:
        parent, _, leaf = real.rpartition(".")
        if leaf == name:
            return f"from {parent} import {leaf}"
    return f"import {real} as {name}"


def _defining_file(obj: Any) -> str | None:
    """The file whose code defines ``obj`` (a notebook cell's fake name too)."""
    code = getattr(obj, "__code__", None)
    if code is not None:
        return code.co_filename
    if inspect.isclass(obj):
        for member in vars(obj).values():
            code = getattr(getattr(member, "__func__", member), "__code__", None)
            if code is not None:
                return code.co_filename
        try:
            return inspect.getfile(obj)
        except TypeError:  # a built-in class
            return None
    return None


def _is_library_object(obj: Any) -> bool:
    """Defined in an installed package or the standard library, not by the learner."""
    if getattr(obj, "__module__", None) == "__main__":
        return False
    file = _defining_file(obj)
    if file is None:
        return True
    if file.startswith("<"):
        return False
    resolved = str(Path(file).resolve())
    roots = {str(Path(p).resolve()) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix) if p}
    return any(resolved.startswith(root + os.sep) for root in roots) or \
        "site-packages" in resolved or "dist-packages" in resolved


def _import_object_line(name: str, obj: Any) -> str | None:
    """``from M import X as name`` when module M really holds ``obj`` as X."""
    module_name = getattr(obj, "__module__", None)
    module = sys.modules.get(module_name or "")
    for attr in (getattr(obj, "__qualname__", None), getattr(obj, "__name__", None)):
        if attr and "." not in attr and getattr(module, attr, None) is obj:
            return f"from {module_name} import {attr}" + (f" as {name}" if name != attr else "")
    return None


def _object_source(obj: Any) -> tuple[str | None, tuple[str, int]]:
    """(dedented source, (file, first line)), or (None, ...) when it cannot be found."""
    if inspect.isclass(obj):
        # Via the methods' code objects first: they name the real file (a
        # notebook cell's too), where inspect looks in the module's file,
        # which for __main__ is the kernel's or the test runner's.
        found = _class_source_from_methods(obj)
        if found:
            return found
    try:
        lines, first = inspect.getsourcelines(obj)
        file = inspect.getsourcefile(obj) or inspect.getfile(obj)
        return textwrap.dedent("".join(lines)), (file, first)
    except (OSError, TypeError):
        return None, ("", 0)


def _class_source_from_methods(cls: type) -> tuple[str, tuple[str, int]] | None:
    for member in vars(cls).values():
        code = getattr(getattr(member, "__func__", member), "__code__", None)
        if code is None:
            continue
        filename = code.co_filename
        lines = linecache.getlines(filename)
        if not lines:
            continue
        try:
            tree = ast.parse("".join(lines))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name == cls.__name__ and \
                    node.lineno <= code.co_firstlineno <= (node.end_lineno or 0):
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                text = "".join(lines[start - 1:node.end_lineno])
                return textwrap.dedent(text), (filename, start)
    return None
