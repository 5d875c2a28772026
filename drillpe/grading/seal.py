"""A seal over the state drillpe's own code runs on, in a process where the
learner's code runs beside it with nothing around it (the bench's timing process).

Why. The timing code looks up its functions, classes and tables by name as it
runs, and the learner's code reaches every module through ``sys.modules`` (and
``__main__``, which is the timing code there). Reviewers' files gave the timing
code a ``torch`` of their own, replaced its ``fill`` and wrote the new one into the
dict the timing code compared its functions with, replaced the builtin ``sorted``
that comparison ran its findings through, and emptied the list of torch's names it
compared: each moved the timed calls' work to the refill of their inputs, where no
clock runs. Comparing some names leaves the rest, and the comparison itself, to be
replaced.

What it is. ``take`` copies, before the learner's file loads, every name of
drillpe's modules (and of the few standard modules its audit hooks run: HOOKS_RUN),
of the classes they hold (and their bases) and of the builtins;
what drillpe's functions there carry (code, defaults, closure cells); and what the
plain containers among those modules' names hold (three levels down). It returns a
function that lists what differs now. Everything that function runs is bound in its
closure when it is made, the builtins it calls included; the closure's cells are
reachable only through the function, and the function only through the frames that
hold it, which the learner's code may not take (reach.Reach).
"""

from __future__ import annotations

import builtins
import sys
import types
from collections.abc import Callable, Iterable

CONTAINERS = (dict, list, tuple, set, frozenset)
# Names a namespace may gain before it is refused unlooked at (imports add a few): what
# a check costs must not grow with what the learner's code adds, or the check after a
# phase's calls becomes a window of its choosing where no clock runs
GROWTH = 256
DEPTH = 3  # how far into containers held by modules' names (_USED: list, tuple, dict)
_MISSING = object()


def _drillpe_module(name: str, module) -> bool:
    if name == "drillpe" or name.startswith("drillpe."):
        return True
    # the timing code, run as ``python -m``
    spec = getattr(module, "__spec__", None)
    return name == "__main__" and (getattr(spec, "name", "") or "").startswith("drillpe.")


# The standard library's modules whose Python code drillpe's audit hooks run at every
# event they see (os.path.realpath, os.fsdecode, isinstance against os.PathLike): a
# reviewer's code replaced os.fsdecode, and the hooks ran its function at every file
# the check after each end mark opens (the OS threads' names in /proc), where it did
# the timed calls' work. Their names are sealed as drillpe's are.
HOOKS_RUN = ("os", "posixpath", "genericpath", "stat", "abc",
             # and resource: the class of getrusage's result, whose fields the timing code
             # reads after the end mark (a reviewer's gave it properties)
             "resource")


def sealed_modules() -> list[tuple[str, types.ModuleType]]:
    """drillpe's modules in this process (``__main__`` where it is one of them), and
    the standard library's that its audit hooks run (HOOKS_RUN)."""
    return [(name, module) for name, module in list(sys.modules.items())
            if type(module) is types.ModuleType
            and (_drillpe_module(name, module) or name in HOOKS_RUN)]


def _functions_of(value) -> list[types.FunctionType]:
    """The Python functions a name of a module or class stands for (a method's,
    a static or class method's, a property's)."""
    if type(value) is types.FunctionType:
        return [value]
    if type(value) in (staticmethod, classmethod):
        return _functions_of(value.__func__)
    if type(value) is property:
        return [f for f in (value.fget, value.fset, value.fdel) if type(f) is types.FunctionType]
    return []


def take(moving: Iterable[tuple[object, str]] = ()) -> Callable[[], list[str]]:
    """The seal over this process's state as it is now; the function it returns
    lists what no longer is what it was (at most a few names). ``moving``: (owner,
    name) pairs that drillpe's own code changes as it runs (a counter on a class)."""
    # (owner's id, label, live names, their copy, whether a name added counts)
    namespaces: list[tuple[int, str, object, dict, bool]] = []
    functions: list[tuple[str, types.FunctionType, tuple]] = []
    containers: list[tuple[str, object, tuple]] = []
    seen_classes: set[int] = set()
    seen_functions: set[int] = set()
    seen_containers: set[int] = set()
    skip = {(id(owner), name) for owner, name in moving}

    def add_functions(label: str, value) -> None:
        for f in _functions_of(value):
            if id(f) not in seen_functions:
                seen_functions.add(id(f))
                functions.append((label, f, _carried(f)))

    def add_class(cls: type) -> None:
        for klass in cls.__mro__:
            if id(klass) in seen_classes or klass.__module__ == "builtins":
                continue  # a builtin type's names cannot be set
            seen_classes.add(id(klass))
            live = vars(klass)
            saved = {name: value for name, value in live.items() if (id(klass), name) not in skip}
            namespaces.append((id(klass), f"{klass.__qualname__}.", live, saved, True))
            for name, value in saved.items():
                add_functions(f"{klass.__qualname__}.{name}", value)

    # a module's own names are compared as a namespace (new names of torch's, which
    # an import adds, are _USED's to judge), not as a container another holds
    namespace_ids = {id(vars(module)) for module in list(sys.modules.values())
                     if type(module) is types.ModuleType}

    def add_container(label: str, value, depth: int) -> None:
        if type(value) not in CONTAINERS or id(value) in seen_containers or depth > DEPTH \
                or id(value) in namespace_ids:
            return
        seen_containers.add(id(value))
        held = tuple(value.items()) if type(value) is dict else tuple(value)
        containers.append((label, value, held))
        for item in held:
            for part in (item if type(value) is dict else (item,)):
                add_container(f"{label}[…]", part, depth + 1)

    for module_name, module in sealed_modules():
        live = vars(module)
        saved = {name: value for name, value in live.items() if (id(module), name) not in skip}
        namespaces.append((id(module), f"{module_name}.", live, saved, True))
        for name, value in saved.items():
            label = f"{module_name}.{name}"
            add_functions(label, value)
            if isinstance(value, type):
                add_class(value)
            add_container(label, value, 1)
    namespaces.append((id(builtins), "builtins.", vars(builtins), dict(vars(builtins)), False))
    return _checker(namespaces, functions, containers, skip)


def _carried(f: types.FunctionType) -> tuple:
    """What a function runs with besides its globals: its code, its defaults, the
    contents of its closure's cells (a cell not filled yet holds _MISSING)."""
    contents = []
    for cell in f.__closure__ or ():
        try:
            contents.append(cell.cell_contents)
        except ValueError:
            contents.append(_MISSING)
    kwdefaults = f.__kwdefaults__
    return (f.__code__, f.__defaults__, kwdefaults,
            tuple(kwdefaults.items()) if type(kwdefaults) is dict else (),
            f.__closure__ or (), tuple(contents))


def _checker(namespaces, functions, containers, skip) -> Callable[[], list[str]]:
    # Everything below is bound now: the learner's code may replace builtins and
    # module names later, and this function must not run what it put there.
    type_, len_, str_, tuple_, dict_ = type, len, str, tuple, dict
    items, proxy_items, proxy = dict.items, types.MappingProxyType.items, types.MappingProxyType
    value_error, missing, absent, growth = ValueError, _MISSING, object(), GROWTH
    namespaces, functions, containers = tuple(namespaces), tuple(functions), tuple(containers)
    # a package gains a name for each submodule imported after the seal
    modules, module_type = sys.modules, types.ModuleType

    def differs(now: tuple, was: tuple, pairs: bool) -> bool:
        if len_(now) != len_(was):
            return True
        i = 0
        for item in now:
            old = was[i]
            i += 1
            if (item[0] is not old[0] or item[1] is not old[1]) if pairs else item is not old:
                return True
        return False

    def submodule(full: str, value) -> bool:
        """Whether ``value`` is sys.modules' entry for ``full``. Its keys are looked at
        first, without a lookup: a reviewer's put a str subclass there with the hash of an
        added submodule's name, whose __eq__ the lookup ran, after every end mark."""
        for key in modules:
            if type_(key) is not str_:
                return False
        return modules.get(full) is value

    def broken() -> list[str]:
        found: list[str] = []
        add = found.append
        for owner, prefix, live, saved, closed in namespaces:
            if len_(live) > len_(saved) + growth:
                add(f"{prefix}<{len_(live) - len_(saved)} names added>")
                continue
            seen = 0
            for name, value in (proxy_items(live) if type_(live) is proxy else items(live)):
                if type_(name) is not str_:  # before any lookup, which would hash it
                    add(f"{prefix}<a name that is not a plain str>")
                    continue
                old = saved.get(name, absent)
                if old is absent:
                    if closed and (owner, name) not in skip and not (
                            type_(value) is module_type and submodule(prefix + name, value)):
                        add(f"{prefix}{name} (added)")
                    continue
                seen += 1
                if old is not value:
                    add(f"{prefix}{name}")
            if seen != len_(saved):
                for name in saved:
                    if name not in live:
                        add(f"{prefix}{name} (removed)")
            if len_(found) >= 3:
                return found
        for label, f, (code, defaults, kwdefaults, kwitems, cells, contents) in functions:
            changed = f.__code__ is not code or f.__defaults__ is not defaults \
                or f.__kwdefaults__ is not kwdefaults \
                or (kwitems and differs(tuple_(items(kwdefaults)), kwitems, True))
            i = 0
            for cell in cells:
                if changed:
                    break
                try:
                    changed = cell.cell_contents is not contents[i]
                except value_error:
                    changed = contents[i] is not missing
                i += 1
            if changed:
                add(f"{label} (its code, defaults or closure)")
                if len_(found) >= 3:
                    return found
        for label, container, held in containers:
            kind = type_(container)
            if len_(container) != len_(held) or differs(
                    tuple_(items(container)) if kind is dict_ else tuple_(container), held,
                    kind is dict_):
                add(f"{label} (its contents)")
                if len_(found) >= 3:
                    return found
        return found

    return broken
