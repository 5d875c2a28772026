"""How drillpe starts a Python of its own (drillpe.launch.contract): never from the
working folder, never reading what the CLI's own Python was told to ignore, and,
for the learner, never a user site-packages under its HOME=/tmp. A reviewer made
code run in doctor's torch probe, the judge and the learner through each of these
while doctor said nothing could change the Python drillpe runs from."""

import ast
import json
import os
import subprocess
import sys

from conftest import ROOT

from drillpe.launch import contract, sandbox

PLANT = "raise SystemExit('PLANTED ' + __name__)\n"


def test_a_child_python_never_imports_from_its_working_folder(tmp_path):
    (tmp_path / "json.py").write_text(PLANT)
    res = subprocess.run(contract.python_argv("import json; print(json.dumps('ok'))"),
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert res.stdout.strip() == '"ok"' and "PLANTED" not in res.stderr, res.stderr
    # the control: plain `python -c` does import it
    plain = subprocess.run([sys.executable, "-c", "import json"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    assert "PLANTED json" in plain.stderr


def test_doctors_torch_probe_ignores_a_planted_module_in_the_working_folder(tmp_path,
                                                                             monkeypatch):
    from drillpe.commands import tools

    (tmp_path / "json.py").write_text(PLANT)
    monkeypatch.chdir(tmp_path)
    # the probe's own code stands in for importing torch (a second of CPU)
    monkeypatch.setattr(tools, "TORCH_PROBE", "import json; print(json.dumps({'torch': 'x'}))")
    assert tools._probe_torch() == {"torch": "x"}


def _inherited(flags: list[str], **env) -> dict:
    """contract.inherited_environ() and processes.trusted_env() of a CLI started as
    ``python FLAGS``."""
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); import json; "
            "from drillpe.launch import contract, processes; "
            "print(json.dumps([contract.inherited_environ(), processes.trusted_env()]))")
    res = subprocess.run([sys.executable, *flags, "-c", code], capture_output=True, text=True,
                         timeout=60, env=dict(os.environ, **env), cwd="/")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_children_ignore_what_the_clis_python_ignored():
    planted = {"PYTHONPATH": "/planted", "PYTHONUSERBASE": "/planted-base"}
    inherited, trusted = _inherited([], **planted)
    assert inherited["PYTHONPATH"] == "/planted" and "PYTHONNOUSERSITE" not in inherited
    inherited, trusted = _inherited(["-s"], **planted)
    assert inherited["PYTHONNOUSERSITE"] == trusted["PYTHONNOUSERSITE"] == "1"
    for flags in (["-E"], ["-I"]):
        inherited, trusted = _inherited(flags, **planted)
        assert not any(k.startswith("PYTHON") for k in inherited if k != "PYTHONNOUSERSITE")
        assert "/planted" not in trusted["PYTHONPATH"].split(os.pathsep)
        assert "PYTHONUSERBASE" not in trusted
        # drillpe's own settings for its children stay
        assert trusted["PYTHONIOENCODING"] == "utf-8"
    assert _inherited(["-I"])[1]["PYTHONNOUSERSITE"] == "1"


def test_the_learners_python_reads_no_user_site_under_its_home(monkeypatch):
    """The learner's HOME is /tmp: under the guard the system's /tmp, where anyone may
    create .local/lib/python3.X/site-packages and a .pth that runs first."""
    env = sandbox.learner_env()
    assert env["HOME"] == "/tmp" and env["PYTHONNOUSERSITE"] == "1"
    res = subprocess.run([sys.executable, "-c", "import site; print(site.ENABLE_USER_SITE)"],
                         env=env, capture_output=True, text=True, timeout=60, cwd="/")
    assert res.stdout.strip() == "False", res.stderr
    # where the CLI reads a user site-packages (torch from `pip install --user`), the
    # learner finds the same packages on its path
    monkeypatch.setattr(sys, "path", [*sys.path, "/home/u/.local/lib/site-packages"])
    monkeypatch.setattr(sandbox.site, "ENABLE_USER_SITE", True)
    monkeypatch.setattr(sandbox.site, "getusersitepackages",
                        lambda: "/home/u/.local/lib/site-packages")
    assert "/home/u/.local/lib/site-packages" in \
        sandbox.learner_env()["PYTHONPATH"].split(os.pathsep)


# Where drillpe names its interpreter. Every child Python starts through
# contract.python_argv or processes.module_argv; the others name it for another
# reason, each said.
NAMES_THE_INTERPRETER = {
    "launch/contract.py": 2,  # python_argv
    "launch/processes.py": 2,  # module_argv's `-P -m`; the supervisor's `-I -S FILE`
    "launch/probe.py": 5,  # python_places (three), $ORIGIN; the sandbox probe runs a staged file
    "launch/sandbox.py": 1,  # the interpreter's folders, bound into the sandbox
    "commands/tools.py": 1,  # doctor shows it
}


def test_every_child_python_starts_through_one_place():
    found = {}
    for path in (ROOT / "drillpe").rglob("*.py"):
        count = sum(isinstance(node, ast.Attribute) and node.attr == "executable"
                    and isinstance(node.value, ast.Name) and node.value.id == "sys"
                    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))))
        if count:
            found[path.relative_to(ROOT / "drillpe").as_posix()] = count
    assert found == NAMES_THE_INTERPRETER


def test_grading_uses_one_thread_unless_the_user_set_one_of_the_variables(monkeypatch):
    """torch takes the smaller of OMP_NUM_THREADS and MKL_NUM_THREADS: setting only the
    one the user left alone to 1 overruled their OMP_NUM_THREADS=2 (doctor said 1)."""
    from drillpe.launch import processes

    for name in sandbox.ONE_THREAD:
        monkeypatch.delenv(name, raising=False)
    for env in (processes.trusted_env(), sandbox.learner_env()):
        assert (env["OMP_NUM_THREADS"], env["MKL_NUM_THREADS"]) == ("1", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    for env in (processes.trusted_env(), sandbox.learner_env()):
        assert env["OMP_NUM_THREADS"] == "2" and "MKL_NUM_THREADS" not in env
