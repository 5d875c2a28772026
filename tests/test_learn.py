"""`drillpe learn ID`: the page a learner reads before drilling, its texts in
both languages, the PNG, and the plain-Python matrices of drillpe/lessons.py
pinned to the float64 references in solutions/ (skipped only while a
reference has not been written yet)."""

import math
import struct
import sys
from functools import cache
from pathlib import Path

import pytest
import torch
from conftest import run_cli
from rich.cells import cell_len

from drillpe.data import bundle, catalog, i18n, lessons
from drillpe.grading.loading import load_module

ROOT = Path(__file__).resolve().parent.parent
IDS = catalog.ids()
WIDE = {"COLUMNS": "80"}  # rich would otherwise take the width of whatever terminal runs pytest


@cache
def _load(name: str):
    return load_module(ROOT / "solutions" / f"{name}.py", f"drillpe_test_learn_{name}")


def reference(name: str):
    if not (ROOT / "solutions" / f"{name}.py").is_file():
        pytest.skip(f"solutions/{name}.py is not written yet")
    return _load(name)


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
def test_learn_shows_formula_example_heatmap_and_notice(exercise_id, lang):
    lesson = lessons.lesson(exercise_id)
    texts = lessons.texts(exercise_id, lesson.numbers, lang)
    labels = lessons.labels(lang)
    res = run_cli("learn", exercise_id, "--lang", lang, env=WIDE)
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


def test_a_pipe_gets_a_character_picture():
    res = run_cli("learn", "rope", env=WIDE)
    rows = grid_rows(res.stdout, lessons.lesson("rope").heatmap)
    assert rows[0].split(None, 1)[1] == "@@" * 32  # position 0: cos 0 = 1 in every pair
    assert len(set("".join(rows))) > 6  # a picture, not one repeated character
    assert "[ .:-=+*#%@]" in res.stdout  # the ramp, with -1 and 1 beside it
    table = grid_rows(run_cli("learn", "relative", env=WIDE).stdout,
                      lessons.lesson("relative").heatmap)
    assert table[0].split()[1:] == [str(v) for v in lessons.shaw_relative_index(16, 16, 4)[0]]


def test_language_from_the_environment():
    res = run_cli("learn", "alibi", env={**WIDE, "DRILLPE_LANG": "zh"})
    assert res.returncode == 0 and "要注意什么" in res.stdout and "公式" in res.stdout


def test_narrow_terminal_samples_columns():
    res = run_cli("learn", "rope_scaling", env={"COLUMNS": "50"})
    assert res.returncode == 0
    rows = grid_rows(res.stdout, lessons.lesson("rope_scaling").heatmap)
    assert len(rows) == 5 and all(len(line) <= 50 for line in rows)
    assert "one column in 2 shown" in res.stdout


def test_unknown_exercise_is_a_usage_error():
    res = run_cli("learn", "ropes")
    assert res.returncode == 2
    assert "Unknown exercise 'ropes'" in res.stderr and "rope" in res.stderr


def test_learn_is_listed_in_help():
    assert "learn" in run_cli("--help", env=WIDE).stdout


# --------------------------------------------------------------------------- PNG


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("exercise_id,lang", [("rope_scaling", "en"), ("alibi", "zh")])
def test_png_is_written(tmp_path, exercise_id, lang):
    pytest.importorskip("matplotlib")
    target = tmp_path / "heat.png"
    res = run_cli("learn", exercise_id, "--png", target, "--lang", lang, env=WIDE)
    assert res.returncode == 0, res.stderr
    width, height = png_size(target)
    assert width >= 600 and height >= 250 and target.stat().st_size > 5000
    assert str(target) in res.stdout


def test_png_into_a_missing_folder_is_a_usage_error(tmp_path):
    pytest.importorskip("matplotlib")
    res = run_cli("learn", "rope", "--png", tmp_path / "no" / "such" / "x.png")
    assert res.returncode == 2 and "cannot write" in res.stderr


def test_png_without_matplotlib_names_the_extra(tmp_path, monkeypatch, capsys):
    from drillpe.cli import main

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails
    monkeypatch.setattr(i18n, "_chosen", None)
    target = tmp_path / "x.png"
    with pytest.raises(SystemExit) as exc:
        main(["learn", "rope", "--png", str(target)])
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert "pip install 'drillpe[plot]'" in captured.err
    assert captured.out == "" and not target.exists()  # fails before printing the page


# --------------------------------------------------------------------------- the math


def close(a, b, tol=1e-12):
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert torch.allclose(a, b, atol=tol, rtol=tol), (a - b).abs().max()


@pytest.mark.parametrize("length,d_model,base", [(32, 32, 10000.0), (7, 10, 500.0)])
def test_sinusoidal_table_matches_reference(length, d_model, base):
    close(lessons.sinusoidal_table(length, d_model, base),
          reference("sinusoidal").table(length, d_model, base))


@pytest.mark.parametrize("seq_len,offset,max_len", [(8, 6, 24), (5, 0, 5), (1, 9, 10)])
def test_learned_rows_match_reference(seq_len, offset, max_len):
    ref = reference("learnable")
    # Adding an identity table to zeros gives exactly the rows that are read.
    picked = ref.add_positions(torch.zeros(1, seq_len, max_len), torch.eye(max_len), offset)[0]
    close(lessons.learned_rows(seq_len, offset, max_len), picked, 0)
    with pytest.raises(ValueError):
        lessons.learned_rows(seq_len, max_len - seq_len + 1, max_len)


@pytest.mark.parametrize("lq,lk,k", [(16, 16, 4), (3, 5, 2), (6, 4, 3), (20, 20, 16)])
def test_shaw_index_matches_reference(lq, lk, k):
    want = reference("relative").relative_index(lq, lk, k).tolist()
    assert lessons.shaw_relative_index(lq, lk, k) == want


def test_rope_angles_and_rotation_match_reference():
    ref = reference("rope")
    positions = torch.arange(32)
    close(lessons.rope_angles(range(32), 64), ref.angles(positions, 64))
    close(lessons.rope_angles([0, 5, 700], 12, 500.0), ref.angles(torch.tensor([0, 5, 700]), 12, 500.0),
          1e-9)
    x = torch.randn(1, 1, 6, 8, dtype=torch.float64)
    rotated = ref.rotate(x)[0, 0]
    for p in range(6):
        close(lessons.rope_rotate(x[0, 0, p].tolist(), p), rotated[p])


def _pairs_turned(apply, n, dim, interleaved):
    """Feed unit vectors (1, 0) in every pair and read back (cos, sin) per channel pair."""
    x = torch.zeros(1, 1, n, dim, dtype=torch.float64)
    if interleaved:
        x[..., 0::2] = 1.0
        y = apply(x)[0, 0]
        return y[..., 0::2], y[..., 1::2]
    x[..., : dim // 2] = 1.0
    y = apply(x)[0, 0]
    return y[..., : dim // 2], y[..., dim // 2:]


@pytest.mark.parametrize("start,base", [(0, 10000.0), (100, 500.0)])
def test_neox_angles_and_rotation_match_reference(start, base):
    ref = reference("rope_neox")
    positions = torch.arange(start, start + 12)
    cos, sin = _pairs_turned(lambda x: ref.apply_rope(x, positions, base), 12, 16, False)
    ang = torch.tensor(lessons.neox_angles(positions.tolist(), 16, base), dtype=torch.float64)
    close(ang[:, :8].cos(), cos, 1e-7)
    close(ang[:, 8:].sin(), sin, 1e-7)
    close(ang[:, :8], ang[:, 8:], 0)  # cat(freqs, freqs)
    x = torch.randn(1, 1, 12, 16, dtype=torch.float64)
    out = ref.apply_rope(x, positions, base)[0, 0]
    for k, p in enumerate(positions.tolist()):
        close(lessons.neox_rotate(x[0, 0, k].tolist(), p, base), out[k], 1e-7)


@pytest.mark.parametrize("n_heads", [*range(1, 17), 24, 32, 40])
def test_alibi_slopes_match_reference(n_heads):
    close(lessons.alibi_slopes(n_heads), reference("alibi").alibi_slopes(n_heads), 1e-7)


@pytest.mark.parametrize("lq,lk,causal", [(16, 16, True), (5, 9, True), (6, 6, False),
                                          (4, 7, False)])
def test_alibi_bias_matches_reference_attention(lq, lk, causal):
    ref, heads = reference("alibi"), 8
    # q = k = 0 leaves only the bias in the logits; v = I reads the weights out.
    q = torch.zeros(1, heads, lq, lk, dtype=torch.float64)
    k = torch.zeros(1, heads, lk, lk, dtype=torch.float64)
    v = torch.eye(lk, dtype=torch.float64).expand(1, heads, lk, lk)
    weights = ref.alibi_attention(q, k, v, causal=causal)[0]
    for h, m in enumerate(lessons.alibi_slopes(heads)):
        bias = torch.tensor(lessons.alibi_bias(lq, lk, m, causal), dtype=torch.float64)
        close(torch.softmax(bias, -1), weights[h], 1e-6)


def _log_bucket_is_a_tie(r, bidirectional, num_buckets, max_distance):
    """The contract accepts either neighbour where the real log bucket is within 1e-5
    of an integer (float rounding between equivalent formulas)."""
    n = num_buckets // 2 if bidirectional else num_buckets
    r = abs(r) if bidirectional else -min(r, 0)
    exact = n // 2
    if r < exact:
        return False
    real = math.log(r / exact) / math.log(max_distance / exact) * (n - exact)
    return abs(real - round(real)) < 1e-5


@pytest.mark.parametrize("bidirectional,num_buckets,max_distance",
                         [(True, 32, 128), (False, 32, 128), (True, 16, 64), (False, 8, 20)])
def test_t5_buckets_match_reference(bidirectional, num_buckets, max_distance):
    ref = reference("t5_bias")
    r = torch.arange(-300, 300)
    want = ref.relative_position_bucket(r, bidirectional, num_buckets, max_distance).tolist()
    for rel, w in zip(r.tolist(), want):
        got = lessons.t5_bucket(rel, bidirectional, num_buckets, max_distance)
        if got != w:
            assert _log_bucket_is_a_tie(rel, bidirectional, num_buckets, max_distance) and \
                abs(got - w) == 1, (rel, got, w)


def test_t5_matrix_uses_key_minus_query():
    ref = reference("t5_bias")
    i, j = torch.arange(32)[:, None], torch.arange(32)[None, :]
    want = ref.relative_position_bucket(j - i).tolist()
    got = lessons.t5_bucket_matrix(32, 32)
    mismatched = [(a, b) for a in range(32) for b in range(32) if got[a][b] != want[a][b]]
    assert all(_log_bucket_is_a_tie(b - a, True, 32, 128) for a, b in mismatched)


SCALINGS = [*lessons.SCALINGS.items(),
            ("linear x2", {"type": "linear", "factor": 2.0}),
            ("ntk x4", {"type": "ntk", "factor": 4.0}),
            ("yarn x4", {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 2048,
                         "beta_fast": 32, "beta_slow": 1}),
            ("yarn x1", {"type": "yarn", "factor": 1.0, "original_max_position_embeddings": 2048,
                         "beta_fast": 32, "beta_slow": 1})]


@pytest.mark.parametrize("head_dim,base", [(128, 10000.0), (64, 500000.0)])
@pytest.mark.parametrize("name,scaling", SCALINGS, ids=[name for name, _ in SCALINGS])
def test_rope_inv_freq_matches_reference(name, scaling, head_dim, base):
    inv, factor = reference("rope_scaling").rope_inv_freq(head_dim, base, scaling)
    mine, my_factor = lessons.rope_inv_freq(head_dim, base, scaling)
    close(mine, inv, 1e-6)
    assert my_factor == pytest.approx(float(factor), abs=1e-7)


def test_rope_2d_angles_match_reference():
    ref = reference("rope_2d")
    rows, cols = torch.arange(4).repeat_interleave(4), torch.arange(4).repeat(4)
    for dim, base in ((32, 10000.0), (16, 100.0)):
        def turn(x, base=base):
            return ref.apply_rope_2d(x, rows, cols, base)

        cos, sin = _pairs_turned(turn, 16, dim, True)
        ang = torch.tensor(lessons.rope_2d_angles(rows.tolist(), cols.tolist(), dim, base),
                           dtype=torch.float64)
        close(ang.cos(), cos, 1e-7)
        close(ang.sin(), sin, 1e-7)


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
