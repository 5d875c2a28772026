"""Reading the learner's file without running it: syntax, imports, banned
APIs, references to drillpe, hard-coded CUDA, and code that reaches past the
exercise into the interpreter, the process or the file system. It reads the
text with ``ast`` and looks dotted paths up in the allowed modules (as the
judge has them imported) to see through re-exports; it never runs the
learner's code. The judge runs it on the very bytes the learner process imports,
so nothing the learner's code does at run time can switch it off.

What a learner file may use is deliberately narrow: torch and numpy (their
public, computational API), einops, and the standard library's maths,
typing and data-structure modules. Everything an honest positional-encoding
answer needs is there; what is refused is what a forged pass would need
(files and fds, other processes, frames and ``__globals__``, ``sys.modules``,
``gc``, code built from strings, finalisers, monkeypatched torch).
"""

from __future__ import annotations

import ast
import builtins
import functools
import importlib
import importlib.util
import inspect
import operator
import re
import string
import sys
import types
import typing
import warnings
from dataclasses import dataclass, field

from drillpe.launch.contract import caret_lines, syntax_message

REFERENCE_MODULES = ("drillpe", "solutions", "graders")

# Modules a learner file may import (the first dotted part).
ALLOWED_MODULES = frozenset({
    "torch", "numpy", "einops", "math", "cmath", "typing", "typing_extensions", "dataclasses",
    "functools", "itertools", "collections", "abc", "enum", "numbers", "copy", "warnings",
    "random", "fractions", "decimal", "statistics", "operator", "contextlib", "re",
    "json", "time", "sys", "os", "__future__",
})
# For these, only the listed attributes.
ALLOWED_ATTRIBUTES = {
    "sys": {"exit", "argv", "version", "version_info", "platform", "maxsize", "float_info",
            "byteorder", "stdout", "stderr", "getsizeof", "getrecursionlimit",
            "setrecursionlimit", "exc_info", "implementation", "hash_info"},
    "os": {"path", "environ", "getenv", "cpu_count", "sep", "linesep", "name", "getcwd",
           "getpid", "devnull", "curdir", "pardir"},
    "time": {"time", "time_ns", "perf_counter", "perf_counter_ns", "monotonic", "monotonic_ns",
             "sleep", "process_time", "strftime", "localtime", "gmtime"},
    "operator": {"add", "sub", "mul", "matmul", "truediv", "floordiv", "mod", "pow", "neg",
                 "itemgetter", "eq", "ne", "lt", "le", "gt", "ge", "and_", "or_", "not_"},
}
# Reached through an allowed module, these lead out of the exercise.
REFUSED_UNDER = {
    "torch": {"ops", "library", "overrides", "serialization", "hub", "multiprocessing",
              "distributed", "package", "cpp_extension", "classes", "load", "save", "from_file",
              "CompilationUnit", "jit", "fx", "export",  # code built from strings or graphs
              # load_compiled_function unpickles what it is given (pickle runs anything);
              # torch.compile's backends get fx graphs whose targets are pasted into code
              # unescaped, and its options write traces into any folder
              "compiler", "compile",
              # processes, files and code by other names: utils.collect_env.run runs a shell
              # command (a reviewer's forged pass copied the model answer with it), utils.
              # benchmark.Timer and cpp_extension compile strings, onnx and profiler write files
              "utils", "onnx", "profiler", "set_num_threads", "set_num_interop_threads",
              # it returns a module (torch.cpu), whose attributes lead anywhere
              "get_device_module", "ao",
              # an import and getattr by a dotted string (grading.reach.torch_names_only)
              "set_default_tensor_type"},
    # annotations evaluated from strings: eval by another name
    "typing": {"get_type_hints", "ForwardRef", "evaluate_forward_ref"},
    # classes built from a dict of methods (names the text does not show as `def`)
    "abc": {"ABCMeta"},
    # fields() hands out Field objects whose names can be changed before astuple, asdict
    # or replace read or set attributes by them (a reviewer's renamed one __builtins__)
    "dataclasses": {"make_dataclass", "fields", "astuple", "asdict", "replace"},
    # they read any file's lines (through linecache)
    "warnings": {"formatwarning", "showwarning", "warn_explicit"},
    "functools": {"singledispatch", "singledispatchmethod",  # register() evaluates them
                  # they get and set attributes by the names they are given (a reviewer's
                  # got __builtins__ by a name built at run time, and exec from it)
                  "update_wrapper", "wraps", "WRAPPER_ASSIGNMENTS", "WRAPPER_UPDATES"},
    "copy": {"replace"},  # setattr by the keywords' names (Python 3.13)
    # they get and set an attribute of sys named by a private attribute of their own, which
    # a subclass sets (a reviewer's read sys.modules by a name built at run time, then the
    # builtins' getattr); chdir changes the working folder of the process
    "contextlib": {"redirect_stdout", "redirect_stderr", "_RedirectStream", "chdir"},
    "typing_extensions": {"get_type_hints", "ForwardRef", "evaluate_forward_ref",
                          "get_annotations"},
    # the stream's raw file: its type is io.FileIO, which opens any path (a reviewer's
    # forged a bench report with it)
    "sys": {"buffer", "raw", "detach", "fileno"},
    # os.environ is readable; its mutators change what later processes run
    "os": {"update", "setdefault", "pop", "popitem", "clear", "putenv", "unsetenv"},
    # numpy.testing.measure and runstring run code from strings (a reviewer's forged
    # pass), tempdir makes folders anywhere, extbuild compiles C from a string
    "numpy": {"testing", "lib", "ctypeslib", "f2py", "distutils", "load", "save", "savez",
              "savez_compressed", "fromfile", "memmap", "loadtxt", "savetxt", "genfromtxt",
              "fromregex", "DataSource"},
}
# Attribute names refused whatever they are read from.
REFUSED_ANYWHERE = frozenset({
    # frames and code objects: the way to the grader's own state
    "f_back", "f_globals", "f_locals", "f_builtins", "f_code", "tb_frame", "tb_next",
    "gi_frame", "gi_code", "cr_frame", "ag_frame", "co_code", "_getframe", "_current_frames",
    # a coroutine's or async generator's code, renamed with code.replace and made a
    # function again, ran exec past every other check (a reviewer's forged passes)
    "cr_code", "ag_code", "cr_await", "ag_await", "gi_yieldfrom",
    # hooks on every module's forward, the grader's included
    "register_module_forward_hook", "register_module_forward_pre_hook",
    "register_module_full_backward_hook", "register_module_full_backward_pre_hook",
    "register_module_backward_hook", "register_module_buffer_registration_hook",
    "register_module_module_registration_hook", "register_module_parameter_registration_hook",
    # fx graph modules write and run code
    "to_folder", "recompile", "create_node", "python_code",
    # files and raw memory
    "tofile", "fromfile", "from_file", "memmap", "ctypes", "ctypeslib", "_exit",
    # modules that a module's namespace hands out (torch.os, numpy.sys, ...)
    "os", "sys", "subprocess", "gc", "inspect", "importlib", "builtins", "threading", "_thread",
    "multiprocessing", "pickle", "marshal", "io", "shutil", "signal", "socket", "pathlib",
    "tempfile", "glob", "weakref", "atexit", "runpy", "pty", "fcntl", "resource", "mmap",
    "posix", "faulthandler", "sysconfig", "platform", "zipfile", "tarfile", "urllib", "http",
    "asyncio", "concurrent", "_C", "_ops", "_VF",
    # writes an enum's members into the namespace of the module it names (a reviewer's
    # put a name with a __hash__ of its own into the random module's so)
    "global_enum",
})
ALLOWED_DUNDERS = frozenset({
    "__init__", "__name__", "__qualname__", "__doc__", "__class__", "__len__", "__call__",
    "__repr__", "__str__", "__getitem__", "__setitem__", "__iter__", "__next__",
    "__contains__", "__enter__", "__exit__", "__post_init__", "__version__", "__file__",
    "__all__", "__future__", "__hash__", "__bool__", "__int__", "__float__", "__index__",
    "__format__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__neg__",
    "__pos__", "__abs__", "__invert__", "__round__", "__floor__", "__ceil__", "__trunc__",
    "__complex__", "__new__", "__slots__", "__main__",
    *{f"__{p}{op}__" for p in ("", "r", "i") for op in (
        "add", "sub", "mul", "matmul", "truediv", "floordiv", "mod", "pow", "and", "or",
        "xor", "lshift", "rshift", "divmod")},
})
# Methods that run code at moments the learner does not choose (a finaliser
# in the middle of the grader's code) or hook attribute and type machinery.
REFUSED_DEFINITIONS = frozenset({
    "__del__", "__torch_function__", "__torch_dispatch__", "__getattribute__", "__getattr__",
    "__reduce__", "__reduce_ex__", "__init_subclass__", "__set_name__", "__class_getitem__",
    "__instancecheck__", "__subclasscheck__", "__setstate__", "__fspath__",
    "__subclasshook__", "__match_args__", "__missing__", "__prepare__",
    # they receive every attribute name set on the object (a reviewer's collected what
    # functools.update_wrapper copied, __builtins__ among it)
    "__setattr__", "__delattr__",
})
# Builtins that build code from strings, reach namespaces or files.
REFUSED_BUILTINS = frozenset({
    "exec", "eval", "compile", "__import__", "globals", "vars", "breakpoint", "open",
    # at module level locals() is the module's namespace: locals()["__builtins__"]["exec"]
    # ran a reviewer's string, and a class body's locals() defined refused methods
    "locals",
})
ATTRIBUTE_BUILTINS = frozenset({"getattr", "setattr", "delattr", "hasattr"})
# The builtin types whose class pattern takes one positional part, matched against the
# subject itself (case int(n)): no attribute is read.
MATCH_SELF = frozenset({"bool", "bytearray", "bytes", "dict", "float", "frozenset", "int",
                        "list", "set", "str", "tuple"})
# Frame, traceback and code attributes, refused as strings too (match arguments).
FRAME_NAMES = frozenset({"f_back", "f_globals", "f_locals", "f_builtins", "f_code",
                         "tb_frame", "tb_next", "gi_frame", "gi_code", "cr_frame", "cr_code",
                         "ag_frame", "ag_code", "co_code", "co_names", "co_consts"})
# Fused attention by any of its names (the private aten kernels, flex attention).
BANNED_STEMS = {"torch.nn.functional.scaled_dot_product_attention": ("scaleddotproduct",
                                                                      "flexattention"),
                "torch.nn.MultiheadAttention": ("multiheadattention", "transformerencoder",
                                                "transformerdecoder"),
                "torch.nn.functional.multi_head_attention_forward": ("multiheadattention",)}


# Names that, read from a value whose type the text cannot tell (``[nn][0].x``),
# lead to modules that hand out code by name, or are such objects themselves
# (besides REFUSED_ANYWHERE). Kept to names no tensor, array or module method
# shares, so honest attribute reads are never refused.
REFUSED_FROM_VALUES = frozenset({
    "buffer", "raw",  # a stream's binary and raw files (io.FileIO opens any path)
    "dump", "dumps",  # ndarray.dump pickles to any path
    "exec",  # the builtins module's, reached as a value
    "_use_count", "_cdata",  # who else holds a tensor: which timed output the bench checks
    # a string annotation's ForwardRef, evaluated: any builtin by a name made at run time
    # (a reviewer's took typing.Optional["..."]'s)
    "_evaluate", "__forward_code__",
    "bltns", "operator", "types", "string", "copyreg", "codeop", "pdb", "runpy", "pydoc",
    "timeit", "traceback", "tokenize", "dis", "ast", "linecache", "attrgetter",
    "methodcaller", "singledispatch", "singledispatchmethod", "get_type_hints", "ForwardRef",
    # what a reviewer's reached from a value (sys through other modules' imports): any
    # attribute by name, every module, torch's C++ file reader, the import machinery
    "getattr", "setattr", "delattr", "globals", "vars", "locals", "modules", "_sys",
    "from_file", "spec_from_file_location", "module_from_spec", "exec_module",
    "load_module", "SourceFileLoader", "spec_from_loader", "import_module", "reload",
    # modules by the names other modules import them under
    "torch", "np", "os", "sys", "builtins", "importlib",  # (tensor.numpy() is a method)
    # functools.reduce(getattr, ...) over a dotted string (a reviewer's reached torch._C)
    "getattr_from_fqn", "quantization",
    # it imports a module by a dotted string and reads attributes down it (as a
    # storage's type(str) does, which the learner's process allows torch's names only)
    "set_default_tensor_type",
    # what a closure's cell holds (a reviewer's read the bench's key out of one)
    "cell_contents",
})
# Methods that read attributes named inside a format string.
FORMAT_METHODS = frozenset({"format", "format_map", "get_field", "vformat", "get_value"})
# What a string annotation may contain: names, dotted names, subscripts, unions.
ANNOTATION_NODES = (ast.Expression, ast.Name, ast.Attribute, ast.Subscript, ast.Tuple, ast.List,
                    ast.Constant, ast.BinOp, ast.BitOr, ast.Load, ast.Slice)


@dataclass
class Finding:
    code: str
    line: int
    text: str


@dataclass
class StaticReport:
    syntax_error: str | None = None
    syntax_caret: list[str] = field(default_factory=list)  # the line, a caret under the column
    syntax_line: int | None = None
    findings: list[Finding] = field(default_factory=list)
    tree: ast.Module | None = None

    def by_code(self, code: str) -> list[Finding]:
        return [f for f in self.findings if f.code == code]


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """``a.b.c`` with ``a`` replaced by what it stands for (an import alias)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(aliases.get(node.id, node.id))
        return ".".join(reversed(parts))
    return None


def _collect_aliases(tree: ast.Module) -> tuple[dict[str, str], set[str]]:
    """Every name bound to an imported module or to something reached through
    one (``T = torch.Tensor``), wherever in the file; and the names that are
    modules (``import x``), whose bare use hands the module around."""
    aliases: dict[str, str] = {}
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                aliases[local] = alias.name if alias.asname else alias.name.split(".")[0]
                modules.add(local)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for _ in range(3):  # aliases of aliases
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                value = node.value
                if value is None:
                    continue
                dotted = _dotted(value, aliases)
                root = dotted.split(".")[0] if dotted else None
                if root and root in _roots(aliases):
                    for target in targets:
                        if isinstance(target, ast.Name) and target.id not in aliases:
                            aliases[target.id] = dotted
    for name, dotted in aliases.items():  # from torch import nn: nn is a module too
        if name not in modules and isinstance(lookup(dotted.split(".")), types.ModuleType):
            modules.add(name)
    return aliases, modules


def _bound_names(tree: ast.Module) -> set[str]:
    """Names the file binds itself (parameters, assignments, loops, ...): a
    parameter called ``input`` or ``open`` is not the builtin."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            bound.add(node.name)
    return bound


# Calls that give a module an attribute by the name they are handed
NAMING_CALLS = frozenset({"register_buffer", "register_parameter", "add_module",
                          "register_module"})


def _own_private_names(tree: ast.Module) -> set[str]:
    """The private names (``_x``) the file gives attributes itself: assigned to an
    attribute, defined in a class body, listed in ``__slots__``, or handed to
    register_buffer and its kin. Only these may be read on ``self`` or ``cls``."""
    own: set[str] = set()

    def private(name: object) -> bool:
        return isinstance(name, str) and name.startswith("_") and not name.startswith("__")

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, (ast.Store, ast.Del)) \
                and private(node.attr):
            own.add(node.attr)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names = [item.name]
                elif isinstance(item, (ast.Assign, ast.AnnAssign)):
                    targets = item.targets if isinstance(item, ast.Assign) else [item.target]
                    names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
                    if "__slots__" in names and item.value is not None:
                        names += [c.value for c in ast.walk(item.value)
                                  if isinstance(c, ast.Constant)]
                else:
                    continue
                own.update(n for n in names if private(n))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in NAMING_CALLS and node.args \
                and isinstance(node.args[0], ast.Constant) and private(node.args[0].value):
            own.add(node.args[0].value)
    return own


def _roots(aliases: dict[str, str]) -> set[str]:
    return {v.split(".")[0] for v in aliases.values()}


class _Visitor:
    """Walks the tree without recursion (a 100 000-term expression is fine)."""

    def __init__(self, banned: tuple[str, ...], banned_modules: tuple[str, ...],
                 aliases: dict[str, str], modules: set[str], bound: set[str],
                 own_private: set[str] = frozenset()):
        self.bound = bound
        self.own_private = own_private
        self.banned = banned
        self.banned_last = {name.rsplit(".", 1)[-1]: name for name in banned}
        self.banned_stems = {stem: name for name in banned for stem in BANNED_STEMS.get(name, ())}
        self.banned_modules = banned_modules
        self.aliases = aliases
        self.modules = modules
        self.module_roots = _roots(aliases)
        self.findings: list[Finding] = []
        self.exempt: set[int] = set()  # nodes already judged as part of a larger one

    def add(self, code: str, node: ast.AST, text: str) -> None:
        self.findings.append(Finding(code, getattr(node, "lineno", 0) or 0, text))

    def tamper(self, node: ast.AST, text: str) -> None:
        self.add("rules.tampering", node, text)

    def run(self, tree: ast.Module) -> None:
        parents: dict[int, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                parents[id(child)] = node
        self.parents = parents
        self.string_names = _string_names(tree)
        for node in ast.walk(tree):
            visit = getattr(self, f"visit_{type(node).__name__}", None)
            if visit is not None:
                visit(node)

    # imports -------------------------------------------------------------
    def _check_module(self, module: str, node: ast.AST) -> None:
        root = module.split(".")[0]
        if root in REFERENCE_MODULES:
            self.add("rules.uses_reference", node, f"import {module}")
            return
        if root in self.banned_modules:
            self.add("rules.banned_api", node, f"import {module}")
            return
        if root not in ALLOWED_MODULES:
            why = (f"import {module}: a learner file may import torch, numpy, einops and the "
                   "standard library's maths and typing modules only")
            # The standard library's other modules (ctypes, gc, inspect, ...) reach into
            # the process the grader runs in; another library (scipy, a typo) is only
            # not part of the exercise.
            if root in sys.stdlib_module_names or root.startswith("_"):
                self.tamper(node, why)
            else:
                self.add("rules.module_not_allowed", node, why)
            return
        self._check_path(module, node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_module(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self.tamper(node, "a relative import (the learner file is not part of a package)")
            return
        module = node.module or ""
        self._check_module(module, node)
        for alias in node.names:
            full = f"{module}.{alias.name}"
            if alias.name == "*":
                self.tamper(node, f"from {module} import *: name what you use")
                continue
            self._check_path(full, node)

    # names and attributes ----------------------------------------------------
    def _check_banned(self, dotted: str, node: ast.AST) -> bool:
        """A banned name anywhere in the path (``F.scaled_dot_product_attention.__wrapped__``
        is still SDPA), in any spelling of it (``torch.ops.aten._scaled_dot_product_...``)."""
        if dotted in self.banned:
            self.add("rules.banned_api", node, dotted)
            return True
        for part in dotted.split(".")[1:] or [dotted]:
            if part in self.banned_last:
                self.add("rules.banned_api", node, self.banned_last[part])
                return True
            squashed = part.lower().replace("_", "")
            for stem, name in self.banned_stems.items():
                if stem in squashed:
                    self.add("rules.banned_api", node, f"{dotted} (a form of {name})")
                    return True
        return False

    def _check_path(self, dotted: str, node: ast.AST, rerooted: bool = False) -> None:
        """A dotted path whose root is an imported module (or anything else)."""
        self._check_banned(dotted, node)
        parts = dotted.split(".")
        root = parts[0]
        if root in self.module_roots or rerooted:
            found = resolve(parts)
            if found is not None:
                kind, index, what = found
                prefix = ".".join(parts[:index + 1])
                if kind == "module":  # another top-level module, reached as an attribute
                    if what.split(".")[0] not in ALLOWED_MODULES:
                        self.tamper(node, f"{prefix} is the module {what}, which a learner "
                                          "file may not use")
                        return
                    self._check_path(".".join([what, *parts[index + 1:]]), node, rerooted=True)
                    return
                self.tamper(node, f"{prefix} is {what}: it reaches code by name")
                return
        if root in REFERENCE_MODULES and root in self.module_roots:
            self.add("rules.uses_reference", node, dotted)
            return
        imported = root in self.module_roots or rerooted
        if not imported:  # a path from a value: its names are all there is to judge
            for index, part in enumerate(parts[1:], start=1):
                if part in REFUSED_FROM_VALUES:
                    self.tamper(node, f"{dotted}: {part} is not part of a computation")
                    return
                # a private name, but one the file gives its own self or class: from any
                # other value it may be a library's internals (a reviewer's went from a
                # module torch.get_device_module returned to torch._utils.
                # _import_dotted_name, an import and getattr by a dotted string), and so
                # may a base class's (the next called an Enum's cls._convert_, which read
                # a module's namespace by a name made at run time)
                if part.startswith("_") and not part.startswith("__"):
                    # (never a _sunder_ name: enum's own API, _convert_ and _create_ among
                    # it, which a file re-opened by assigning the name elsewhere)
                    if index == 1 and root in ("self", "cls") and part in self.own_private \
                            and not part.endswith("_"):
                        continue
                    whose = ("a private name your file does not define (a library's)"
                             if index == 1 and root in ("self", "cls")
                             else "private to another object")
                    self.tamper(node, f"{dotted}: {part} is {whose}")
                    return
        allowed = ALLOWED_ATTRIBUTES.get(root)
        if allowed is not None and imported and len(parts) > 1 \
                and parts[1] not in allowed:
            self.tamper(node, f"{dotted}: only {', '.join(sorted(allowed))} of {root} may be "
                              "used")
            return
        refused = REFUSED_UNDER.get(root, set())
        for i, part in enumerate(parts[1:], start=1):
            if i == 1 and allowed is not None and part in allowed:
                continue
            # a library's private names (torch._inductor's code cache loads any file as a
            # module; a reviewer's forged pass went through it) are no computational API
            # torch.autograd.profiler_util's and profiler_legacy's trace exports write any path
            if imported and root == "torch" and part.startswith("profiler"):
                self.tamper(node, f"{'.'.join(parts[:i + 1])}: not part of the computational "
                                  f"API of {root}")
                return
            private = part.startswith("_") and not (
                _allowed_dunder(part) if root in ALLOWED_MODULES else _dunder_ok(part))
            if imported and (part in refused or private):
                self.tamper(node, f"{'.'.join(parts[:i + 1])}: not part of the computational "
                                  f"API of {root}")
                return
            if part in REFUSED_ANYWHERE or part.startswith("co_") or (
                    part.startswith("__") and not _dunder_ok(part)):
                # a newcomer's cache through self.__dict__.setdefault was honest: say how
                # to keep state without the internals
                own = (" (keep a cache of your own as an ordinary attribute: self._cache = {} "
                       "in __init__)") if part.startswith("__") else ""
                self.tamper(node, f"{dotted}: reaches the interpreter's or the grader's "
                                  f"internals{own}")
                return

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if id(node) in self.exempt:
            return
        # judge the longest chain once: a.b.c, not a.b as well
        inner = node.value
        while isinstance(inner, ast.Attribute):
            self.exempt.add(id(inner))
            inner = inner.value
        dotted = _dotted(node, self.aliases)
        if dotted is None:
            # the chain starts at a call, subscript, ...: its names still count
            names, part = [], node
            while isinstance(part, ast.Attribute):
                names.append(part.attr)
                part = part.value
            dotted = ".".join(["<value>", *reversed(names)])
        self._check_path(dotted, node)
        self._module_as_value(dotted, node)

    def _module_as_value(self, dotted: str, node: ast.Attribute) -> None:
        """A module reached as an attribute and used as a value ([torch.nn][0]): from a
        value, the rules can only judge names, and a reviewer's walked on from one
        through other modules' imports to sys (.utils.parametrize.collections._sys)."""
        parts = dotted.split(".")
        parent = self.parents.get(id(node))
        if parts[0] not in self.module_roots or isinstance(parent, ast.Attribute) or \
                _is_alias_assignment(parent, node):
            return
        last = None
        for index, _, obj in _walk(parts):
            last = (index, obj)
        if last is not None and last[0] == len(parts) - 1 and \
                isinstance(last[1], types.ModuleType):
            self.tamper(node, f"the module {dotted} used as a value: use its functions "
                              "directly")

    def visit_Name(self, node: ast.Name) -> None:
        if not isinstance(node.ctx, ast.Load):
            # a class's __match_args__ makes `case C(x)` read attributes by name;
            # other special names hook the interpreter's machinery
            if not _dunder_ok(node.id):
                self.tamper(node, f"{node.id}: sets one of the interpreter's hooks")
            return
        name = node.id
        builtin = name not in self.aliases and name not in self.bound
        if name in REFUSED_BUILTINS and builtin:
            self.tamper(node, f"{name}(): builds code from strings or reaches namespaces or "
                              "files")
            return
        if name.startswith("__") and not _dunder_ok(name):
            self.tamper(node, f"{name}: reaches the interpreter's internals")
            return
        parent = self.parents.get(id(node))
        if name in ATTRIBUTE_BUILTINS and builtin:
            if not (isinstance(parent, ast.Call) and parent.func is node):
                self.tamper(node, f"{name} passed around: call it with a literal name")
            return
        full = self.aliases.get(name)
        if full and full != name and not isinstance(parent, ast.Attribute):
            self._check_path(full, node)
        if name in self.modules and not isinstance(parent, ast.Attribute) and \
                not _is_alias_assignment(parent, node):
            self.tamper(node, f"the module {name} used as a value: use its functions directly")

    def visit_Call(self, node: ast.Call) -> None:
        self._format_string(node)
        func = node.func
        if isinstance(func, ast.Name) and func.id == "type" and len(node.args) == 3 and \
                "type" not in self.bound:
            # a class built from a dict: its methods' names are strings (a reviewer's
            # defined __torch_function__ and __del__ so)
            self.tamper(node, "type() with three arguments: define a class with `class`")
        if isinstance(func, ast.Attribute) and func.attr == "cuda":
            self.add("device.hardcoded_cuda", node, ".cuda()")
        for arg in [*node.args, *(kw.value for kw in node.keywords)]:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and \
                    arg.value.split(":")[0] == "cuda":
                self.add("device.hardcoded_cuda", node, repr(arg.value))
        if isinstance(func, ast.Name) and func.id in ATTRIBUTE_BUILTINS and \
                func.id not in self.aliases and func.id not in self.bound:
            self._attribute_builtin(func.id, node)

    def _attribute_builtin(self, name: str, node: ast.Call) -> None:
        if len(node.args) < 2 or not (isinstance(node.args[1], ast.Constant) and
                                      isinstance(node.args[1].value, str)):
            self.tamper(node, f"{name}() with a computed attribute name")
            return
        attr = node.args[1].value
        base = _dotted(node.args[0], self.aliases) or "<value>"
        dotted = f"{base}.{attr}"
        self._check_path(dotted, node)
        if name in ("setattr", "delattr") and base.split(".")[0] in self.module_roots:
            self.tamper(node, f"{name}() on {base}: changes a module")
        elif name in ("setattr", "delattr") and _through_class(node.args[0]):
            self.tamper(node, f"{name}() on an object's __class__: changes a class for "
                              "every object of it")

    def _format_string(self, node: ast.Call) -> None:
        """str.format and its kin read attributes named inside the string
        ("{0.__globals__}"), where no attribute node shows them."""
        func = node.func
        if not (isinstance(func, ast.Attribute) and func.attr in FORMAT_METHODS):
            return
        receiver = func.value
        if isinstance(receiver, ast.Name) and receiver.id == "str" and node.args:
            receiver = node.args[0]  # str.format("...", x)
        texts = self._strings_of(receiver)
        if texts is None:
            self.tamper(node, f".{func.attr}() on a format string drillpe cannot read: "
                              "use an f-string")
            return
        for text in texts:
            try:
                fields = [f for _, f, _, _ in string.Formatter().parse(text) if f]
            except ValueError:
                continue  # str.format raises too
            for field_name in fields:
                for part in re.split(r"[.\[]", field_name)[1:]:
                    attr = part.rstrip("]")
                    if attr.startswith("_") or attr in REFUSED_ANYWHERE:
                        self.tamper(node, f"format field {{{field_name}}}: reaches the "
                                          "interpreter's internals")
                        return

    def _strings_of(self, node: ast.AST) -> list[str] | None:
        """The text(s) a format string can be: a literal, or a name only ever
        assigned literals in this file; None when it cannot be known."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        if isinstance(node, ast.Name) and node.id in self.string_names:
            return self.string_names[node.id]
        return None

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        # A metaclass's __new__ gets the class body as a dict it can add to under names
        # made at run time: a reviewer's added __annotations__ naming __globals__ and
        # __closure__, and the dataclass made of it read them off any object.
        for keyword in node.keywords:
            if keyword.arg == "metaclass":
                self.tamper(node, f"class {node.name}(metaclass=...): a metaclass builds "
                                  "classes from names the text does not show")
        for base in node.bases:
            name = _dotted(base, self.aliases) or ""
            if name.split(".")[-1] in ("type", "EnumMeta", "EnumType", "ABCMeta") or \
                    name.endswith("Meta"):
                self.tamper(node, f"class {node.name}({name}): a metaclass builds classes "
                                  "from names the text does not show")
        # An import in a class body makes the module an attribute of the class, which
        # the rules then read as any value's: a reviewer's `class _Lib: import random
        # as rnd` reached `_Lib.rnd._index` and replaced it.
        for statement in node.body:
            if isinstance(statement, (ast.Import, ast.ImportFrom)):
                self.tamper(statement, f"an import inside class {node.name}: import at the "
                                       "top of the file")

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if node.name in REFUSED_DEFINITIONS:
            self.tamper(node, f"def {node.name}: runs code at moments the grader does not "
                              "choose")
        elif not _dunder_ok(node.name):
            # as for any other use of the name: a reviewer's `def __array_interface__` (a
            # property) had numpy build arrays over raw addresses, and read the builtins
            # and the bench's key out of memory
            self.tamper(node, f"def {node.name}: a special method a learner file may not "
                              "define (the protocols libraries read them for reach outside "
                              "the exercise)")
        arguments = node.args
        for arg in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                    arguments.vararg, arguments.kwarg]:
            if arg is not None and arg.annotation is not None:
                self._annotation(arg.annotation)
        if node.returns is not None:
            self._annotation(node.returns)

    def _annotation(self, annotation: ast.AST) -> None:
        """A string annotation is code that typing.get_type_hints (and
        functools.singledispatch through it) evaluates: it may only name types."""
        for part in ast.walk(annotation):
            if not (isinstance(part, ast.Constant) and isinstance(part.value, str)):
                continue
            try:
                tree = ast.parse(part.value.strip(), mode="eval")
            except SyntaxError:
                self.tamper(part, f"the annotation {part.value[:60]!r} is not a type")
                continue
            for inner in ast.walk(tree):
                if not isinstance(inner, ANNOTATION_NODES):
                    self.tamper(part, f"the annotation {part.value[:60]!r} is not a type")
                    break
                name = inner.attr if isinstance(inner, ast.Attribute) else \
                    inner.id if isinstance(inner, ast.Name) else ""
                if name.startswith("__") or name in REFUSED_ANYWHERE:
                    self.tamper(part, f"the annotation {part.value[:60]!r} reaches the "
                                      "interpreter's internals")
                    break

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_MatchClass(self, node: ast.AST) -> None:
        for attr in getattr(node, "kwd_attrs", []):  # case X(attr=...) reads X.attr
            self._check_path(f"<value>.{attr}", node)
        # case X(a, b) reads the attributes X.__match_args__ names, which the text need
        # not show (a reviewer's class named __globals__ there); the builtins' own
        # single positional pattern (case int(n)) reads nothing
        cls = getattr(node, "cls", None)
        if getattr(node, "patterns", None) and not (
                isinstance(cls, ast.Name) and cls.id in MATCH_SELF and cls.id not in self.bound):
            self.tamper(node, "a class pattern with positional parts: name the attributes "
                              "(case X(attr=...))")

    def visit_Constant(self, node: ast.Constant) -> None:
        # a refused name in a string: a class built from a dict (type(name, bases, {...}),
        # a metaclass, make_dataclass) defined __match_args__ and __del__ so
        text = node.value
        if isinstance(text, str) and (
                (text.startswith("__") and text.endswith("__") and len(text) > 4
                 and text not in ALLOWED_DUNDERS) or text in REFUSED_DEFINITIONS
                or text in FRAME_NAMES):
            self.tamper(node, f"the string {text!r} names what a learner file may not reach "
                              "or define")

    # changes to modules ------------------------------------------------------
    def _target(self, target: ast.AST, node: ast.AST, verb: str) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._target(element, node, verb)
            return
        if isinstance(target, ast.Starred):
            self._target(target.value, node, verb)
            return
        if isinstance(target, ast.Subscript):
            target = target.value
            if not isinstance(target, ast.Attribute):
                return
        if not isinstance(target, ast.Attribute):
            return
        dotted = _dotted(target, self.aliases)
        if dotted and dotted.split(".")[0] in self.module_roots:
            self.tamper(node, f"{verb} {dotted}: changes torch or Python for the grader too")
            return
        if target.attr == "__class__":
            self.tamper(node, f"{verb} an object's __class__: its methods become ones the "
                              "file chose (a reviewer's gave a tensor's storage a class "
                              "whose data_ptr did the work the bench had timed)")
            return
        if _through_class(target.value):
            self.tamper(node, f"{verb} an attribute of an object's __class__: changes a "
                              "class for every object of it (a reviewer's set "
                              "q.__class__.detach, torch.Tensor's, for the bench's check)")
            return
        base = target.value
        while isinstance(base, ast.Attribute):
            base = base.value
        if isinstance(base, ast.Call) and isinstance(base.func, ast.Name) and \
                base.func.id == "type":
            self.tamper(node, f"{verb} an attribute of type(...): changes a class for every "
                              "object of it")

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._target(target, node, "assigns")

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._target(node.target, node, "assigns")

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._target(node.target, node, "assigns")
        self._annotation(node.annotation)
        if isinstance(node.target, ast.Name) and isinstance(self.parents.get(id(node)),
                                                            ast.ClassDef):
            self._field_name(node.target.id, node)

    def _field_name(self, name: str, node: ast.AST) -> None:
        """An annotated name in a class body is a dataclass field: its generated
        __init__ and __eq__ set and read that attribute on whatever object they are
        called with (a reviewer's read torch.from_file and dataclasses._create_fn off
        the modules so, and set them on a module of its own). Fields get names an
        attribute read may use: no private or dunder names, none the rules refuse."""
        sensitive = name in REFUSED_ANYWHERE or name in REFUSED_FROM_VALUES or \
            name in REFUSED_BUILTINS or name in ATTRIBUTE_BUILTINS or \
            any(name in names for names in REFUSED_UNDER.values()) or \
            name in FIELDS_REACHING
        if name.startswith("__") or sensitive or name.startswith("_") and _module_name(name):
            self.tamper(node, f"a field named {name}: a dataclass's methods read and set "
                              "it on any object they are given")

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self._target(target, node, "deletes")


def _through_class(node: ast.AST) -> bool:
    """Whether ``node`` reads ``__class__`` anywhere along its chain of attributes
    (``x.__class__``, ``x.y.__class__.z``): what is set on it is set on a class."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        if isinstance(node, ast.Attribute) and node.attr == "__class__":
            return True
        node = node.value
    return False


# Field names that would read what sys and os keep out of reach (honest names like pos,
# index or read, which operator and os also have, are fine: their modules cannot be
# had as values).
FIELDS_REACHING = frozenset({"modules", "system", "popen", "fork", "kill", "execv", "execve",
                             "spawnv", "unlink", "putenv", "path_hooks", "meta_path"})


def _module_name(name: str) -> bool:
    """Whether an allowed module has an attribute of that name (dataclasses._create_fn,
    torch._C): a field so named reads it off the module (a private name of the
    learner's own, like _cache, is fine)."""
    return any(next(_walk([root, name]), None) is not None
               for root in ("torch", "numpy", "dataclasses", "functools", "typing",
                            "collections", "enum", "copy", "math"))


def _dangerous() -> dict[int, str]:
    """Objects that run or reach code named by a string, by identity."""

    found = {id(getattr(builtins, name)): f"the builtin {name}" for name in (
        "eval", "exec", "compile", "getattr", "setattr", "delattr", "__import__", "open",
        "globals", "vars", "breakpoint", "input", "locals")}
    found[id(builtins)] = "the builtins module"
    for owner, names in ((operator, ("attrgetter", "methodcaller")),
                         (functools, ("singledispatch", "singledispatchmethod")),
                         (typing, ("get_type_hints", "ForwardRef"))):
        for name in names:
            found[id(getattr(owner, name))] = f"{owner.__name__}.{name}"
    return found


_DANGEROUS: dict[int, str] | None = None


def resolve(parts: list[str]) -> tuple[str, int, str] | None:
    """Walk a dotted path rooted at an allowed module the way Python would.
    Returns ("module", index, name) at the first attribute that is another
    top-level module (``enum.bltns`` is builtins, ``typing.operator`` is
    operator), ("danger", index, description) at the first attribute that
    is a dangerous object, or None."""
    global _DANGEROUS
    if _DANGEROUS is None:
        _DANGEROUS = _dangerous()
    root = parts[0]
    for index, part, obj in _walk(parts):
        if id(obj) in _DANGEROUS:
            return "danger", index, _DANGEROUS[id(obj)]
        if isinstance(obj, types.ModuleType) and obj.__name__.split(".")[0] != root:
            if index == 1 and part in ALLOWED_ATTRIBUTES.get(parts[0], ()):
                root = obj.__name__.split(".")[0]  # os.path is posixpath: allowed by name
                continue
            return "module", index, obj.__name__
    return None


def lookup(parts: list[str]) -> object | None:
    """What a dotted path rooted at an allowed module is, if it can be told."""
    found = None
    for index, _, obj in _walk(parts):
        found = obj if index == len(parts) - 1 else None
    return found


def _walk(parts: list[str]):
    """(index, name, object) along a dotted path rooted at an allowed module:
    static lookups (no descriptor runs), except a module's own ``__getattr__``
    (numpy's lazy submodules), which is library code."""
    root = parts[0]
    if root not in ALLOWED_MODULES or root == "__future__":
        return
    obj = sys.modules.get(root)
    if obj is None:
        try:
            obj = importlib.import_module(root)
        except Exception:  # not installed here: the learner process will say so
            return
    for index, part in enumerate(parts[1:], start=1):
        try:
            obj = inspect.getattr_static(obj, part)
        except AttributeError:
            if not (isinstance(obj, types.ModuleType) and "__getattr__" in vars(obj)):
                return
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    obj = getattr(obj, part)
            except Exception:
                return
        yield index, part, obj


def _string_names(tree: ast.Module) -> dict[str, list[str]]:
    """Names whose every assignment in the file is a string literal."""
    found: dict[str, list[str]] = {}
    other: set[str] = set()
    for node in ast.walk(tree):
        targets, value = [], None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
            targets, value = [node.target], node.value
        elif isinstance(node, (ast.For, ast.comprehension)):
            targets = [node.target]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            arguments = node.args
            other.update(a.arg for a in [*arguments.posonlyargs, *arguments.args,
                                         *arguments.kwonlyargs, arguments.vararg,
                                         arguments.kwarg] if a is not None)
        for target in targets:
            names = [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
            literal = isinstance(target, ast.Name) and not isinstance(node, ast.AugAssign) and \
                isinstance(value, ast.Constant) and isinstance(value.value, str)
            for name in names:
                if literal:
                    found.setdefault(name, []).append(value.value)
                else:
                    other.add(name)
    return {name: texts for name, texts in found.items() if name not in other}


def _allowed_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__") and name in ALLOWED_DUNDERS


def _dunder_ok(name: str) -> bool:
    if not (name.startswith("__") and name.endswith("__")):
        return True  # a name-mangled private of the learner's own class
    return name in ALLOWED_DUNDERS


def _is_alias_assignment(parent: ast.AST | None, node: ast.AST) -> bool:
    """``x = module`` as a statement. Not ``(x := module)``: that expression is the
    module itself, as a value (a reviewer's [(m := torch.ao)][0] walked on from it)."""
    return isinstance(parent, (ast.Assign, ast.AnnAssign)) and \
        getattr(parent, "value", None) is node


def analyse(source: str, banned: tuple[str, ...] = (), banned_modules: tuple[str, ...] = ()
            ) -> StaticReport:
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return StaticReport(syntax_error=syntax_message(exc), syntax_line=exc.lineno,
                            syntax_caret=caret_lines(exc))
    except (RecursionError, MemoryError):
        return StaticReport(syntax_error="the file is nested too deeply for Python to compile")
    except ValueError as exc:  # a NUL byte
        return StaticReport(syntax_error=f"the file is not Python source ({exc})")
    try:
        aliases, modules = _collect_aliases(tree)
        visitor = _Visitor(banned, banned_modules, aliases, modules, _bound_names(tree),
                           _own_private_names(tree))
        visitor.run(tree)
    except RecursionError:
        return StaticReport(syntax_error="the file is nested too deeply to be read")
    unique: dict[tuple[str, int, str], Finding] = {}
    for finding in visitor.findings:
        unique.setdefault((finding.code, finding.line, finding.text), finding)
    by_line: dict[tuple[str, int], Finding] = {}
    for finding in sorted(unique.values(), key=lambda f: (f.line, f.code)):
        by_line.setdefault((finding.code, finding.line), finding)  # one message per line
    return StaticReport(findings=list(by_line.values()), tree=tree)


# What makes a file hostile rather than wrong: the learner process does not run it.
NOT_RUN = ("rules.uses_reference", "rules.tampering")


def not_run(report: StaticReport) -> Finding | None:
    """The first finding for which drillpe does not run the file at all: its
    verdict is a fail whatever it does, and under the guard (no sandbox) code
    caught planting files for later commands once did so while it was graded."""
    return next((f for f in report.findings if f.code in NOT_RUN), None)


def class_fields(tree: ast.Module | None) -> frozenset[str]:
    """The names a file annotates in class bodies (its dataclasses' fields: the only
    names drillpe.grading.reach lets a dataclass of the learner's have)."""
    if tree is None:
        return frozenset()
    return frozenset(item.target.id for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
                     for item in node.body
                     if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name))


def class_field_names(path) -> frozenset[str]:
    """class_fields of the file at ``path`` (none where it cannot be read or parsed)."""
    source = read_source(path)
    try:
        return class_fields(ast.parse(source) if isinstance(source, str) else None)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return frozenset()


def read_source(path) -> StaticReport | str:
    """The file's text, decoded as ``import`` decodes it (a BOM, a PEP 263
    coding line), or the report of why it cannot be."""
    from drillpe.grading import records  # deferred: it imports torch

    try:
        data = records.read_capped(path, 16 * 1024 * 1024)
    except records.Tampered as exc:
        return StaticReport(syntax_error=f"the file cannot be read ({exc})")
    try:
        return importlib.util.decode_source(data)
    except (UnicodeDecodeError, SyntaxError, LookupError) as exc:
        return StaticReport(syntax_error=f"the file is not readable Python text ({exc})")
