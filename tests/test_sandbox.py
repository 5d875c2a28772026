"""The sandbox learner code runs in, tried the way an attacker would.

Two layers are tested. Programs run through drillpe.launch.probe.run_code
get exactly the sandbox, limits and supervision a learner's file gets, but
without the grader's static rules in the way: they show what the sandbox
itself holds even when the rules miss something. The CLI tests then kill,
stop and flood a real ``drillpe check``.

The namespace tests run where unprivileged user namespaces work (most Linux
machines) and skip with the reason elsewhere; the guard-level tests run
everywhere.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import as_ordinary_user, interruptible, needs_ordinary_user

from drillpe.launch import probe, sandbox
from drillpe.launch.contract import RUN_REFUSED_ENV

ROOT = Path(__file__).resolve().parent.parent
NAMESPACES = sandbox.Choice("namespaces", "asked for by the test")
GUARD = sandbox.Choice("guard", "asked for by the test")


def _namespaces_here() -> str | None:
    if not sys.platform.startswith("linux"):
        return f"namespaces are a Linux feature ({sys.platform})"
    try:
        probe.run_code("print('ok')", [], NAMESPACES, timeout=30)
    except probe.SetupFailed as exc:
        return f"the namespace sandbox cannot be built here: {exc}"
    return None


WHY_NOT = _namespaces_here()
needs_namespaces = pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or "")
LEVELS = [pytest.param(NAMESPACES, marks=needs_namespaces, id="namespaces"),
          pytest.param(GUARD, id="guard")]


def run(source: str, *args, choice=NAMESPACES, timeout: float = 30):
    status, output = probe.run_code(source, [str(a) for a in args], choice, timeout=timeout)
    return status, output


def last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def marked(marker: str) -> list[str]:
    """Command lines of the live processes whose environment holds ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if marker.encode() not in fh.read():
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue  # a zombie holds nothing, and its parent will reap it
        except OSError:
            continue
        found.append(f"{entry}: {cmd}")
    return found


def wait_until(predicate, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


# --------------------------------------------------------------------------- what it hides


@needs_namespaces
def test_probe_sees_no_secret_no_process_no_network(isolated_places):
    for place in isolated_places.values():
        place.mkdir(parents=True, exist_ok=True)
        (place / "rope.py").write_text("secret = 1\n")
    result = probe.run("namespaces", extra_paths=[str(p) for p in isolated_places.values()])
    facts = result["facts"]
    assert result["level"] == "namespaces"
    assert facts["visible"] and not any(facts["visible"].values()), facts["visible"]
    assert facts["capabilities"] == "0000000000000000"
    assert len(facts["processes"]) <= 3  # init, the learner, and what the learner forks
    assert facts["network"] != "loopback reachable"
    assert facts["root_writable"] is False
    assert probe.summary(result)[0] == "ok"


READ_REFERENCE = r"""
import ctypes, ctypes.util, json, os, subprocess, sys
targets, marker_line, home = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
tried = {}
def record(route, how, marker=marker_line):
    try:
        out = how()
    except Exception as exc:
        out = type(exc).__name__
    tried[route] = marker in str(out)
for target, marker in targets.items():
    record("cat " + target, lambda: subprocess.run(["cat", target], capture_output=True,
                                                  text=True).stdout, marker)
    record("open " + target, lambda: open(target).read(), marker)
    def by_libc():
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        fd = libc.open(target.encode(), 0)
        if fd < 0:
            return "errno %d" % ctypes.get_errno()
        buf = ctypes.create_string_buffer(1 << 16)
        n = libc.read(fd, buf, len(buf))
        return buf.raw[:max(n, 0)].decode(errors="replace")
    record("libc " + target, by_libc, marker)
    def by_link():
        os.link(target, "/tmp/linked.py")
        return open("/tmp/linked.py").read()
    record("link " + target, by_link, marker)
    def by_import():  # the oracle's own way in: drillpe's loader, beside the graders it imports
        from drillpe.grading.loading import load_module
        return open(load_module(target, "stolen").__file__).read()
    record("import " + target, by_import, marker)
    record("list " + target, lambda: os.listdir(target), marker)
env = dict(os.environ, DRILLPE_HOME=home)
record("reveal", lambda: subprocess.run([sys.executable, "-m", "drillpe", "reveal", "rope",
                                         "--raw"], capture_output=True, text=True,
                                        env=env).stdout)
def write_outside():
    hits = []
    for path in json.loads(sys.argv[4]):
        try:
            with open(path, "w") as fh:
                fh.write("")
            hits.append(path)
        except OSError:
            pass
    return marker_line if hits else "none"
record("write outside", write_outside)
try:  # the control: the graders beside the oracles stay readable (the learner imports them)
    grader_readable = "GRADER" in open(sys.argv[5]).read()
except OSError:
    grader_readable = False
print(json.dumps({"tried": tried, "grader_readable": grader_readable}))
"""


@needs_namespaces
@pytest.mark.parametrize("parent_on_path", [False, True], ids=["plain", "checkout_parent_on_path"])
def test_reference_cannot_be_read_by_any_route(isolated_places, parent_on_path, monkeypatch):
    if parent_on_path:
        # A folder on sys.path that holds the checkout is bound whole, the checkout
        # masked inside it and drillpe's parts bound again inside the mask: the
        # sandbox once could not be built so (a read-only mask cannot take mountpoints)
        # and drillpe fell back to the guard.
        if ROOT.parent == Path("/"):
            pytest.skip("the checkout is at the root of the file system")
        monkeypatch.syspath_prepend(str(ROOT.parent))
    home, workspace = isolated_places["home"], isolated_places["workspace"]
    workspace.mkdir(parents=True)
    home.mkdir(parents=True)
    kept = {workspace / "rope.py": "my work\n", home / "history.sqlite3": "my history\n"}
    for path, text in kept.items():
        path.write_text(text)
    from drillpe.data import bundle

    def marker(path):
        return next(line for line in path.read_text().splitlines() if "def " in line)

    # The model answer, and the oracle the judge grades with: it sits inside
    # graders/, which the learner process imports and can read.
    reference, oracle = ROOT / "solutions" / "rope.py", ROOT / "graders" / "oracles" / "rope.py"
    fast = ROOT / "graders" / "fast" / "rope.py"  # what `drillpe bench` times yours against
    targets = {str(bundle.fast_path("rope")): marker(fast), str(fast): marker(fast),
               str(ROOT / "graders" / "fast"): "rope.py",
str(bundle.solution_path("rope")): marker(reference),
               str(reference): marker(reference),
               str(bundle.oracle_path("rope")): marker(oracle),
               str(oracle): marker(oracle),
               str(ROOT / "graders" / "oracles"): "rope.py",  # its listing
               str(bundle.oracles_dir()): "rope.py",
               # the debug round's base is a correct answer (a reviewer's file ran it)
               str(ROOT / "exercises" / "rope" / "debug" / "base.py"):
                   marker(ROOT / "exercises" / "rope" / "debug" / "base.py"),
               str(ROOT / "exercises" / "rope" / "debug"): "base.py"}
    status, output = run(READ_REFERENCE, json.dumps(targets), marker(reference), home,
                         json.dumps([str(p) for p in kept]), bundle.grader_path("rope"))
    facts = last_json(output)
    tried = facts["tried"]
    assert facts["grader_readable"], "the test would prove nothing: graders/ is not there"
    assert len(tried) == 6 * len(targets) + 2
    assert not any(tried.values()), f"read or written through: {[k for k, v in tried.items() if v]}"
    for path, text in kept.items():
        assert path.read_text() == text


SIGNAL_OUT = r"""
import json, os, signal, sys
pid = int(sys.argv[1])
facts = {}
try:
    os.kill(pid, 0)
    facts["signal"] = "delivered"
except OSError as exc:
    facts["signal"] = type(exc).__name__
facts["proc"] = os.path.exists(f"/proc/{pid}")
try:
    with open(f"/proc/{os.getppid()}/fd/1", "w") as fh:
        fh.write('{"passed": true}\n')
    facts["parent_stdout"] = "written"
except OSError as exc:
    facts["parent_stdout"] = type(exc).__name__
print(json.dumps(facts))
"""


@needs_namespaces
def test_the_cli_cannot_be_seen_or_signalled():
    _, output = run(SIGNAL_OUT, os.getpid())
    facts = last_json(output)
    assert facts == {"signal": "ProcessLookupError", "proc": False,
                     "parent_stdout": facts["parent_stdout"]}
    assert facts["parent_stdout"] != "written"


# --------------------------------------------------------------------------- what it bounds


ESCAPE = r"""
import os, subprocess, sys
marker = sys.argv[1]
env = dict(os.environ, ESCAPE_MARKER=marker)
subprocess.Popen(["sleep", "300"], start_new_session=True, env=env)
if os.fork() == 0:  # a daemon: double fork, new session
    os.setsid()
    if os.fork() == 0:
        os.execvpe("sleep", ["sleep", "301"], env)
    os._exit(0)
print("left behind")
"""


@pytest.mark.parametrize("choice", LEVELS)
def test_setsid_and_double_fork_do_not_escape(choice):
    marker = f"ESCAPE_MARKER={uuid.uuid4().hex}"
    status, output = run(ESCAPE, marker.split("=")[1], choice=choice)
    assert "left behind" in output and status.returncode == 0
    assert wait_until(lambda: not marked(marker), 5), marked(marker)


MEMORY_HOG = r"""
import os, time
for _ in range(3):
    if os.fork() == 0:
        block = bytearray(200 * 2**20)
        for i in range(0, len(block), 4096):
            block[i] = 1
        time.sleep(30)
        os._exit(0)
time.sleep(30)
"""


@pytest.mark.parametrize("choice", LEVELS)
def test_memory_limit_holds_across_children(choice, monkeypatch):
    monkeypatch.setenv("DRILLPE_MEMORY_LIMIT", "400M")
    started = time.monotonic()
    status, _ = run(MEMORY_HOG, choice=choice, timeout=25)
    assert status.memory_exceeded and not status.timed_out, status
    assert time.monotonic() - started < 20


FLOOD = r"""
import os, sys, time
chunk = ("\x1b[2J\x1b[1;1HPASS 100%" * 1000 + "\n").encode()
end = time.monotonic() + 2
while time.monotonic() < end:
    os.write(1, chunk)
print("done", flush=True)
"""


@pytest.mark.parametrize("choice", LEVELS)
def test_print_flood_is_counted_not_kept(choice):
    status, output = run(FLOOD, choice=choice)
    assert status.returncode == 0
    assert len(output) < 128 * 1024
    assert output.rstrip().endswith("done")


DISK_AND_PROCESSES = r"""
import json, os, time
facts = {}
try:
    with open("/tmp/big", "wb") as fh:
        for _ in range(200):
            fh.write(b"x" * 2**20)
    facts["tmp"] = "200 MiB written"
except OSError as exc:
    facts["tmp"] = type(exc).__name__
children = 0
try:
    while children < 2000:
        pid = os.fork()
        if pid == 0:
            time.sleep(20)
            os._exit(0)
        children += 1
except OSError as exc:
    facts["fork"] = type(exc).__name__
facts["children"] = children
print(json.dumps(facts), flush=True)
os._exit(0)
"""


@needs_namespaces
def test_disk_and_process_count_are_bounded():
    limit = sandbox.limits("cpu", 30)["processes"]
    status, output = run(DISK_AND_PROCESSES)
    facts = last_json(output)
    assert facts["tmp"] == "OSError"
    assert facts.get("fork") == "BlockingIOError" and facts["children"] < limit


# --------------------------------------------------------------------------- a real check


def looping_file(tmp_path: Path, seconds: float | None = None) -> Path:
    """The model answer to sinusoidal, stuck in a loop (or, with ``seconds``,
    slow by about that much on its first call only)."""
    body = ("        import time\n        while True:\n            time.sleep(0.01)\n"
            if seconds is None else
            f"        if not getattr(type(self), 'slowed', False):\n"
            f"            import time\n"
            f"            type(self).slowed = True\n"
            f"            time.sleep({seconds})\n")
    path = tmp_path / "mine" / "sinusoidal.py"
    path.parent.mkdir()
    path.write_text((ROOT / "solutions" / "sinusoidal.py").read_text().replace(
        "    def forward(self) -> torch.Tensor:\n",
        "    def forward(self) -> torch.Tensor:\n" + body, 1))
    return path


def start_check(path: Path, marker: str, *extra):
    env = dict(os.environ, CHECK_MARKER=marker.split("=")[1])
    return subprocess.Popen([sys.executable, "-m", "drillpe", "check", "sinusoidal", "--file",
                             str(path), "--timeout", "60", *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=interruptible)


def learner_running(marker: str) -> bool:
    return any("drillpe.grading.learner" in cmd for cmd in marked(marker))


def learner_looping(marker: str) -> bool:
    """The learner's process sleeps in looping_file's loop (its import done)."""
    for line in marked(marker):
        pid, cmd = line.split(": ", 1)
        if "drillpe.grading.learner" in cmd:
            try:
                with open(f"/proc/{pid}/wchan") as fh:
                    if "nanosleep" in fh.read():
                        return True
            except OSError:
                pass
    return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL],
                         ids=lambda s: s.name)
def test_no_process_survives_the_cli(sig, tmp_path):
    marker = f"CHECK_MARKER={uuid.uuid4().hex}"
    cli = start_check(looping_file(tmp_path), marker)
    try:
        assert wait_until(lambda: learner_running(marker), 60), "the learner never started"
        if sig == signal.SIGKILL:
            # nothing of the CLI's runs then: what ends the sandbox is the parent-death
            # signal, which a change of user clears (the sandbox's holder lost it when
            # it became the learner's user, and it and the learner outlived the CLI)
            assert wait_until(lambda: learner_looping(marker), 60), "the learner never looped"
        else:
            time.sleep(0.3)
        cli.send_signal(sig)
        cli.wait(timeout=60)  # generous: a loaded machine, not the CLI, is slow here
        # 30 s: the lifeline acts at once, but a loaded machine may take a while to reap
        assert wait_until(lambda: not marked(marker), 30), marked(marker)
        if sig != signal.SIGKILL:
            assert cli.returncode == 128 + sig, cli.stderr.read().decode()[-2000:]
    finally:
        cli.kill()
        cli.wait()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP], ids=lambda s: s.name)
def test_a_judge_killed_or_stopped_mid_grade_is_not_a_drillpe_bug(sig, tmp_path):
    marker = f"CHECK_MARKER={uuid.uuid4().hex}"
    cli = start_check(looping_file(tmp_path, seconds=1), marker, "--json")
    try:
        def judge():
            return [c for c in marked(marker) if "drillpe.grading.judge" in c]
        assert wait_until(lambda: judge() and learner_running(marker), 60)
        os.kill(int(judge()[0].split(":")[0]), sig)
        started = time.monotonic()
        out, err = cli.communicate(timeout=90)
        assert time.monotonic() - started < 40
        assert cli.returncode in (0, 1), err.decode()[-2000:]
        report = json.loads(out)  # exactly one document
        assert report["results"][0]["exercise"] == "sinusoidal"
    finally:
        cli.kill()
        cli.wait()
    assert wait_until(lambda: not marked(marker), 5), marked(marker)


PRINTS_A_PASS = '''
print('{"passed": true, "results": []}')
print("\\x1b[2J\\x1b[H\\x1b[32mPASS 100%\\x1b[0m \\u202e")
'''


def test_json_stdout_is_one_document_whatever_the_learner_prints(tmp_path):
    path = tmp_path / "sinusoidal.py"
    path.write_text((ROOT / "exercises" / "sinusoidal" / "stub.py").read_text() + PRINTS_A_PASS)
    res = subprocess.run([sys.executable, "-m", "drillpe", "check", "sinusoidal", "--file",
                          str(path), "--json"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 1, res.stderr
    report = json.loads(res.stdout)
    result = report["results"][0]
    assert result["passed"] is False and result["isolation"] in ("namespaces", "guard")
    text = json.dumps(report, ensure_ascii=False)
    assert "PASS 100%" in text  # the print is kept, as data
    assert "\x1b" not in text and "\u202e" not in text


# --------------------------------------------------------------------------- guard: harm to drillpe


GUARD_FIXTURES = ROOT / "tests" / "fixtures" / "guard"
# Under the guard a file the rules check refuses is not run at all, and every file
# here reaches the builtins through a gadget that check catches: these tests ask
# for them to be run anyway, to try the guards behind that check.
RUN_UNDER_GUARD = {"DRILLPE_ISOLATION": "guard", RUN_REFUSED_ENV: "1"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("name, harm", [
    ("kills_its_supervisor.py", "killed drillpe's supervisor process"),
    ("kills_its_judge.py", "stopped or killed drillpe's judge process"),
    ("replaces_the_judge.py", "changed drillpe's run folder"),
    ("makes_the_report_a_folder.py", "changed drillpe's run folder"),
])
def test_harm_to_drillpes_processes_fails_the_file_without_the_sandbox(name, harm):
    """Without the sandbox the learner's code can reach drillpe's processes:
    whatever it does to them fails its own file (exit 1), with the cause."""
    res = subprocess.run([sys.executable, "-m", "drillpe", "check", "sinusoidal", "--file",
                          str(GUARD_FIXTURES / name), "--json"], capture_output=True, text=True,
                         env=dict(os.environ, **RUN_UNDER_GUARD), timeout=120)
    assert res.returncode == 1, res.stderr[-2000:]
    result = json.loads(res.stdout)["results"][0]
    assert result["isolation"] == "guard" and not result["passed"]
    assert harm in result["error"]["message"], result["error"]
    assert "forged" not in res.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_no_process_of_the_learners_outlives_its_grade_without_the_sandbox(tmp_path):
    """Under the guard the learner's code left a double-forked process behind and
    killed its supervisor (whose subreaper would have ended it): that process lived
    on, waited for the next grade's judge and opened its digest pipe through /proc
    while the judge was still starting Python, and a wrong answer passed. The CLI
    is a subreaper while it grades, and ends what comes back to it."""
    mark = f"drillpe-leftover-{uuid.uuid4().hex}"
    learner = tmp_path / "sinusoidal.py"
    learner.write_text((GUARD_FIXTURES / "outlives_its_supervisor.py").read_text().replace(
        "LEFTOVER_MARK", mark))

    def leftovers():
        found = []
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if mark.encode() in fh.read():
                        found.append(entry)
            except OSError:
                continue
        return found

    try:
        res = subprocess.run([sys.executable, "-m", "drillpe", "check", "sinusoidal", "--file",
                              str(learner), "--json"], capture_output=True, text=True,
                             env=dict(os.environ, **RUN_UNDER_GUARD), timeout=120)
        result = json.loads(res.stdout)["results"][0]
        assert result["isolation"] == "guard" and not result["passed"]
        assert "killed drillpe's supervisor process" in result["error"]["message"]
        assert wait_until(lambda: not leftovers(), 2), "a process of the learner's lived on"
    finally:
        for pid in leftovers():
            with contextlib.suppress(OSError):
                os.kill(int(pid), signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.geteuid() != 0
                    or not shutil.which("unshare"),
                    reason="picks a pid through ns_last_pid in a pid namespace of its own")
def test_a_process_that_takes_a_reaped_childs_pid_does_not_outlive_the_grade():
    """In watch, learner code killed the learner worker's supervisor (a child of the
    CLI's from before the grade), which the CLI reaped, then forked until a process of
    its own got that pid: the clean-up spared it as the supervisor, and it outlived the
    grade and watch itself (a reviewer, 4 runs of 5). Processes are now told apart by
    pid and start time. Here ns_last_pid hands the pid over at once."""
    res = subprocess.run(["unshare", "-p", "-f", "--mount-proc", sys.executable,
                          str(GUARD_FIXTURES / "takes_a_reaped_childs_pid.py")],
                         capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    if res.returncode != 0 or not res.stdout.strip():
        pytest.skip(f"no pid namespace here: {res.stderr.strip()[-300:]}")
    seen = json.loads(res.stdout)
    assert seen["taken"], "ns_last_pid did not hand the pid over"
    assert not seen["alive"], "the process that took a reaped child's pid lived on"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_forged_done_word_and_a_planted_report_fail_warm_without_the_sandbox(monkeypatch):
    """Warm (watch, mock): a judge child says its exit status before the kernel has
    torn down its copy of the worker. Code under the guard runs as the same user and,
    as root, can write into the child's pipes through /proc although the judge is not
    dumpable; with a passing report planted beside it, the CLI would read the plant.
    The word counts only after the grade's secret, and the report only with the
    digest the judge said; under the guard the word is believed before the child is
    gone only where the learner's code cannot read the child's memory (without
    CAP_SYS_PTRACE): tests/fixtures/guard/judge_token_from_memory.py reads it as root."""
    from drillpe.launch.runner import GradeRequest, grade
    from drillpe.launch.warm_pool import launcher

    monkeypatch.setenv("DRILLPE_ISOLATION", "guard")
    monkeypatch.setenv(RUN_REFUSED_ENV, "1")
    with launcher() as pool:
        assert pool is not None
        result = grade(GradeRequest("rope", GUARD_FIXTURES / "warm_done_pipe.py", timeout=60),
                       launcher=pool)
        text = json.dumps(result.to_dict())
        assert result.isolation == "guard" and not result.passed
        assert "forged" not in text and "HELPER [(" in result.output  # it did reach the pipe
        # and the pool still grades (a forged status did not knock it out of step)
        again = grade(GradeRequest("rope", ROOT / "tests" / "fixtures" / "rope" / "half_split.py",
                                   timeout=60), launcher=pool)
        assert not again.passed and "rope.half_split" in again.diagnoses


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_judge_secret_read_from_memory_does_not_pass_a_wrong_answer_under_the_guard(
        monkeypatch):
    """helper-115's, as root: the learner's code read the warm judge child's secret from
    its memory, said the child's word before it with the digest of a report it planted,
    and the worker, answering on the word, had the plant read before the judge wrote
    its own. Under the guard the word is believed before the child is gone only where
    the learner's code cannot read the child's memory (no CAP_SYS_PTRACE: a user's own
    account); once the child is gone, its report has replaced the plant."""
    from drillpe.launch import lifeline, warm_pool
    from drillpe.launch.runner import GradeRequest, grade
    from drillpe.launch.warm_pool import launcher

    monkeypatch.setenv("DRILLPE_ISOLATION", "guard")
    monkeypatch.setenv(RUN_REFUSED_ENV, "1")
    finish, sent = warm_pool.WarmJudge.finish, []

    def finishing(self, end, timeout, early=False):
        sent.append(early)
        return finish(self, end, timeout, early)

    monkeypatch.setattr(warm_pool.WarmJudge, "finish", finishing)
    with launcher() as pool:
        if lifeline.reaches_private():  # root: the attack reaches the child's memory
            result = grade(GradeRequest("rope", GUARD_FIXTURES / "judge_token_from_memory.py",
                                        timeout=60), launcher=pool)
            assert result.isolation == "guard" and not result.passed
            assert "forged" not in json.dumps(result.to_dict())
            assert "HELPER [(" in result.output  # it found secrets and wrote its words
            assert sent == [False]
        # an account without CAP_SYS_PTRACE: answered on the word
        monkeypatch.setattr(lifeline, "reaches_private", lambda: False)
        again = grade(GradeRequest("rope", ROOT / "tests" / "fixtures" / "rope" / "half_split.py",
                                   timeout=60), launcher=pool)
        assert not again.passed and "rope.half_split" in again.diagnoses
        assert sent[-1] is True


@pytest.mark.parametrize("level", ["guard", pytest.param("namespaces", marks=needs_namespaces)])
def test_a_warm_judge_killed_under_the_guard_fails_the_file_without_a_fresh_judge(level,
                                                                                 monkeypatch):
    """helper-117's: under the guard a learner's process that outlived its run killed the
    warm judge child; the fresh cold judge that replaced it was dumpable for a moment as
    it started, and the survivor opened its digest pipe then and put a planted report's
    digest in it (a forged pass). Under the guard only the learner's code can have
    killed the judge: the file fails there and then, and no fresh judge starts. In the
    namespace sandbox it cannot have: a fresh judge grades the file."""
    from drillpe.launch import runner, warm_pool
    from drillpe.launch.runner import GradeRequest, grade

    monkeypatch.setenv("DRILLPE_ISOLATION", level)
    finish, fresh = warm_pool.WarmJudge.finish, []

    def killed_first(self, end, timeout, early=False):
        os.kill(self.pid, signal.SIGKILL)
        return finish(self, end, timeout, early)

    start_judge = runner.COLD.start_judge
    monkeypatch.setattr(warm_pool.WarmJudge, "finish", killed_first)
    monkeypatch.setattr(runner.COLD, "start_judge",
                        lambda *args: fresh.append(args) or start_judge(*args))
    with warm_pool.launcher() as pool:
        result = grade(GradeRequest("rope", ROOT / "tests" / "fixtures" / "rope" / "half_split.py",
                                    timeout=60), launcher=pool)
    assert result.isolation == level and not result.passed
    if level == "guard":
        assert result.diagnoses == ["rules.tampering"] and not fresh
        assert "killed drillpe's judge" in result.error["message"]
    else:
        assert "rope.half_split" in result.diagnoses and len(fresh) == 1


FORGED_PASS = {"exercise": "rope", "file": "x.py", "device": "cpu", "passed": True, "score": 1.0,
               "duration_s": 0.1, "error": None, "seed": 0,
               "checks": [{"id": "file.loads", "title": "forged", "level": "core",
                           "status": "pass", "message": "forged", "diagnosis": [], "case": None}]}


def _forge_judge_children(worker_pid: int, stop, hits: list) -> None:
    """What another grade's unsandboxed code (or any process of the same user, or
    root) can do to a warm grade in flight: for each judge child of ``worker_pid``,
    plant a passing report in its run folder and write "0" into each of its
    write-only pipes, the word a judge child says once its report is written."""
    done = set()
    while not stop.is_set():
        try:
            with open(f"/proc/{worker_pid}/task/{worker_pid}/children") as fh:
                children = [int(p) for p in fh.read().split()]
        except OSError:
            children = []
        for pid in children:
            if pid in done:
                continue
            try:
                cwd = os.readlink(f"/proc/{pid}/cwd")
                if not os.path.basename(cwd).startswith("drillpe-run-"):
                    continue
                Path(cwd, "report.json").write_text(json.dumps(FORGED_PASS))
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    if fd in ("0", "1", "2"):
                        continue
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                    with open(f"/proc/{pid}/fdinfo/{fd}") as fh:
                        flags = int(fh.read().split("flags:")[1].split()[0], 8)
                    if link.startswith("pipe:") and flags & 3 == 1:
                        w = os.open(f"/proc/{pid}/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK)
                        os.write(w, b"0\n")
                        os.close(w)
                        hits.append(pid)
                done.add(pid)
            except (OSError, IndexError, ValueError):
                continue
        time.sleep(0.002)


@needs_namespaces
@pytest.mark.skipif(os.geteuid() != 0, reason="only root reaches a non-dumpable judge's "
                                               "pipes through /proc")
def test_a_sandboxed_warm_grade_ignores_a_done_word_and_report_from_outside(monkeypatch):
    """CI once failed a grade this way: another test's unsandboxed attack (running as
    root) wrote "0" into a sandboxed warm grade's judge child pipes and planted a
    passing report, and that grade passed with the plant. The word now carries a
    secret of the grade, and the report the digest of the bytes the judge wrote."""
    import threading

    from drillpe.launch.runner import GradeRequest, grade
    from drillpe.launch.warm_pool import launcher

    monkeypatch.setenv("DRILLPE_ISOLATION", "namespaces")
    slow_wrong = (ROOT / "tests" / "fixtures" / "rope" / "half_split.py").read_text() + \
        "\n_spin = sum(range(3_000_000))  # keeps the judge child waiting a moment\n"
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"drillpe-forge-{uuid.uuid4().hex}"
    folder.mkdir()
    try:
        answer = folder / "rope.py"
        answer.write_text(slow_wrong)
        with launcher() as pool:
            assert pool is not None
            pool.wait_ready()
            stop, hits = threading.Event(), []
            forger = threading.Thread(target=_forge_judge_children,
                                      args=(pool.judge_worker.proc.pid, stop, hits))
            forger.start()
            try:
                result = grade(GradeRequest("rope", answer, timeout=60), launcher=pool)
            finally:
                stop.set()
                forger.join()
            assert hits, "the forger never reached a judge child's pipes"
            assert result.isolation == "namespaces" and not result.passed
            assert "forged" not in json.dumps(result.to_dict())
            assert "rope.half_split" in result.diagnoses
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@needs_namespaces
def test_a_report_replaced_after_the_judge_wrote_it_is_refused(monkeypatch):
    """The window the digest closes: a report replaced between the judge child's
    write and the CLI's read (here by the test, right after the worker's answer)."""
    from drillpe.launch import warm_pool
    from drillpe.launch.runner import GradeRequest, grade
    from drillpe.launch.warm_pool import launcher

    monkeypatch.setenv("DRILLPE_ISOLATION", "namespaces")
    finish = warm_pool.WarmJudge.finish
    replaced = []

    def finish_then_replace(self, end, timeout, early=False):
        rc = finish(self, end, timeout, early)
        run_dir = Path(self.log).parent  # the judge's log lies in the grade's run folder
        (run_dir / "report.json").write_text(json.dumps(FORGED_PASS))
        replaced.append(self.report_sha256)
        return rc

    monkeypatch.setattr(warm_pool.WarmJudge, "finish", finish_then_replace)
    with launcher() as pool:
        result = grade(GradeRequest("rope", ROOT / "tests" / "fixtures" / "rope" /
                                    "half_split.py", timeout=60), launcher=pool)
    assert replaced and replaced[0] is not None  # the sandboxed grade's judge said its digest
    assert not result.passed and "forged" not in json.dumps(result.to_dict())
    assert "rules.tampering" in result.diagnoses
    assert "replaced drillpe's report" in result.error["message"]


@pytest.mark.parametrize("how", ["replaced", "no digest"])
def test_a_cold_report_is_read_only_with_its_judges_digest(how, monkeypatch):
    """A cold judge (and the one that replaces a killed warm judge child) writes its
    report's digest down a pipe to the CLI: a report replaced after it was written,
    or one without a digest, is refused. A process of the same user killed a warm
    judge child and swapped the report the fresh cold judge wrote, and a wrong
    answer passed, before the cold judge had a digest."""
    from drillpe.launch import cold
    from drillpe.launch.runner import GradeRequest, grade

    finish = cold.ColdJudge.finish

    def finish_then_tamper(self, end, timeout, early=False):
        rc = finish(self, end, timeout, early)
        if how == "replaced":
            (Path(self.log).parent / "report.json").write_text(json.dumps(FORGED_PASS))
        else:
            self.report_sha256 = None
        return rc

    monkeypatch.setattr(cold.ColdJudge, "finish", finish_then_tamper)
    result = grade(GradeRequest("rope", ROOT / "tests" / "fixtures" / "rope" / "half_split.py",
                                timeout=60))
    assert not result.passed and "forged" not in json.dumps(result.to_dict())
    assert "rules.tampering" in result.diagnoses
    assert ("replaced drillpe's report" if how == "replaced" else "without the digest") \
        in result.error["message"]


def test_the_judge_childs_word_is_found_behind_other_writes_and_not_waited_on_forever():
    """The warm worker reads its judge child's word (after the grade's secret) even
    when another process wrote into the pipe first, and stops waiting when the child
    is gone although another process still holds the pipe open."""
    from drillpe.grading.warm_worker import _done_word, _find_word

    token, digest = "ab" * 16, "c" * 64
    assert _find_word(f"x0\n{token} 0 {digest}\n".encode(), token) == (0, digest)
    assert _find_word(f"0 {digest}\n".encode(), token) is None  # no secret
    assert _find_word(f"{token} --0 {digest}\n".encode(), token) is None
    assert _find_word(f"{token} 0 -\n".encode(), token) == (0, None)
    read, write = os.pipe()
    held = os.dup(write)  # what an outsider holding the pipe open keeps
    pid = os.fork()
    if pid == 0:
        os.write(write, b"x")  # glued to the word that follows
        os.write(write, f"{token} 0 {digest}".encode())  # no newline: never a whole word
        os._exit(0)
    os.close(write)
    pidfd = os.pidfd_open(pid)
    started = time.monotonic()
    try:
        assert _done_word(read, token, pidfd) is None
    finally:
        os.close(pidfd)
        os.close(held)
        os.waitpid(pid, 0)
    assert time.monotonic() - started < 5


@needs_namespaces
def test_a_grade_cannot_take_over_the_next_warm_grade(monkeypatch):
    """A grade's code started a process that rewrote the warm learner worker through
    /proc/PID/mem (so it was not killed after its grade), then took the child forked
    ahead for the next grade (its request and fds, by pidfd_getfd) and answered that
    grade with a correct file's records: every later wrong answer passed. The worker is
    non-dumpable now, and a child forked ahead that gets no request does not exit 0."""
    from drillpe.launch.runner import GradeRequest, grade
    from drillpe.launch.warm_pool import launcher

    monkeypatch.setenv("DRILLPE_ISOLATION", "namespaces")
    wrong = ROOT / "tests" / "fixtures" / "sinusoidal" / "sin_cos_swapped.py"
    with launcher() as pool:
        attack = grade(GradeRequest("sinusoidal", ROOT / "tests" / "fixtures" / "warm" /
                                    "takes_over_the_next_grade.py", timeout=60), launcher=pool)
        assert attack.isolation == "namespaces" and not attack.passed
        for _ in range(2):
            time.sleep(0.3)  # the next grade's child is forked while the worker is idle
            result = grade(GradeRequest("sinusoidal", wrong, timeout=60), launcher=pool)
            assert not result.passed and "sinusoidal.sin_cos_swapped" in result.diagnoses


READS_ITS_NEIGHBOUR = """
import functools
import torch
from torch import nn
_box = []
@functools.singledispatch
def _dispatch(a):
    return a
def _target(a):
    return a
_target.__annotations__["a"] = "_box.append(__builtins__)"
try:
    _dispatch.register(_target)
except TypeError:
    pass
_imp = _box[0]["__import__"]
_sys, _sp = _imp("sys"), _imp("subprocess")
_sp.run([_sys.executable, "-c", "import sys\\ntry: print('NEIGHBOUR', open(sys.argv[1]).read())\\n"
         "except OSError as e: print('NEIGHBOUR', type(e).__name__)", NEIGHBOUR])
class SinPositionEncoding(nn.Module):
    def __init__(self, max_sequence_length, d_model, base=10000.0):
        super().__init__()
"""


@needs_namespaces
@pytest.mark.parametrize("on_path", ["parent", "folder", "link"])
def test_a_warm_grade_hides_the_learner_files_folder_as_a_cold_one_does(tmp_path, monkeypatch,
                                                                         on_path):
    """The folder of the graded file is hidden from its code (other answers beside it).
    The warm learner worker's sandbox is built once: a folder on sys.path that holds
    the learner's folder showed it to every warm grade. The worker is started again
    when a grade must hide a folder its sandbox shows. And a folder on sys.path that
    is the learner's folder itself (a script beside the answers) was bound, never
    masked, warm or cold: it is not bound now. A link on sys.path to the folder above
    showed the answers to warm grades under the link's name (a reviewer's)."""
    from drillpe.launch.runner import GradeRequest, grade
    from drillpe.launch.warm_pool import launcher

    folder = tmp_path / "parent" / "answers"
    folder.mkdir(parents=True)
    neighbour = folder / "other_answer.py"
    neighbour.write_text("my other answer\n")
    link = tmp_path / "link"
    link.symlink_to(folder.parent)
    read = link / "answers" / neighbour.name if on_path == "link" else neighbour
    learner = folder / "sinusoidal.py"
    learner.write_text(READS_ITS_NEIGHBOUR.replace("NEIGHBOUR])", f"{str(read)!r}])"))
    # bound whole into the sandbox
    monkeypatch.syspath_prepend(str({"parent": folder.parent, "folder": folder,
                                     "link": link}[on_path]))
    monkeypatch.setenv("DRILLPE_ISOLATION", "namespaces")
    with launcher() as pool:
        for _ in range(2):
            result = grade(GradeRequest("sinusoidal", learner, timeout=60), launcher=pool)
            assert result.isolation == "namespaces"
            assert "NEIGHBOUR FileNotFoundError" in result.output, result.output
            assert "my other answer" not in result.output


@needs_namespaces
def test_a_venv_beside_the_learners_file_still_runs_it(tmp_path):
    """`drillpe check --file ./answer.py` from a folder that holds the venv drillpe runs
    from (a clone with its .venv): the folder is hidden, the venv inside it is not. The
    learner's interpreter was hidden with the folder: "cannot start the learner", blamed
    on the learner's code (exit status 71)."""
    folder = tmp_path / "clone"
    folder.mkdir()
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                    str(folder / ".venv")], check=True)
    neighbour = folder / "notes.txt"
    neighbour.write_text("my other answer\n")
    learner = folder / "sinusoidal.py"
    learner.write_text(READS_ITS_NEIGHBOUR.replace("NEIGHBOUR])", f"{str(neighbour)!r}])"))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
           "DRILLPE_HOME": str(tmp_path / "home"), "DRILLPE_ISOLATION": "namespaces"}
    res = subprocess.run([str(folder / ".venv" / "bin" / "python"), "-m", "drillpe", "check",
                          "--file", learner.name, "sinusoidal", "--json"], cwd=folder, env=env,
                         capture_output=True, text=True, timeout=120)
    [result] = json.loads(res.stdout)["results"]
    assert result["isolation"] == "namespaces"
    assert "NEIGHBOUR FileNotFoundError" in result["output"], (result["output"], res.stderr)
    assert "my other answer" not in res.stdout + res.stderr


def test_a_venv_in_tmp_is_not_covered_by_the_private_tmp(tmp_path, monkeypatch):
    """A venv in /tmp while /tmp itself is on sys.path (the parent of a checkout cloned
    there): the venv's bind was dropped as already inside the bound /tmp, then the
    private /tmp covered it, interpreter and all, and every grade fell back to the
    guard (a fresh-venv CI run beside its clone in /tmp). Read from the plan itself,
    so it needs no namespaces; sandbox.shows once called that venv shown too."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    if not sandbox._inside(str(venv.resolve()), "/tmp"):
        pytest.skip(f"pytest's temporary folder is not in /tmp ({tmp_path})")
    monkeypatch.setattr(sandbox, "_python_trees", lambda: ["/tmp", str(venv.resolve())])
    mounts, _ = sandbox.learner_mounts(str(tmp_path / "stage"), "cpu", [])
    assert {"kind": "bind", "path": str(venv.resolve())}.items() <= next(
        m for m in mounts if m["path"] == str(venv.resolve())).items()
    assert sandbox.shows(mounts, str(venv / "bin"))
    assert not sandbox.shows(mounts, str(tmp_path / "beside"))  # the rest of /tmp is private
    assert not sandbox.shows(mounts, "/tmp")


@pytest.mark.parametrize("linked", ["folder", "parent"])
def test_a_folder_bound_through_a_link_is_shown_under_the_links_name(tmp_path, monkeypatch,
                                                                     linked):
    """A sys.path entry that is a link to the learner's folder, or to the folder above
    it, is bound under the link's name. A cold grade hid the folder (its mask lies at
    the link's name); sandbox.shows compared only the names of the binds, so the warm
    pool kept a worker that showed the answers beside the learner's file (a reviewer's)."""
    answers = tmp_path / "parent" / "answers"
    answers.mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(answers if linked == "folder" else answers.parent)
    monkeypatch.setattr(sandbox, "_python_trees", lambda: [str(link)])
    shown, _ = sandbox.learner_mounts(str(tmp_path / "stage"), "cpu", [])
    assert sandbox.shows(shown, str(answers))
    hidden, _ = sandbox.learner_mounts(str(tmp_path / "stage"), "cpu", [str(answers)])
    assert not sandbox.shows(hidden, str(answers))
    if linked == "parent":  # the rest of the linked folder is still there
        assert sandbox.shows(hidden, str(answers.parent))


@pytest.mark.parametrize("choice", LEVELS)
def test_a_learner_that_cannot_be_started_is_drillpes_failure_not_the_codes(choice, tmp_path,
                                                                             monkeypatch):
    """When the supervisor cannot exec the learner (its interpreter hidden or gone), the
    grade said "your code ended the process (exit status 71)". Now the supervisor says
    so on a pipe only a failed exec writes to: the sandbox is given up for the guard,
    and under the guard it is a drillpe failure. Code that prints the same words and
    exits 71 is still just code that exited."""
    from drillpe.errors import DrillpeBug
    from drillpe.launch.runner import COLD

    status, _ = run("import os\nprint('drillpe supervisor: cannot start the learner: no')\n"
                    "os._exit(71)\n", choice=choice)
    assert (status.returncode, status.setup_error) == (71, None)
    start = COLD.start_process
    monkeypatch.setattr(COLD, "start_process", lambda argv, **kw: start(
        [str(tmp_path / "no-python"), *argv[1:]], **kw))
    with pytest.raises((probe.SetupFailed, DrillpeBug), match="cannot start the learner"):
        run("print('never')\n", choice=choice)


LEAVES_A_FILE = """
import os
import torch
from torch import nn
os.makedirs("/tmp/left/deeper", exist_ok=True)
with open("/tmp/left/deeper/note.txt", "w") as fh:
    fh.write("from the grade before")
with open("/dev/shm/note.txt", "w") as fh:
    fh.write("from the grade before")
os.chmod("/tmp/left/deeper", 0o000)  # the worker runs as this user: it must open them up
os.chmod("/tmp/left", 0o555)
print("LEFT", sorted(os.listdir("/tmp")))
class SinPositionEncoding(nn.Module):
    def __init__(self, max_sequence_length, d_model, base=10000.0):
        super().__init__()
"""

# /tmp itself made read-only, by a shell as a reviewer's did: its note outlived the grade
# (the unlinks failed), and every later grade got a /tmp it could not write to
LOCKS_TMP = """
import os
import torch
from torch import nn
os.system("echo from the grade before > /tmp/top_note.txt; chmod 555 /tmp /dev/shm")
print("LOCKED", oct(os.stat("/tmp").st_mode))
class SinPositionEncoding(nn.Module):
    def __init__(self, max_sequence_length, d_model, base=10000.0):
        super().__init__()
"""

LOOKS_FOR_IT = """
import os
import torch
from torch import nn
print("FOUND", os.path.exists("/tmp/left"), os.path.exists("/dev/shm/note.txt"),
      os.path.exists("/tmp/top_note.txt"), os.access("/tmp", os.W_OK), os.access("/dev/shm", os.W_OK))
class SinPositionEncoding(nn.Module):
    def __init__(self, max_sequence_length, d_model, base=10000.0):
        super().__init__()
"""


@needs_namespaces
def test_a_warm_grade_starts_with_an_empty_private_tmp(tmp_path, monkeypatch):
    """A cold learner process gets a fresh /tmp and /dev/shm; the warm worker's sandbox
    lasts, so it empties them after every grade (never reaching into what is bound
    there: the staged files' folder sits inside /tmp, and later grades still run)."""
    from drillpe.launch.runner import GradeRequest, grade
    from drillpe.launch.warm_pool import launcher

    monkeypatch.setenv("DRILLPE_ISOLATION", "namespaces")
    path = tmp_path / "sinusoidal.py"  # one file, saved again: one sandbox for all grades
    with launcher() as pool:
        path.write_text(LEAVES_A_FILE)
        first = grade(GradeRequest("sinusoidal", path, timeout=60), launcher=pool)
        assert first.isolation == "namespaces" and "LEFT" in first.output and \
            "left" in first.output, first.output
        restarts = pool.restarts
        path.write_text(LOOKS_FOR_IT)
        second = grade(GradeRequest("sinusoidal", path, timeout=60), launcher=pool)
        assert "FOUND False False False True True" in second.output, second.output
        path.write_text(LOCKS_TMP)
        locked = grade(GradeRequest("sinusoidal", path, timeout=60), launcher=pool)
        assert "LOCKED 0o40555" in locked.output, locked.output
        path.write_text(LOOKS_FOR_IT)
        third = grade(GradeRequest("sinusoidal", path, timeout=60), launcher=pool)
        assert "FOUND False False False True True" in third.output, third.output
        shutil.copy(ROOT / "solutions" / "sinusoidal.py", path)
        assert grade(GradeRequest("sinusoidal", path, timeout=60), launcher=pool).passed
        assert pool.restarts == restarts  # the same worker, the same sandbox


MOVES_THE_STAGE = """
import os
import torch
from torch import nn
for name in os.listdir("/tmp"):
    if name.startswith("drillpe-warm-"):  # holds the mount of the staged files' folder
        os.rename("/tmp/" + name, "/tmp/.moved")
        os.makedirs("/tmp/" + name + "/stage")
        os.chmod("/tmp/" + name, 0o555)
        print("MOVED", name)
class SinPositionEncoding(nn.Module):
    def __init__(self, max_sequence_length, d_model, base=10000.0):
        super().__init__()
"""


@needs_namespaces
def test_a_grade_that_rearranges_the_warm_sandbox_does_not_break_the_next(tmp_path, monkeypatch):
    """Learner code owns the folders that hold the warm sandbox's mounts: it moved the
    staged files' folder away and every later grade crashed, blamed on the learner.
    The worker notices its sandbox is not the one drillpe built and leaves."""
    from drillpe.launch.runner import GradeRequest, grade
    from drillpe.launch.warm_pool import launcher

    monkeypatch.setenv("DRILLPE_ISOLATION", "namespaces")
    path = tmp_path / "sinusoidal.py"
    with launcher() as pool:
        path.write_text(MOVES_THE_STAGE)
        moved = grade(GradeRequest("sinusoidal", path, timeout=60), launcher=pool)
        assert moved.isolation == "namespaces" and "MOVED" in moved.output, moved.output
        shutil.copy(ROOT / "solutions" / "sinusoidal.py", path)
        for _ in range(2):
            time.sleep(0.3)
            result = grade(GradeRequest("sinusoidal", path, timeout=60), launcher=pool)
            assert result.passed, [(c.id, c.message) for c in result.checks]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl")
def test_the_judges_keep_their_fds_and_memory_private():
    """The cold judge and the warm judge worker (whose forked judges inherit it) make
    themselves non-dumpable: another process of the same user, not root, cannot open
    their fds or memory through /proc."""
    import inspect

    from drillpe.grading import warm_worker
    from drillpe.launch.cold import ColdJudge
    from drillpe.launch.warm_pool import _JudgeWorker, _LearnerWorker

    probe_code = ("import ctypes; from drillpe.launch import lifeline; "
                  "before = ctypes.CDLL(None).prctl(3, 0, 0, 0, 0); ok = lifeline.keep_private(); "
                  "print(before, ok, ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))")  # 3: PR_GET_DUMPABLE
    res = subprocess.run([sys.executable, "-c", probe_code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
    assert res.stdout.split() == ["1", "True", "0"], res.stderr
    assert "lifeline.keep_private()" in inspect.getsource(warm_worker.serve_judge)
    assert "lifeline.keep_private()" in inspect.getsource(warm_worker.serve_learner)
    # and both are private before they import torch (the next test: what that does)
    assert "private=True" in inspect.getsource(ColdJudge)
    assert "private=True" in inspect.getsource(_JudgeWorker)
    assert "private=True" in inspect.getsource(_LearnerWorker)


def _torch_that_reports_dumpable(tmp_path, monkeypatch) -> Path:
    """A stand-in torch on the children's path: the process that imports it writes
    whether it is still dumpable to the file returned, and ends. The file appears
    whole (written beside it, then renamed): a test that saw it created but not yet
    written once read ''."""
    fake = tmp_path / "fake" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "import os\nfrom drillpe.launch import lifeline\n"
        "out = os.environ['PROBE_OUT']\n"
        "with open(out + '.part', 'w') as fh:\n    fh.write(repr(lifeline.dumpable()))\n"
        "os.replace(out + '.part', out)\nos._exit(0)\n")
    monkeypatch.setenv("PYTHONPATH", str(fake.parent))
    monkeypatch.setenv("PROBE_OUT", str(tmp_path / "seen"))
    return tmp_path / "seen"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl")
def test_a_cold_judge_is_private_before_it_imports_torch(tmp_path, monkeypatch):
    """A cold judge imported torch (a second) before it made itself non-dumpable: a
    process of the same user could open its digest pipe and its memory meanwhile. It
    is private before it imports anything heavy now, and says so on the pipe that the
    learner's supervisor waits on. A stand-in torch reports what it finds."""
    from drillpe.launch import contract
    from drillpe.launch.cold import ColdJudge

    seen = _torch_that_reports_dumpable(tmp_path, monkeypatch)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    judge = ColdJudge(contract.Grade("rope", str(tmp_path / "rope.py"), "cpu", 0), run_dir)
    try:
        assert judge.proc.wait(60) == 0, judge.log_tail()
        assert seen.read_text() == "False"
        assert os.read(judge.private_signal, 8) == b"p"
    finally:
        judge.kill()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl")
def test_the_warm_learner_worker_is_private_before_it_imports_torch(tmp_path, monkeypatch):
    """The learner worker made itself non-dumpable only once torch was imported: for that
    second a process of the same user could take its control socket (pidfd_getfd) and
    send it grades of its own. It is private from its first line now, like the judges."""
    from drillpe.launch.warm_pool import _LearnerWorker

    seen = _torch_that_reports_dumpable(tmp_path, monkeypatch)
    (tmp_path / "pool").mkdir()
    (tmp_path / "stage").mkdir()
    worker = _LearnerWorker(tmp_path / "pool", tmp_path / "stage", "guard")
    try:
        assert wait_until(seen.is_file, 60), worker.output.text()
        assert seen.read_text() == "False"
    finally:
        worker.close()


@pytest.mark.parametrize("word", ["private", "ended"])
def test_under_the_guard_learner_code_starts_only_once_the_judge_is_private(
        word, tmp_path, isolated_places):
    """Under the guard the learner's code runs as this user: its supervisor starts it
    only once the grade's judge has said it is private (or has ended), so no learner
    code runs while the judge is still open to it."""
    from drillpe.launch.cold import ColdLauncher
    from drillpe.launch.processes import Pipes

    staged = tmp_path / "stage" / "rope.py"
    staged.parent.mkdir()
    staged.write_text("")
    marker = tmp_path / "ran"
    argv = [sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"]
    read, write = os.pipe()
    pipes = Pipes.open(None, 0, None)
    handle = ColdLauncher().start_process(argv, staged=staged, device="cpu", timeout=30,
                                          pipes=pipes, level="guard", hidden=[],
                                          log=tmp_path / "supervisor.log", judge_private=read)
    pipes.started()
    try:
        time.sleep(0.5)
        assert not marker.exists()
        if word == "private":
            os.write(write, b"p")
        else:
            os.close(write)
            write = None
        status = handle.wait(30)
        assert status.returncode == 0 and status.setup_error is None, status
        assert marker.exists()
    finally:
        handle.kill()
        pipes.finish()
        os.close(read)
        if write is not None:
            os.close(write)


def test_a_supervisor_status_claiming_another_isolation_is_harm():
    """Under the guard the learner's code could write a status line of its own into the
    CLI's end of the supervisor's pipe (through /proc, as root): the level is the one
    drillpe chose, and a line that claims another fails the file."""
    from drillpe.launch.processes import LearnerStatus

    honest = LearnerStatus.from_json({"isolation": "guard", "returncode": 0}, "guard")
    assert honest.isolation == "guard" and honest.harm is None
    forged = LearnerStatus.from_json({"isolation": "namespaces", "returncode": 0}, "guard")
    assert forged.isolation == "guard" and "supervisor" in forged.harm


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl")
def test_the_cli_is_not_dumpable_while_it_grades(tmp_path, monkeypatch):
    """While a learner runs (as this user, under the guard) the CLI's pipes to the
    judge and the supervisor must not open through /proc; a notebook's kernel is
    dumpable again after the grade."""
    from drillpe.launch import lifeline, runner

    seen = []

    class Recording(runner.ColdLauncher):
        def stage_root(self, run_dir):
            seen.append(lifeline.dumpable())
            return super().stage_root(run_dir)

    lifeline.keep_private(False)
    broken = tmp_path / "rope.py"
    broken.write_text("def RoPE(:\n", encoding="utf-8")  # answered without a child
    result = runner.grade(runner.GradeRequest("rope", broken), launcher=Recording())
    assert not result.passed and seen == [False] and lifeline.dumpable() is True


@needs_ordinary_user
def test_a_forged_end_through_the_clis_own_pipes_fails_for_an_ordinary_user():
    """Under the guard the learner's code runs as you: while the CLI grades, it is not
    dumpable, so that code cannot open the CLI's pipe into the judge through /proc to
    end the learner early and plant a report (tests/fixtures/guard/forged_end_cold.py
    made a wrong answer pass that way). Root is not confined by this, so the attack
    runs as uid 1000 (tests/fixtures/guard/as_another_user.sh)."""
    res = as_ordinary_user([sys.executable, "-m", "drillpe", "check", "rope", "--file",
                            str(GUARD_FIXTURES / "forged_end_cold.py"), "--json"],
                           **RUN_UNDER_GUARD)
    if res.returncode not in (0, 1) or not res.stdout.strip():
        pytest.skip(f"could not run as another user here: {res.stderr.strip()[-300:]}")
    result = json.loads(res.stdout)["results"][0]
    assert result["isolation"] == "guard" and not result["passed"]
    assert not any(c["message"].startswith("forged") for c in result["checks"])
    assert "Permission denied" in result["output"]  # it tried, and /proc refused it


CONFINED = r"""
import json, os, signal, subprocess, sys
from pathlib import Path
from drillpe.grading.learner import Guards
guards = Guards(Path(sys.argv[1]), (), confine=sys.argv[2] == "1")
guards.arm()
tried = {}
def attempt(name, fn):
    try:
        fn()
        tried[name] = "done"
    except PermissionError:
        tried[name] = "refused"
    except Exception as exc:
        tried[name] = type(exc).__name__
folder = sys.argv[3]
attempt("shell", lambda: subprocess.run(["true"]))
attempt("system", lambda: os.system("true"))
attempt("fork", lambda: os.fork() == 0 and os._exit(0))
attempt("write", lambda: open(os.path.join(folder, "planted.pth"), "w").close())
attempt("os.open", lambda: os.close(os.open(os.path.join(folder, "b"), os.O_WRONLY | os.O_CREAT)))
attempt("mkdir", lambda: os.mkdir(os.path.join(folder, "made")))
attempt("kill", lambda: os.kill(os.getppid(), 0))
attempt("putenv", lambda: os.environ.update(PATH="/nowhere"))
attempt("gc", lambda: __import__("gc").get_objects())
attempt("code", lambda: attempt.__code__.replace(co_name="x"))
import torch  # its C++ file reader raises no audit event (a reviewer's read and wrote so)
attempt("from_file", lambda: torch.from_file(os.path.join(folder, "mapped"), True, 8,
                                             dtype=torch.uint8))
attempt("read", lambda: open(sys.argv[1]).read())
print(json.dumps({"tried": tried, "tampering": guards.tampering}))
"""


@pytest.mark.parametrize("confine", [True, False], ids=["guard", "sandboxed"])
def test_without_the_sandbox_learner_code_may_not_start_write_or_signal(tmp_path, confine):
    """Reviewers' files that passed the rules check ran a shell (numpy.testing.measure
    cat'ing the model answer) and planted a .pth (the profiler's trace export) under
    the guard. There the learner process now refuses process starts, signals,
    sockets, writes and file changes, and notes each as tampering; in the sandbox,
    which contains them, it does not."""
    learner = tmp_path / "rope.py"
    learner.write_text("x = 1\n")
    res = subprocess.run([sys.executable, "-c", CONFINED, str(learner), "1" if confine else "0",
                          str(tmp_path)], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    facts = last_json(res.stdout + res.stderr)
    tried = facts["tried"]
    assert tried["read"] == "done"  # reading the answer's own folder is fine either way
    changes = {k: v for k, v in tried.items() if k != "read"}
    if confine:
        assert set(changes.values()) == {"refused"}, changes
        assert len(facts["tampering"]) == len(changes)
        assert not (tmp_path / "planted.pth").exists() and not (tmp_path / "made").exists()
    else:
        assert "refused" not in changes.values() and facts["tampering"] == []
