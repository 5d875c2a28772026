"""A non-editable install finds its exercises, solutions and graders from any
folder: build the wheel, install it into a fresh venv that borrows this
interpreter's packages (torch, typer, rich), run drillpe elsewhere.

The inner venv reaches the running interpreter's site-packages through a .pth
file, not --system-site-packages: that flag shows the *base* interpreter, so
when pytest itself runs in a venv (or a conda env) typer would be missing."""

import json
import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                          "--no-build-isolation", "-w", str(out), str(ROOT)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    [path] = out.glob("drillpe-*.whl")
    return path


def _outer_site_dirs() -> list[str]:
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return [d for d in dirs if Path(d).is_dir()]


def test_wheel_carries_the_data(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for expected in ("drillpe/_data/exercises/common.toml", "drillpe/_data/exercises/rope/stub.py",
                     "drillpe/_data/exercises/rope/stub.zh.py",
                     "drillpe/_data/exercises/rope/exercise.toml",
                     "drillpe/_data/exercises/rope/lesson.json",
                     "drillpe/_data/exercises/rope/debug/base.py",
                     "drillpe/_data/exercises/rope/debug/variants.toml",
                     "drillpe/_data/graders/t5_bias.py", "drillpe/_data/solutions/rope_2d.py",
                     "drillpe/_data/solutions/rope.py", "drillpe/_data/graders/rope.py",
                     "drillpe/_data/graders/oracles/rope.py",
                     "drillpe/cli.py", "drillpe/grading/judge.py"):
        assert expected in names


def test_installed_wheel_works_from_another_folder(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=300)
    python = venv / "bin" / "python"
    inner_site = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                                capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    # After the venv's own site-packages: the wheel installed there wins over any
    # drillpe the outer interpreter has.
    (Path(inner_site) / "outer_packages.pth").write_text("\n".join(_outer_site_dirs()) + "\n")
    res = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                          "--no-deps", "--no-index", "--force-reinstall", str(wheel)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(DRILLPE_HOME=str(tmp_path / "home"), DRILLPE_WORKSPACE=str(elsewhere / "ws"))

    where = subprocess.run([str(python), "-c", "import drillpe.data.bundle as r; "
                            "print(r.data_root())"], cwd=elsewhere, env=env,
                           capture_output=True, text=True, timeout=60)
    assert str(venv) in where.stdout, where.stdout + where.stderr

    drillpe = venv / "bin" / "drillpe"
    listed = subprocess.run([str(drillpe), "list", "--json"], cwd=elsewhere, env=env,
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert "rope" in [e["id"] for e in json.loads(listed.stdout)["exercises"]]

    started = subprocess.run([str(drillpe), "start", "sinusoidal"], cwd=elsewhere, env=env,
                             capture_output=True, text=True, timeout=60)
    assert started.returncode == 0, started.stderr
    checked = subprocess.run([str(drillpe), "check", "sinusoidal", "--json"], cwd=elsewhere,
                             env=env, capture_output=True, text=True, timeout=120)
    assert checked.returncode == 1, checked.stderr
    [result] = json.loads(checked.stdout)["results"]
    assert result["error"]["kind"] == "not_implemented"
    # the judge's oracle comes from the wheel too, and builds on the wheel's model answer
    right = ROOT / "tests" / "fixtures" / "rope" / "correct_complex.py"
    checked = subprocess.run([str(drillpe), "check", "rope", "--file", str(right), "--json"],
                             cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # the Chinese stub and the learn page come from the wheel too
    started = subprocess.run([str(drillpe), "start", "alibi", "--lang", "zh"], cwd=elsewhere,
                             env=env, capture_output=True, text=True, timeout=60)
    assert started.returncode == 0, started.stderr
    assert "斜率" in (elsewhere / "ws" / "alibi.py").read_text(encoding="utf-8")
    learned = subprocess.run([str(drillpe), "learn", "t5_bias"], cwd=elsewhere, env=env,
                             capture_output=True, text=True, timeout=60)
    assert learned.returncode == 0 and "bucket" in learned.stdout, learned.stderr
