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
    monkeypatch.delenv("DRILLPE_LANG", raising=False)
    yield {"home": home, "workspace": workspace}


def run_cli(*args, cwd=None, env=None, timeout=120):
    """Run `python -m drillpe ARGS` as a user would; returns CompletedProcess."""
    import subprocess

    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "drillpe", *map(str, args)], cwd=cwd,
                          env=full_env, capture_output=True, text=True, timeout=timeout)
