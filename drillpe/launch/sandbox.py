"""How learner code is confined: the choice of isolation, and the plan the
supervisor (supervisor.py) carries out. No torch here: it runs in the CLI.

Two levels, chosen per machine and said in every report (``isolation``):

``namespaces`` (Linux with unprivileged user namespaces)
    The learner process runs in new user, PID, mount, network, IPC and UTS
    namespaces, as an unprivileged user without capabilities. It sees a
    read-only file system holding only the system's libraries, Python and
    its packages, drillpe's own code and graders, and its staged copy of the
    learner's file; a private /tmp is its only writable place. The
    references (solutions/ and graders/oracles/), ``DRILLPE_HOME``, the workspace and the source checkout are
    not there. It cannot see or signal any process outside, has no network,
    and its processes, memory (all its processes together), CPU time and
    file sizes are limited. When it ends, or drillpe does, every process in
    it ends.
``guard`` (elsewhere, or ``DRILLPE_ISOLATION=guard``)
    The learner process runs as the user, in a session of its own, under the
    same rlimits, with a supervisor that kills it and everything it started.
    The file system and the network are not hidden from it: what keeps the
    references and the history safe is the judge's reading of the file
    (drillpe.grading.static refuses file, process and interpreter access)
    and the run-time guards. It is the level drillpe had before the sandbox.

Why our own namespaces and not bubblewrap: bubblewrap is rarely installed
(it is not here, nor in most CI images and containers), while the same
kernel feature is one ``unshare()`` away from Python; one implementation
then serves every Linux machine (README "How grading works" has its measured cost).
cgroup v2 is not used: it is rarely delegated to a user outside systemd
sessions, so the supervisor sums the memory of every sandboxed process
itself and a process-count rlimit bounds forks.
"""

from __future__ import annotations

import os
import site
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from drillpe.launch import contract

ISOLATION_ENV = "DRILLPE_ISOLATION"  # auto (default), namespaces, guard
MEMORY_ENV = "DRILLPE_MEMORY_LIMIT"  # e.g. 4G: all the learner's processes together
LEVELS = ("namespaces", "guard")
SUPERVISOR = Path(__file__).resolve().parent / "supervisor.py"

MEMORY_LIMIT = 8 * 1024**3  # all the learner's processes together
ADDRESS_SPACE_LIMIT = 8 * 1024**3  # per process, CPU only (CUDA maps far more)
TMP_SIZE = 64 * 1024**2
SHM_SIZE = 16 * 1024**2
PRIVATE_TMPFS = (("/tmp", TMP_SIZE), ("/dev/shm", SHM_SIZE))  # the only writable places
FILE_SIZE_LIMIT = 64 * 1024**2
OPEN_FILES_LIMIT = 1024
# Grading's tensors are small: a second thread per process only contends with the
# other grading process started beside it (a cold `drillpe check rope` took 1.94 s
# with one thread each against 2.14 s with the default two, on 2 cores). A value
# the user set wins; the bench sets its own (--threads). For the learner's process
# here and drillpe's own children (processes.trusted_env).
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
SYSTEM_DIRS = ("/usr", "/etc")
TOP_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
DEVICES = ("null", "zero", "full", "random", "urandom")
CPU_SYS = ("/sys/devices/system/cpu", "/sys/devices/system/node")
CUDA_SYS = ("/sys/devices", "/sys/bus", "/sys/class", "/sys/module")
# Under a data root (checkout or drillpe/_data): the model answers, the oracles
# and the bench's production implementations.
REFERENCE_DIRS = ("solutions", "graders/oracles", "graders/fast")


@dataclass(frozen=True)
class Choice:
    """The isolation a grade gets, and why (shown by doctor)."""

    level: str
    reason: str


def requested() -> str:
    value = os.environ.get(ISOLATION_ENV, "auto").strip().lower() or "auto"
    return value if value in ("auto", *LEVELS) else "auto"


_fallback: Choice | None = None  # set once namespaces failed in this process


def choose() -> Choice:
    """What the next grade should try."""
    wanted = requested()
    if wanted == "guard":
        return Choice("guard", f"{ISOLATION_ENV}=guard")
    if not sys.platform.startswith("linux"):
        return Choice("guard", f"namespaces are a Linux feature ({sys.platform})")
    if _fallback is not None and wanted == "auto":
        return _fallback
    return Choice("namespaces", "user, PID, mount, network, IPC and UTS namespaces")


def namespaces_failed(why: str) -> Choice:
    """Remember (for this process) that the sandbox cannot be built here."""
    global _fallback
    _fallback = Choice("guard", f"the namespace sandbox could not be built: {why}")
    return _fallback


def strict() -> bool:
    """DRILLPE_ISOLATION=namespaces: refuse to grade without them."""
    return requested() == "namespaces"


# --------------------------------------------------------------------------- the plan


def _depth(path: str) -> int:
    return len([p for p in path.split("/") if p])


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


@cache
def _package_dir() -> str:
    return str(Path(__file__).resolve().parent.parent)


def _source_tree() -> str | None:
    """The checkout drillpe runs from (editable install or none), if any."""
    # deferred: read only when a sandbox is planned; the supervisor side never needs it
    from drillpe.data import bundle

    root = bundle.data_root()
    if Path(root).resolve() == Path(_package_dir()) / "_data":
        return None
    return str(Path(root).resolve())


def _python_trees() -> list[str]:
    """Where the interpreter and its packages live."""
    trees = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             str(Path(os.path.realpath(sys.executable)).parent.parent)}
    checkout = _source_tree()
    for entry in sys.path:
        if not entry or not os.path.exists(entry):
            continue
        entry = os.path.abspath(entry)
        if entry == os.getcwd() or (checkout and _inside(entry, checkout)):
            continue  # the current folder, or the checkout (its parts are bound one by one)
        trees.add(entry)
    return sorted(t for t in trees if os.path.isdir(t) or os.path.isfile(t))


def secrets(extra: list[str]) -> list[str]:
    """Folders a learner must never see, wherever they are."""
    # deferred: read only when a sandbox is planned; the supervisor side never needs it
    from drillpe.data import bundle, places

    # The oracles and the fast references sit inside graders/, which the learner imports: the bound
    # graders/ (or package) gets an empty folder over them (learner_mounts).
    found = [*map(str, bundle.secret_dirs()), str(places.home()), *extra]
    checkout = _source_tree()
    if checkout:
        found.append(checkout)  # a bound tree holding the checkout shows none of it
    for entry in sys.path:  # another installed drillpe's references
        data = Path(entry or ".") / "drillpe" / "_data"
        found += [str(data / hidden) for hidden in REFERENCE_DIRS if (data / hidden).is_dir()]
        found += map(str, data.glob("exercises/*/debug"))
    return sorted({os.path.realpath(p) for p in found if os.path.exists(p)})


def learner_mounts(stage_dir: str, device: str, hidden: list[str]) -> tuple[list, list]:
    """(mounts, symlinks) for the sandbox: what is bound where, in order."""
    binds: dict[str, dict] = {}

    def bind(path: str, **options) -> None:
        path = os.path.abspath(path)
        if path not in binds and os.path.lexists(path):
            binds[path] = {"kind": "bind", "path": path, "source": path, **options}

    symlinks = []
    for name in TOP_LINKS:
        top = f"/{name}"
        if os.path.islink(top):
            symlinks.append([top, os.readlink(top)])
        elif os.path.isdir(top):
            bind(top)
    for path in SYSTEM_DIRS:
        bind(path)
    # A folder on sys.path that is itself to be hidden (the learner's own folder, when
    # a script beside the answers grades them) is not bound at all. One inside a
    # hidden folder is bound again over its mask: the venv beside a learner's file
    # (`--file ./answer.py` from a clone with its .venv) holds the interpreter itself.
    for tree in _python_trees():
        if os.path.realpath(tree) not in hidden:
            bind(tree)
    bind(_package_dir())
    checkout = _source_tree()  # hidden whole (secrets()); drillpe's parts are bound again
    if checkout:
        bind(os.path.join(checkout, "exercises"))
        bind(os.path.join(checkout, "graders"))
    for path in CPU_SYS:
        bind(path, optional=True)
    for name in DEVICES:
        bind(f"/dev/{name}", readonly=False)
    if device in ("cuda", "auto") and os.path.exists("/dev/nvidiactl"):
        for name in sorted(os.listdir("/dev")):
            if name.startswith("nvidia"):
                bind(f"/dev/{name}", readonly=False, optional=True,
                     recursive=os.path.isdir(f"/dev/{name}"))
        for path in CUDA_SYS:
            bind(path, optional=True)
    bind(stage_dir)

    masks = _masks(hidden, [op for op in binds.values() if os.path.isdir(op["source"])])
    # Drop binds already inside another bind of the same tree, unless a mask or a
    # private tmpfs lies between the two: a bound parent of the checkout needs
    # drillpe's own parts bound again inside its mask, and a venv in /tmp beside a
    # bound /tmp (the parent of a checkout there, on sys.path) would be covered by
    # the private /tmp, and the interpreter with it.
    covers = masks | {path for path, _ in PRIVATE_TMPFS}
    kept: list[dict] = []
    for op in sorted(binds.values(), key=lambda o: (_depth(o["path"]), o["path"])):
        real = os.path.realpath(op["source"])
        redundant = any(_inside(op["path"], k["path"]) and
                        os.path.realpath(k["source"]) + op["path"][len(k["path"]):] == real and
                        not any(_inside(op["path"], m) and _inside(m, k["path"]) for m in covers)
                        for k in kept if k["source"] == k["path"] and op["path"] != k["path"])
        if not redundant or op["path"] == stage_dir:
            kept.append(op)

    mounts: list[dict] = [*kept]
    mounts += [{"kind": "tmpfs", "path": path, "size": size, "mode": "1777"}
               for path, size in PRIVATE_TMPFS]
    mounts.append({"kind": "proc", "path": "/proc"})
    needed = {op["path"] for op in kept}
    for masked in sorted(masks - needed):
        # One already inside another mask, with no bind between, is hidden by it.
        around = [m for m in (*needed, *masks) if m != masked and _inside(masked, m)]
        nearest = max(around, key=_depth) if around else None
        if nearest is not None and nearest in masks and nearest not in needed:
            continue
        mounts.append({"kind": "tmpfs", "path": masked, "size": 4096, "mode": "755",
                       "readonly": True})
    kinds = {"bind": 0, "tmpfs": 1, "proc": 1}
    mounts.sort(key=lambda o: (_depth(o["path"]), kinds[o["kind"]], o["path"]))
    symlinks += [["/dev/fd", "/proc/self/fd"], ["/dev/stdin", "/proc/self/fd/0"],
                 ["/dev/stdout", "/proc/self/fd/1"], ["/dev/stderr", "/proc/self/fd/2"]]
    return mounts, symlinks


def shows(mounts: list[dict], path: str) -> bool:
    """Whether a sandbox built from ``mounts`` shows what is at ``path``, under any
    name: wherever a bind's source holds it, the mount on top at that place is a bind
    (not a tmpfs over it). A bind takes its name from the sys.path entry, and one that
    is a link to the learner's folder, or to a folder above it, shows the folder under
    the link's name (a reviewer's warm grade read the answers beside its file so)."""
    path = os.path.realpath(path)
    for op in mounts:
        if op["kind"] != "bind" or not _inside(path, real := os.path.realpath(op["source"])):
            continue
        rel = os.path.relpath(path, real)
        at = op["path"] if rel == "." else os.path.join(op["path"], rel)
        holding = [m for m in mounts if _inside(at, m["path"])]
        # the deepest, and of those the last mounted: the private /tmp lies over a bound /tmp
        if max(reversed(holding), key=lambda m: _depth(m["path"]))["kind"] == "bind":
            return True
    return False


def _masks(hidden: list[str], bound: list[dict]) -> set[str]:
    """Where an empty, read-only folder must lie over each secret that a bound
    folder would show (at the secret's place inside that bind)."""
    found = set()
    for secret in hidden:
        for op in bound:
            real = os.path.realpath(op["source"])
            if _inside(secret, real):
                found.add(op["path"] + secret[len(real):])
    return found


def learner_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment the learner process gets: the user's, minus drillpe's
    own settings, with a home and caches in its private /tmp.

    Its Python reads no user site-packages of its own: with HOME=/tmp that would
    be /tmp/.local/..., which under the guard is the system's /tmp, where any
    user may plant a .pth that runs before drillpe's learner code (a reviewer's
    did). The user site-packages the CLI itself reads (torch installed with
    ``pip install --user``) is put on its path instead."""
    env = {k: v for k, v in contract.inherited_environ().items()
           if not k.startswith("DRILLPE_")}
    package_parent = str(Path(_package_dir()).parent)
    user_site = _cli_user_site()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, user_site,
                                                    env.get("PYTHONPATH")) if p)
    env.update({"HOME": "/tmp", "TMPDIR": "/tmp", "XDG_CACHE_HOME": "/tmp/.cache",
                "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONHASHSEED": "0",
                "PYTHONIOENCODING": "utf-8"})  # drillpe reads its pipes as UTF-8
    env.setdefault("PYTHONWARNINGS", "ignore::UserWarning")
    one_thread_unless_set(env)
    env.update(extra or {})
    return env


def one_thread_unless_set(env: dict[str, str]) -> None:
    """One intra-op thread per grading process, unless the user set either
    variable: torch takes the smaller of the two, so setting only the other to
    1 would overrule their OMP_NUM_THREADS=4."""
    if not any(name in env for name in ONE_THREAD):
        env.update(ONE_THREAD)


def _cli_user_site() -> str | None:
    """The user site-packages on the CLI's own import path, if it is there."""
    user_site = site.getusersitepackages() if site.ENABLE_USER_SITE else None
    return user_site if user_site in sys.path else None


def memory_limit() -> int:
    """$DRILLPE_MEMORY_LIMIT (bytes, or with K, M or G), else MEMORY_LIMIT."""
    raw = os.environ.get(MEMORY_ENV, "").strip().upper()
    if not raw:
        return MEMORY_LIMIT
    scale = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(raw[-1], 1)
    try:
        value = int(float(raw.rstrip("KMGB") or "x") * scale)
    except ValueError:
        return MEMORY_LIMIT
    return value if value >= 64 * 1024**2 else MEMORY_LIMIT


def limits(device: str, deadline_s: float | None) -> dict:
    cpus = os.cpu_count() or 2
    total = memory_limit()
    return {
        "memory_total": total,
        "address_space": max(ADDRESS_SPACE_LIMIT, total) if device == "cpu" else None,
        "processes": 128 + 8 * cpus,  # threads count too: torch starts one per core
        "file_size": FILE_SIZE_LIMIT,
        "open_files": OPEN_FILES_LIMIT,
        "cpu_s": None if deadline_s is None else int(deadline_s) + 5,
    }


# Where the sandbox's root is built, in its own mount namespace (so nobody
# else sees it): any folder the unprivileged user can reach will do.
ROOT_MOUNTPOINT = "/tmp"


def plan(*, level: str, argv: list[str], cwd: str, stage_dir: str, device: str,
         deadline_s: float | None, fds: dict[str, int], hidden: list[str],
         env: dict[str, str] | None = None) -> dict:
    """Everything the supervisor needs, as JSON-ready data (``env``: added to
    the learner process's environment)."""
    out = {
        "mode": level,
        "argv": argv,
        "env": learner_env(env),
        "cwd": cwd,
        "deadline_s": deadline_s,
        "limits": limits(device, deadline_s),
        "fds": fds,
        "parent_pid": os.getpid(),
    }
    if level == "namespaces":
        mounts, symlinks = learner_mounts(stage_dir, device, secrets(hidden))
        out.update({"root": ROOT_MOUNTPOINT, "mounts": mounts, "symlinks": symlinks})
    return out
