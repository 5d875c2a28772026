"""The scorecard renders whatever a grader may put in a report, NaN/inf included."""

import json

from drillpe import render
from drillpe.render.tool_views import capture
from drillpe.results.report import CheckResult, ExerciseResult


def result_with_heatmap(values):
    check = CheckResult(id="rope.matches_reference", title="RoPE matches the reference",
                        level="core", status="fail", message="max |Δ| inf",
                        diagnosis=["output.mismatch"],
                        heatmap={"rows": 2, "cols": 2, "values": values,
                                 "axes": ["position", "channel"]})
    return ExerciseResult(exercise="rope", file="rope.py", device="cpu", passed=False,
                          score=0.0, duration_s=0.1, error=None, checks=[check])


def test_non_finite_differences_are_drawn_not_crashed_on():
    # what drillpe.grading.api.heatmap writes for a NaN/inf difference: null
    result = result_with_heatmap([[0.5, None], [None, 1e-3]])
    shown = " ".join(capture(render.scorecard, result, html=False).split())
    assert "!!" in shown and "NaN or inf (2 cells)" in shown
    # and the report stays strict JSON
    json.loads(result.to_json(), parse_constant=lambda name: (_ for _ in ()).throw(
        ValueError(f"non-standard JSON constant {name}")))


def test_heatmap_from_the_grading_api_is_strict_json():
    import torch

    from drillpe.grading.api import heatmap

    got = torch.tensor([[1.0, float("nan")], [float("inf"), 2.0]])
    grid = heatmap(got, torch.ones(2, 2))
    assert grid["values"] == [[0.0, None], [None, 1.0]]
    shown = capture(render.scorecard, result_with_heatmap(grid["values"]), html=False)
    assert "!!" in shown


def test_the_heatmap_legend_matches_its_colours_and_has_a_scale():
    """In colour the largest error is the brightest cell, and the caption says so;
    in characters it is the densest. Both show the scale's ends, as learn does,
    and rows are labelled with the position they start at."""
    values = [[0.0, 1e-3], [0.1, 2.0]]
    plain = render.heat_legend(2.0, color=False).plain
    assert "denser = larger" in plain and "2" in plain and "0.0002" in plain
    coloured = render.heat_legend(2.0, color=True)
    assert "brighter = larger" in coloured.plain
    text = render.heat_text(values, color=True, rows=32, cols=2)
    styles = [span.style for span in text.spans if "on rgb" in str(span.style)]
    rgb = [[int(x) for x in str(s).split("rgb(")[1].rstrip(")").split(",")] for s in styles]
    brightness = [0.299 * r + 0.587 * g + 0.114 * b for r, g, b in rgb]
    assert brightness == sorted(brightness)  # 0, 1e-3, 0.1, 2.0 in reading order
    labels = [line.split()[0] for line in render.heat_text(values, False, 32, 2).plain.splitlines()[1:]]
    assert labels == ["0", "16"]


def test_a_failing_gate_under_a_full_score_is_named_in_the_verdict(monkeypatch):
    """A newcomer's: every exercise check passed, the rules check did not, and the verdict
    read "FAIL relative score 100% ... 1 core check failing", which looked contradictory.
    It names the failing check and says the score leaves it out; an exercise check
    failing beside it is counted without the naming."""
    def result(*failing_ids):
        checks = [CheckResult(id=cid, title=title, level="core",
                              status="fail" if cid in failing_ids else "pass", message="")
                  for cid, title in (("rules.allowed", "Follows the exercise's rules"),
                                     ("relative.shape", "Returns the right shape"))]
        return ExerciseResult(exercise="relative", file="relative.py", device="cpu",
                              passed=False, score=0.0 if "relative.shape" in failing_ids
                              else 1.0, duration_s=0.1, error=None, checks=checks)

    gate = render.verdict_line(result("rules.allowed")).plain
    assert "1 core check failing: Follows the exercise's rules, outside the score" in gate
    both = render.verdict_line(result("rules.allowed", "relative.shape")).plain
    assert "2 core checks failing" in both and "outside the score" not in both
    # a gate that left the exercise checks unrun lowered the score: no "outside" there
    unrun = result("rules.allowed")
    unrun.checks[1].status, unrun.score = "skip", 0.0
    assert "outside the score" not in render.verdict_line(unrun).plain
    # in Chinese, the check's Chinese title (a reviewer's saw the English one)
    from drillpe.data import i18n

    monkeypatch.setattr(i18n, "_chosen", "zh")
    zh = render.verdict_line(result("rules.allowed")).plain
    assert "遵守本题的规则" in zh and "不计入得分" in zh, zh
