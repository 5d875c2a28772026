"""rustlings-style development check: every exercise in the catalog ships a
stub that fails (untouched) and a reference that passes its own grader (graded
through the shared warm workers: tests/test_fixtures.py proves cold agrees)."""

import ast
import shutil
from pathlib import Path

import pytest

from drillpe.data import bundle, catalog
from drillpe.launch.runner import GradeRequest, grade

EXERCISES = catalog.ids()

# Every per-exercise code the contract names, plus the general ones: each must
# have a plain sentence and a fix.
CONTRACT_CODES = """
api.missing_symbol api.signature_mismatch api.not_implemented api.wrong_return_type syntax.error
import.error runtime.exception runtime.timeout output.wrong_shape output.wrong_dtype
output.wrong_device output.nonfinite output.mismatch device.hardcoded_cuda input.mutated
rules.banned_api rules.uses_reference rules.tampering runtime.exit
sinusoidal.concat_layout sinusoidal.sin_cos_swapped sinusoidal.exponent_i_over_d
sinusoidal.fairseq_exponent sinusoidal.positions_from_one sinusoidal.base_ignored
sinusoidal.low_precision_angles
learnable.unregistered_parameter learnable.returns_module learnable.wrong_param_shape
learnable.frozen learnable.offset_ignored learnable.no_length_check
relative.sign_flipped relative.no_value_term relative.no_key_term relative.not_clipped
relative.scale_content_only relative.start_aligned relative.hardcoded_batch
relative.missing_scale relative.mask_inverted relative.mask_ignored relative.wrong_param_names
rope.half_split rope.repeat_not_interleave rope.sin_cos_swapped rope.rotation_reversed
rope.exponent_i_over_d rope.positions_from_one rope.only_q_rotated rope.dtype_changed
attention.missing_scale attention.mask_inverted attention.softmax_wrong_dim
attention.rope_not_applied
rope_neox.interleaved rope_neox.offset_ignored rope_neox.partial_rotary_wrong
rope_neox.low_precision_angles
alibi.naive_slopes alibi.bias_before_scale alibi.reversed_heads alibi.sign_flipped
t5_bias.direction_flipped t5_bias.bucket_edges
rope_scaling.wrong_ntk_exponent rope_scaling.yarn_ramp rope_scaling.missing_attention_factor
rope_2d.axes_swapped rope_2d.theta_over_full_dim
rope_convert.wrong_axis rope_convert.not_per_head rope_convert.inverse_swapped
rope_convert.gqa_heads rope_convert.identity
""".split()


def test_seed_exercises_come_first():
    assert EXERCISES[:4] == ["sinusoidal", "learnable", "relative", "rope"]


def test_every_contract_code_is_explained():
    texts = catalog.diagnoses()
    missing = [code for code in CONTRACT_CODES if code not in texts]
    assert not missing
    for code, entry in texts.items():
        assert entry["says"].strip() and entry["fix"].strip(), code


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_catalog_entry_is_complete(exercise_id):
    ex = catalog.get(exercise_id)
    assert ex.title and ex.topic and ex.difficulty and ex.minutes > 0
    assert len(ex.hints) >= 3
    for path in (bundle.stub_path(ex.id), bundle.solution_path(ex.id),
                 bundle.grader_path(ex.id)):
        assert path.is_file(), path


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_stub_declares_exactly_the_api(exercise_id):
    ex = catalog.get(exercise_id)
    tree = ast.parse(bundle.stub_path(exercise_id).read_text())
    assert ast.get_docstring(tree), "the stub states the task in its docstring"
    defined = {node.name for node in tree.body
               if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    assert set(ex.names) <= defined


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_reference_passes_its_grader(exercise_id, tmp_path, warm):
    learner = tmp_path / f"{exercise_id}.py"
    shutil.copy(bundle.solution_path(exercise_id), learner)
    result = grade(GradeRequest(exercise_id, learner, timeout=60), launcher=warm)
    failing = [(c.id, c.status, c.message) for c in result.checks if c.status != "pass"]
    assert result.passed and not failing and result.diagnoses == [], failing
    assert result.score == 1.0


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_untouched_stub_fails_as_not_implemented(exercise_id, tmp_path, warm):
    learner = tmp_path / f"{exercise_id}.py"
    shutil.copy(bundle.stub_path(exercise_id), learner)
    result = grade(GradeRequest(exercise_id, learner, timeout=60), launcher=warm)
    assert not result.passed
    assert result.diagnoses == ["api.not_implemented"]
    assert result.error["kind"] == "not_implemented"


def hint_code_blocks(text: str) -> list[str]:
    """The code blocks of a hint, as `drillpe hint` shows them: paragraphs (split at blank
    lines) whose lines are all indented by 4 spaces, consecutive ones joined, dedented."""
    import re
    import textwrap

    blocks: list[str] = []
    previous_code = False
    for paragraph in re.split(r"\n(?:[ \t]*\n)+", text.strip("\n")):
        code = all(line.startswith("    ") for line in paragraph.splitlines())
        if code and previous_code:
            blocks[-1] += "\n\n" + paragraph
        elif code:
            blocks.append(paragraph)
        previous_code = code
    return [textwrap.dedent(block) for block in blocks]


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_hint_code_blocks_parse_and_match_across_languages(exercise_id):
    texts = catalog.get(exercise_id).texts
    english, chinese = texts["hints"], texts["hints_zh"]
    assert len(english) == len(chinese)
    for level, (en, zh) in enumerate(zip(english, chinese), start=1):
        en_code, zh_code = hint_code_blocks(en), hint_code_blocks(zh)
        for lang, blocks in (("en", en_code), ("zh", zh_code)):
            for block in blocks:
                try:
                    ast.parse(block)
                except SyntaxError as exc:
                    pytest.fail(f"{exercise_id} hint {level} ({lang}): code does not parse: {exc}")
        assert en_code == zh_code, f"{exercise_id} hint {level}: English and Chinese code differ"
    assert hint_code_blocks(english[-1]), f"{exercise_id}: the last hint shows no code block"


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_hint_parts_name_real_checks_and_come_in_both_languages(exercise_id):
    """A [[hint_parts]] ladder is chosen by check id: a pattern that names no
    check of the exercise's grader would never be shown."""
    from drillpe.grading.common import load_grader

    check_ids = [check.id for check in load_grader(exercise_id).checks]
    for entry in bundle.exercise_unit(exercise_id).get("hint_parts", []):
        where = f"{exercise_id} hint part {entry.get('part')!r}"
        assert entry.get("part") and entry["part"] != "general", where
        assert entry.get("name") and entry.get("name_zh"), where
        assert len(entry["hints"]) == len(entry["hints_zh"]) >= 1, where
        for pattern in entry["checks"]:
            ladder = catalog.HintLadder(entry["part"], (pattern,))
            assert any(ladder.covers(c) for c in check_ids), f"{where}: {pattern} is no check"
        for level, (en, zh) in enumerate(zip(entry["hints"], entry["hints_zh"]), start=1):
            en_code, zh_code = hint_code_blocks(en), hint_code_blocks(zh)
            for block in en_code:
                ast.parse(block)
            assert en_code == zh_code, f"{where} hint {level}: English and Chinese code differ"


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_no_two_checks_share_a_title(exercise_id):
    from drillpe.grading.common import load_grader

    titles = [check.title for check in load_grader(exercise_id).checks]
    assert len(titles) == len(set(titles)), sorted(t for t in titles if titles.count(t) > 1)


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_check_list_the_cli_reads_is_up_to_date(exercise_id):
    from drillpe import devtools
    from drillpe.data import check_lists

    assert not devtools.check_list_stale(exercise_id), \
        f"exercises/{exercise_id}/checks.json is stale: python -m drillpe.devtools lessons"
    assert [c["id"] for c in check_lists.checks(exercise_id)] == \
        [c["id"] for c in devtools.check_rows(exercise_id)]


def test_the_ladder_follows_the_first_failing_check():
    ladder = catalog.ladder_for("rope", ["attention.mask", "attention.dropout"])
    assert ladder.part == "mask" and ladder.hints and "mask" in ladder.hints[0]
    assert catalog.ladder_for("rope", ["rope.matches_reference", "attention.mask"]).part == ""
    assert catalog.ladder_for("rope", []).part == ""
    assert catalog.ladder_for("rope", ["attention.mask"], part="table").part == "table"
    with pytest.raises(LookupError, match="parts: general, table, mask"):
        catalog.ladder_for("rope", [], part="nope")


def test_a_diagnosis_code_declared_twice_is_refused(monkeypatch):
    """One code, one meaning: a second exercise declaring a code would silently
    replace the first one's sentence and fix."""
    real = bundle.exercise_unit
    stolen = dict(real("rope")["diagnoses"])

    def unit(exercise_id):
        entry = real(exercise_id)
        if exercise_id == "alibi":
            entry = {**entry, "diagnoses": {**entry["diagnoses"], "rope.half_split":
                                            stolen["rope.half_split"]}}
        return entry

    monkeypatch.setattr(bundle, "exercise_unit", unit)
    catalog.diagnosis_entries.cache_clear()
    try:
        with pytest.raises(catalog.BadExerciseData, match="rope.half_split is already declared"):
            catalog.diagnosis_entries()
    finally:
        catalog.diagnosis_entries.cache_clear()


def test_the_watch_benchmark_covers_every_exercise_with_a_failing_fixture():
    """benchmarks/watch.py alternates each exercise's model answer with a wrong
    answer from tests/fixtures: one per exercise, and one that really fails."""
    import importlib.util

    from drillpe.devtools import fixture_expectation

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("drillpe_bench_watch",
                                                  root / "benchmarks" / "watch.py")
    watch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(watch)
    assert set(watch.WRONG) == set(catalog.ids())
    for exercise_id, name in watch.WRONG.items():
        passed, codes = fixture_expectation(root / "tests" / "fixtures" / exercise_id / name)
        assert passed is False and codes, (exercise_id, name)


def test_a_climbed_ladder_gives_way_to_the_next_failing_part():
    """A plain `drillpe hint` (and `h` in watch) repeated the table's last hint while
    RoPE and the mask failed too, their hints unseen (a newcomer's)."""
    failing = ["rope.table", "rope.rope", "attention.mask"]
    seen = {"table": 2}
    assert catalog.ladder_for("rope", failing).part == "table"  # without history
    assert catalog.ladder_for("rope", failing, seen=lambda p: seen.get(p, 0)).part == ""
    seen[""] = 3  # rope.rope is no part's: the general ladder's
    assert catalog.ladder_for("rope", failing, seen=lambda p: seen.get(p, 0)).part == "mask"
    seen["mask"] = 2  # every one climbed: the first failing check's again
    assert catalog.ladder_for("rope", failing, seen=lambda p: seen.get(p, 0)).part == "table"
    seen["table"] = 1
    assert catalog.ladder_for("rope", failing, seen=lambda p: seen.get(p, 0)).part == "table"
    # every failing check a part's (a newcomer's t5_bias): the general ladder after them
    only_parts = ["attention.mask"]
    climbed = {"mask": 2}
    assert catalog.ladder_for("rope", only_parts, seen=lambda p: climbed.get(p, 0)).part == ""
    climbed[""] = 3
    assert catalog.ladder_for("rope", only_parts, seen=lambda p: climbed.get(p, 0)).part == \
        "mask"
