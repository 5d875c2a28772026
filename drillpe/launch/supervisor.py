"""The supervisor of one learner process: sandbox, limits, deadline, kill.

Run by path, never imported by the CLI, standard library only:

    python -I -S supervisor.py < plan.json

drillpe.launch.processes starts it and reads one JSON line from its stdout
when it is done (the status). The plan (drillpe.launch.sandbox builds it)
says what to run and how to confine it:

* ``"mode": "namespaces"`` (Linux): the learner runs in new user, PID,
  mount, network, IPC and UTS namespaces. Its root is a fresh read-only
  tmpfs holding only what the plan binds (the system, Python, drillpe's own
  code and graders, the learner's staged file), with a private /tmp, a few
  device nodes and a /proc of its own. It runs as an unprivileged user with
  no capabilities and no_new_privs. This process chain is

      supervisor (the runner's child) ── writes the id maps
        └─ holder: unshare()s, then waits for init
             └─ init: PID 1 of the sandbox: mounts, then supervises
                  └─ the learner (exec'd)

  When init exits, the kernel kills every process in the sandbox, whatever
  the learner did (setsid, double forks); each link of the chain dies with
  its parent (PR_SET_PDEATHSIG), so killing the supervisor, or the CLI
  above it, ends the sandbox.
* ``"mode": "guard"``: no namespaces (not Linux, or they are disabled).
  The supervisor forks the learner into a session of its own, becomes a
  child subreaper so escaped descendants come back to it, applies the
  rlimits, and kills everything it finds at the end.

In both modes the supervisor enforces the deadline (SIGKILL), sums the
memory of every process it supervises (the limit holds across children, not
per process) and reports how the learner ended. The supervisor's fds
named in the plan's ``fds`` become the learner's records
channel (fd 3), its "where is the code stuck" channel (4) and its stdout
and stderr (1, 2); its stdin is /dev/null. Under the guard, ``judge_private``
(a cold grade's) is the judge's word that it has made itself non-dumpable:
the learner is started only after it (or the judge's end) has come.
"""

import ctypes
import ctypes.util
import json
import os
import resource
import select
import signal
import sys
import time

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2
# statvfs f_flag bits (Linux) of mount options a user namespace may not drop
ST_RDONLY, ST_NOSUID, ST_NODEV, ST_NOEXEC = 1, 2, 4, 8
ST_NOATIME, ST_NODIRATIME, ST_RELATIME = 1024, 2048, 4096

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}

INNER_ID = 1000  # the learner's uid and gid inside the sandbox
NOBODY = 65534  # what root's learner maps to outside: never uid 0
POLL_S = 0.05
MEMORY_EVERY_S = 0.1


class SetupError(Exception):
    """The sandbox could not be built; nothing of the learner's has run."""


_libc = None


def libc():
    global _libc
    if _libc is None:
        # The running Python's own symbols include libc's; find_library would
        # run `ldconfig -p` (30 ms before every learner starts).
        _libc = ctypes.CDLL(None, use_errno=True)
        if not hasattr(_libc, "unshare"):
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    return _libc


def _check(result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(err)} (errno {err})")


def prctl(option, value):
    try:
        return libc().prctl(option, ctypes.c_ulong(value), 0, 0, 0)
    except (AttributeError, OSError):  # not Linux
        return -1


def die_with_parent(expected_parent):
    """SIGKILL when the parent goes; gone already means go now."""
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != expected_parent:
        os._exit(70)


# --------------------------------------------------------------------------- mounts


def mount(source, target, fstype, flags, data=None):
    def enc(value):
        return value.encode() if isinstance(value, str) else value

    _check(libc().mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {source or fstype} on {target}")


def locked_flags(path):
    """The flags of the mount under ``path`` that a remount must keep."""
    f = os.statvfs(path).f_flag
    flags = 0
    for st, ms in ((ST_NOSUID, MS_NOSUID), (ST_NODEV, MS_NODEV), (ST_NOEXEC, MS_NOEXEC),
                   (ST_NOATIME, MS_NOATIME), (ST_NODIRATIME, MS_NODIRATIME),
                   (ST_RELATIME, MS_RELATIME)):
        if f & st:
            flags |= ms
    if not f & (ST_NOATIME | ST_RELATIME):
        flags |= MS_STRICTATIME
    return flags


def make_mountpoint(target, is_dir):
    if os.path.lexists(target):
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if is_dir:
        os.mkdir(target)
    else:
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o644))


def build_root(plan, sources, root):
    """Mount the sandbox's file system under ``root`` (see the module docstring)."""
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=755")
    for link, target in plan.get("symlinks", []):
        os.makedirs(os.path.dirname(root + link), exist_ok=True)
        os.symlink(target, root + link)
    read_only = []
    for op in plan["mounts"]:
        kind, target = op["kind"], root + op["path"]
        if kind == "bind":
            fd = sources[op["path"]]
            source = f"/proc/self/fd/{fd}"
            make_mountpoint(target, os.path.isdir(source))
            try:
                mount(source, target, None, MS_BIND | (MS_REC if op.get("recursive") else 0))
            except SetupError as exc:
                # A tree with mounts inside it (a GPU machine's /usr/local/nvidia under
                # /usr) is "locked" in a user namespace: the kernel binds it only whole,
                # with those mounts (EINVAL otherwise). They keep their own flags; the
                # learner's user still owns nothing in them.
                if op.get("recursive") or "(errno 22)" not in str(exc):
                    raise
                mount(source, target, None, MS_BIND | MS_REC)
            if op.get("readonly", True):
                mount(None, target, None,
                      MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags(target))
        elif kind == "tmpfs":
            make_mountpoint(target, True)
            # A read-only one is made read-only once everything is mounted: binds
            # inside it (drillpe's parts inside a masked checkout) need mountpoints.
            mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV,
                  f"size={op.get('size', 4096)},mode={op.get('mode', '755')}")
            if op.get("readonly"):
                read_only.append(target)
        elif kind == "proc":
            make_mountpoint(target, True)
            try:
                mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            except SetupError:
                # A container that masks parts of its /proc refuses a new one:
                # the sandbox then has no /proc (memory is capped per process).
                plan["_no_proc"] = True
        else:
            raise SetupError(f"unknown mount kind {kind!r}")
    for target in read_only:
        mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    old = root + "/.old-root"
    os.mkdir(old)
    number = SYS_PIVOT_ROOT.get(os.uname().machine)
    if number is not None:
        _check(libc().syscall(number, root.encode(), old.encode()), "pivot_root")
        os.chdir("/")
        _check(libc().umount2(b"/.old-root", MNT_DETACH), "umount the old root")
        os.rmdir("/.old-root")
    else:  # no pivot_root number known: chroot (the learner has no capability to leave it)
        os.chdir(root)
        os.chroot(root)
        os.chdir("/")
    mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


# --------------------------------------------------------------------------- limits


def apply_limits(limits, namespaces):
    table = [
        ("file_size", resource.RLIMIT_FSIZE),
        ("open_files", resource.RLIMIT_NOFILE),
        ("address_space", resource.RLIMIT_AS),
        ("cpu_s", resource.RLIMIT_CPU),
    ]
    # RLIMIT_NPROC counts a user's processes machine-wide outside a user
    # namespace: only inside one does it bound just the sandbox.
    if namespaces:
        table.append(("processes", resource.RLIMIT_NPROC))
    for key, which in table:
        value = limits.get(key)
        if value is None:
            continue
        value = int(value)
        try:
            soft, hard = resource.getrlimit(which)
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        pass


def place_fds(wanted):
    """dup2 each source fd onto its target number, whatever the overlaps."""
    # deferred: POSIX only
    import fcntl

    high = [(fcntl.fcntl(src, fcntl.F_DUPFD, 100), dst) for src, dst in wanted]
    for src, dst in high:
        os.dup2(src, dst)
        os.close(src)


def start_learner(plan, namespaces, close=()):
    """Fork the learner child: (its pid, an fd that says why it could not exec,
    empty once it has). A failed start is drillpe's, never the learner's code's,
    and only this pipe, closed by a successful exec, can tell the two apart: the
    learner's code could print the same words and exit with the same status."""
    why_r, why_w = os.pipe()  # close-on-exec, both ends
    pid = os.fork()
    if pid == 0:
        if not namespaces:
            die_with_parent_best_effort()
        for fd in (why_r, *close):
            os.close(fd)
        exec_learner(plan, namespaces, why_w)
    os.close(why_w)
    os.set_blocking(why_r, False)
    return pid, why_r


def start_failure(why_r):
    """Why the learner did not start (None: it did), read once it has ended."""
    try:
        said = os.read(why_r, 4096)
    except OSError:  # still blocked: it never got as far as exec or a failure
        said = b""
    finally:
        os.close(why_r)
    return said.decode("utf-8", "replace") or None


def exec_learner(plan, namespaces, why_w):
    """In the forked learner child: fds, limits, then exec. Never returns."""
    # deferred: POSIX only
    import fcntl

    why = fcntl.fcntl(why_w, fcntl.F_DUPFD_CLOEXEC, 100)  # above the fds placed below
    try:
        os.close(why_w)
        fds = plan.get("fds", {})
        null = os.open(os.devnull, os.O_RDWR)
        output = fds.get("output", null)
        place_fds([(null, 0), (output, 1), (output, 2), (fds.get("records", null), 3),
                   (fds.get("stuck", null), 4)])
        for fd in range(5):
            os.set_inheritable(fd, True)
        os.closerange(5, why)
        os.closerange(why + 1, 65536)
        if not namespaces:
            os.setsid()
        prctl(PR_SET_NO_NEW_PRIVS, 1)
        apply_limits(plan.get("limits", {}), namespaces)
        os.chdir(plan["cwd"])
        os.execve(plan["argv"][0], plan["argv"], plan["env"])
    except BaseException as exc:  # noqa: BLE001  (anything here is a setup failure)
        try:
            os.write(why, f"cannot start the learner: {exc}".encode("utf-8", "replace"))
        finally:
            os._exit(71)


# --------------------------------------------------------------------------- supervision


def _children(pid):
    found = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                found.extend(int(p) for p in fh.read().split())
    except OSError:
        pass
    return found


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        kids = _children(todo.pop())
        out.extend(kids)
        todo.extend(kids)
    return out


def all_pids():
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident(pid):
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def proportional(pid):
    """Proportional set size: shared pages split between their sharers, so
    forked children that share torch's pages are not counted many times."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return resident(pid)


def memory_of(pids):
    """Total memory of ``pids``: RSS first (cheap); PSS only to confirm a breach."""
    return sum(resident(p) for p in pids), lambda: sum(proportional(p) for p in pids)


def supervised(learner, namespaces):
    """The processes whose memory counts and which die at the end."""
    if namespaces:
        me = os.getpid()
        return [p for p in all_pids() if p != me]
    return sorted({learner, *descendants(os.getpid())})


def kill_everything(learner, namespaces):
    if namespaces:
        try:
            os.kill(-1, signal.SIGKILL)  # PID 1 of its namespace: everyone else
        except OSError:
            pass
        return
    for _ in range(50):  # the subreaper collects orphans: kill until none is left
        pids = set(descendants(os.getpid()))
        pids.add(learner)
        try:
            os.killpg(learner, signal.SIGKILL)
        except OSError:
            pass
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        reap_all()
        if not descendants(os.getpid()):
            return
        time.sleep(0.01)


def reap_all(block=False):
    """Collect every child that has ended; returns {pid: wait status}."""
    ended = {}
    while True:
        try:
            pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return ended
        except InterruptedError:
            continue
        if pid == 0:
            return ended
        ended[pid] = status


def supervise(plan, learner, namespaces, started):
    """Wait for the learner; enforce the deadline and the memory limit."""
    limits = plan.get("limits", {})
    deadline = plan.get("deadline_s")
    total = limits.get("memory_total")
    can_measure = total and not plan.get("_no_proc") and os.path.isdir("/proc/self")
    status = {"timed_out": False, "memory_exceeded": False, "peak_memory": 0}
    next_memory = 0.0
    try:  # wakes us the moment the learner ends (Linux 5.3+)
        pidfd = os.pidfd_open(learner)
    except (AttributeError, OSError):
        pidfd = None
    while True:
        ended = reap_all()
        if learner in ended:
            code = os.waitstatus_to_exitcode(ended[learner])
            status["returncode"] = code
            break
        now = time.monotonic()
        if deadline is not None and now - started >= deadline:
            status["timed_out"] = True
            status["returncode"] = -signal.SIGKILL
            break
        if can_measure and now >= next_memory:
            next_memory = now + MEMORY_EVERY_S
            pids = supervised(learner, namespaces)
            rss, pss = memory_of(pids)
            used = rss if rss <= total else pss()
            status["peak_memory"] = max(status["peak_memory"], used)
            if used > total:
                status["memory_exceeded"] = True
                status["returncode"] = -signal.SIGKILL
                break
        wait = MEMORY_EVERY_S if can_measure else POLL_S * 4
        if deadline is not None:
            wait = min(wait, max(0.0, deadline - (time.monotonic() - started)))
        if pidfd is not None:
            select.select([pidfd], [], [], wait)
        else:
            time.sleep(min(wait, POLL_S))
    kill_everything(learner, namespaces)
    reap_all()
    status["seconds"] = round(time.monotonic() - started, 3)
    return status


# --------------------------------------------------------------------------- the two modes


def judge_is_private(fd, timeout):
    """Under the guard, learner code runs as this user: it starts only once the
    grade's judge has made itself private (its b"p", or EOF: it has ended).
    False when it said neither within ``timeout`` seconds."""
    if fd is None:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(fd)


def run_guard(plan):
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    prctl(PR_SET_DUMPABLE, 0)  # the learner (same user) cannot open our fds through /proc
    if not judge_is_private(plan.get("fds", {}).get("judge_private"), plan.get("deadline_s")):
        raise SetupError(f"drillpe's judge did not start within {plan.get('deadline_s')} s")
    started = time.monotonic()
    pid, why = start_learner(plan, namespaces=False)
    status = supervise(plan, pid, namespaces=False, started=started)
    failure = start_failure(why)
    if failure:
        status["setup_error"] = failure
    status["isolation"] = "guard"
    return status


def die_with_parent_best_effort():
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def write_id_maps(pid, root):
    """Map the sandbox's INNER_ID to an unprivileged id outside: root's
    learner becomes nobody (never uid 0, which /proc and sysfs trust), a
    user's learner stays that user (the only id it may map)."""
    outer_uid, outer_gid = (NOBODY, NOBODY) if root else (os.geteuid(), os.getegid())
    if not root:
        with open(f"/proc/{pid}/setgroups", "w") as fh:
            fh.write("deny")
    with open(f"/proc/{pid}/uid_map", "w") as fh:
        fh.write(f"{INNER_ID} {outer_uid} 1\n")
    with open(f"/proc/{pid}/gid_map", "w") as fh:
        fh.write(f"{INNER_ID} {outer_gid} 1\n")


def run_namespaces(plan):
    report_r, report_w = os.pipe()  # init's status, to us
    sync_r, sync_w = os.pipe()  # holder -> us: "unshared"
    go_r, go_w = os.pipe()  # us -> holder: "mapped"
    me = os.getpid()
    holder = os.fork()
    if holder == 0:
        os.close(report_r)
        os.close(sync_r)
        os.close(go_w)
        _holder(plan, me, report_w, sync_w, go_r)  # never returns
    for fd in (report_w, sync_w, go_r):
        os.close(fd)
    setup_error = None
    if os.read(sync_r, 1) == b"u":
        try:
            write_id_maps(holder, os.geteuid() == 0)
            os.write(go_w, b"m")
        except OSError as exc:
            setup_error = f"cannot write the id maps: {exc}"
    os.close(go_w)
    chunks = []
    while True:
        chunk = os.read(report_r, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    _, wait_status = os.waitpid(holder, 0)
    text = b"".join(chunks).decode("utf-8", "replace").strip()
    try:
        status = json.loads(text.splitlines()[-1]) if text else None
    except ValueError:
        status = None
    if status is None:
        code = os.waitstatus_to_exitcode(wait_status)
        status = {"setup_error": setup_error or text or f"the sandbox ended early (status {code})"}
    status["isolation"] = "namespaces"
    return status


def _report(fd, status):
    os.write(fd, (json.dumps(status) + "\n").encode())


def _holder(plan, parent, report_fd, sync_fd, go_fd):
    """After unshare(): waits for the id maps, then forks init (PID 1)."""
    try:
        die_with_parent(parent)
        flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | \
            CLONE_NEWUTS
        _check(libc().unshare(flags), "unshare")
        os.write(sync_fd, b"u")
        if os.read(go_fd, 1) != b"m":
            raise SetupError("the id maps were not written")
        # The sources are opened before giving up uid 0 (root's 0700 home, say,
        # stays traversable for the binds); mounts then refer to these fds.
        sources = {}
        for op in plan["mounts"]:
            if op["kind"] == "bind":
                try:
                    sources[op["path"]] = os.open(op["source"], os.O_PATH | os.O_CLOEXEC)
                except OSError as exc:
                    if op.get("optional"):
                        continue
                    raise SetupError(f"cannot open {op['source']}: {exc}") from None
        plan["mounts"] = [op for op in plan["mounts"]
                          if op["kind"] != "bind" or op["path"] in sources]
        try:
            os.setgroups([])
        except OSError:
            pass  # setgroups is denied for a user's own namespace: nothing to drop
        os.setresgid(INNER_ID, INNER_ID, INNER_ID)
        os.setresuid(INNER_ID, INNER_ID, INNER_ID)
        # A change of user clears the parent-death signal (prctl(2)): without this, a
        # CLI killed mid-bench left this process, and the learner's under it, running
        die_with_parent(parent)
        init = os.fork()
        if init == 0:
            _init(plan, sources, report_fd)  # never returns
        while True:
            try:
                _, status = os.waitpid(init, 0)
                break
            except InterruptedError:
                continue
        os._exit(0)
    except BaseException as exc:  # noqa: BLE001
        try:
            _report(report_fd, {"setup_error": str(exc) or type(exc).__name__})
        finally:
            os._exit(70)


def _init(plan, sources, report_fd):
    """PID 1 of the sandbox: build the file system, start and supervise the learner."""
    try:
        # Our parent is outside this PID namespace (getppid() says 0), and
        # waits for us: no race to check.
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        # Signals from inside the namespace reach PID 1 only where it has a
        # handler: with none, the learner can neither stop nor kill us.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        prctl(PR_SET_DUMPABLE, 0)  # and cannot read our memory or fds
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        build_root(plan, sources, plan["root"])
        for fd in sources.values():
            os.close(fd)
    except BaseException as exc:  # noqa: BLE001
        try:
            _report(report_fd, {"setup_error": str(exc) or type(exc).__name__})
        finally:
            os._exit(70)
    started = time.monotonic()
    pid, why = start_learner(plan, namespaces=True, close=(report_fd,))
    try:
        status = supervise(plan, pid, namespaces=True, started=started)
        failure = start_failure(why)
        if failure:
            status["setup_error"] = failure
        if plan.get("_no_proc"):
            status["note"] = "no /proc in the sandbox: memory is capped per process only"
        _report(report_fd, status)
    finally:
        os._exit(0)


def main():
    plan = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    parent = plan.get("parent_pid")
    if parent:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            return 70
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the CLI decides; it kills us
    try:
        status = run_namespaces(plan) if plan["mode"] == "namespaces" else run_guard(plan)
    except SetupError as exc:
        status = {"setup_error": str(exc), "isolation": plan["mode"]}
    sys.stdout.write(json.dumps(status) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    try:
        code = main()
    except Exception as exc:  # noqa: BLE001  (a status line, never a traceback)
        sys.stdout.write(json.dumps({"setup_error": f"supervisor failed: {exc!r}"}) + "\n")
        code = 70
    sys.stdout.flush()
    os._exit(code)
