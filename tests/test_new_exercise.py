"""Adding an eleventh exercise touches only exercises/, solutions/ and graders/.

Builds a copy of the source tree in a temporary folder, adds a small exercise
there (NoPE: causal attention without positions, with its debug round's
material) exactly as ARCHITECTURE.md says, never touching drillpe/, and runs it end to end as a user would:
list, start, hint, learn (from a lesson it generates), check (the stub fails,
a right answer passes, a known mistake is named)."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

EXERCISE_TOML = '''
schema = 1
order = 100
title = "NoPE: causal attention without positions"
title_zh = "NoPE：不带位置编码的因果注意力"
topic = "bias"
difficulty = "easy"
minutes = 5
summary = "Plain causal attention; the causal mask alone tells positions apart."
summary_zh = "普通的因果注意力；只靠因果掩码区分位置。"
banned = ["@attention"]
hints = [
    "Each query attends to itself and the keys before it.",
    "Mask the logits where the key comes after the query, then softmax.",
    "logits.masked_fill(torch.ones(L, L).triu(1).bool(), float('-inf')).softmax(-1) @ v",
]
hints_zh = [
    "每个 query 只关注自己和它之前的 key。",
    "把 key 在 query 之后的 logits 屏蔽掉，再做 softmax。",
    "logits.masked_fill(torch.ones(L, L).triu(1).bool(), float('-inf')).softmax(-1) @ v",
]

[[api]]
name = "causal_attention"
kind = "function"
signature = "(q, k, v)"

[diagnoses]
"nope.not_causal" = { says = "Queries see the keys after them: the mask is missing.", fix = "Mask keys j > i before the softmax.", says_zh = "query 看到了它之后的 key：缺少掩码。", fix_zh = "在 softmax 之前屏蔽 j > i 的 key。" }

[[followups]]
question = "How can a model without position encodings know positions?"
question_zh = "没有位置编码的模型怎么知道位置？"
answer = "The causal mask breaks symmetry: token i averages over i + 1 keys."
answer_zh = "因果掩码打破了对称性：第 i 个 token 在 i + 1 个 key 上取平均。"

[learn]
formula = "y_i = Σ_(j ≤ i) softmax_j(q_i·k_j / √d) v_j"
formula_zh = "y_i = Σ_(j ≤ i) softmax_j(q_i·k_j / √d) v_j"
example = "with equal logits, query {qi} spreads {share} over each of its keys"
example_zh = "logits 都相等时，query {qi} 在它的每个 key 上分到 {share}"
title = "attention weights of {L} positions, equal logits"
title_zh = "{L} 个位置的注意力权重（logits 都相等）"
rows = "query i"
rows_zh = "query i"
cols = "key j"
cols_zh = "key j"
legend = "weight"
legend_zh = "权重"
notice = "Row i is 1/(i + 1) on keys 0 .. i: the mask alone counts positions."
notice_zh = "第 i 行在 key 0 .. i 上都是 1/(i + 1)：只靠掩码就数出了位置。"
'''

LESSON = '''
"""`drillpe learn nope`, from the reference's public API."""

import torch


def build(public):
    api = public("nope")
    length, query = 8, 3
    q = torch.zeros(1, 1, length, 4, dtype=torch.float64)
    weights = api.causal_attention(q, q, torch.eye(length, dtype=torch.float64)[None, None])
    values = weights[0, 0]
    return {"heatmap": {"values": values, "lo": 0.0, "hi": 1.0},
            "numbers": {"L": str(length), "qi": str(query),
                        "share": f"{float(values[query, 0]):.4g}"}}
'''

STUB = '''
"""NoPE: causal attention without positions.

causal_attention(q, k, v): q, k, v of shape (B, H, L, D); returns softmax of
q k^T / sqrt(D), with keys after each query masked, times v.
"""

import math

import torch


def causal_attention(q, k, v):
    raise NotImplementedError
'''

SOLUTION = '''
"""Reference for nope: causal attention, in float64, in the inputs' dtype."""

import math

import torch


def causal_attention(q, k, v):
    L = q.shape[-2]
    logits = q.double() @ k.double().transpose(-2, -1) / math.sqrt(q.shape[-1])
    future = torch.ones(L, L, dtype=torch.bool, device=q.device).triu(1)
    out = logits.masked_fill(future, float("-inf")).softmax(-1) @ v.double()
    return out.to(q.dtype)
'''

GRADER = '''
"""Grader for nope: values against the reference, the missing mask named."""

from drillpe.grading import Grader, assert_close, expect_tensor

GRADER = Grader("nope")
CASES = [dict(B=1, H=1, L=4, D=8), dict(B=2, H=3, L=16, D=16)]


def inputs(case, rand):
    shape = (case["B"], case["H"], case["L"], case["D"])
    return {"q": rand.normal(*shape), "k": rand.normal(*shape), "v": rand.normal(*shape)}


@GRADER.check("nope.matches_reference", "Causal attention matches the reference",
              cases=CASES, inputs=inputs, needs=("causal_attention",))
def run_values(env, x, case):
    return env.mod.causal_attention(x["q"], x["k"], x["v"])


@run_values.judge
def judge_values(ctx, x, case, out):
    got = expect_tensor(out, "causal_attention", shape=tuple(x["q"].shape))
    q, k, v = (x[n].double() for n in "qkv")
    assert_close(got, ctx.ref.causal_attention(q, k, v), atol=1e-5, what="output",
                 variants={"nope.not_causal": lambda: ctx.ref.attend(q, k, v, causal=False)})
'''

BENCH = '''
"""What `drillpe bench nope` times."""

from drillpe.grading.bench_specs import Target, randn


def inputs(s, device, dtype, gen):
    shape = (s["B"], s["H"], s["L"], s["D"])
    return {name: randn(shape, device, dtype, gen) for name in "qkv"}


TARGETS = [Target(
    name="causal_attention", call="causal_attention(q, k, v)",
    sizes={"cuda": {"B": 4, "H": 8, "L": 512, "D": 64}, "cpu": {"B": 1, "H": 4, "L": 256, "D": 64},
           "quick": {"B": 1, "H": 2, "L": 64, "D": 32}},
    trace_size={"B": 1, "H": 1, "L": 16, "D": 8},
    axes={"L": "positions", "H": "heads"},
    inputs=inputs, prepare=lambda mod, x, s: lambda: mod.causal_attention(x["q"], x["k"], x["v"]),
    data_inputs=("q", "k", "v"),
    loop_advice="mask all keys at once with one (L, L) triangle",
)]
'''

# The production code `drillpe bench nope` times answers against: torch's fused attention.
FAST = '''
"""Production causal attention for `drillpe bench nope`: torch's fused
scaled_dot_product_attention in the inputs' dtype, the (L, L) probabilities
never materialised."""

import torch.nn.functional as F


def causal_attention(q, k, v):
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)
'''

# The mistake simulator: hidden from learner code, like the model answer.
ORACLE = '''
"""Oracle for nope: the model answer, and attention with the mask switched off."""

import math

from drillpe.grading.common import load_solution

causal_attention = load_solution("nope").causal_attention


def attend(q, k, v, causal=True):
    if causal:
        return causal_attention(q, k, v)
    return (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-1) @ v
'''

RIGHT = SOLUTION
NOT_CAUSAL = '''
import math


def causal_attention(q, k, v):
    logits = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return logits.softmax(-1) @ v
'''

# The debug round's material: a learner-like right answer, and the mistake planted in it.
DEBUG_BASE = '''
import math

import torch


def causal_attention(q, k, v):
    L = q.shape[-2]
    logits = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    future = torch.ones(L, L, dtype=torch.bool, device=q.device).triu(1)
    logits = logits.masked_fill(future, float("-inf"))
    return logits.softmax(-1) @ v
'''

DEBUG_VARIANTS = """
[[variant]]
code = "nope.not_causal"
find = '''
    logits = logits.masked_fill(future, float("-inf"))
'''
replace = ""
"""


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A copy of the checkout with the new exercise added beside the others."""
    top = tmp_path_factory.mktemp("tree")
    # a shipped exercise called nope, if there ever is one, is left out: this adds its own
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "nope", "nope.py", "nope.json")
    for part in ("drillpe", "exercises", "solutions", "graders"):
        shutil.copytree(ROOT / part, top / part, ignore=skip)
    folder = top / "exercises" / "nope"
    folder.mkdir()
    (folder / "exercise.toml").write_text(EXERCISE_TOML.lstrip(), encoding="utf-8")
    (folder / "stub.py").write_text(STUB.lstrip(), encoding="utf-8")
    (folder / "stub.zh.py").write_text(STUB.lstrip(), encoding="utf-8")
    (folder / "debug").mkdir()
    (folder / "debug" / "base.py").write_text(DEBUG_BASE.lstrip(), encoding="utf-8")
    (folder / "debug" / "variants.toml").write_text(DEBUG_VARIANTS.lstrip(), encoding="utf-8")
    (top / "solutions" / "nope.py").write_text(SOLUTION.lstrip(), encoding="utf-8")
    (top / "graders" / "nope.py").write_text(GRADER.lstrip(), encoding="utf-8")
    (top / "graders" / "oracles" / "nope.py").write_text(ORACLE.lstrip(), encoding="utf-8")
    (top / "graders" / "bench" / "nope.py").write_text(BENCH.lstrip(), encoding="utf-8")
    (top / "graders" / "fast" / "nope.py").write_text(FAST.lstrip(), encoding="utf-8")
    (top / "graders" / "lessons" / "nope.py").write_text(LESSON.lstrip(), encoding="utf-8")
    return top


def drillpe(tree, tmp, *args):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(tree), DRILLPE_HOME=str(tmp / "home"),
               DRILLPE_WORKSPACE=str(tmp / "ws"), DRILLPE_LANG="en", COLUMNS="120")
    return subprocess.run([sys.executable, "-m", "drillpe", *map(str, args)], cwd=tmp, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_copy_runs_its_own_drillpe(tree, tmp_path):
    res = drillpe(tree, tmp_path, "doctor", "--json")
    checks = {c["what"]: c for c in json.loads(res.stdout)["checks"]}
    assert str(tree) in checks["exercises"]["detail"], checks["exercises"]
    assert checks["exercises"]["ids"][-1] == "nope"  # order = 100: after the ten


def test_list_start_hint(tree, tmp_path):
    listed = json.loads(drillpe(tree, tmp_path, "list", "--json").stdout)["exercises"]
    [row] = [row for row in listed if row["id"] == "nope"]
    assert row["title"].startswith("NoPE") and not row["started"]
    res = drillpe(tree, tmp_path, "start", "nope")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "ws" / "nope.py").read_text(encoding="utf-8") == STUB.lstrip()
    res = drillpe(tree, tmp_path, "hint", "nope")
    assert res.returncode == 0 and "attends to itself" in res.stdout, res.stdout + res.stderr


def test_learn_from_a_generated_lesson(tree, tmp_path):
    # the tree is shared by this module's tests: the dev check may have written it first
    (tree / "exercises" / "nope" / "lesson.json").unlink(missing_ok=True)
    res = drillpe(tree, tmp_path, "learn", "nope")
    assert res.returncode == 2 and "devtools lessons" in res.stderr, res.stdout + res.stderr
    made = subprocess.run([sys.executable, "-m", "drillpe.devtools", "lessons", "nope"],
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tree)},
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stdout + made.stderr
    assert (tree / "exercises" / "nope" / "lesson.json").is_file()
    res = drillpe(tree, tmp_path, "learn", "nope")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "query 3 spreads 0.25 over each of its keys" in res.stdout
    assert "the mask alone counts positions" in res.stdout


@pytest.mark.parametrize("source, code, expected", [
    (STUB, 1, "api.not_implemented"),
    (RIGHT, 0, None),
    (NOT_CAUSAL, 1, "nope.not_causal"),
], ids=["stub", "right", "not_causal"])
def test_check(tree, tmp_path, source, code, expected):
    learner = tmp_path / "answer.py"
    learner.write_text(textwrap.dedent(source), encoding="utf-8")
    res = drillpe(tree, tmp_path, "check", "nope", "--file", learner, "--json")
    assert res.returncode == code, res.stdout + res.stderr
    [result] = json.loads(res.stdout)["results"]
    codes = {d for c in result["checks"] for d in c["diagnosis"]}
    assert (expected in codes) if expected else (result["passed"] and not codes)


def devtools(tree, tmp, *args):
    return subprocess.run([sys.executable, "-m", "drillpe.devtools", *args], cwd=tmp,
                          env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True,
                          text=True, timeout=300)


def test_dev_check_says_what_the_new_exercise_still_lacks(tree, tmp_path):
    assert devtools(tree, tmp_path, "lessons", "nope").returncode == 0
    fixtures = tree / "tests" / "fixtures" / "nope"
    fixtures.mkdir(parents=True, exist_ok=True)
    res = devtools(tree, tmp_path, "check", "nope")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "'# expect: fail nope.not_causal'" in res.stdout
    assert "causal_attention has no production_note" in res.stdout
    bench = tree / "graders" / "bench" / "nope.py"
    bench.write_text(bench.read_text(encoding="utf-8").replace(
        "    loop_advice=", '    production_note="fused attention, the (L, L) probabilities never '
        'materialised.",\n    loop_advice='), encoding="utf-8")
    (fixtures / "not_causal.py").write_text("# expect: fail nope.not_causal\n" + NOT_CAUSAL,
                                            encoding="utf-8")
    res = devtools(tree, tmp_path, "check", "nope")
    assert res.returncode == 0 and res.stdout.strip() == "nope: ok", res.stdout + res.stderr
