"""`drillpe check ID --consequence`: the learner's encoding inside a tiny model
(drillpe/grading/tiny_stack.py), judged against the reference, drawn by
drillpe/render/consequence_views.py. Graded through the warm workers
(conftest.py), once per file for the whole module."""

from __future__ import annotations

import json

import pytest
from conftest import FIXTURES
from rich.cells import cell_len
from rich.console import Console

from drillpe.data import bundle, i18n
from drillpe.launch.runner import GradeRequest, grade
from drillpe.render import consequence_views
from drillpe.results.report import ExerciseResult, document

HALF_SPLIT = FIXTURES / "rope" / "half_split.py"
LENGTH = 256


@pytest.fixture(scope="module")
def graded(warm):
    """file name -> report, graded once with --consequence (and half_split once without)."""
    files = {"half_split": ("rope", HALF_SPLIT),
             "model": ("rope", bundle.solution_path("rope")),
             "stub": ("rope", bundle.exercises_dir() / "rope" / "stub.py"),
             "alibi_model": ("alibi", bundle.solution_path("alibi"))}
    out = {name: grade(GradeRequest(eid, path, timeout=60, consequence=True), launcher=warm)
           for name, (eid, path) in files.items()}
    out["plain"] = grade(GradeRequest("rope", HALF_SPLIT, timeout=60), launcher=warm)
    return out


def test_half_split_diverges_and_attends_elsewhere(graded):
    result = graded["half_split"]
    c = result.consequence
    assert not result.passed and c["status"] == "ok" and c["check"] == "rope.consequence"
    assert c["positions"] == list(range(LENGTH)) and len(c["divergence"]) == LENGTH
    # Position 0 is not rotated by either convention, and attends only to itself.
    assert c["divergence"][0] == 0.0
    assert c["from_position"] is not None and c["from_position"] < 16
    assert c["divergence"][c["from_position"]] > c["threshold"] == 0.1
    assert c["max_divergence"] == max(c["divergence"]) > 0.1
    yours, reference = c["attention"]["yours"], c["attention"]["reference"]
    assert len(yours) == len(reference) == LENGTH == len(c["distances"])
    assert max(abs(a - b) for a, b in zip(yours, reference)) > 1e-2
    # Each is a mean of attention rows: at distance 0 the largest, and positive.
    assert all(v >= 0 for v in yours + reference) and reference[0] == max(reference)


def test_the_model_answer_shows_no_divergence(graded):
    for name in ("model", "alibi_model"):
        c = graded[name].consequence
        assert graded[name].passed and c["status"] == "ok", name
        assert c["max_divergence"] == 0.0 and c["from_position"] is None
        assert set(c["divergence"]) == {0.0}
        assert c["attention"]["yours"] == c["attention"]["reference"]


def test_a_stub_cannot_run_the_model(graded):
    c = graded["stub"].consequence
    assert c["status"] == "crash" and "NotImplementedError" in c["message"]


def test_the_option_changes_nothing_else(graded):
    """Without the flag the report has no consequence; with it, the same checks and verdict."""
    plain, shown = graded["plain"], graded["half_split"]
    assert plain.consequence is None and "consequence" not in plain.to_dict()
    assert [(c.id, c.status, c.diagnosis) for c in plain.checks] == \
        [(c.id, c.status, c.diagnosis) for c in shown.checks]
    assert (plain.passed, plain.score) == (shown.passed, shown.score)


def test_json_carries_it_and_reads_back(graded):
    text = json.dumps(document([graded["half_split"]]), allow_nan=False)
    data = json.loads(text)["results"][0]
    assert set(data["consequence"]) >= {"status", "positions", "divergence", "from_position",
                                        "threshold", "distances", "attention", "stack"}
    assert set(data["consequence"]["attention"]) == {"yours", "reference"}
    assert ExerciseResult.from_dict(data).consequence == graded["half_split"].consequence


def _screen(result, width: int = 80) -> list[str]:
    console = Console(width=width, record=True, color_system=None, force_terminal=False)
    console.print(consequence_views.consequence_renderable(result))
    return console.export_text().splitlines()


def test_the_plots_fit_80_columns_and_say_where(graded):
    lines = _screen(graded["half_split"])
    assert max(cell_len(line) for line in lines) <= 80
    data = graded["half_split"].consequence
    first = data["from_position"]
    over = sum(1 for v in data["divergence"] if v is None or v > data["threshold"])
    said = " ".join(" ".join(lines).split())
    assert 0 < over < len(data["divergence"])  # the sentence counts, it does not say "from"
    assert (f"At {over} of {len(data['divergence'])} positions your outputs differ from the "
            f"reference's by more than 10%, the first at position {first}") in said
    assert sum("┤" in line for line in lines) >= 6  # the y axes carry scale labels
    assert any(line.strip().startswith("0") and "255" in line for line in lines)  # positions
    assert any("reference implementation" == line.strip() for line in lines)


def test_in_chinese(graded, monkeypatch):
    monkeypatch.setattr(i18n, "_chosen", "zh")
    lines = _screen(graded["half_split"])
    assert max(cell_len(line) for line in lines) <= 80
    assert any("第一个是位置" in line for line in lines) and any("参考实现" in line for line in lines)
    assert "你的文件已通过" in "".join(_screen(graded["model"]))


def test_what_is_said_when_there_is_nothing_to_draw(graded):
    assert "there is none to show" in " ".join(_screen(graded["model"]))
    assert "could not run with your code" in " ".join(_screen(graded["stub"]))
    unloaded = ExerciseResult.from_dict({**graded["stub"].to_dict(), "consequence": None,
                                         "error": {"kind": "syntax", "message": "bad"}})
    assert "could not run with your file: bad" in " ".join(_screen(unloaded))


def test_check_option_end_to_end(warm_grading, monkeypatch, capsys):
    """The CLI option reaches the grade and --json prints it; another exercise is a usage error."""
    from drillpe.cli import main

    monkeypatch.setattr(i18n, "_chosen", None)
    with pytest.raises(SystemExit) as exc:
        main(["check", "rope", "--file", str(HALF_SPLIT), "--consequence", "--json"])
    assert exc.value.code == 1  # a failing file still fails
    result = json.loads(capsys.readouterr().out)["results"][0]
    assert result["consequence"]["from_position"] is not None
    with pytest.raises(SystemExit) as exc:
        main(["check", "sinusoidal", "--consequence"])
    assert exc.value.code == 2
    assert "rope, rope_neox, alibi" in capsys.readouterr().err


def test_the_judge_refuses_outputs_the_stack_cannot_show():
    """A wrong shape is a crash of the stack, said as such; NaN travels as None (drawn full)."""
    import torch

    from drillpe.grading import tiny_stack
    from drillpe.grading.api import Fail, Rand, TensorOut
    from drillpe.grading.common import load_solution

    x = tiny_stack.inputs({}, Rand(0, "rope.consequence", 0))
    reference = tiny_stack.rotary(load_solution("rope").RoPE)
    small = TensorOut(torch.zeros(4, 64, dtype=torch.float64), "cpu", False)
    with pytest.raises(Fail, match="shape"):
        tiny_stack.judge(x, reference, (small, None), "RoPE(q, k)")
    hidden, _ = tiny_stack.forward(x, reference)
    hidden[5:] = float("nan")
    shown = tiny_stack.judge(x, reference, (TensorOut(hidden, "cpu", False), None), "RoPE(q, k)")
    assert shown["divergence"][:5] == [0.0] * 5 and set(shown["divergence"][5:]) == {None}
    assert shown["from_position"] == 5 and shown["attention"]["yours"] is None
    assert shown["max_divergence"] is None
    result = ExerciseResult(exercise="rope", file="f.py", device="cpu", passed=False, score=0.0,
                            duration_s=0.0, error=None, checks=[], consequence=shown)
    lines = _screen(result)
    assert max(cell_len(line) for line in lines) <= 80
    assert any("no weights to show" in line for line in lines)
    said = " ".join(" ".join(lines).split())
    assert "the first at position 5" in said and "NaN/inf" in said


def test_a_bar_above_the_line_is_the_only_ink_in_the_line_row():
    """Each power of ten is a row's bottom edge: a value at or under the 10%
    line leaves that row empty (dotted), a value above it inks it."""
    from drillpe.render.consequence_views import _bars, _decades, _row_of

    low, high, rows = _decades(1e-3, 1.0, 3)
    assert (low, high, rows) == (1e-3, 1.0, 9)
    line = _row_of(0.1, low, high, rows)
    drawn = _bars([0.099, 0.1, 0.101, 0.5], low=low, high=high, rows=rows,
                  style=lambda v: "", labels={}, mark_row=line).plain.splitlines()
    row = drawn[line][8:]  # past the gutter and the axis
    assert row[0] == "┄" and row[1] == "┄" and row[2] != "┄" and row[3] == "█"
    assert all(r[8] == "█" for r in drawn[line + 1:])  # under the line: full


def test_no_id_adds_the_model_to_the_exercises_that_have_one(isolated_places, warm_grading,
                                                             capsys, monkeypatch):
    """Every started exercise, some with a tiny model and some without: the
    others are graded as usual, not refused."""
    import shutil

    from conftest import cli_in_process

    monkeypatch.setenv("COLUMNS", "100")
    ws = isolated_places["workspace"]
    ws.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / "rope" / "half_split.py", ws / "rope.py")
    shutil.copy(FIXTURES / "sinusoidal" / "concat_layout.py", ws / "sinusoidal.py")
    code, out = cli_in_process(capsys, "check", "--consequence", "-q")
    assert code == 1
    said = " ".join(out.split())
    assert "What your bug does to a model: rope" in said
    assert "sinusoidal" in said and "What your bug does to a model: sinusoidal" not in said
    code, _ = cli_in_process(capsys, "check", "sinusoidal", "--consequence")
    assert code == 2  # named, it is still a usage error
