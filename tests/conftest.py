import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


needs_ordinary_user = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0
    or not shutil.which("setpriv") or not shutil.which("unshare"),
    reason="runs as an ordinary user: needs root to become one, setpriv and unshare")


def as_ordinary_user(argv: list[str], **env) -> subprocess.CompletedProcess:
    """Run ``argv`` from the checkout as uid 1000 (fixtures/guard/as_another_user.sh:
    a HOME, DRILLPE_HOME and workspace of its own, this checkout on PYTHONPATH), with
    ``env`` added; the caller skips where that user cannot be made."""
    return subprocess.run(
        ["unshare", "-m", "--propagation", "private",
         str(FIXTURES / "guard" / "as_another_user.sh"), *argv],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
        env=dict(os.environ, PY=os.path.realpath(sys.executable), **env))


def isolate(patch, top: Path) -> dict:
    """The environment isolated_places gives each test, under ``top``. Also for a module
    fixture that runs a command once for several tests (pytest sets module fixtures up
    before any test's own): ``with pytest.MonkeyPatch.context() as patch: isolate(patch, ...)``."""
    home = top / "home"
    workspace = top / "workspace"
    patch.setenv("DRILLPE_HOME", str(home))
    patch.setenv("DRILLPE_WORKSPACE", str(workspace))
    patch.setenv("NO_COLOR", "1")
    # English unless a test asks otherwise, whatever the machine's locale
    for var in ("DRILLPE_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        patch.delenv(var, raising=False)
    patch.setenv("LANG", "C.UTF-8")
    return {"home": home, "workspace": workspace}


def pytest_configure(config):
    """The suite starts hundreds of Python processes (CLIs, judges, learners) that
    import this checkout. Where the environment says not to write bytecode
    (PYTHONDONTWRITEBYTECODE), each compiled drillpe and the graders from source
    again (about 45 ms for the CLI alone): compile them once here, as an installed
    package is compiled when pip installs it. Once per run (not in xdist's workers)."""
    if sys.dont_write_bytecode and "PYTEST_XDIST_WORKER" not in os.environ:
        import compileall

        for folder in ("drillpe", "graders", "solutions"):
            compileall.compile_dir(ROOT / folder, quiet=1)
    if "PYTEST_XDIST_WORKER" in os.environ or not getattr(config.option, "numprocesses", None):
        # deferred: only where tests run (not in xdist's controller, which never imports
        # torch). Torch as grading imports it: the collector paused, then what it made
        # frozen. Every process that runs tests imports torch anyway (tests/gpu at
        # collection), and with its 400,000 objects unfrozen the collector's full passes
        # took 4.07 s of a worker's run against 2.12 s in the worker that froze them
        import drillpe.grading  # noqa: F401


@pytest.fixture(autouse=True)
def isolated_places(tmp_path, monkeypatch):
    """Every test gets its own DRILLPE_HOME and DRILLPE_WORKSPACE."""
    places = isolate(monkeypatch, tmp_path)
    # --lang given to an in-process CLI call must not leak into the next test.
    from drillpe.data import i18n

    monkeypatch.setattr(i18n, "_chosen", None)
    yield places


@pytest.fixture(autouse=True)
def seeded_torch():
    """Tests that draw from torch's global generator see the same numbers every run
    (torch is seeded only where a test module imported it: the CLI tests stay torch-free)."""
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(0)


@pytest.fixture(scope="session")
def warm(tmp_path_factory):
    """One pair of warm grading workers (drillpe.launch.warm_pool: torch and the graders
    imported once, a fresh forked learner and judge process per grade) shared by every
    test of this pytest process (each xdist worker has its own). None where the system
    cannot fork, which drillpe.launch.runner.grade takes as "cold".

    A cold grade costs two torch imports (about 3 s of CPU on the CI machine), a warm
    one about 0.1 s. Grade through this unless the test is about the cold path itself:
    tests/test_fixtures.py proves cold and warm agree. Started under its own
    DRILLPE_HOME and DRILLPE_WORKSPACE, never the user's."""
    from drillpe.launch.warm_pool import launcher

    places = tmp_path_factory.mktemp("warm-places")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DRILLPE_HOME", str(places / "home"))
        patch.setenv("DRILLPE_WORKSPACE", str(places / "workspace"))
        with launcher() as pool:
            if pool is not None:
                pool.wait_ready()
            patch.undo()
            yield pool


@pytest.fixture
def warm_grading(warm, monkeypatch):
    """grade() calls made without a launcher (drillpe.check, the notebook API) go to
    the shared warm workers instead of starting two cold processes each."""
    from drillpe.launch import runner

    if warm is not None:
        monkeypatch.setattr(runner, "COLD", warm)
    return warm


def run_cli(*args, cwd=None, env=None, timeout=120):
    """Run `python -m drillpe ARGS` as a user would; returns CompletedProcess."""
    import subprocess

    full_env = dict(os.environ)
    # The checkout under test, whatever folder the command runs in (an installed
    # drillpe would otherwise answer from another folder).
    full_env.setdefault("PYTHONPATH", str(ROOT))
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "drillpe", *map(str, args)], cwd=cwd,
                          env=full_env, capture_output=True, text=True, timeout=timeout)


def once_per_session(tmp_path_factory, name: str, make):
    """``make()``'s value (JSON), computed once per pytest run whichever xdist workers
    ask: the first computes it while holding a lock, the others wait and read it (xdist
    spreads a module's tests over workers, so a module fixture alone may run on each).

    For fixtures that run one expensive command (a bench starts four torch processes)
    that several tests read. Without xdist, or without fcntl, plainly make()."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    try:
        import fcntl
    except ImportError:  # not POSIX: each worker computes its own
        fcntl = None
    if not worker or fcntl is None:
        return make()
    import json

    root = tmp_path_factory.getbasetemp().parent  # shared by this run's workers only
    store = root / f"once-{name}.json"
    with open(root / f"once-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if store.is_file():
            return json.loads(store.read_text(encoding="utf-8"))
        value = make()
        partial = store.with_suffix(".partial")
        partial.write_text(json.dumps(value), encoding="utf-8")
        partial.replace(store)
        return value


def as_record(res) -> dict:
    """A CompletedProcess as JSON, for once_per_session."""
    return {"args": [str(a) for a in res.args], "returncode": res.returncode,
            "stdout": res.stdout, "stderr": res.stderr}


def completed(record: dict):
    """as_record's inverse."""
    import subprocess

    return subprocess.CompletedProcess(record["args"], record["returncode"], record["stdout"],
                                       record["stderr"])


SWAPPED = FIXTURES / "sinusoidal" / "sin_cos_swapped.py"


@pytest.fixture(scope="session")
def scratch_check(tmp_path_factory):
    """`drillpe check --file sin_cos_swapped.py sinusoidal` with NO_COLOR unset (a pipe,
    not a terminal: no ANSI codes whatever NO_COLOR says), then `drillpe list --json` in
    the same places: (check, list). A cold grade starts two torch processes; this one
    (once per pytest run) is read by tests/test_cli.py's test_check_file_option_and_scorecard
    and test_only_the_workspace_file_counts_as_an_attempt, and by tests/test_conventions.py's
    test_check_quiet_is_shorter, each asking its own questions of it."""
    def make():
        with pytest.MonkeyPatch.context() as patch:
            isolate(patch, tmp_path_factory.mktemp("scratch-check"))
            patch.delenv("NO_COLOR")
            return [as_record(run_cli("check", "--file", SWAPPED, "sinusoidal")),
                    as_record(run_cli("list", "--json"))]

    res, listed = once_per_session(tmp_path_factory, "scratch-check", make)
    return completed(res), completed(listed)


# drillpe's own entry point (drillpe/__main__.py calls cli.main) in a fresh process, which
# then says which heavy modules it imported: the CLI process must never import torch.
PROBE = """
import sys
from drillpe.cli import main
sys.argv = ["drillpe", *{args!r}]
try:
    main()
except SystemExit as exc:
    print(f"EXIT:{{exc.code}}", file=sys.stderr)
heavy = sorted(m for m in ("torch", "numpy") if m in sys.modules)
print("HEAVY:" + ",".join(heavy), file=sys.stderr)
"""


def probe_cli(*args):
    """`drillpe ARGS` through PROBE; CompletedProcess (its returncode is PROBE's: the
    command's exit code is the EXIT: line on stderr)."""
    import subprocess

    return subprocess.run([sys.executable, "-c", PROBE.format(args=[str(a) for a in args])],
                          capture_output=True, text=True, timeout=300)


def probed_once(tmp_path_factory, name: str, *args):
    """probe_cli(*args) with NO_COLOR unset, in places of its own, once per pytest run."""
    def make():
        with pytest.MonkeyPatch.context() as patch:
            isolate(patch, tmp_path_factory.mktemp(name))
            patch.delenv("NO_COLOR")
            return as_record(probe_cli(*args))

    return completed(once_per_session(tmp_path_factory, name, make))


# Several commands, one after the other, in one fresh process through drillpe's own entry
# point (cli.main, as drillpe/__main__.py runs it), each with places of its own; after
# each, which heavy modules that process holds. A command that imports torch shows it
# on its own line: each command's line is read by a test of its own, and the lines
# after a culprit's say that nothing could be learned from them.
PROBE_MANY = """
import json, os, sys
from drillpe.cli import main
from drillpe.data import i18n
held = []
for args, top in {runs!r}:
    for name, module in list(sys.modules.items()):  # each command starts as in a fresh
        if name.startswith("drillpe"):              # process: no cache an earlier one filled
            for value in list(vars(module).values()):
                if callable(getattr(value, "cache_clear", None)):
                    value.cache_clear()
    os.environ["DRILLPE_HOME"] = top + "/home"
    os.environ["DRILLPE_WORKSPACE"] = top + "/workspace"
    i18n._chosen = None
    sys.argv = ["drillpe", *args]
    try:
        main()
    except SystemExit:
        pass
    held.append(sorted(m for m in ("torch", "numpy") if m in sys.modules))
print("HEAVY:" + json.dumps(held), file=sys.stderr)
"""


def heavy_imports(tmp_path_factory, name: str, commands: list[list[str]]) -> dict:
    """{" ".join(args): heavy modules held after that command} for ``commands`` run by
    PROBE_MANY (one process, about 0.3 s of CPU, instead of one per command), once per
    pytest run. A command whose line names a module the line before it did not took it."""
    def make():
        top = tmp_path_factory.mktemp(name)
        runs = [(args, str(top / str(i))) for i, args in enumerate(commands)]
        env = {k: v for k, v in os.environ.items()
               if k not in ("DRILLPE_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES")}
        env.update(NO_COLOR="1", LANG="C.UTF-8", PYTHONPATH=str(ROOT))
        res = subprocess.run([sys.executable, "-c", PROBE_MANY.format(runs=runs)],
                             capture_output=True, text=True, timeout=300, env=env)
        [line] = [x for x in res.stderr.splitlines() if x.startswith("HEAVY:")] or [None]
        assert line, f"the probe process ended with {res.returncode}:\n{res.stderr[-3000:]}"
        import json

        held = json.loads(line[len("HEAVY:"):])
        before = [[]] + held[:-1]
        return {" ".join(args): {"now": now, "before": was}
                for args, now, was in zip(commands, held, before)}

    return once_per_session(tmp_path_factory, name, make)


@pytest.fixture(scope="session")
def doctor_probe(tmp_path_factory):
    """`drillpe doctor` through PROBE (a torch probe and a sandbox probe: two processes):
    read by tests/test_conventions.py's test_bench_and_doctor_do_not_import_torch and
    tests/test_doctor.py's test_doctor_text."""
    return probed_once(tmp_path_factory, "doctor-probe", "doctor")


def cli_in_process(capsys, *args) -> tuple[int, str]:
    """A drillpe command run in this process: (exit code, stdout). Under warm_grading its
    grades go to the shared warm workers instead of two cold processes each: for tests
    of what a command says or records, which does not depend on how the grade ran.

    cli._run, not cli.main: main() ends by killing every process this process started,
    the warm workers included (each grade after that would start them again: two torch
    imports)."""
    res = cli_run(capsys, *args)
    return res.returncode, res.stdout


def cli_run(capture, *args):
    """cli_in_process, as run_cli's CompletedProcess (exit code, stdout, stderr).
    ``capture`` is pytest's capsys, or capfd where what reaches file descriptors 1
    and 2 matters (one JSON document on stdout: capsys misses a write to fd 1)."""
    import subprocess

    from drillpe.cli import _run
    from drillpe.errors import EXIT_OK

    capture.readouterr()
    code = _run([str(a) for a in args])
    said = capture.readouterr()
    return subprocess.CompletedProcess(["drillpe", *map(str, args)],
                                       code if isinstance(code, int) else EXIT_OK,
                                       said.out, said.err)


@pytest.fixture
def cli(request, monkeypatch):
    """``cli(*args, env=None)``: `drillpe ARGS` run in this process, as run_cli's
    CompletedProcess. For tests of what a command says, writes or records, where the
    process itself is not under test: a `python -m drillpe` costs some 0.25 s of CPU
    (the interpreter, typer, rich, the catalog), this a few milliseconds. ``env`` is
    set for the call only; each call starts with no --lang chosen, as a process does.
    run_cli stays for what needs a process: the entry point, exit by signal, a terminal,
    colour (render's shared console read NO_COLOR and FORCE_COLOR when it was made), the
    encoding of the standard streams, what the process imports."""
    from drillpe import render
    from drillpe.data import i18n

    # file descriptors 1 and 2 (a write past sys.stdout shows), unless the test reads
    # capsys itself (pytest allows one of the two)
    capture = request.getfixturevalue("capsys" if "capsys" in request.fixturenames else "capfd")

    def run(*args, env=None):
        with monkeypatch.context() as patch:
            for name, value in (env or {}).items():
                patch.setenv(name, value)
            patch.setattr(i18n, "_chosen", None)
            # render's shared console read COLUMNS and LINES when this process made it
            # (whatever a test had set then): read them now, as a fresh process would
            fresh = render.console()
            patch.setattr(render.out, "_width", fresh._width)
            patch.setattr(render.out, "_height", fresh._height)
            return cli_run(capture, *args)

    return run


@pytest.fixture
def warm_grades(warm, monkeypatch):
    """Like warm_grading, for commands that start other sandboxed processes through
    drillpe.launch.runner.COLD as well (bench's timed run): only their grades
    (drillpe.launch.runner.grade without a launcher) go to the shared warm workers."""
    from drillpe.launch import runner

    if warm is not None:
        cold_grade = runner.grade
        monkeypatch.setattr(runner, "grade",
                            lambda request, launcher=None: cold_grade(request, launcher or warm))
    return warm


def printed(draw, width=80) -> str:
    """What ``draw()`` prints on render's shared console, at ``width`` columns.
    rich's width setter pins the width: what was there is put back (None: the width
    follows COLUMNS and the terminal on each use, as in a fresh process), or every
    later in-process command of this pytest process would print 80 columns wide."""
    from drillpe import render

    with render.out.capture() as captured:
        old = render.out._width
        render.out.width = width
        try:
            draw()
        finally:
            render.out._width = old
    return captured.get()


def interruptible():
    """preexec_fn for a CLI a test will Ctrl-C: a run started in the background
    (``cmd &`` in a script) inherits SIGINT ignored, and Python then never
    raises KeyboardInterrupt; a user's terminal delivers it."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
