import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def isolated_places(tmp_path, monkeypatch):
    """Every test gets its own DRILLPE_HOME and DRILLPE_WORKSPACE."""
    home = tmp_path / "home"
    workspace = tmp_path / "workspace"
    monkeypatch.setenv("DRILLPE_HOME", str(home))
    monkeypatch.setenv("DRILLPE_WORKSPACE", str(workspace))
    monkeypatch.setenv("NO_COLOR", "1")
    # English unless a test asks otherwise, whatever the machine's locale; --lang given to
    # an in-process CLI call must not leak into the next test.
    for var in ("DRILLPE_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    from drillpe.data import i18n

    monkeypatch.setattr(i18n, "_chosen", None)
    yield {"home": home, "workspace": workspace}


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


def interruptible():
    """preexec_fn for a CLI a test will Ctrl-C: a run started in the background
    (``cmd &`` in a script) inherits SIGINT ignored, and Python then never
    raises KeyboardInterrupt; a user's terminal delivers it."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
