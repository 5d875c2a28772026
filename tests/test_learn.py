"""`drillpe learn ID`: the page a learner reads before drilling, its texts in
both languages, the PNG, and the generated data behind it: every committed
exercises/ID/lesson.json must equal what graders/lessons/ID.py computes now
from the reference (python -m drillpe.devtools lessons rewrites them)."""

import ast
import json
import struct
import sys
from pathlib import Path

import pytest
from conftest import cli_run
from rich.cells import cell_len

from drillpe import devtools
from drillpe.data import bundle, catalog, i18n, lessons

ROOT = Path(__file__).resolve().parent.parent
IDS = catalog.ids()
WIDE = {"COLUMNS": "80"}  # rich would otherwise take the width of whatever terminal runs pytest


def grid_rows(stdout: str, heat: lessons.Heatmap) -> list[str]:
    """The output lines that are heatmap rows: they start with the row labels, in order."""
    labels = list(heat.row_labels) or [str(i) for i in range(len(heat.values))]
    gutter = max(map(len, labels)) + 1
    lines = stdout.splitlines()
    starts = [k for k, line in enumerate(lines) if line.startswith(labels[0].rjust(gutter - 1) + " ")]
    for k in starts:
        block = lines[k:k + len(labels)]
        if all(line.startswith(label.rjust(gutter - 1) + " ") for line, label in zip(block, labels)):
            return block
    return []


# --------------------------------------------------------------------------- texts


def test_every_exercise_has_a_lesson_with_texts_in_both_languages():
    raw = {eid: catalog.learn_page(eid) for eid in IDS}
    for exercise_id in IDS:
        numbers = lessons.lesson(exercise_id).numbers
        for field in lessons.TEXT_FIELDS:
            assert raw[exercise_id].get(field), (exercise_id, field)
            assert raw[exercise_id].get(f"{field}_zh"), (exercise_id, f"{field}_zh")
        en, zh = lessons.texts(exercise_id, numbers, "en"), lessons.texts(exercise_id, numbers, "zh")
        assert en["notice"] != zh["notice"]
    shared = bundle.exercise_data("common")["learn_labels"]
    for name, value in shared.items():
        assert name.endswith("_zh") or shared.get(f"{name}_zh"), name
        assert value


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_formula_and_example_lines_fit_an_80_column_terminal(lang):
    for exercise_id in IDS:
        texts = lessons.texts(exercise_id, lessons.lesson(exercise_id).numbers, lang)
        for field in ("formula", "example"):
            for line in texts[field].splitlines():
                assert cell_len(line) <= 76, (exercise_id, field, line)


# --------------------------------------------------------------------------- the command


@pytest.mark.parametrize("exercise_id", IDS)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_learn_shows_formula_example_heatmap_and_notice(exercise_id, lang, isolated_places,
                                                      monkeypatch, capsys):
    lesson = lessons.lesson(exercise_id)
    texts = lessons.texts(exercise_id, lesson.numbers, lang)
    labels = lessons.labels(lang)
    # In this process (20 CLI processes fewer); test_a_pipe_gets_a_character_picture
    # runs the command as a process.
    for name, value in WIDE.items():
        monkeypatch.setenv(name, value)
    res = cli_run(capsys, "learn", exercise_id, "--lang", lang)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    for line in texts["formula"].splitlines() + texts["example"].splitlines():
        assert line.strip() in out
    for heading in ("formula", "example", "heatmap", "notice"):
        assert labels[heading] in out
    rows = grid_rows(out, lesson.heatmap)
    assert len(rows) == len(lesson.heatmap.values), out
    assert all(cell_len(line) <= 80 for line in rows)
    assert texts["legend"].split()[0] in out and "\x1b[" not in out  # a pipe gets no colour
    assert f"drillpe start {exercise_id}" in out


def test_a_pipe_gets_a_character_picture(cli):
    res = cli("learn", "rope", env=WIDE)
    assert "\x1b[" not in res.stdout  # a pipe gets no colour
    rows = grid_rows(res.stdout, lessons.lesson("rope").heatmap)
    assert rows[0].split(None, 1)[1] == "@@" * 32  # position 0: cos 0 = 1 in every pair
    assert len(set("".join(rows))) > 6  # a picture, not one repeated character
    assert "[ .:-=+*#%@]" in res.stdout  # the ramp, with -1 and 1 beside it
    relative = lessons.lesson("relative").heatmap
    table = grid_rows(cli("learn", "relative", env=WIDE).stdout, relative)
    assert table[0].split()[1:] == [str(v) for v in relative.values[0]]
    assert relative.values[0][:6] == [4, 5, 6, 7, 8, 8]  # clamp(j − i, −4, 4) + 4, K = 4


def test_language_from_the_environment(cli):
    res = cli("learn", "alibi", env={**WIDE, "DRILLPE_LANG": "zh"})
    assert res.returncode == 0 and "观察要点" in res.stdout and "公式" in res.stdout


def test_narrow_terminal_samples_columns(cli):
    res = cli("learn", "rope_scaling", env={"COLUMNS": "50"})
    assert res.returncode == 0
    rows = grid_rows(res.stdout, lessons.lesson("rope_scaling").heatmap)
    assert len(rows) == 5 and all(len(line) <= 50 for line in rows)
    assert "one column in 2 shown" in res.stdout


def test_unknown_exercise_is_a_usage_error(cli):
    res = cli("learn", "ropes")
    assert res.returncode == 2
    assert "Unknown exercise 'ropes'" in res.stderr and "rope" in res.stderr


def test_learn_is_listed_in_help(cli):
    assert "learn" in cli("--help", env=WIDE).stdout


# --------------------------------------------------------------------------- PNG


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("exercise_id,lang", [("rope_scaling", "en"), ("alibi", "zh")])
def test_png_is_written(cli, tmp_path, exercise_id, lang):
    pytest.importorskip("matplotlib")
    target = tmp_path / "heat.png"
    res = cli("learn", exercise_id, "--png", target, "--lang", lang, env=WIDE)
    assert res.returncode == 0, res.stderr
    width, height = png_size(target)
    assert width >= 600 and height >= 250 and target.stat().st_size > 5000
    assert str(target) in res.stdout


def test_png_into_a_missing_folder_is_a_usage_error(cli, tmp_path):
    pytest.importorskip("matplotlib")
    res = cli("learn", "rope", "--png", tmp_path / "no" / "such" / "x.png")
    assert res.returncode == 2 and "cannot write" in res.stderr


def test_png_without_matplotlib_names_the_extra(tmp_path, monkeypatch, capsys):
    # cli._run: cli.main less its ending, which would kill this process's warm workers
    from drillpe.cli import _run

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails
    monkeypatch.setattr(i18n, "_chosen", None)
    target = tmp_path / "x.png"
    assert _run(["learn", "rope", "--png", str(target)]) == 2
    captured = capsys.readouterr()
    assert "pip install 'drillpe[plot]'" in captured.err
    assert captured.out == "" and not target.exists()  # fails before printing the page


# --------------------------------------------------------------------------- the data


@pytest.mark.parametrize("exercise_id", IDS)
def test_committed_lesson_matches_the_reference(exercise_id):
    """The numbers exactly, the heatmap within 1e-9: lesson.json is what
    graders/lessons/ID.py computes from solutions/ID.py today."""
    found = devtools.differences(exercise_id)
    assert not found, (f"exercises/{exercise_id}/lesson.json is out of date:\n  "
                       + "\n  ".join(found) + f"\nRun: {lessons.WRITE_COMMAND} {exercise_id}")


def test_every_exercise_has_a_lesson_builder_and_its_file():
    for exercise_id in IDS:
        assert devtools.builder_path(exercise_id).is_file(), exercise_id
        assert lessons.path(exercise_id).is_file(), \
            f"run: {lessons.WRITE_COMMAND} {exercise_id}"


ALLOWED_IMPORTS = {"math", "torch"}


@pytest.mark.parametrize("exercise_id", IDS)
def test_builders_reach_the_reference_only_through_its_public_api(exercise_id):
    """A builder imports nothing but math and torch (no solutions/, no drillpe): the
    reference comes as public("ID"), which holds only the [[api]] names."""
    tree = ast.parse(devtools.builder_path(exercise_id).read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom)}
    assert imported <= ALLOWED_IMPORTS, imported - ALLOWED_IMPORTS
    assert sorted(vars(devtools.public(exercise_id))) == sorted(catalog.get(exercise_id).names)


@pytest.mark.parametrize("exercise_id", ["alibi", "rope_scaling", "t5_bias"])
def test_lesson_file_round_trips(exercise_id):
    lesson = lessons.lesson(exercise_id)
    assert lessons.decode(json.loads(lessons.encode(exercise_id, lesson))) == lesson


def test_check_names_what_changed_and_the_command(tmp_path, monkeypatch):
    stale = json.loads(lessons.path("alibi").read_text(encoding="utf-8"))
    stale["numbers"]["m"] = "0.25"
    stale["heatmap"]["values"][3][0] += 1e-6
    target = tmp_path / "lesson.json"
    target.write_text(json.dumps(stale), encoding="utf-8")
    monkeypatch.setattr(lessons, "path", lambda exercise_id: target)
    said = []
    assert devtools.main(["lessons", "--check", "alibi"], say=said.append) == 1
    report = "\n".join(said)
    assert "numbers['m']: '0.25' now '0.5'" in report
    assert "1 heatmap cells differ, first [3, 0]" in report
    assert "run: python -m drillpe.devtools lessons" in report
    stale["heatmap"]["values"][3][0] -= 1e-6 - 1e-12  # within 1e-9 again
    stale["numbers"]["m"] = "0.5"
    target.write_text(json.dumps(stale), encoding="utf-8")
    assert devtools.main(["lessons", "--check", "alibi"], say=said.append) == 0
    devtools.main(["lessons", "alibi"], say=said.append)  # writes the monkeypatched path
    assert lessons.decode(json.loads(target.read_text(encoding="utf-8"))) == \
        devtools.build("alibi")


def test_exercise_without_a_lesson_file_is_a_usage_error(tmp_path, monkeypatch, capsys):
    from drillpe.cli import _run  # not main: see test_png_without_matplotlib_names_the_extra

    monkeypatch.setattr(lessons, "path", lambda exercise_id: tmp_path / "missing.json")
    assert _run(["learn", "rope"]) == 2
    err = capsys.readouterr().err
    assert "there is no lesson for rope yet" in err and "drillpe.devtools lessons rope" in err


def test_learn_draws_a_colour_heatmap_in_a_real_terminal():
    """What "draws a heatmap in a real terminal" means: in a pseudo-terminal every heatmap
    row is a run of cells painted with background colours, and the legend is there."""
    import os
    import re

    from pty_driver import Terminal

    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    term = Terminal(["learn", "rope"], dict(env, TERM="xterm-256color", COLORTERM="truecolor"),
                    cols=100)
    try:
        term.expect(r"Ready\? drillpe start rope")
        assert term.wait() == 0
    finally:
        term.close()
    raw = term.raw.decode("utf-8", "replace")
    painted = [line for line in raw.splitlines() if len(re.findall(r"\x1b\[[0-9;]*48;", line)) >= 8]
    assert len(painted) >= len(lessons.lesson("rope").heatmap.values)  # one per matrix row
    assert "cos(p·θ_i)" in term.text()
