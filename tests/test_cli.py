"""The command line as a user drives it: exit codes, files, JSON (cli.md)."""

import json
import os
import sys

import pytest
from conftest import FIXTURES, ROOT, SWAPPED, cli_in_process, cli_run, run_cli


def test_help_and_version():
    res = run_cli("--help")
    assert res.returncode == 0
    for command in ("list", "start", "check", "hint", "reveal", "reset"):
        assert command in res.stdout
    res = run_cli("--version")
    assert res.returncode == 0 and res.stdout.startswith("drillpe ")


def test_python_m_matches_console_script():
    import subprocess

    res = subprocess.run([sys.executable, "-m", "drillpe", "list", "--json"],
                         capture_output=True, text=True)
    assert res.returncode == 0
    ids = [e["id"] for e in json.loads(res.stdout)["exercises"]]
    assert ids[:4] == ["sinusoidal", "learnable", "relative", "rope"]


def test_list_shows_started(cli, isolated_places):
    assert cli("start", "rope").returncode == 0
    data = json.loads(cli("list", "--json").stdout)
    started = {e["id"]: e["started"] for e in data["exercises"]}
    assert started["rope"] is True and started["sinusoidal"] is False


def test_start_writes_stub_and_never_overwrites(cli, isolated_places):
    ws = isolated_places["workspace"]
    res = cli("start", "sinusoidal")
    assert res.returncode == 0, res.stderr
    target = ws / "sinusoidal.py"
    assert "raise NotImplementedError" in target.read_text()

    target.write_text("# my precious work\n")
    res = cli("start", "sinusoidal")
    assert res.returncode == 2
    assert "already exists" in res.stderr
    assert target.read_text() == "# my precious work\n"


def test_start_force_backs_up_and_says_where(cli, isolated_places):
    ws = isolated_places["workspace"]
    cli("start", "rope")
    (ws / "rope.py").write_text("# attempt one\n")
    res = cli("start", "rope", "--force")
    assert res.returncode == 0, res.stderr
    backups = list(ws.glob("rope.backup-*.py"))
    assert len(backups) == 1
    assert backups[0].read_text() == "# attempt one\n"
    assert backups[0].name in res.stdout
    assert "raise NotImplementedError" in (ws / "rope.py").read_text()


def test_reset_backs_up(cli, isolated_places):
    ws = isolated_places["workspace"]
    cli("start", "learnable")
    (ws / "learnable.py").write_text("# half done\n")
    assert cli("reset", "learnable").returncode == 0
    assert [p.read_text() for p in ws.glob("learnable.backup-*.py")] == ["# half done\n"]


def test_unknown_exercise_is_usage_error_with_suggestion(cli):
    res = cli("start", "rop")
    assert res.returncode == 2
    assert "Unknown exercise 'rop'" in res.stderr and "rope" in res.stderr


def test_check_missing_file_is_usage_error(cli):
    res = cli("check", "rope")
    assert res.returncode == 2
    assert "drillpe start rope" in res.stderr


def test_check_nothing_started_is_usage_error(cli):
    res = cli("check")
    assert res.returncode == 2
    assert "nothing to check" in res.stderr


def test_bad_option_is_usage_error(cli):
    assert cli("check", "--device", "tpu").returncode == 2
    assert cli("hint", "rope", "--level", "99").returncode == 2


def test_a_hint_that_does_not_exist_is_said_in_the_chosen_language(cli):
    """A level or a part that does not exist: the usage error speaks the --lang asked for
    (a reviewer's `hint rope --level 9 --lang zh` answered in English)."""
    deep = cli("hint", "rope", "--part", "mask", "--level", "3", "--lang", "zh")
    assert deep.returncode == 2
    said = " ".join(deep.stderr.split())
    assert "rope 关于 mask 的提示共有 2 级（1 到 2）。" in said, said
    assert "第 3 级在这些分项的提示里：general" in said
    assert "drillpe hint rope --part general --level 3" in said and "hint levels" not in said
    assert said.startswith("错误：rope"), said  # the label too ("error:" before Chinese)
    nope = cli("hint", "rope", "--part", "nope", "--lang", "zh")
    assert nope.returncode == 2 and "没有关于“nope”的提示（分项：general、table、mask" in \
        " ".join(nope.stderr.split())
    unknown = cli("hint", "rpoe", "--lang", "zh")
    assert unknown.returncode == 2
    # a Chinese list is separated with 、 (a reviewer's read "rope, rope_2d")
    assert "错误：没有名为“rpoe”的练习。你是不是想输入 rope、rope_2d？已有的练习：sinusoidal、" in \
        " ".join(unknown.stderr.split())
    english = cli("hint", "rope", "--level", "9")
    assert "error: rope has 3 hint levels (1 to 3)." in " ".join(english.stderr.split())


def test_check_json_pass_and_fail(isolated_places, warm_grading, capfd):
    """What --json says (in this process, graded on the shared warm workers: the document
    does not depend on how the grade ran; capfd, so that stdout is what reaches fd 1;
    test_sandbox.py's test_json_stdout_is_one_document_whatever_the_learner_prints runs a
    whole CLI)."""
    ws = isolated_places["workspace"]
    ws.mkdir(parents=True)
    (ws / "sinusoidal.py").write_text((FIXTURES / "sinusoidal" / "seed_code.py").read_text())
    (ws / "learnable.py").write_text("def broken(:\n    pass\n")

    res = cli_run(capfd, "check", "sinusoidal", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)  # exactly one JSON document on stdout
    assert doc["schema"] == 1
    [result] = doc["results"]
    assert result["passed"] is True and result["error"] is None
    assert result["exercise"] == "sinusoidal" and result["device"] == "cpu"
    for check in result["checks"]:
        assert check["status"] in ("pass", "fail", "error", "skip")
        assert check["level"] in ("core", "extra")
        assert set(check) >= {"id", "title", "level", "status", "message", "diagnosis", "case"}

    res = cli_run(capfd, "check", "--json")  # every started exercise
    assert res.returncode == 1
    doc = json.loads(res.stdout)
    by_id = {r["exercise"]: r for r in doc["results"]}
    assert set(by_id) == {"sinusoidal", "learnable"}
    assert by_id["learnable"]["error"]["kind"] == "syntax"
    assert any("syntax.error" in c["diagnosis"] for c in by_id["learnable"]["checks"])


def test_check_file_option_and_scorecard(scratch_check):
    res, _ = scratch_check
    assert res.returncode == 1
    assert "FAIL" in res.stdout and "sinusoidal.sin_cos_swapped" in res.stdout
    assert "Fix:" in res.stdout
    assert "\x1b[" not in res.stdout  # no colour codes when not a terminal, NO_COLOR unset
    # nor a status line (test_check_shows_a_status_line_on_a_terminal_only)
    assert "grading" not in res.stdout + res.stderr


def attempts_of(listed: str) -> int:
    rows = json.loads(listed)["exercises"]
    return next(row["attempts"] for row in rows if row["id"] == "sinusoidal")


def test_only_the_workspace_file_counts_as_an_attempt(isolated_places, scratch_check,
                                                      warm_grading, capsys):
    """What history records does not depend on how the grade ran: past the scratch run
    (a real CLI process, shared with test_check_file_option_and_scorecard), the checks
    run in process on the warm workers."""
    def attempts():
        code, listed = cli_in_process(capsys, "list", "--json")
        assert code == 0
        return attempts_of(listed)

    scratch, listed = scratch_check
    assert scratch.returncode == 1 and "Not recorded in your history" in scratch.stdout
    # a plain `drillpe hint` would follow the workspace file's grade: the ladder is named
    assert "Stuck? drillpe hint sinusoidal --part general" in scratch.stdout
    assert listed.returncode == 0 and attempts_of(listed.stdout) == 0
    assert attempts() == 0
    assert cli_in_process(capsys, "start", "sinusoidal")[0] == 0
    mine = isolated_places["workspace"] / "sinusoidal.py"
    assert cli_in_process(capsys, "check", "sinusoidal")[0] == 1
    assert attempts() == 0  # the untouched stub is not a try (stats)
    mine.write_text(SWAPPED.read_text())
    code, said = cli_in_process(capsys, "check", "--file", mine, "sinusoidal")  # the same file
    assert code == 1 and "Stuck? drillpe hint sinusoidal\n" in said  # recorded: plain hint
    assert attempts() == 1
    assert cli_in_process(capsys, "check", "sinusoidal")[0] == 1
    assert attempts() == 1  # unchanged since its last check: no new try
    mine.write_text(SWAPPED.read_text() + "# a comment alone changes no code\n")
    assert cli_in_process(capsys, "check", "sinusoidal")[0] == 1
    assert attempts() == 1
    mine.write_text(SWAPPED.read_text() + "EDITED = True\n")
    assert cli_in_process(capsys, "check", "sinusoidal")[0] == 1
    assert attempts() == 2


def test_check_cuda_unavailable_is_clear(isolated_places):
    import importlib.util

    torch_spec = importlib.util.find_spec("torch")
    assert torch_spec is not None
    ws = isolated_places["workspace"]
    run_cli("start", "sinusoidal")
    res = run_cli("check", "sinusoidal", "--device", "cuda")
    import torch

    if torch.cuda.is_available():
        assert res.returncode in (0, 1)
    else:
        assert res.returncode == 2
        assert "CUDA is not available" in res.stderr
    assert (ws / "sinusoidal.py").exists()


def test_timeout_is_a_failed_check_not_a_crash(tmp_path):
    learner = tmp_path / "sinusoidal.py"
    learner.write_text(
        "import torch\nfrom torch import nn\n"
        "class SinPositionEncoding(nn.Module):\n"
        "    def __init__(self, max_sequence_length, d_model, base=10000.0):\n"
        "        super().__init__()\n"
        "    def forward(self):\n"
        "        import time\n"
        "        while True:  # stuck, without burning a core the other tests need\n"
        "            time.sleep(0.01)\n")
    # 8 s: on a loaded machine, importing torch alone can take most of 4 s, and
    # the code must have reached forward() for the traceback to show it
    res = run_cli("check", "--file", learner, "--timeout", "8", "--json")
    assert res.returncode == 1, res.stderr
    [result] = json.loads(res.stdout)["results"]
    assert result["error"]["kind"] == "timeout"
    assert any("runtime.timeout" in c["diagnosis"] for c in result["checks"])
    # and it says where the code was when the time ran out
    stuck = [line for c in result["checks"] for line in c.get("traceback", [])]
    assert any(line.startswith("line ") and "in forward" in line for line in stuck), stuck


def test_hint_levels_progress(cli):
    first = cli("hint", "rope")
    assert first.returncode == 0 and "hint 1 of 3" in first.stdout
    second = cli("hint", "rope")
    assert "hint 2 of 3" in second.stdout
    third = cli("hint", "rope", "--level", "3")
    assert "hint 3 of 3" in third.stdout


def test_hints_stay_on_the_mistake_a_later_check_only_inherits(warm):
    """A half-split RoPE makes rope's attention checks fail too, though its attention
    is right for what RoPE returns: the judge names them rope.half_split, and hints
    stay on RoPE (a newcomer's plain `drillpe hint` moved on to the attention part's
    hints once the general ones were climbed). Attention's own mistake keeps its part."""
    from drillpe.launch.runner import GradeRequest, grade
    from drillpe.results.events import Attempt

    inherited = grade(GradeRequest("rope", FIXTURES / "rope" / "half_split.py"), launcher=warm)
    failing = {c.id: c.diagnosis for c in inherited.failing_checks}
    assert failing["attention.matches_reference"] == ["rope.half_split"], failing
    assert inherited.hint_checks == ["rope.matches_reference"], failing
    assert Attempt.from_result(inherited, 1.0).failed_checks == inherited.hint_checks
    seen = {"": 3}  # the general ladder climbed: no other ladder is about what fails
    assert catalog_next("rope", inherited.hint_checks, seen) is None
    assert catalog_next("rope", [c.id for c in inherited.failing_checks], seen)[0].part \
        == "attention"  # as it was

    own = grade(GradeRequest("rope", FIXTURES / "rope" / "mask_ignored.py"), launcher=warm)
    assert own.hint_checks[0] == "attention.mask" and "attention.mask_ignored" in own.diagnoses
    # a stub: every check "not implemented", a generic code that proves nothing inherited
    stub = grade(GradeRequest("rope", ROOT / "exercises" / "rope" / "stub.py"), launcher=warm)
    assert stub.hint_checks == [c.id for c in stub.failing_checks]


def catalog_next(exercise_id, failing, seen):
    from drillpe.data import catalog

    return catalog.next_hint(exercise_id, failing, lambda part: seen.get(part, 0))


def test_hint_follows_the_part_that_fails_and_keeps_one_counter_per_part(cli, isolated_places):
    """After a check whose first failure is the mask, `drillpe hint` climbs the
    mask's ladder; the general ladder keeps its own place; watch's `h` reads and
    writes the same counters (History.hints_seen(exercise, part))."""
    from drillpe.results.history import Attempt, History

    history = History(isolated_places["home"])
    history.record_attempt(Attempt("rope", 1.0, False, 0.9,
                                   failed_checks=["attention.mask", "attention.dropout"]))
    first = cli("hint", "rope")
    assert first.returncode == 0 and "hint 1 of 2 · about the mask" in first.stdout
    assert "masked_fill" not in first.stdout
    # the next one of the same ladder, whatever fails by then (a newcomer's `--part
    # attention` hint pointed at the general ladder)
    assert "drillpe hint rope --part mask (level 2 of 2)" in first.stdout, first.stdout
    second = cli("hint", "rope")
    assert "hint 2 of 2 · about the mask" in second.stdout and "masked_fill" in second.stdout
    # the last of the mask's hints names what a plain `drillpe hint rope` shows next: the
    # next failing part's hints (a newcomer's plain hint repeated a part's last hint while
    # other failing parts had hints unseen)
    assert "That was the last hint about the mask. Next: drillpe hint rope (about dropout, " \
           "level 1 of 2)" in second.stdout, second.stdout
    assert "hint 1 of 2 · about dropout" in cli("hint", "rope").stdout
    dropout = cli("hint", "rope")
    assert "hint 2 of 2 · about dropout" in dropout.stdout
    # every failing check is a part's, and those are climbed: the general ladder comes
    # next (a newcomer's t5_bias never reached it; a footer sent them to its level 3)
    # (one line, never broken by drillpe: the terminal folds it, a copy keeps the command)
    assert "That was the last hint about dropout. Next: drillpe hint rope (the general " \
           "hints, level 1 of 3)" in dropout.stdout, dropout.stdout
    general = cli("hint", "rope")
    assert "hint 1 of 3" in general.stdout and "about" not in general.stdout
    assert "Next: drillpe hint rope (level 2 of 3)" in general.stdout, general.stdout
    deep = cli("hint", "rope", "--part", "mask", "--level", "3")  # the mask's ladder has two
    assert deep.returncode == 2 and "drillpe hint rope --part general --level 3" in deep.stderr
    again = History(isolated_places["home"])
    assert again.hints_seen("rope", "mask") == 2 and again.hints_seen("rope", "") == 1
    # once the general ladder's level 3 is seen, the mask's last hint no longer sends there
    deepest = cli("hint", "rope", "--part", "general", "--level", "3")
    assert deepest.returncode == 0
    # every ladder about what fails (mask, dropout) is climbed: the reference is next, not
    # the parts' hints (helper-145 was sent to the hints of a table that passed)
    assert "That was the last hint. drillpe reveal rope" in deepest.stdout, deepest.stdout
    # before any grade says what fails, its code is RoPE alone: it says so, and where the
    # other parts' hints are (a newcomer pasted it and got 50% without knowing why)
    fresh = cli("hint", "rope", "--part", "general", "--level", "3",
                env={"DRILLPE_HOME": str(isolated_places["home"].parent / "fresh-home")})
    assert "not the whole exercise" in fresh.stdout, fresh.stdout
    assert "drillpe hint rope --part table ;" in fresh.stdout
    assert "The parts (table, mask, dropout, attention)" in " ".join(fresh.stdout.split())
    # every ladder climbed: a part's last hint says so, and where the reference is
    last = cli("hint", "rope", "--part", "mask", "--level", "2")
    assert "--part general" not in last.stdout and "drillpe reveal rope" in last.stdout, \
        last.stdout
    assert "That was the last hint." in last.stdout
    bad = cli("hint", "rope", "--part", "nope")
    assert bad.returncode == 2 and "parts: general, table, mask" in bad.stderr


def test_reveal_raw_is_plain_source(cli, tmp_path):
    res = cli("reveal", "sinusoidal", "--raw")
    assert res.returncode == 0
    compile(res.stdout, "reference.py", "exec")  # nothing but source
    assert "class SinPositionEncoding" in res.stdout


def test_reveal_diff(cli, isolated_places):
    cli("start", "sinusoidal")
    res = cli("reveal", "sinusoidal", "--diff")
    assert res.returncode == 0
    assert "+++ reference/sinusoidal.py" in res.stdout
    assert "-        raise NotImplementedError" in res.stdout


def diff_body(stdout: str) -> list[str]:
    """The +/- lines of `reveal --diff`, headers left out."""
    return [line for line in stdout.splitlines()
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_reveal_diff_of_a_half_split_answer_is_code_only(cli, isolated_places):
    # The half-split answer as a learner has it: the stub's docstring on top, then the code.
    ws = isolated_places["workspace"]
    cli("start", "rope")
    stub = (ws / "rope.py").read_text()
    docstring = stub[:stub.index('"""', 3) + 3]
    half_split = (FIXTURES / "rope" / "half_split.py").read_text()
    (ws / "rope.py").write_text(docstring + "\n" + half_split)
    via_workspace = cli("reveal", "rope", "--diff")
    via_file = cli("reveal", "rope", "--diff", "--file", FIXTURES / "rope" / "half_split.py")
    for res in (via_workspace, via_file):
        assert res.returncode == 0, res.stderr
        body = diff_body(res.stdout)
        # the lines that differ in code, on both sides
        assert "-    return torch.cat((-x2, x1), dim=-1)" in body
        assert "-    return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin" in body
        assert "+    return rotate(q).to(q.dtype), rotate(k).to(k.dtype)" in body
        # and not the docstring noise, the comments, nor the grader's switches
        assert not [line for line in body if "#" in line], body
        assert not [line for line in body if '"""' in line and line.strip("+- ") != '"""..."""']
        for noise in ("RoPE encodes position", "Angles reach", "expect:", "GPT-NeoX",
                      "invert_mask", "mask_after_softmax", "fill="):
            assert noise not in res.stdout, noise
        # code both files share is context, not a difference
        assert "     if mask is not None:" in res.stdout.splitlines()
    # The stub's module docstring and the model answer's collapse to the same line.
    assert '+"""..."""' not in diff_body(via_workspace.stdout)


def test_reveal_diff_of_the_model_answer_with_other_comments_is_empty(cli, tmp_path):
    from drillpe.data import bundle

    source = bundle.solution_path("alibi").read_text()
    mine = tmp_path / "alibi.py"
    mine.write_text('"""My ALiBi."""\n# written from memory\n' +
                    source[source.index('"""', 3) + 3:].replace("\n\n\n", "\n# ---\n\n"))
    res = cli("reveal", "alibi", "--diff", "--file", mine)
    assert res.returncode == 0 and "is the same as the reference's" in res.stdout, res.stdout
    assert cli("reveal", "alibi", "--file", mine).returncode == 2  # --file goes with --diff


CODE_LINES_SOURCE = '''"""Module

docstring."""
import math  # noqa


class A:
    """One line."""
    x = "not a docstring"  # but a comment
    def f(self):
        # a comment line
        \'\'\'two
        lines\'\'\'
        return "#" + """a
b"""
'''


def test_code_lines_collapses_docstrings_and_drops_comments():
    from drillpe.render import code_lines

    assert code_lines(CODE_LINES_SOURCE) == [
        (1, '"""..."""'), (4, "import math"), (7, "class A:"), (8, '    """..."""'),
        (9, '    x = "not a docstring"'), (10, "    def f(self):"), (12, '        """..."""'),
        (14, '        return "#" + """a'), (15, 'b"""')]
    # a file that does not tokenize keeps its lines
    assert code_lines("def broken(:\n    '''x\n") == [(1, "def broken(:"), (2, "    '''x")]


def test_reset_of_an_untouched_stub_needs_no_backup(cli, isolated_places):
    ws = isolated_places["workspace"]
    cli("start", "rope")
    assert cli("reset", "rope").returncode == 0
    assert list(ws.glob("rope.backup-*.py")) == []


def test_started_files_get_ordinary_permissions(cli, isolated_places):
    import os

    cli("start", "sinusoidal")
    mode = (isolated_places["workspace"] / "sinusoidal.py").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_check_file_that_is_a_folder_is_usage_error(cli, tmp_path):
    res = cli("check", "rope", "--file", tmp_path)
    assert res.returncode == 2 and "is a folder" in res.stderr


def test_last_hint_code_is_shown_line_by_line_in_a_pipe():
    from drillpe.data import catalog

    res = run_cli("hint", "rope", "--level", "3", env={"COLUMNS": "100"})
    assert res.returncode == 0 and "\x1b" not in res.stdout
    # the code lines of the hint, dedented by the 4 spaces that mark them as code
    expected = [line[4:] for line in catalog.get("rope").hints[2].splitlines()
                if line.startswith("    ")]
    assert len(expected) >= 5
    rows = iter(row.rstrip() for row in res.stdout.splitlines())
    assert all(line in rows for line in expected), res.stdout  # each on a row, in order


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_hints_code_can_be_copied_line_for_line_from_a_narrow_terminal(lang, monkeypatch):
    """A newcomer copied a hint's code from an 80-column terminal and got lines broken
    inside a panel, borders included: it no longer parsed. Now each code line is one
    line of output at any width (the terminal folds it; a copy joins it again), and
    the code block as shown parses. In this process: one console, 40 columns."""
    import ast
    import io

    from rich.console import Console

    from drillpe import render
    from drillpe.data import catalog

    monkeypatch.setenv("DRILLPE_LANG", lang)
    blocks = 0
    for eid in catalog.ids():
        exercise = catalog.get(eid)
        for ladder in catalog.hint_ladders(eid):
            for level, text in enumerate(ladder.hints, 1):
                sink = io.StringIO()
                monkeypatch.setattr(render, "out", Console(file=sink, width=40))
                render.hint(exercise, level, ladder if ladder.part else None)
                shown = sink.getvalue().splitlines()
                for code, body in render.hint_blocks(text):
                    if not code:
                        continue
                    blocks += 1
                    lines = body.splitlines()
                    at = next((i for i, row in enumerate(shown) if row.rstrip() == lines[0]),
                              None)
                    assert at is not None, (eid, ladder.part, level, lines[0])
                    copied = [row.rstrip() for row in shown[at:at + len(lines)]]
                    assert copied == [line.rstrip() for line in lines], (eid, ladder.part, level)
                    ast.parse("\n".join(copied))
    assert blocks >= 10


def test_code_in_a_hints_prose_is_not_broken_inside_its_brackets(monkeypatch):
    """helper-141 read `stack([-x[..., 1::2], x[..., 0::2]], ` at the end of one line of
    rope's second hint and `-1).reshape(x.shape)` on the next, at 100 columns, while the
    README says code in a hint is never broken: rich broke English prose at any space.
    Now a bracketed span of a hint's prose that fits a line stays on one line, at 80
    and 100 columns, in every hint of every exercise (English: Chinese was already)."""
    import io
    import re

    from rich.console import Console

    from drillpe import render
    from drillpe.data import catalog

    spans = 0
    for width in (80, 100):
        for eid in catalog.ids():
            exercise = catalog.get(eid)
            for ladder in catalog.hint_ladders(eid):
                for level, text in enumerate(ladder.hints, 1):
                    sink = io.StringIO()
                    monkeypatch.setattr(render, "out", Console(file=sink, width=width))
                    render.hint(exercise, level, ladder if ladder.part else None)
                    shown = " ".join(sink.getvalue().split())
                    rows = [row.strip() for row in sink.getvalue().splitlines()]
                    for code, body in render.hint_blocks(text):
                        if code:
                            continue
                        # calls with an index in them (code), that fit a line
                        for span in re.findall(r"\w+\((?:[^()]|\([^()]*\))*\)", body):
                            if "[" not in span or len(span) > width - 4:
                                continue
                            spans += 1
                            assert " ".join(span.split()) in shown
                            assert any(span in row for row in rows), (eid, level, width, span)
    assert spans >= 4


def test_a_hints_prose_fills_its_lines_and_its_heading_keeps_the_parts_whole(monkeypatch):
    """helper-144 at 60 columns: rope's second hint ended a line at "lines up with the",
    since "and" was bound to its neighbours as Python's operator ("pairs, and write" one
    unit), and the heading broke inside "(parts: ..., attention)". Prose words that are
    Python operators bind only between code ("r > 0 and r < L"); prose with no code
    fills its lines as plain greedy wrapping does; the heading's bracket stays whole."""
    import io
    import textwrap

    from rich.console import Console

    from drillpe import render
    from drillpe.data import catalog
    from drillpe.render.cjk_wrap import wrap_line

    prose = ("Build the table, repeat each column twice with repeat_interleave so it lines "
             "up with the pairs, and write the rotation in or out of place, not in a loop")
    for width in (40, 60, 80):
        assert wrap_line(prose, width, brackets=True) == textwrap.wrap(prose, width)
    assert "r > 0 and r < L" in wrap_line("keep the rows where r > 0 and r < L " + "x" * 30,
                                          32, brackets=True)
    rope = catalog.get("rope")
    assert any(line.endswith("lines up with the pairs, and")
               for line in wrap_line(rope.hints[1], 60, brackets=True))
    sink = io.StringIO()
    monkeypatch.setattr(render, "out", Console(file=sink, width=60))
    render.hint(rope, 1, None)
    heading = sink.getvalue().splitlines()[:2]
    assert heading == ["rope · hint 1 of 3 · general", "(parts: table, mask, dropout, attention)"]


def test_the_workspace_is_found_from_a_subfolder_and_never_doubled(isolated_places, tmp_path,
                                                                  monkeypatch, capsys):
    """Like git: from a subfolder of the project (or inside the workspace) drillpe
    finds ./drillpe-workspace above; from an unrelated folder it says where the
    file was started and never advises `start`, which would write a second stub.
    In this process, from each folder in turn (11 CLI processes fewer): the search
    starts from the working folder, whoever asks."""
    monkeypatch.setenv("DRILLPE_WORKSPACE", "")

    def run_in(folder, *args):
        monkeypatch.chdir(folder)
        return cli_run(capsys, *args)

    project = tmp_path / "project"
    (project / "src" / "deep").mkdir(parents=True)
    assert run_in(project, "start", "rope").returncode == 0
    mine = project / "drillpe-workspace" / "rope.py"
    for folder in (project / "src" / "deep", project / "drillpe-workspace"):
        res = run_in(folder, "reveal", "rope", "--diff")
        assert res.returncode == 0, res.stderr
        res = run_in(folder, "start", "rope")
        assert res.returncode == 2 and "already exists" in res.stderr
    # a missing file named with --file is that file (helper-141's was blamed on where
    # rope was started, from the very folder it was started in)
    for args in (("reveal", "rope", "--diff"), ("check", "rope"), ("bench", "rope")):
        res = run_in(project, *args, "--file", "nope.py")
        said = " ".join(res.stderr.split())
        assert res.returncode == 2 and "no such file: nope.py" in said, (args, said)
        assert "started" not in said, (args, said)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for args in (("check", "rope"), ("check",), ("watch", "rope"), ("reveal", "rope", "--diff"),
                 ("bench", "rope")):
        res = run_in(elsewhere, *args)
        assert res.returncode == 2, (args, res.stderr)
        said = " ".join(res.stderr.split())
        assert str(mine.parent) in said and "drillpe start" not in said, (args, said)
    assert not (elsewhere / "drillpe-workspace").exists()
    # never started anywhere: then `start` is the right advice
    res = run_in(elsewhere, "check", "alibi")
    assert res.returncode == 2 and "drillpe start alibi" in res.stderr


def test_start_in_a_new_workspace_says_where_the_other_one_is(isolated_places, tmp_path,
                                                                monkeypatch, capsys):
    """helper-141's `drillpe start sinusoidal` from a sibling folder quietly began a second
    drillpe-workspace, while check, hint and bench from there say where the first is."""
    monkeypatch.setenv("DRILLPE_WORKSPACE", "")
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    monkeypatch.chdir(first)
    res = cli_run(capsys, "start", "rope")
    assert res.returncode == 0 and "new workspace" not in res.stdout
    monkeypatch.chdir(second)
    res = cli_run(capsys, "start", "sinusoidal")
    said = " ".join(res.stdout.split())
    assert res.returncode == 0 and "This started a new workspace" in said, said
    assert f"-w {first / 'drillpe-workspace'}" in said
    res = cli_run(capsys, "start", "alibi")  # the same workspace again: nothing to say
    assert res.returncode == 0 and "new workspace" not in res.stdout
    # a third: the one written to last is named, the others after it (helper-144 was
    # told of one workspace where there were two)
    os.utime(first / "drillpe-workspace" / "rope.py", (2e9, 2e9))
    third = tmp_path / "third"
    third.mkdir()
    monkeypatch.chdir(third)
    said = " ".join(cli_run(capsys, "start", "t5_bias").stdout.split())
    assert f"are in {first / 'drillpe-workspace'} (the one you wrote to last)" in said, said
    assert f"also in {second / 'drillpe-workspace'}." in said, said
    # a workspace named with -w is meant (no note), and the next command names it too
    # (helper-144's `start -w` was told `drillpe check ID`, which graded another file)
    mine = tmp_path / "mine"
    res = cli_run(capsys, "start", "relative", "-w", mine)
    said = " ".join(res.stdout.split())
    assert res.returncode == 0 and "new workspace" not in said, said
    assert f"drillpe check relative -w {mine}" in said, said


def test_check_messages_a_newcomer_needs(isolated_places, tmp_path, warm_grading, capsys):
    """A path where an id goes says to use the id or --file; a --file names its
    exercise through the stub's own `drillpe check ID` line; an empty workspace
    file suggests reset; a pass says what to do next. The messages do not depend on how
    the grade ran: that check runs in process, on the warm workers (capsys is no
    terminal either: no status line)."""
    from pathlib import Path

    from drillpe.commands.core import _exercise_of

    for given in ("rope.py", "drillpe-workspace/rope.py"):
        res = run_cli("check", given)
        assert res.returncode == 2
        said = " ".join(res.stderr.split())
        assert "give the exercise id (drillpe check rope)" in said
        assert f"drillpe check rope --file {given}" in said
    answer = tmp_path / "my_answer.py"
    answer.write_text((ROOT / "exercises" / "alibi" / "stub.py").read_text())
    assert _exercise_of(answer) == "alibi"
    assert _exercise_of(Path(tmp_path / "rope.backup-20261203T101010.py")) == "rope"
    answer.write_text("print('hello')\n")
    assert _exercise_of(answer) is None

    ws = isolated_places["workspace"]
    ws.mkdir(parents=True)
    (ws / "sinusoidal.py").write_text((ROOT / "solutions" / "sinusoidal.py").read_text())
    (ws / "learnable.py").write_text("\n")
    code, out = cli_in_process(capsys, "check", "sinusoidal", "learnable")
    assert code == 1
    out = " ".join(out.split())
    # learnable.py is there: next (and so check) says to work on it, not to start it
    assert "Next: drillpe watch learnable — never practised." in out and "grading" not in out
    assert "learnable.py is empty: drillpe reset learnable puts the stub back" in out


def test_check_shows_a_status_line_on_a_terminal_only(isolated_places):
    """On a terminal a transient line says which exercise and which check is
    running; in a pipe (test_check_file_option_and_scorecard) nothing of it."""
    import os

    from pty_driver import Terminal

    ws = isolated_places["workspace"]
    ws.mkdir(parents=True)
    (ws / "rope.py").write_text((ROOT / "solutions" / "rope.py").read_text())
    term = Terminal(["check", "rope"], dict(os.environ, TERM="xterm-256color",
                                            PYTHONPATH=str(ROOT)))
    try:
        term.expect(r"grading rope: check \d+ of 12: ", 120)
        term.expect(r"PASS\s+rope", 120)
        assert term.wait(30) == 0
    finally:
        term.close()


def test_commands_that_take_several_ids_say_so_in_their_usage(cli):
    """`check rope alibi` grades both; its usage line said `[ID]` (a newcomer's note)."""
    for command in ("check", "watch"):
        res = cli(command, "--help")
        assert res.returncode == 0 and f"drillpe {command} [OPTIONS] [ID...]" in res.stdout
