"""Chinese text wrapped for a terminal (drillpe.render.cjk_wrap): lines fit,
no full-width punctuation starts a line, formulas and inline code stay whole,
and nothing is lost, at 60, 80 and 100 columns, on every Chinese hint, learn
note and follow-up answer."""

import re

import pytest
from rich.cells import cell_len
from rich.console import Console
from rich.panel import Panel

from drillpe.data import catalog
from drillpe.render import cjk_wrap
from drillpe.render.cjk_wrap import Wrapped, wrap

WIDTHS = (60, 80, 100)
# full-width closing punctuation: never at the start of a line (ASCII code such as
# .detach() may start one)
NO_LINE_START = set("，。、；：！？）」』】》…")


def chinese_paragraphs() -> list[str]:
    texts = []
    for eid in catalog.ids():
        texts += catalog.get(eid).texts["hints_zh"]
        texts += [q["answer_zh"] for q in catalog.followups(eid)]
        page = catalog.learn_page(eid) or {}
        if page.get("notice_zh"):
            texts.append(page["notice_zh"].strip())
    return texts


def squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize("width", WIDTHS)
def test_every_chinese_paragraph_wraps_cleanly(width):
    for text in chinese_paragraphs():
        lines = wrap(text, width)
        assert squeezed("".join(lines)) == squeezed(text)  # nothing lost or added
        for line in lines:
            if line.startswith("    ") or not line:
                continue  # code is never re-wrapped; blank lines part paragraphs
            assert cell_len(line) <= width, line
            assert line.strip() and line.lstrip()[0] not in NO_LINE_START, (width, line)
            assert not line.rstrip().endswith(("（", "「", "《")), (width, line)


@pytest.mark.parametrize("width", WIDTHS)
def test_formulas_and_code_spans_stay_whole(width):
    text = ("双向：half = num_buckets // 2，r > 0 时加上 half，n = |r|。用 `torch.where(n < m, n, big)` "
            "二选一，再写 y = x * cos + rotate_every_two(x) * sin；" * 3)
    lines = wrap(text, width)
    for piece in ("half = num_buckets // 2", "n = |r|", "`torch.where(n < m, n, big)`",
                  "y = x * cos + rotate_every_two(x) * sin"):
        assert sum(line.count(piece) for line in lines) == 3, (width, piece)


def test_breaks_between_han_characters_not_early():
    text = "旋转不改变范数，而且两个旋转后向量的点积只取决于它们的位置差。" * 4
    lines = wrap(text, 60)
    assert all(cell_len(line) >= 58 for line in lines[:-1])  # full lines, not early breaks


def test_punctuation_never_opens_a_line():
    # a line that would end just before "，" takes the character before it along
    for width in range(10, 30):
        for line in wrap("一二三四五六七八九十，一二三四五六七八九十。（括号）里面", width):
            assert line[0] not in NO_LINE_START and not line.endswith("（")


def test_english_and_code_are_left_alone():
    assert not cjk_wrap.has_cjk("theta_i = 10000 ** (-2i/d)")
    code = "    def rotate(x):\n        return x * cos + rotate_every_two(x) * sin"
    assert wrap(code, 20) == code.splitlines()


def test_a_formula_wider_than_the_line_still_fits():
    lines = wrap("公式 " + " + ".join(f"a{i}" for i in range(40)) + " 结束", 30)
    assert all(cell_len(line) <= 30 for line in lines)


@pytest.mark.parametrize("width", WIDTHS)
def test_wrapped_inside_a_panel(width):
    console = Console(width=width, record=True, force_terminal=False, color_system=None)
    answer = next(q["answer_zh"] for q in catalog.followups("rope")
                  if q.get("id") == "rope.long_term_decay")
    console.print(Panel(Wrapped(answer)))
    shown = console.export_text().splitlines()
    assert all(cell_len(line) <= width for line in shown)
    inside = [line.strip("│ ") for line in shown[1:-1]]
    assert all(line and line[0] not in NO_LINE_START for line in inside if line)
    assert squeezed("".join(inside)) == squeezed(answer)


def bracket_groups(text: str) -> list[str]:
    """Each outermost (...) or [...] of ``text`` with the code it is part of: the ASCII
    characters around it up to a space (or a Chinese character) outside brackets."""
    def code(char: str) -> bool:
        return char.isascii() and not char.isspace()

    groups, depth, start = [], 0, None
    for i, char in enumerate(text):
        if char in "([" and depth == 0 and start is None:
            start = i
            while start > 0 and code(text[start - 1]):
                start -= 1
        depth = max(0, depth + (char in "([") - (char in ")]"))
        if start is not None and depth == 0 and (i + 1 == len(text) or not code(text[i + 1])):
            groups.append(text[start:i + 1])
            start = None
    return groups


def styled_characters(text) -> list[tuple[str, tuple]]:
    """Each non-space character of a rich Text with the styles its spans give it."""
    return [(char, tuple(str(span.style) for span in text.spans if span.start <= i < span.end))
            for i, char in enumerate(text.plain) if not char.isspace()]


@pytest.mark.parametrize("width", range(41, 121, 4))
def test_a_fixs_code_is_never_broken_where_it_fits_a_line(width):
    """At 80 columns `stack([-x[..., 1::2], x[..., 0::2]], -1)` broke after "x[...,": what a
    learner copied from the terminal was not code."""
    from rich.text import Text

    for lang in ("en", "zh"):
        for code, entry in catalog.diagnoses(lang).items():
            label = "Fix: " if lang == "en" else "改法："
            for source, hang in ((f"• {code}: {entry['says']}", 2), (f"  {label}{entry['fix']}", 4)):
                styled = Text(source)
                styled.stylize("bold magenta", 0, len(code) + 2)
                styled.stylize("underline", len(source) // 2, len(source))
                shown = cjk_wrap.Broken(styled, hang=hang).lines(width)
                assert styled_characters(shown) == styled_characters(styled)  # styles kept
                lines = shown.plain.split("\n")
                assert squeezed("".join(lines)) == squeezed(source)  # nothing lost or added
                assert all(cell_len(line) <= width for line in lines), (width, lines)
                assert all(line.startswith(" " * hang) for line in lines[1:]), lines
                for group in bracket_groups(source):
                    prose = re.search(r"[A-Za-z]+ [A-Za-z]+ [A-Za-z]+", group)  # breaks as prose
                    # the punctuation glued to it: a comma or full stop; in Chinese a full-width
                    # bracket on each side too (never alone at either end of a line)
                    glued = 2 if lang == "en" else 6
                    if cell_len(group) <= width - hang - glued and "`" not in group and not prose:
                        assert any(group in line for line in lines), (width, group, lines)


def test_the_verdict_breaks_only_between_its_parts():
    """At 100 columns the verdict line ended "· 1.09" with "s" alone on the next line."""
    import json
    from pathlib import Path

    from drillpe import render
    from drillpe.results.report import ExerciseResult

    golden = Path(__file__).resolve().parent / "golden" / "rope-half-split.json"
    report = json.loads(golden.read_text(encoding="utf-8"))
    result = ExerciseResult.from_dict({**report, "file": "rope.py", "duration_s": 1.09})
    for width in range(30, 121):
        console = Console(width=width, color_system=None)
        with console.capture() as captured:
            console.print(render.verdict(result))
        rows = captured.get().rstrip("\n").split("\n")
        assert all(cell_len(row) <= width for row in rows), rows
        parts = [part.strip() for part in render.verdict_line(result).plain.split("·")]
        for part in parts:
            if cell_len(part) + 2 <= width:  # wider parts break at their own spaces
                assert any(part in row for row in rows), (width, part, rows)
        assert "1.09 s" in parts


@pytest.mark.parametrize("width", WIDTHS)
def test_a_formula_in_an_english_fix_stays_whole(width):
    """An operator standing alone binds its neighbours: a newcomer copied "x2 =" without
    its right-hand side, and saw "half" end a line with "- 1." on the next."""
    from rich.text import Text

    fixes = catalog.diagnoses("en")
    pieces = {"rope.half_split": ["x2 = stack([-x[..., 1::2], x[..., 0::2]], -1).reshape(x.shape)."],
              "rope_scaling.wrong_ntk_exponent": [
                  "new_base = base * factor ** (head_dim / (head_dim - 2));",
                  "inv_freq = new_base ** (-arange(0, d, 2) / d)."],
              "t5_bias.bucket_edges": ["r > 0", "n = |r|;", "half - 1.", "n = max(-r, 0).",
                                       "trunc(log(n / max_exact)", "(half - max_exact)),"]}
    for code, wanted in pieces.items():
        lines = cjk_wrap.Broken(Text(f"  Fix: {fixes[code]['fix']}"), hang=4).lines(width)
        rows = lines.plain.split("\n")
        for piece in wanted:
            if cell_len(piece) <= width - 4:
                assert any(piece in row for row in rows), (width, piece, rows)
