"""Bad input and broken state never cost work: files Python itself would
run, learner-caused failures named as such, unwritable or full folders,
damaged or unusable history, out-of-range options, strict JSON, a latin-1
terminal and a hand-edited mock session."""

import ctypes
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, as_ordinary_user, cli_run, needs_ordinary_user, run_cli

from drillpe import render
from drillpe.errors import UsageError
from drillpe.launch.runner import GradeRequest, grade

CORRECT = (ROOT / "solutions" / "sinusoidal.py").read_text(encoding="utf-8")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- learner files


def _grade(path: Path, launcher):
    return grade(GradeRequest("sinusoidal", path, timeout=30), launcher=launcher)


@pytest.mark.parametrize("name, data", [
    ("bom", b"\xef\xbb\xbf" + CORRECT.encode()),
    ("gbk", ("# -*- coding: gbk -*-\n# 正弦位置编码\n" + CORRECT).encode("gbk")),
    ("latin1", ("# coding: latin-1\n# café\n" + CORRECT).encode("latin-1")),
])
def test_files_python_runs_are_graded_as_python_reads_them(name, data, tmp_path, warm):
    path = tmp_path / "sinusoidal.py"
    path.write_bytes(data)
    result = _grade(path, warm)
    assert result.passed and result.error is None, result.to_json()


def test_scratch_modules_beside_the_file_do_not_shadow_the_standard_library(tmp_path, warm):
    (tmp_path / "random.py").write_text("raise SystemExit('a scratch file')\n")
    (tmp_path / "copy.py").write_text("deepcopy = None\n")
    (tmp_path / "sinusoidal.py").write_text(CORRECT)
    result = _grade(tmp_path / "sinusoidal.py", warm)
    assert result.passed, result.to_json()


def test_an_expression_too_deep_to_compile_is_the_learners_syntax_error(tmp_path, warm):
    path = tmp_path / "sinusoidal.py"
    path.write_text(CORRECT + "\nX = " + "+".join(["1"] * 100_000) + "\n")
    result = _grade(path, warm)
    assert not result.passed and result.error["kind"] == "syntax", result.to_json()
    assert "nested too deeply" in result.error["message"]


def test_a_huge_line_in_a_traceback_is_capped(tmp_path, warm):
    path = tmp_path / "sinusoidal.py"
    path.write_text(CORRECT.replace(
        "    def forward(self) -> torch.Tensor:\n",
        "    def forward(self) -> torch.Tensor:\n        raise ValueError('" + "x" * 200_000
        + "')\n", 1))
    result = _grade(path, warm)
    assert not result.passed
    assert len(result.to_json()) < 40_000


# --------------------------------------------------------------------------- unwritable places


def _without_dac():
    """A preexec_fn: root loses the capabilities that bypass permission bits
    (dropped from the bounding set, so they are gone after exec)."""
    if os.geteuid() != 0:
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def drop():
        for cap in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
            if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
                raise OSError(ctypes.get_errno(), "PR_CAPBSET_DROP")
    return drop


def run_restricted(*args, env):
    full_env = dict(os.environ, **env)
    return subprocess.run([sys.executable, "-m", "drillpe", *args], env=full_env,
                          capture_output=True, text=True, timeout=120,
                          preexec_fn=_without_dac())


@pytest.mark.parametrize("args", [("start", "rope", "--force"), ("reset", "rope"),
                                  ("start", "alibi")], ids=" ".join)
def test_a_read_only_workspace_is_a_usage_error_and_the_work_stays(args, isolated_places):
    ws = isolated_places["workspace"]
    ws.mkdir(parents=True)
    mine = ws / "rope.py"
    mine.write_text("# my work\n")
    before = sha(mine)
    ws.chmod(0o555)
    try:
        res = run_restricted(*args, env={})
    finally:
        ws.chmod(0o755)
    assert res.returncode == 2, res.stderr
    assert "cannot write" in res.stderr and str(ws) in res.stderr and "Traceback" not in res.stderr
    assert sha(mine) == before and sorted(p.name for p in ws.iterdir()) == ["rope.py"]


def _unshare_ok() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "-rm", "true"], capture_output=True).returncode == 0


FULL_DISK = """
set -e
mount -t tmpfs -o size={size} tmpfs "$TARGET"
{prepare}
dd if=/dev/zero of="$TARGET/filler" bs=1k count=4096 2>/dev/null || true
shift_out() {{ "$@" > "$OUT/out.txt" 2> "$OUT/err.txt" && echo 0 > "$OUT/rc" || echo $? > "$OUT/rc"; }}
shift_out {python} -m drillpe {args}
rm -f "$TARGET/filler"
{python} -c "import sys; print('\\n'.join(sorted(__import__('os').listdir(sys.argv[1]))))" \\
    "$TARGET" > "$OUT/listing"
for f in "$TARGET"/*; do sha256sum "$f" >> "$OUT/sums"; done
"""


def on_full_disk(tmp_path, target: Path, args: str, prepare: str, size="256k"):
    """Run drillpe ARGS with TARGET on a tmpfs that is full (a user and mount
    namespace of its own, so no privilege is needed)."""
    out = tmp_path / "out"
    out.mkdir()
    script = FULL_DISK.format(size=size, prepare=prepare, python=sys.executable, args=args)
    subprocess.run(["unshare", "-rm", "sh", "-c", script], check=True, timeout=180,
                   env=dict(os.environ, TARGET=str(target), OUT=str(out)))
    return (int((out / "rc").read_text()), (out / "err.txt").read_text(),
            (out / "listing").read_text().split(), (out / "sums").read_text())


@pytest.mark.skipif(not _unshare_ok(), reason="needs unprivileged user and mount namespaces")
def test_start_force_on_a_full_disk_changes_nothing(tmp_path, isolated_places):
    ws = isolated_places["workspace"]
    ws.mkdir(parents=True)
    rc, err, listing, sums = on_full_disk(
        tmp_path, ws, "start rope --force",
        prepare='printf "# my work\\n" > "$TARGET/rope.py"')
    assert rc == 2 and "No space left" in err and "Traceback" not in err, err
    assert listing == ["rope.py"]  # no backup, no stray temporary file
    assert hashlib.sha256(b"# my work\n").hexdigest() in sums


# --------------------------------------------------------------------------- history


def _history_with_attempts(home: Path) -> Path:
    """A history holding a little of everything, checkpointed into one file."""
    from drillpe.results.history import History

    history = History(home)
    history.record_hint("rope", 1)
    history.record_reveal("alibi")
    history.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    history.close()
    return home / "history.sqlite3"


def test_a_read_only_history_is_left_untouched_and_said(isolated_places):
    home = isolated_places["home"]
    path = _history_with_attempts(home)
    before = sha(path)
    path.chmod(0o444)
    try:
        res = run_restricted("hint", "rope", env={})
    finally:
        path.chmod(0o644)
    assert res.returncode == 0, res.stderr
    assert "history" in res.stderr and "Traceback" not in res.stderr
    assert sha(path) == before
    assert not [p for p in home.iterdir() if "backup" in p.name]


@pytest.mark.skipif(not _unshare_ok(), reason="needs unprivileged user and mount namespaces")
def test_a_history_on_a_full_disk_is_not_set_aside(tmp_path, isolated_places):
    home = isolated_places["home"]
    path = _history_with_attempts(home)
    before = sha(path)
    saved = tmp_path / "saved.sqlite3"
    shutil.copy(path, saved)
    rc, err, listing, sums = on_full_disk(
        tmp_path, home, "hint rope",
        prepare=f'cp "{saved}" "$TARGET/history.sqlite3"')
    assert rc == 0 and "history" in err and "Traceback" not in err, err
    assert not [name for name in listing if "backup" in name], listing
    assert before in sums


def test_a_damaged_history_is_set_aside_byte_identical(cli, isolated_places):
    home = isolated_places["home"]
    path = _history_with_attempts(home)
    data = bytearray(path.read_bytes())
    page = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
    data[18:20] = b"\x01\x01"  # a rollback-journal file, as older SQLite tools leave it
    data[page] = 0x07  # page 2: not a b-tree page type
    data[page + 3:page + 5] = b"\xff\xff"
    path.write_bytes(bytes(data))
    damaged = hashlib.sha256(bytes(data)).hexdigest()
    res = cli("hint", "rope")
    assert res.returncode == 0 and "moved to" in res.stderr, res.stderr
    aside = [p for p in home.iterdir() if p.name.startswith("history.backup-")
             and p.suffix == ".sqlite3"]
    assert len(aside) == 1 and sha(aside[0]) == damaged


# --------------------------------------------------------------------------- options and output


@pytest.mark.parametrize("args", [
    ("check", "sinusoidal", "--timeout", "inf"),
    ("check", "sinusoidal", "--timeout", "1e10"),
    ("check", "sinusoidal", "--timeout", "nan"),
    ("check", "sinusoidal", "--seed", str(2**64)),
    ("watch", "sinusoidal", "--seed", "-1"),
    ("mock", "start", "--minutes", "1e308", "--json"),
    ("bench", "rope", "--budget", "inf"),
], ids=" ".join)
def test_out_of_range_options_are_usage_errors(cli, args):
    res = cli(*args)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "Invalid value" in res.stderr and res.stdout == ""


def test_json_is_strict(capsys):
    render.print_json({"a": float("inf"), "b": [float("nan"), 1.5], "c": "正弦"})
    text = capsys.readouterr().out
    assert json.loads(text, parse_constant=lambda c: pytest.fail(c)) == \
        {"a": None, "b": [None, 1.5], "c": "正弦"}


def test_chinese_text_on_a_latin1_terminal(isolated_places):
    def latin1(*args):
        return subprocess.run([sys.executable, "-m", "drillpe", *args], capture_output=True,
                              env=dict(os.environ, PYTHONIOENCODING="latin-1"), timeout=60)

    hint = latin1("hint", "rope", "--lang", "zh")
    assert hint.returncode == 0 and b"Traceback" not in hint.stderr, hint.stderr
    listing = latin1("list", "--json", "--lang", "zh")
    assert listing.returncode == 0
    titles = [row["title"] for row in json.loads(listing.stdout.decode("latin-1"))["exercises"]]
    assert "正余弦（Sinusoidal）位置编码" in titles  # escaped on the wire, intact once parsed


# --------------------------------------------------------------------------- mock state


@pytest.mark.parametrize("change, field", [
    ({"minutes": "30"}, "minutes"),
    ({"hints": {"rope": "2"}}, "hints"),
    ({"state": "submitted", "submitted_at": 1.0,
      "results": {"rope": {"passed": "yes", "score": 0.5}}}, "results.rope.passed"),
    ({"followups": {"rope": [{"question": 1, "model_answer": "a"}]}},
     "followups.rope[0].question"),
    # well typed, but not a session drillpe could grade
    ({"folder": "/nonexistent/dir"}, "folder"),
    ({"exercises": ["nope"]}, "exercises"),
    ({"seed": 2**70}, "seed"),
    ({"id": "../../x"}, "id"),
    ({"schema": 99}, "schema"),
    ({"state": "submitted", "submitted_at": None}, "submitted_at"),
    ({"minutes": 1e308}, "minutes"),
    ({"started_at": 1e300}, "started_at"),
])
def test_a_hand_edited_mock_session_is_named_not_a_crash(change, field, isolated_places, capsys):
    # In this process (cli._run maps errors to exit codes and prints a bug's
    # traceback exactly as the command's own process does): 36 CLI processes fewer.
    assert cli_run(capsys, "mock", "start", "--no-live", "-e", "rope").returncode == 0
    state = next((isolated_places["home"] / "mock").glob("*/session.json"))
    data = json.loads(state.read_text())
    data.update(change)
    state.write_text(json.dumps(data))
    for command in (("mock", "status"), ("mock", "submit", "--no-questions")):
        res = cli_run(capsys, *command)
        assert res.returncode == 2, res.stderr
        assert f"field {field}" in res.stderr and "Traceback" not in res.stderr


def test_a_file_deleted_during_the_check_is_graded_as_it_was(tmp_path, warm, monkeypatch):
    """The grade works on a private copy taken first: deleting (or rewriting)
    the file afterwards changes nothing and is no drillpe bug."""
    from drillpe.launch import runner

    path = tmp_path / "sinusoidal.py"
    path.write_text(CORRECT)
    staged = runner.stage

    def stage_then_delete(file, stage_root, exercise_id):
        copy = staged(file, stage_root, exercise_id)
        file.unlink()
        return copy

    monkeypatch.setattr(runner, "stage", stage_then_delete)
    result = _grade(path, warm)
    assert not path.exists() and result.passed, result.to_json()


@pytest.mark.parametrize("where", ["workspace", "home"])
def test_a_file_where_a_folder_must_be_is_a_usage_error(cli, where, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("mine\n")
    env = {"DRILLPE_WORKSPACE": str(tmp_path / "ws"), "DRILLPE_HOME": str(tmp_path / "home"),
           f"DRILLPE_{where.upper()}": str(blocker)}
    command = ("start", "rope") if where == "workspace" else ("mock", "start", "--no-live")
    res = cli(*command, env=env)
    assert res.returncode == 2, res.stderr
    assert "a file stands where drillpe needs a folder" in res.stderr
    assert "Traceback" not in res.stderr and blocker.read_text() == "mine\n"


def test_a_foreign_sqlite_file_at_the_history_path_is_left_byte_identical(cli, tmp_path):
    """Valid SQLite, but not drillpe's (a table of the same name, other
    columns): a warning, no record, and not one byte changed."""
    home = tmp_path / "home"
    home.mkdir()
    path = home / "history.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE attempts (x)")
    conn.execute("INSERT INTO attempts VALUES ('zz')")
    conn.commit()
    conn.close()
    before = sha(path)
    res = cli("hint", "rope", env={"DRILLPE_HOME": str(home)})
    assert res.returncode == 0, res.stderr
    assert "left untouched" in res.stderr
    assert sha(path) == before and sorted(p.name for p in home.iterdir()) == ["history.sqlite3"]


def test_a_latin1_terminal_does_not_reach_the_learners_prints(tmp_path):
    """PYTHONIOENCODING=latin-1 is the user's terminal; the learner's output
    goes down a pipe drillpe reads as UTF-8, so print("你好") is no error."""
    learner = tmp_path / "sinusoidal.py"
    learner.write_text('print("你好")\n' + (ROOT / "solutions" / "sinusoidal.py").read_text(),
                       encoding="utf-8")
    res = run_cli("check", "sinusoidal", "--file", learner, "--json",
                  env={"PYTHONIOENCODING": "latin-1"})
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr


def test_a_syntax_error_is_answered_at_once_in_the_judges_words(tmp_path, monkeypatch):
    """The CLI fails a file that does not parse without starting a child
    (drillpe.launch.quick); its report is the one the judge writes, caret included."""
    from drillpe.launch import quick, runner

    path = tmp_path / "rope.py"
    path.write_text("import torch\n\n\ndef RoPE(q, k:\n    return q, k\n")
    started = []
    real_start = runner.COLD.start_judge
    monkeypatch.setattr(runner.COLD, "start_judge", lambda *a: started.append(a) or 1 / 0)
    fast = runner.grade(runner.GradeRequest("rope", path))
    assert not started and not fast.passed and fast.error["kind"] == "syntax"
    assert fast.checks[0].traceback == ["line 4, column 9:", "    def RoPE(q, k:",
                                        "            ^"]
    # the line quoted: its own brackets stay apart from the sentence's
    assert fast.checks[0].message.endswith("(line 4: `def RoPE(q, k:`)"), fast.checks[0].message
    monkeypatch.setattr(runner.COLD, "start_judge", real_start)
    monkeypatch.setattr(quick, "syntax_failure", lambda *a, **k: None)
    judged = runner.grade(runner.GradeRequest("rope", path))

    def comparable(result):
        data = result.to_dict()
        for key in ("duration_s", "isolation", "output"):
            data.pop(key)
        return data

    assert comparable(fast) == comparable(judged)


def test_grade_folders_left_by_a_killed_drillpe_are_swept(tmp_path, monkeypatch):
    """A SIGKILLed drillpe cannot remove its grade folder or its warm pool's (a staged
    copy of the learner's file is inside); the next grade removes a grade folder once no
    grade could still be using it, a pool's once its drillpe has ended, and leaves the
    others alone."""
    import time

    from drillpe.launch import runner

    monkeypatch.setattr(runner.tempfile, "gettempdir", lambda: str(tmp_path))
    old, young = tmp_path / "drillpe-run-old", tmp_path / "drillpe-run-young"
    for folder in (old, young):
        (folder / "stage").mkdir(parents=True)
        (folder / "stage" / "rope.py").write_text("secret = 1\n")
    other = tmp_path / "not-drillpe"
    other.mkdir()
    long_ago = time.time() - runner.STALE_RUN_S - 60
    for path in (old, other):
        os.utime(path, (long_ago, long_ago))
    # warm-pool folders are named after the process that made them (pid, start time)
    from drillpe.launch import processes, warm_pool
    pid, start = processes.own_identity()
    ns = os.stat("/proc/self/ns/pid").st_ino
    orphan = tmp_path / f"{warm_pool.POOL_PREFIX}{ns}-{pid}-{start + 1}-x1"  # that start ended
    ours = tmp_path / f"{warm_pool.POOL_PREFIX}{ns}-{pid}-{start}-x2"
    unnamed = tmp_path / f"{warm_pool.POOL_PREFIX}x3"
    # a pid of another pid namespace sharing /tmp names another process (a reviewer's
    # check removed a live watch's folder so); digits int() refuses once crashed grades
    other_ns = tmp_path / f"{warm_pool.POOL_PREFIX}{ns + 1}-{pid}-{start + 1}-x4"
    odd = tmp_path / f"{warm_pool.POOL_PREFIX}\u00b2-1-2-x5"
    for folder in (orphan, ours, unnamed, other_ns, odd):
        (folder / "stage" / "f00d").mkdir(parents=True)
        (folder / "stage" / "f00d" / "rope.py").write_text("secret = 1\n")
        os.chmod(folder / "stage", 0o311)  # as WarmPool makes it
    # a reviewer's: the stage a link to a folder of yours, which the sweep chmodded 0o700
    linked = tmp_path / f"{warm_pool.POOL_PREFIX}{ns}-{pid}-{start + 1}-x6"
    victim = tmp_path / "yours"
    (victim / "inside").mkdir(parents=True)
    os.chmod(victim, 0o755)
    linked.mkdir()
    (linked / "stage").symlink_to(victim)
    runner.sweep_stale_runs()
    assert not old.exists() and young.exists() and other.exists()
    assert not orphan.exists() and not linked.exists()
    assert oct(victim.stat().st_mode & 0o777) == "0o755" and (victim / "inside").is_dir()
    assert ours.exists() and unnamed.exists() and other_ns.exists() and odd.exists()



def test_leftovers_open_up_what_learner_code_locked_and_follow_no_link(tmp_path):
    """A reviewer's read-only folder of 400,000 entries stayed (rmtree could not empty
    it), so every later grade walked it again; a link in a stale folder must never
    pass a chmod on to its target."""
    from drillpe.launch import leftovers

    stale = tmp_path / "drillpe-run-locked"
    (stale / "ro" / "hidden").mkdir(parents=True)
    (stale / "ro" / "hidden" / "f").write_text("x")
    victim = tmp_path / "yours"
    victim.mkdir()
    os.chmod(victim, 0o755)
    (stale / "ro" / "link").symlink_to(victim)
    os.chmod(stale / "ro" / "hidden", 0o311)
    os.chmod(stale / "ro", 0o500)
    leftovers.open_up(str(stale))
    # every folder below is opened up and moved up into the top (no long paths)
    folders = [Path(root) for root, _, _ in os.walk(stale)]
    assert len(folders) == 3 and all(f.parent == stale for f in folders[1:]), folders
    assert {oct(f.stat().st_mode & 0o777) for f in folders} == {"0o700"}
    assert [f.read_text() for f in stale.glob("*/f")] == ["x"]
    assert oct(victim.stat().st_mode & 0o777) == "0o755"
    (stale / "ro" / "hidden").mkdir()
    assert not leftovers.chmod_folder(stale / "ro" / "link", 0o700)
    assert not leftovers.chmod_folder(stale / "ro" / "hidden" / "f", 0o700)  # not a folder
    os.chmod(stale / "ro", 0o500)
    leftovers.remove_tree(stale)
    assert not stale.exists() and victim.is_dir()
    # a reviewer's learner code renamed its grade folder away and linked the name to a
    # folder of yours: the grade's own clean-up chmodded every folder below it 0o700
    (victim / "pub" / "deep").mkdir(parents=True)
    os.chmod(victim / "pub", 0o755)
    swapped = tmp_path / "drillpe-run-swapped"
    swapped.symlink_to(victim)
    leftovers.remove_tree(swapped)
    assert not os.path.lexists(swapped)
    assert oct((victim / "pub").stat().st_mode & 0o777) == "0o755"
    assert (victim / "pub" / "deep").is_dir()


def test_a_folder_too_deep_to_remove_does_not_crash_the_next_grade(tmp_path, monkeypatch):
    """A reviewer nested 3000 folders in a stale grade folder: rmtree raised
    RecursionError (not an OSError) and every later check exited 3. What cannot be
    removed stays; the grade goes on."""
    import shutil
    import time

    from drillpe.launch import runner

    monkeypatch.setattr(runner.tempfile, "gettempdir", lambda: str(tmp_path))
    stale = tmp_path / "drillpe-run-deep"
    stale.mkdir()
    os.utime(stale, (time.time() - runner.STALE_RUN_S - 60,) * 2)
    removed = []

    def too_deep(path, **_):
        removed.append(path)
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(shutil, "rmtree", too_deep)
    runner.sweep_stale_runs()
    assert removed == [str(stale)]


def test_a_fifo_or_device_in_place_of_an_answer_is_named_not_waited_on(isolated_places, capsys):
    """Opening a FIFO to read waits for a writer: every command that reads an
    answer opens it without waiting and names what is there instead."""
    ws = isolated_places["workspace"]
    ws.mkdir(parents=True, exist_ok=True)
    os.mkfifo(ws / "rope.py")
    for args, shown in ((("check", "rope"), ws / "rope.py"),
                        (("check", "rope", "--file", ws / "rope.py"), ws / "rope.py"),
                        (("reveal", "rope", "--diff"), ws / "rope.py"),
                        (("check", "rope", "--file", "/dev/zero"), "/dev/zero")):
        res = cli_run(capsys, *args)
        kind = "a device" if shown == "/dev/zero" else "a FIFO"
        assert res.returncode == 2, (args, res)
        assert f"{shown} is {kind}, not a regular file" in " ".join(res.stderr.split()), res
    with pytest.raises(UsageError, match="is a FIFO, not a regular file"):
        grade(GradeRequest(exercise_id="rope", file=ws / "rope.py"))
    from drillpe.results.history import read_source

    assert read_source(ws / "rope.py") is None  # the text a grade keeps in the history
    res = cli_run(capsys, "start", "rope", "--force")
    assert res.returncode == 2 and "is not a file; move it away first" in res.stderr, res


@needs_ordinary_user
def test_a_locked_folder_deeper_than_any_path_is_removed():
    """A reviewer's grade (under the guard) left folders 25 deep with 200-character
    names, past the system's path limit, the deepest locked (mode 000): chmod by path
    could not reach it, the grade folder stayed, and every later grade tried again."""
    code = (
        "import os, sys, tempfile\n"
        "from drillpe.launch import leftovers\n"
        "top = tempfile.mkdtemp(prefix='drillpe-run-deep-')\n"
        "fd = os.open(top, os.O_RDONLY)\n"
        "for _ in range(25):\n"
        "    os.mkdir('d' * 200, dir_fd=fd)\n"
        "    fd = os.open('d' * 200, os.O_RDONLY, dir_fd=fd)\n"
        "os.mkdir('locked', dir_fd=fd)\n"
        "os.open('locked', os.O_RDONLY, dir_fd=fd)\n"
        "inner = os.open('locked', os.O_RDONLY, dir_fd=fd)\n"
        "os.mkdir('x', dir_fd=inner)\n"
        "os.chmod(f'/proc/self/fd/{inner}', 0)\n"
        "leftovers.remove_tree(top)\n"
        "print('exists', os.path.exists(top))\n")
    res = as_ordinary_user([sys.executable, "-c", code])
    if res.returncode != 0 or "exists" not in res.stdout:
        pytest.skip(f"could not run as another user here: {res.stderr.strip()[-300:]}")
    assert res.stdout.split() == ["exists", "False"], res.stdout
