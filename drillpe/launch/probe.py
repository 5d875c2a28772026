"""What the sandbox really hides, checked by running a small program in it:
``drillpe doctor`` and the sandbox tests use it. No torch here."""

from __future__ import annotations

import json
import os
import site
import stat
import sys
import tempfile
from pathlib import Path

from drillpe.launch import sandbox

PROBE = r"""
import json, os, socket, sys
paths = json.loads(sys.argv[1])
def shows(path):
    try:
        return os.path.isfile(path) or bool(os.listdir(path))
    except OSError:
        return False
facts = {"uid": os.getuid(), "visible": {p: shows(p) for p in paths}}
try:
    facts["processes"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
except OSError:
    facts["processes"] = None
try:
    with open("/proc/self/status") as fh:
        facts["capabilities"] = next(l.split()[1] for l in fh if l.startswith("CapEff"))
except (OSError, StopIteration):
    facts["capabilities"] = None
try:
    socket.create_connection(("127.0.0.1", 9), timeout=0.2).close()
    facts["network"] = "loopback reachable"
except ConnectionRefusedError:
    facts["network"] = "loopback reachable"  # refused: a network stack answered
except OSError as exc:
    facts["network"] = "none (" + (exc.strerror or type(exc).__name__) + ")"
try:
    open("/drillpe-probe", "w").close()
    facts["root_writable"] = True
except OSError:
    facts["root_writable"] = False
print(json.dumps(facts))
"""


def run(level: str | None = None, extra_paths: list[str] = ()) -> dict:
    """Run the probe at ``level`` (default: what grades get now). Returns
    {"level", "reason", "facts" or "error"}."""
    choice = sandbox.choose() if level is None else sandbox.Choice(level, "asked for")
    hidden = [*secret_places(), *extra_paths]
    try:
        status, output = run_code(PROBE, [json.dumps(hidden)], choice)
    except SetupFailed as exc:
        return _with_python({"level": choice.level, "reason": choice.reason, "error": str(exc)})
    try:
        facts = json.loads(output.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return _with_python({"level": choice.level, "reason": choice.reason,
                             "error": f"the probe said nothing readable "
                                      f"(exit {status.returncode})"})
    return _with_python({"level": status.isolation, "reason": choice.reason, "facts": facts})


def _with_python(result: dict) -> dict:
    """Under the guard, learner code runs as you on your file system, so what this
    process may write is what it may write: no probe needed (the namespace sandbox's
    file system is read-only, which the probe's root_writable shows)."""
    if result["level"] == "guard" or "error" in result:
        result["python_writable"] = python_writable()
    return result


def python_places() -> list[str]:
    """The files a later drillpe process runs before any of drillpe's checks: every
    folder on its import path (a ``sitecustomize.py`` there runs at start; a ``.pth``
    file in a site-packages folder too), the user site-packages even before it exists,
    drillpe's own code, the interpreter, the folder of the path drillpe starts it by,
    and a virtual environment's pyvenv.cfg."""
    places = [site.getusersitepackages()] if site.ENABLE_USER_SITE else []
    places += site.getsitepackages()
    # sys.path[0] too: the CLI's own first folder (the working folder under
    # `python -m drillpe`), where a json.py ran inside the CLI (a reviewer)
    places += [os.path.abspath(p or os.curdir) for p in sys.path]
    places.append(str(Path(__file__).resolve().parent.parent))
    places.append(os.path.realpath(sys.executable))
    # drillpe starts its children as sys.executable: in a virtual environment a link,
    # replaced by whoever may write its folder, beside a pyvenv.cfg that says which
    # Python it is (and whether the system's site-packages join in)
    places.append(os.path.dirname(os.path.abspath(sys.executable)))
    if sys.prefix != sys.base_prefix:
        places.append(os.path.join(sys.prefix, "pyvenv.cfg"))
    places += _links_to(sys.executable)  # a venv's python may link through your folder
    # Reviewers ran code in every later drillpe process through each of these: bytecode
    # under PYTHONPYCACHEPREFIX, a libpython found through LD_LIBRARY_PATH
    if sys.pycache_prefix:
        places.append(os.path.abspath(sys.pycache_prefix))
    places += [os.path.abspath(entry) for _, entry in _loader_entries()]
    return list(dict.fromkeys(places))


# The dynamic loader's variables, as glibc splits them: an empty element of
# LD_LIBRARY_PATH is the current folder (`export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:/x`
# with it unset makes one; a reviewer's libpython ran from there), ';' separates too.
LOADER_VARIABLES = {"LD_LIBRARY_PATH": ":;", "LD_PRELOAD": ": ", "LD_AUDIT": ":"}


def _loader_entries() -> list[tuple[str, str]]:
    """(variable, entry) for every file or folder the loader's variables name, as the
    loader reads them: $ORIGIN expanded, an empty LD_LIBRARY_PATH element as '.'."""
    origin = os.path.dirname(os.path.realpath(sys.executable))
    found = []
    for name, separators in LOADER_VARIABLES.items():
        value = os.environ.get(name)
        if value is None:
            continue
        for separator in separators[1:]:
            value = value.replace(separator, separators[0])
        for entry in value.split(separators[0]):
            if not entry and name != "LD_LIBRARY_PATH":
                continue
            entry = entry.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)
            found.append((name, entry or os.curdir))
    return found


def _relative_entries() -> list[str]:
    """Search-path entries that name no fixed place: what they name depends on the
    folder a later drillpe starts from, so doctor cannot judge them from its own."""
    entries = [f"PYTHONPATH entry '{entry}'"
               for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep)
               if entry and not os.path.isabs(entry)]
    entries += [f"{name} entry '{entry}'" for name, entry in _loader_entries()
                if not os.path.isabs(entry)]
    if not getattr(sys.flags, "safe_path", False) and sys.path \
            and os.path.abspath(sys.path[0] or os.curdir) == os.getcwd():
        # `python -m drillpe` puts the folder it starts from first on the CLI's import
        # path: a reviewer's textwrap.py planted in a workspace ran in a later CLI there
        entries.append("the import path's first entry '.' (python -m)")
    return [f"{entry}, relative to the folder you start drillpe from" for entry in entries]


def _links_to(path: str) -> list[str]:
    """``path`` and every link on the way to the file it names."""
    found = []
    path = os.path.abspath(path)
    for _ in range(40):  # the kernel's own limit on a chain of links
        found.append(path)
        if not os.path.islink(path):
            break
        path = os.path.join(os.path.dirname(path), os.readlink(path))
        path = os.path.abspath(path)
    return found


def python_writable(places: list[str] | None = None) -> list[str]:
    """Those of ``places`` (default: python_places(), and every relative search-path
    entry, which doctor cannot judge) that this user can change."""
    if places is None:
        return [place for place in python_places() if _changeable(place)] + \
            _relative_entries()
    return [place for place in places if _changeable(place)]


def _changeable(place: str) -> bool:
    """Whether this user can change what Python finds at ``place``: write it (or,
    where it does not exist yet, the nearest folder above it: a user site-packages
    is created by whoever writes it), own it or a folder above it (the owner may
    chmod a read-only venv back to writable), or rename it or a folder above it
    away from a folder this user can write (a root-owned venv in your home is
    replaced by a copy of your own; in a sticky folder such as /tmp only your own
    entries can be renamed). Reviewers changed the Python in each of these ways."""
    # by the path given and by the one it resolves to (a link to a venv in your home)
    return _changeable_path(os.path.abspath(place)) or \
        _changeable_path(os.path.realpath(place))


def _changeable_path(path: str) -> bool:
    while not os.path.lexists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    if os.access(path, os.W_OK):
        return True
    uid = os.geteuid()
    try:
        while True:
            if os.lstat(path).st_uid == uid:
                return True
            parent = os.path.dirname(path)
            if parent == path:
                return False
            parent_stat = os.stat(parent)
            sticky = parent_stat.st_mode & stat.S_ISVTX and parent_stat.st_uid != uid
            if os.access(parent, os.W_OK | os.X_OK) and not sticky:
                return True
            path = parent
    except OSError:  # a folder above it cannot be read: nor can this user change it
        return False


def run_code(source: str, args: list[str], choice: sandbox.Choice, timeout: float = 60,
             device: str = "cpu"):
    """Run a Python program exactly as learner code runs (same sandbox, limits
    and supervision, no fallback to another level). Returns (LearnerStatus,
    what it printed); raises SetupFailed when the level cannot be built."""
    # deferred: runner imports the launcher package, which imports this module
    from drillpe.launch.runner import COLD, run_sandboxed

    with tempfile.TemporaryDirectory(prefix="drillpe-probe-") as tmp:
        tmpdir = Path(tmp)
        staged_dir = tmpdir / "stage"
        staged_dir.mkdir(mode=0o755)
        staged = staged_dir / "probe.py"
        staged.write_text(source)
        os.chmod(tmpdir, 0o755)
        os.chmod(staged_dir, 0o755)
        os.chmod(staged, 0o644)

        class Fixed:  # the level asked for, with no fallback
            def isolation(self):
                return choice

            def namespaces_failed(self, why):
                raise SetupFailed(why)

        def start(pipes, lvl):
            return COLD.start_process([sys.executable, str(staged), *args],
                                      staged=staged, device=device, timeout=timeout, pipes=pipes,
                                      level=lvl, hidden=[], log=tmpdir / "supervisor.log")

        status, output, _ = run_sandboxed(Fixed(), start, records=tmpdir / "out",
                                          records_cap=1 << 16, stuck=None, timeout=timeout,
                                          device=device)
    return status, output


def secret_places() -> list[str]:
    """What a learner must not see, as files and folders worth trying."""
    # deferred: read only when the probe runs
    from drillpe.data import bundle, places

    found = [*map(str, bundle.secret_dirs()), str(places.home()), str(places.workspace())]
    checkout = sandbox._source_tree()
    if checkout:
        found += [os.path.join(checkout, name)
                  for name in (*sandbox.REFERENCE_DIRS, "tests", ".git")]
    for entry in sys.path:
        for hidden in sandbox.REFERENCE_DIRS:
            candidate = Path(entry or ".") / "drillpe" / "_data" / hidden
            if candidate.is_dir():
                found.append(str(candidate))
    return sorted({p for p in found if os.path.exists(p)})


class SetupFailed(Exception):
    """The isolation level asked for cannot be built on this machine."""


def _as_root() -> str:
    """Root's processes may open or attach to any process: under the guard nothing
    keeps root's learner code from drillpe's own processes."""
    if getattr(os, "geteuid", lambda: -1)() != 0:
        return ""
    return ("; you are root, and as root the guard confines nothing: your code could "
            "reach drillpe's own processes (the namespace sandbox makes it nobody)")


def _python_note(result: dict) -> str:
    """What escaped code could do to later grades under the guard (README, 'Isolation')."""
    writable = result.get("python_writable")
    if writable is None:
        return ""
    if not writable:
        return ("; of what the Python drillpe runs from reads at start (its import path and "
                "site-packages, drillpe's code, the interpreter and the links to it, the "
                "loader's paths), doctor found nothing your code could change")
    shown = ", ".join(writable[:4]) + (f" and {len(writable) - 4} more"
                                       if len(writable) > 4 else "")
    return ("; it can also write to the Python drillpe runs from (" + shown + "): code "
            "that gets past the guards could leave a file there that runs in every later "
            "drillpe process, so a verdict holds only while your code stays within the "
            "guards (the namespace sandbox's file system is read-only)")


def summary(result: dict) -> tuple[str, str]:
    """(status, sentence) for doctor."""
    level = result["level"]
    if "error" in result:
        return "warn", (f"guard only: the namespace sandbox cannot be built here "
                        f"({result['error']}); see the README, 'How grading works'"
                        + _python_note(result) + _as_root())
    facts = result["facts"]
    if level == "guard":
        return "warn", (f"guard ({result['reason']}): your code runs as you, in its own "
                        "session, under limits; files and network are not hidden"
                        + _python_note(result) + _as_root())
    seen = [p for p, visible in facts["visible"].items() if visible]
    parts = [f"namespaces ({result['reason']})",
             f"your code runs as uid {facts['uid']} with capabilities {facts['capabilities']}",
             _processes_seen(len(facts["processes"] or [])),
             f"network: {facts['network']}",
             "references, drillpe's home and the workspace: " +
             ("hidden" if not seen else "VISIBLE: " + ", ".join(seen))]
    return ("ok" if not seen else "fail"), "; ".join(parts)


def _processes_seen(count: int) -> str:
    return f"sees {count} process" + ("" if count == 1 else "es")


__all__ = ["SetupFailed", "python_places", "python_writable", "run", "run_code", "secret_places",
           "summary"]
