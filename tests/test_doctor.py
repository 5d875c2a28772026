"""drillpe doctor: versions, CUDA, places, and whether the exercises are found."""

import json
import os
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest
from conftest import (
    as_ordinary_user,
    as_record,
    completed,
    isolate,
    needs_ordinary_user,
    once_per_session,
    run_cli,
)

ROOT = Path(__file__).resolve().parent.parent


def doctor_json(*args, env=None):
    res = run_cli("doctor", "--json", *args, env=env)
    return res, json.loads(res.stdout)


@pytest.fixture(scope="module")
def started_doctor(tmp_path_factory):
    """`drillpe doctor --json` (a torch probe and a sandbox probe: two processes) in places
    of its own where rope is started: (places, result, document). One run (once per pytest
    run: conftest's once_per_session) read by test_doctor_reports_everything and
    test_doctor_lists_started_exercises."""
    def make():
        with pytest.MonkeyPatch.context() as patch:
            places = isolate(patch, tmp_path_factory.mktemp("doctor"))
            assert run_cli("start", "rope").returncode == 0
            res = run_cli("doctor", "--json")
        return {"places": {k: str(v) for k, v in places.items()}, "res": as_record(res)}

    made = once_per_session(tmp_path_factory, "started-doctor", make)
    res = completed(made["res"])
    return {k: Path(v) for k, v in made["places"].items()}, res, json.loads(res.stdout)


def test_doctor_reports_everything(started_doctor):
    places, res, doc = started_doctor
    assert res.returncode == 0, res.stderr
    assert doc["schema"] == 1 and doc["ok"] is True
    checks = {c["what"]: c for c in doc["checks"]}
    for what in ("drillpe", "python", "typer", "rich", "torch", "numpy", "cuda", "workspace",
                 "home", "exercises", "language", "shell completion"):
        assert what in checks, what
    assert checks["language"]["lang"] == "en"  # conftest: LANG=C.UTF-8, no DRILLPE_LANG
    assert checks["torch"]["version"] and checks["torch"]["status"] == "ok"
    assert isinstance(checks["cuda"]["available"], bool)
    assert checks["workspace"]["path"] == str(places["workspace"].resolve())
    assert checks["home"]["path"] == str(places["home"])
    assert checks["exercises"]["ids"][:4] == ["sinusoidal", "learnable", "relative", "rope"]


@pytest.fixture
def torch_unprobed(monkeypatch):
    """doctor's torch probe (a child that imports torch, a second of CPU) answered without
    one, for tests of the rows that do not depend on it: a CPU build found, so that the
    torch rows are ok and the exit code speaks of the other rows."""
    from drillpe.commands import tools

    monkeypatch.setattr(tools, "_probe_torch", lambda: {
        "torch": "0.0 (not probed)", "cuda_build": None, "cuda_available": False,
        "threads": 1, "numpy": "0.0 (not probed)"})


def test_doctor_says_which_language_and_why(cli, torch_unprobed):
    res = cli("doctor", "--json", env={"LANG": "zh_CN.UTF-8"})
    language = next(c for c in json.loads(res.stdout)["checks"] if c["what"] == "language")
    assert language["lang"] == "zh" and "$LANG=zh_CN.UTF-8" in language["detail"]
    res = cli("doctor", "--json", "--lang", "en", env={"DRILLPE_LANG": "zh"})
    language = next(c for c in json.loads(res.stdout)["checks"] if c["what"] == "language")
    assert language["lang"] == "en" and "--lang" in language["detail"]


def test_doctor_lists_started_exercises(started_doctor):
    _, _, doc = started_doctor
    workspace = next(c for c in doc["checks"] if c["what"] == "workspace")
    assert workspace["started"] == ["rope"]
    assert "1 started: rope" in workspace["detail"]


def test_doctor_text(doctor_probe):
    """`drillpe doctor` in a pipe, NO_COLOR unset: the run conftest's doctor_probe makes
    (through drillpe's own entry point) for tests/test_conventions.py as well."""
    res = doctor_probe
    assert "EXIT:0" in res.stderr.splitlines(), res.stderr
    for expected in ("drillpe doctor", "torch", "cuda", "workspace", "home", "exercises",
                     "Everything drillpe needs is in place."):
        assert expected in res.stdout, expected


def test_doctor_says_when_torch_is_missing(tmp_path):
    # A `torch` package that fails to import shadows the real one in the probe.
    fake = tmp_path / "shadow" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('broken install')\n")
    res, doc = doctor_json(env={"PYTHONPATH": str(tmp_path / "shadow")})
    assert res.returncode == 1
    torch = next(c for c in doc["checks"] if c["what"] == "torch")
    assert torch["status"] == "fail" and "broken install" in torch["detail"]
    assert doc["ok"] is False


def test_doctor_with_an_unwritable_workspace(tmp_path, cli, torch_unprobed):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        res = cli("doctor", "--json", "--workspace", str(locked / "ws"))
    finally:
        locked.chmod(0o700)
    workspace = next(c for c in json.loads(res.stdout)["checks"] if c["what"] == "workspace")
    if os.geteuid() == 0:  # root can write anywhere: nothing to report
        assert workspace["status"] == "ok"
    else:
        assert workspace["status"] == "fail" and res.returncode == 1


def test_doctor_says_the_guard_confines_nothing_for_root(monkeypatch):
    from drillpe.launch import probe

    guard = {"level": "guard", "reason": "DRILLPE_ISOLATION=guard", "facts": {}}
    monkeypatch.setattr(probe.os, "geteuid", lambda: 0)
    status, sentence = probe.summary(guard)
    assert status == "warn" and "as root the guard confines nothing" in sentence
    assert "as root" in probe.summary({"level": "guard", "error": "no userns"})[1]
    monkeypatch.setattr(probe.os, "geteuid", lambda: 1000)
    assert "root" not in probe.summary(guard)[1]


def test_doctor_says_when_escaped_code_could_change_the_python_drillpe_runs_from(monkeypatch):
    """Under the guard, code that gets past the guards writes as you: a `.pth` file in a
    site-packages folder you own runs in every later drillpe process (README, 'Isolation')."""
    from drillpe.launch import probe

    monkeypatch.setattr(probe.os, "geteuid", lambda: 1000)
    guard = {"level": "guard", "reason": "DRILLPE_ISOLATION=guard", "facts": {},
             "python_writable": ["/home/me/.local/lib/python3.11/site-packages"]}
    status, sentence = probe.summary(guard)
    assert status == "warn" and "/home/me/.local/lib/python3.11/site-packages" in sentence
    assert "runs in every later drillpe process" in sentence
    status, sentence = probe.summary({**guard, "python_writable": []})
    assert "doctor found nothing your code could change" in sentence
    failed = {"level": "guard", "reason": "auto", "error": "no userns",
              "python_writable": ["/venv/lib/python3.11/site-packages"]}
    assert "/venv/lib/python3.11/site-packages" in probe.summary(failed)[1]
    namespaces = {"level": "namespaces", "reason": "auto", "facts": {
        "uid": 65534, "capabilities": "0", "processes": [1], "network": "none (Network is unreachable)",
        "visible": {}}}
    assert "Python drillpe runs from" not in probe.summary(namespaces)[1]
    assert "sees 1 process; network: none (Network is unreachable)" in probe.summary(namespaces)[1]


def test_python_writable_lists_what_this_user_can_change(tmp_path, monkeypatch):
    from drillpe.launch import probe

    mine = tmp_path / "site-packages"
    mine.mkdir()
    not_yet = tmp_path / "home" / ".local" / "lib" / "site-packages"  # created by a writer
    assert probe.python_writable([str(mine), str(not_yet)]) == [str(mine), str(not_yet)]
    on_path = tmp_path / "on-pythonpath"  # a sitecustomize.py there runs at start
    monkeypatch.setattr(sys, "path", [sys.path[0], str(on_path), *sys.path[1:]])
    places = probe.python_places()
    assert str(on_path) in places
    assert os.path.abspath(sys.path[0] or os.curdir) in places  # `python -m`: the working folder
    assert str(Path(probe.__file__).resolve().parent.parent) in places  # drillpe's own code
    assert os.path.realpath(sys.executable) in places
    assert os.path.dirname(os.path.abspath(sys.executable)) in places  # a venv's link
    if sys.prefix != sys.base_prefix:
        assert os.path.join(sys.prefix, "pyvenv.cfg") in places
    assert any(p.endswith("site-packages") for p in places)


@needs_ordinary_user
def test_python_writable_as_an_ordinary_user():
    """As uid 1000 (tests/fixtures/guard/as_another_user.sh: a HOME of its own, the
    interpreter owned by root): the user site-packages under that HOME is theirs to
    create, the interpreter's own site-packages and a folder under / are not. Nor is
    only what they may write theirs to change (a reviewer changed each of these): a
    root-owned venv inside their own folder (renamed away, copied back as theirs), a
    venv of theirs made read-only (chmod), their own entry in a sticky /tmp; a
    root's entry in that sticky folder is not."""
    top = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        os.chmod(top, 0o755)
        (top / "home" / "venv" / "lib").mkdir(parents=True)  # root's, in the user's
        (top / "readonly" / "lib").mkdir(parents=True)
        (top / "sticky" / "theirs").mkdir(parents=True)
        (top / "sticky" / "roots").mkdir()
        (top / "elsewhere" / "lib").mkdir(parents=True)
        for mine in ("home", "readonly", "sticky/theirs"):
            os.chown(top / mine, 1000, 1000)
        os.chmod(top / "readonly", 0o555)
        os.chmod(top / "sticky", 0o1777)
        changeable = [str(top / p) for p in ("home/venv/lib", "readonly/lib", "sticky/theirs")]
        fixed = [str(top / p) for p in ("sticky/roots", "elsewhere/lib")]
        root_site = sysconfig.get_paths()["purelib"]
        code = ("import json, site, sys; from drillpe.launch import probe; "
                "print(json.dumps([site.getusersitepackages(), probe.python_writable("
                "[site.getusersitepackages(), *sys.argv[1:]]), probe.python_places(), "
                "bool(site.ENABLE_USER_SITE)]))")
        res = as_ordinary_user([sys.executable, "-c", code, root_site, "/drillpe-nowhere/x",
                                *changeable, *fixed])
    finally:
        shutil.rmtree(top)
    if res.returncode != 0 or not res.stdout.strip():
        pytest.skip(f"could not run as another user here: {res.stderr.strip()[-300:]}")
    user_site, writable, places, user_site_read = json.loads(res.stdout)
    assert writable == [user_site, *changeable], writable
    # named only where Python reads it (not in a virtual environment of its own)
    assert (user_site in places) == user_site_read


def test_python_places_include_what_reviewers_ran_code_through(tmp_path, monkeypatch):
    """Bytecode under PYTHONPYCACHEPREFIX, a libpython or preload found through
    LD_LIBRARY_PATH / LD_PRELOAD, a link on the way from a venv's python to the real
    one, a venv reached through a link: each ran code in later drillpe processes
    while doctor said nothing could."""
    from drillpe.launch import probe

    theirs = tmp_path / "theirs"
    (theirs / "bin").mkdir(parents=True)
    real = tmp_path / "real-python"
    real.write_text("")
    (theirs / "bin" / "python3").symlink_to(real)
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").symlink_to(theirs / "bin" / "python3")
    monkeypatch.setattr(sys, "executable", str(venv_bin / "python"))
    monkeypatch.setattr(sys, "pycache_prefix", str(tmp_path / "pyc"))
    monkeypatch.setenv("LD_LIBRARY_PATH", f"{tmp_path / 'lib'}:/usr/lib")
    monkeypatch.setenv("LD_PRELOAD", str(tmp_path / "shim.so"))
    places = probe.python_places()
    for place in (theirs / "bin" / "python3", tmp_path / "pyc", tmp_path / "lib",
                  tmp_path / "shim.so", real):
        assert str(place) in places, place
    # reached through a link, a place is judged where it really is too
    (tmp_path / "lnk").symlink_to(theirs)
    monkeypatch.setattr(probe, "_changeable_path", lambda p: p.startswith(str(theirs)))
    assert probe.python_writable([str(tmp_path / "lnk" / "bin")]) == [str(tmp_path / "lnk" / "bin")]


def test_the_loaders_paths_are_read_as_the_loader_reads_them(tmp_path, monkeypatch):
    """A reviewer's `LD_LIBRARY_PATH=:/usr/local/lib` (what `export
    LD_LIBRARY_PATH=$LD_LIBRARY_PATH:/usr/local/lib` makes when it was unset) loaded a
    planted libpython from the working folder while doctor said nothing could change
    the Python; glibc also splits on ';' and expands $ORIGIN, and reads LD_AUDIT."""
    from drillpe.launch import probe

    monkeypatch.chdir(tmp_path)
    origin = os.path.dirname(os.path.realpath(sys.executable))
    monkeypatch.setenv("LD_LIBRARY_PATH", ":/usr/local/lib;$ORIGIN/../lib;rel")
    monkeypatch.setenv("LD_AUDIT", str(tmp_path / "audit.so"))
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    monkeypatch.setenv("PYTHONPATH", "src")
    places = probe.python_places()
    for place in (str(tmp_path), "/usr/local/lib", os.path.join(origin, "..", "lib"),
                  str(tmp_path / "rel"), str(tmp_path / "audit.so")):
        assert os.path.abspath(place) in places, place
    relative = [p for p in probe.python_writable() if "relative to the folder" in p]
    assert [p.split(",")[0] for p in relative] == [
        "PYTHONPATH entry 'src'", "LD_LIBRARY_PATH entry '.'", "LD_LIBRARY_PATH entry 'rel'"]
    # `python -m drillpe` puts the folder it starts from first on the import path: a
    # reviewer's textwrap.py, planted in a workspace, ran in a later CLI started there
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path[1:]])
    assert any(p.startswith("the import path's first entry '.'") for p in probe.python_writable())
