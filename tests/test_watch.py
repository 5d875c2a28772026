"""Watch mode and the warm graders: re-grading driven by real file changes,
keys, clean exits, and warm grades identical to cold ones."""

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, as_ordinary_user, interruptible, needs_ordinary_user

from drillpe.launch.runner import GradeRequest, grade
from drillpe.launch.warm_pool import WarmPool as WarmLauncher
from drillpe.practice.watch import FileWatcher
from drillpe.results.history import History

FIXTURES = ROOT / "tests" / "fixtures"


def test_file_watcher_sees_writes_renames_and_returns(tmp_path):
    path = tmp_path / "rope.py"
    path.write_text("a")
    watcher = FileWatcher([path])
    assert watcher.changed() == []
    time.sleep(0.01)
    path.write_text("bb")
    assert watcher.changed() == [path]
    assert watcher.changed() == []
    (tmp_path / "new.py").write_text("ccc")
    os.replace(tmp_path / "new.py", path)  # how many editors save
    assert watcher.changed() == [path]
    path.unlink()
    assert watcher.changed() == []  # gone mid-save: nothing to grade
    path.write_text("dddd")
    assert watcher.changed() == [path]


def test_a_save_seen_empty_is_given_time_to_fill(tmp_path):
    """A save that truncates the file and writes it 20 ms later (a writer held off the
    core) was graded empty, then graded again: two scorecards for one save, the first
    for an empty file. settle waits until the file has content (SETTLE_MAX_S at most)."""
    import threading

    from drillpe.practice import watch

    path = tmp_path / "rope.py"
    path.write_text("old")
    watcher = FileWatcher([path])
    time.sleep(0.01)
    path.write_text("")  # truncated: the save's first half
    assert watcher.changed() == [path]
    later = threading.Timer(0.02, path.write_text, args=("new text",))
    later.start()
    watcher.settle(path)
    later.join()
    assert path.read_text() == "new text" and watcher.changed() == []  # seen once, full
    path.write_text("")  # a file emptied for good is graded after SETTLE_MAX_S
    assert watcher.changed() == [path]
    started = time.monotonic()
    watcher.settle(path)
    assert time.monotonic() - started >= watch.SETTLE_MAX_S * 0.9


class Watch:
    """`drillpe watch ... --json` on pipes: one JSON line per grade."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([sys.executable, "-m", "drillpe", "watch", "--json", *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, preexec_fn=interruptible)
        self.buffer = b""

    def next_grade(self, timeout=120) -> dict:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            assert left > 0 and select.select([self.proc.stdout], [], [], left)[0], \
                "no grade from drillpe watch"
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            assert chunk, f"drillpe watch ended: {self.proc.stderr.read().decode()}"
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)


def test_watch_regrades_on_save_and_quits_on_q(isolated_places):
    ws = isolated_places["workspace"]
    ws.mkdir(parents=True)
    target = ws / "sinusoidal.py"
    shutil.copy(ROOT / "exercises" / "sinusoidal" / "stub.py", target)
    watch = Watch("sinusoidal")
    try:
        first = watch.next_grade()
        assert first["exercise"] == "sinusoidal" and not first["passed"]
        assert first["grade"] == 1
        target.write_text((ROOT / "solutions" / "sinusoidal.py").read_text())
        second = watch.next_grade()
        assert second["passed"] and second["score"] == 1.0 and second["grade"] == 2
        target.write_text((FIXTURES / "sinusoidal" / "sin_cos_swapped.py").read_text())
        third = watch.next_grade()
        assert not third["passed"]
        assert any("sinusoidal.sin_cos_swapped" in c["diagnosis"] for c in third["checks"])
        target.write_text((ROOT / "solutions" / "sinusoidal.py").read_text())
        assert watch.next_grade()["passed"]
        watch.proc.stdin.write(b"q\n")
        watch.proc.stdin.flush()
        assert watch.proc.wait(timeout=30) == 0  # the last grade passed
    finally:
        if watch.proc.poll() is None:
            watch.proc.kill()
    history = History(isolated_places["home"])
    events = history.events()["sinusoidal"]
    assert [a.passed for a in events.attempts] == [False, True, False, True]
    assert {a.source for a in events.attempts} == {"watch"}
    assert events.work and events.work[0].source == "watch"


def test_watch_stops_cleanly_on_ctrl_c(isolated_places):
    ws = isolated_places["workspace"]
    ws.mkdir(parents=True)
    shutil.copy(ROOT / "exercises" / "rope" / "stub.py", ws / "rope.py")
    watch = Watch()  # no ID: every started exercise
    try:
        assert watch.next_grade()["exercise"] == "rope"
        watch.proc.send_signal(signal.SIGINT)
        assert watch.proc.wait(timeout=60) == 1  # the stub fails
        assert b"Traceback" not in watch.proc.stderr.read()
    finally:
        if watch.proc.poll() is None:
            watch.proc.kill()


@needs_ordinary_user
def test_a_warm_pool_leaves_nothing_behind_for_an_ordinary_user():
    """The stage folder is not listable (0o311), and root's rmtree never noticed: as
    anyone else, every watch left its pool folder in /tmp."""
    code = ("import pathlib; from drillpe.launch import runner, warm_pool; "
            "pool = warm_pool.WarmPool(start=False); "
            "f = pathlib.Path(pool.stage_root(pool.pool_dir)) / 'a'; f.mkdir(); "
            "(f / 'rope.py').write_text('x = 1'); pool.close(); "
            "print(pool.pool_dir, pool.pool_dir.exists())")
    res = as_ordinary_user([sys.executable, "-c", code])
    if res.returncode != 0 or not res.stdout.strip():
        pytest.skip(f"could not run as another user here: {res.stderr.strip()[-300:]}")
    folder, exists = res.stdout.split()
    assert folder.startswith("/") and exists == "False", res.stdout


def test_watch_needs_a_started_exercise():
    res = subprocess.run([sys.executable, "-m", "drillpe", "watch", "rope"], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 2 and "drillpe start rope" in res.stderr


@pytest.fixture(scope="module")
def launcher():
    with WarmLauncher() as warm:
        yield warm


def correct_file(tmp_path):
    # a copy: the learner process may not read drillpe's own solutions folder
    path = tmp_path / "sinusoidal.py"
    shutil.copy(ROOT / "solutions" / "sinusoidal.py", path)
    return path


def test_warm_workers_come_back_after_being_killed(tmp_path, launcher):
    launcher.wait_ready()
    supervisor = launcher.learner_worker.supervised.proc
    os.kill(supervisor.pid, signal.SIGKILL)
    os.kill(launcher.judge_worker.proc.pid, signal.SIGKILL)
    # The sandbox under a killed supervisor ends with it (its holder's parent-death
    # signal): a grade sent to it in the moment before the kill shows would lose its
    # learner process, so the grade waits until the pool can see the kill
    deadline = time.monotonic() + 10
    while supervisor.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    result = grade(GradeRequest(exercise_id="sinusoidal", file=correct_file(tmp_path)),
                   launcher=launcher)
    # A judge worker killed just before the grade may still take the request (its
    # pipe is not closed yet): the grade then learns it when it asks for the fork's
    # answer, judges with a cold judge, and the next grade gets a new worker.
    again = grade(GradeRequest(exercise_id="sinusoidal", file=correct_file(tmp_path)),
                  launcher=launcher)
    assert result.passed and again.passed and launcher.restarts >= 2, (result.error, again.error)
    assert launcher.judge_worker.alive() and launcher.learner_worker is not None


def _learner_worker_processes(launcher) -> list[int]:
    """The learner worker and the children it forked (inside the sandbox)."""
    found, todo = [], [launcher.learner_worker.supervised.proc.pid]
    while todo:
        pid = todo.pop()
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as fh:
                    todo.extend(int(p) for p in fh.read().split())
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if b"drillpe.grading.warm_worker\0learner" in fh.read():
                    found.append(pid)
        except OSError:
            continue
    return found


def _worker_and_spare(launcher) -> tuple[int, int]:
    """(the learner worker, the child it forked for the next grade), told apart by
    parentage: not by pid order, which wraps (pid_max is 32768 on the CI machine, and
    a run of the suite starts over 2,000 processes)."""
    pids = _learner_worker_processes(launcher)
    parent = {}
    for pid in pids:
        with open(f"/proc/{pid}/stat") as fh:
            parent[pid] = int(fh.read().rsplit(")", 1)[1].split()[1])
    [worker] = [pid for pid in pids if parent[pid] not in pids]
    [spare] = [pid for pid in pids if parent[pid] == worker]
    return worker, spare


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def _verdicts(result):
    return [(c.id, c.status, c.diagnosis) for c in result.checks]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_next_grades_child_is_forked_while_the_worker_is_idle(tmp_path, launcher):
    launcher.wait_ready()
    wrong = FIXTURES / "sinusoidal" / "sin_cos_swapped.py"
    at_once = [grade(GradeRequest(exercise_id="sinusoidal", file=path), launcher=launcher)
               for path in (correct_file(tmp_path), wrong)]  # no child waits for the second
    time.sleep(0.5)
    waiting = _learner_worker_processes(launcher)
    assert len(waiting) == 2, waiting  # the worker, and the child forked for the next grade
    ahead = grade(GradeRequest(exercise_id="sinusoidal", file=wrong), launcher=launcher)
    assert at_once[0].passed and not ahead.passed
    assert _verdicts(ahead) == _verdicts(at_once[1])
    assert "sinusoidal.sin_cos_swapped" in ahead.diagnoses
    # A waiting child that died is replaced: the grade is not blamed on the learner.
    time.sleep(0.5)
    worker, spare = _worker_and_spare(launcher)
    os.kill(spare, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _state(spare) not in ("Z", None):
        time.sleep(0.01)  # dead, not dying: a kill racing the grade's hand-over kills the grade
    again = grade(GradeRequest(exercise_id="sinusoidal", file=correct_file(tmp_path)),
                  launcher=launcher)
    assert again.passed, again.checks
    assert worker in _learner_worker_processes(launcher)


def test_warm_grade_times_out_like_a_cold_one(tmp_path, launcher):
    path = tmp_path / "slow" / "sinusoidal.py"
    path.parent.mkdir()
    path.write_text((ROOT / "solutions" / "sinusoidal.py").read_text().replace(
        "    def forward(self) -> torch.Tensor:\n",
        "    def forward(self) -> torch.Tensor:\n        import time\n"
        "        while True:\n            time.sleep(0.01)\n"))
    started = time.monotonic()
    result = grade(GradeRequest(exercise_id="sinusoidal", file=path, timeout=1.5),
                   launcher=launcher)
    assert time.monotonic() - started < 15
    assert result.error["kind"] == "timeout" and "runtime.timeout" in result.diagnoses
    # and the worker is still good for the next grade
    ok = grade(GradeRequest(exercise_id="sinusoidal", file=correct_file(tmp_path)),
               launcher=launcher)
    assert ok.passed


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminal")
def test_live_watch_in_a_terminal(isolated_places):
    from pty_driver import Terminal

    ws = isolated_places["workspace"]
    ws.mkdir(parents=True)
    target = ws / "rope.py"
    shutil.copy(ROOT / "exercises" / "rope" / "stub.py", target)
    term = Terminal(["watch", "rope"], dict(os.environ, TERM="xterm-256color"))
    try:
        term.expect(r"FAIL\s+rope", 120)
        term.send("h")
        term.expect(r"rope · hint 1 of", 30)
        target.write_text((ROOT / "solutions" / "rope.py").read_text())
        # the status line sits above the scorecard it describes
        term.expect(r"\([\d.]+ s after the save\)", 60)
        term.expect(r"PASS\s+rope", 30)
        term.send("q")
        assert term.wait(30) == 0
        assert "Stopped watching" in term.text()
    finally:
        term.close()
    assert History(isolated_places["home"]).hints_seen("rope") == 0  # passed since the hint


def _watch_screen(result, *, grading=False, hint=None, size=(80, 24)):
    from types import SimpleNamespace

    from rich.console import Console

    from drillpe.render import practice_views as view

    item = SimpleNamespace(exercise="rope", result=result, path=Path("drillpe-workspace/rope.py"),
                           grading=grading, graded_at=1_800_000_000.0, latency_s=0.21, grades=2)
    session = SimpleNamespace(items=[item], focused=item)
    console = Console(width=size[0], height=size[1], color_system=None,
                      file=open(os.devnull, "w"))
    renderable = view.watch_view(session, view.watch_status(item), hint, size=size)
    lines = console.render_lines(renderable, console.options, pad=False)
    return ["".join(seg.text for seg in line) for line in lines]


def _golden_result(name="rope-half-split.json"):
    from drillpe.results.report import ExerciseResult

    data = json.loads((ROOT / "tests" / "golden" / name).read_text())
    return ExerciseResult.from_dict(dict(data, file="drillpe-workspace/rope.py", duration_s=1.0))


def test_the_watch_screen_fits_80x24_with_what_a_learner_needs():
    """The full scorecard is taller than 24 lines; the watch screen is not, and it
    keeps the watched file, the grade's time, the verdict, every failing check and
    the first diagnosis's Why/Fix in sight."""
    from drillpe.render import scorecard_renderable

    result = _golden_result()
    lines = _watch_screen(result)
    text = "\n".join(lines)
    assert len(lines) <= 23
    assert "rope: drillpe-workspace/rope.py · graded " in text
    assert "(0.21 s after the save)" in text
    assert "FAIL" in text and "score 50%" in text
    for check in result.checks:
        if check.status == "fail":
            assert check.title[:40] in text, check.title
    assert "rope.half_split: You rotate" in text and "Fix: " in text
    # failing core checks come before failing extra ones
    titles = [c.title for c in result.checks if c.status == "fail"]
    core_first = [t for t in titles if "bfloat16" not in t]
    assert text.index(core_first[-1][:30]) < text.index("bfloat16/float16")
    from rich.console import Console

    console = Console(width=80, color_system=None, file=open(os.devnull, "w"))
    assert len(console.render_lines(scorecard_renderable(result), console.options)) > 24


def test_a_regrade_in_progress_never_shows_the_old_tick():
    result = _golden_result("rope-correct.json")
    lines = _watch_screen(result, grading=True)
    text = "\n".join(lines)
    assert "✓" not in lines[0] and "✗" not in lines[0] and "…" in lines[0]
    assert "saved, grading…" in lines[1]
    assert "grading your save… the last grade was:" in text


def test_a_hint_and_many_failures_still_fit_and_keep_the_why():
    from rich.text import Text

    from drillpe.results.report import CheckResult

    result = _golden_result()
    many = [CheckResult(id=f"x.{n}", title=f"made-up failing check number {n}", level="core",
                        status="fail", message="max |Δ| 1 at [0]", diagnosis=["rope.half_split"])
            for n in range(30)]
    result.checks = [*result.checks, *many]
    hint = Text("\n".join(f"hint line {n}" for n in range(40)))
    lines = _watch_screen(result, hint=hint)
    text = "\n".join(lines)
    assert len(lines) <= 23
    assert "FAIL" in text and "Fix: " in text
    assert "more failing (q prints the whole scorecard)" in text


def test_quitting_the_live_screen_prints_every_whole_scorecard(monkeypatch):
    """The live screen is compact ("q prints the whole scorecard"): on q the full
    card of each graded file follows, then the line of verdicts."""
    import io
    from types import SimpleNamespace

    from rich.console import Console

    from drillpe.render import practice_views as view

    sink = io.StringIO()
    monkeypatch.setattr(view, "out", Console(file=sink, width=80, color_system=None))
    item = SimpleNamespace(exercise="rope", result=_golden_result())
    view.watch_ended([item], full=True)
    shown = sink.getvalue()
    assert "Why" in shown and "rope.half_split: You rotate" in shown
    assert shown.count("✗ fail") >= 6 and "Stopped watching. Last grades: rope FAIL 50%." in shown
    sink.truncate(0)
    view.watch_ended([item], full=False)
    assert "Why" not in sink.getvalue()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_that_stops_watch_gives_the_clis_exit_code(sig, monkeypatch):
    """SIGTERM and SIGHUP stop the loop as Ctrl-C does (the work time is recorded, the
    workers closed), but the CLI exits 128 + the signal's number, as README promises,
    not with the last verdict's code."""
    from types import SimpleNamespace

    from drillpe.launch import processes
    from drillpe.practice import watch as watching

    monkeypatch.setattr(processes, "received_signal", 0)
    graded = []

    def grade_item(item):
        graded.append(item.exercise)
        os.kill(os.getpid(), sig)
        time.sleep(5)  # the handler raises before this ends
        raise AssertionError("the signal did not stop the loop")

    session = watching.Session([watching.Item("rope", Path("rope.py"))], grade_item, None)
    keys = SimpleNamespace(poll=lambda timeout: None)
    watching.run(session, keys, live=False, as_json=True, quiet=True, show_hint=None)
    assert graded == ["rope"] and processes.received_signal == sig
    assert signal.getsignal(sig) is not watching.interrupt_on_signals._raise


@pytest.mark.parametrize("grading", [False, True])
def test_the_scorecard_and_the_watch_screen_keep_code_and_units_whole(grading):
    """Where rich broke them: the Fix's code after "x[...," at 80 columns, and the
    verdict's "1.00 s" at the width where the line is one cell too long."""
    from rich.console import Console

    from drillpe.render import scorecard_renderable, verdict_line

    result = _golden_result()
    code = "x2 = stack([-x[..., 1::2], x[..., 0::2]], -1).reshape(x.shape)."
    parts = [part.strip() for part in verdict_line(result).plain.split("·")]
    for width in (80, len(verdict_line(result).plain) - 1):
        screens = [_watch_screen(result, grading=grading, size=(width, 60))]
        if not grading:
            console = Console(width=width, color_system=None, file=open(os.devnull, "w"))
            screens.append(["".join(seg.text for seg in line) for line in console.render_lines(
                scorecard_renderable(result), console.options, pad=False)])
        for lines in screens:
            assert any(code in line for line in lines), (width, lines)
            # while grading, the first part carries "grading your save… the last grade
            # was:" and is wider than the line: it breaks at its own spaces
            for part in parts[1:] if grading else parts:
                assert any(part in line for line in lines), (width, part, lines)
            fix = next(i for i, line in enumerate(lines) if "Fix: " in line)
            assert lines[fix + 1].startswith("    x2 = ") or code in lines[fix]  # it hangs


def test_a_long_hint_footer_is_inside_the_watch_panel_not_cut_at_its_border():
    from rich.console import Console

    from drillpe.data import catalog
    from drillpe.render import hint_panel

    console = Console(width=80, color_system=None, file=open(os.devnull, "w"))
    lines = ["".join(seg.text for seg in line) for line in console.render_lines(
        hint_panel(catalog.get("rope"), 3), console.options, pad=False)]
    said = " ".join(" ".join(line.strip("│╰╯─ ").split()) for line in lines)
    assert "The parts (table, mask, dropout, attention) have hints of their own: drillpe hint " \
           "rope --part table ;" in said, lines


def test_h_after_a_parts_last_hint_says_which_hints_come_next():
    from rich.console import Console

    from drillpe.data import catalog
    from drillpe.render import practice_views as view

    ladders = catalog.hint_ladders("rope")
    table = next(ladder for ladder in ladders if ladder.part == "table")
    console = Console(width=100, color_system=None, file=open(os.devnull, "w"))
    lines = ["".join(seg.text for seg in line) for line in console.render_lines(
        view.hint_panel(catalog.get("rope"), 2, table, then=(ladders[0], 1)), console.options,
        pad=False)]
    assert "h again: the general hints, level 1 of 3" in lines[-1], lines
    last = view.hint_panel(catalog.get("rope"), 2, table, then=None)
    lines = ["".join(seg.text for seg in line) for line in console.render_lines(
        last, console.options, pad=False)]
    assert "That was the last hint." in lines[-1]
