"""A device-side assert ends a process's use of CUDA: every later CUDA call
fails. The learner process then stops and says after which case (its end
record's ``lost``); the judge reports the cases and checks after it as not
run, never as passed, and believes the claim only on CUDA.

Without a GPU the assert is stood in for by tests/device_lost/ (the learner
told that CUDA was lost after a named case; a judge that believes it on the
CPU), started by the real cold launcher, unsandboxed (guard) so that the
stand-ins can be imported. tests/gpu runs the real thing.
"""

import os
from pathlib import Path

import pytest

from drillpe.launch import contract
from drillpe.launch.runner import GradeRequest, grade

FIXTURES = Path(__file__).resolve().parent / "fixtures"
STAND_INS = Path(__file__).resolve().parent / "device_lost"
SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions"


@pytest.fixture
def lost_after(monkeypatch):
    monkeypatch.setenv("DRILLPE_ISOLATION", "guard")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(STAND_INS), str(Path(__file__).resolve().parent.parent),
         os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setattr(contract, "LEARNER", "lost_learner")

    def grade_with_loss(fixture: str, where: str, *, believed=True, consequence=False):
        if believed:
            monkeypatch.setattr(contract, "JUDGE", "believing_judge")
        monkeypatch.setenv("LOST_AFTER_FOR_TEST", where)
        exercise_id = fixture.split("/")[0]
        file = FIXTURES / f"{fixture}.py" if "/" in fixture else SOLUTIONS / f"{fixture}.py"
        return grade(GradeRequest(exercise_id=exercise_id, file=file, timeout=60,
                                  consequence=consequence))
    return grade_with_loss


def by_id(result):
    return {c.id: c for c in result.checks}


def test_a_lost_device_mid_check_leaves_what_ran_and_skips_the_rest(lost_after):
    # torch's own IndexError past the table is an accepted answer (on CUDA a device-side
    # assert); the two cases after it could not run.
    result = lost_after("learnable/torch_index_error_slice", "learnable.length_check:0")
    row = by_id(result)["learnable.length_check"]
    assert row.status == "skip" and row.diagnosis == []
    assert row.message.startswith("1 of 3 cases ran and passed; the rest were not run: a "
                                  "device-side assert in learnable.length_check (case 1)")
    assert result.passed  # an extra check not run does not fail a correct answer


def test_checks_after_the_lost_one_are_not_run_and_cannot_pass(lost_after):
    result = lost_after("learnable/torch_index_error_slice", "learnable.matches_reference:0")
    rows = by_id(result)
    assert rows["learnable.returns_tensor"].status == "pass"  # before the loss
    for check_id in ("learnable.offset", "learnable.gradient", "learnable.length_check"):
        assert rows[check_id].status == "skip", rows[check_id]
        assert rows[check_id].message.startswith("not run: a device-side assert in "
                                                 "learnable.matches_reference")
    # matches_reference has more cases than the one that ran: not run, so no pass
    assert rows["learnable.matches_reference"].status == "skip"
    assert not result.passed  # a core check that did not run is not a pass


def test_the_crash_that_lost_the_device_is_still_named(lost_after):
    result = lost_after("relative/not_clipped", "relative.position_values:3")
    rows = by_id(result)
    assert rows["relative.position_values"].diagnosis == ["relative.not_clipped"]
    assert not result.passed
    ids = [c.id for c in result.checks]
    later = result.checks[ids.index("relative.position_values") + 1:]
    assert later and all(c.status == "skip" for c in later)
    assert rows["relative.position_shape"].status == "pass"  # before the loss
    assert set(result.diagnoses) == {"relative.not_clipped"}


def test_the_verdict_line_does_not_say_every_core_check_passes(lost_after):
    from drillpe import render

    result = lost_after("learnable/torch_index_error_slice", "learnable.matches_reference:0")
    line = render.verdict_line(result).plain
    assert "every core check passes" not in line, line
    assert "no core check failing" in line and "not run" in line, line


def test_a_model_answer_whose_gpu_was_lost_is_not_run_not_tampering(lost_after):
    # the consequence model comes after every check: not run either, and said so
    result = lost_after("rope", "rope.low_precision:0", consequence=True)
    assert "rules.tampering" not in result.diagnoses, result.checks
    assert result.consequence["status"] == "crash"
    assert result.consequence["message"].startswith("not run: a device-side assert in "
                                                    "rope.low_precision")


def test_a_gpu_lost_in_the_consequence_model_leaves_every_check_judged(lost_after):
    result = lost_after("rope", "rope.consequence:0", consequence=True)
    assert result.passed, result.checks  # every ordinary check ran and passed
    assert result.consequence is not None


def test_a_lost_device_claimed_on_the_cpu_is_tampering(lost_after):
    result = lost_after("learnable/torch_index_error_slice", "learnable.length_check:0",
                        believed=False)
    assert not result.passed
    assert "rules.tampering" in result.diagnoses


@pytest.mark.parametrize("message, accepted", [
    ("CUDA error: device-side assert triggered\nCUDA kernel errors might be ...", True),
    ("CUDA error: an illegal memory access was encountered", False),
])
def test_torchs_own_device_assert_past_the_table_is_its_index_error(message, accepted):
    """On CUDA an unchecked nn.Embedding lookup past the table is not the CPU's
    IndexError but a device-side assert; learnable accepts the one as the other."""
    from drillpe.grading.api import Fail
    from drillpe.grading.common import load_grader

    [check] = [c for c in load_grader("learnable").checks if c.id == "learnable.length_check"]
    case = check.cases[0]
    out = {"raised": ["AcceleratorError", "RuntimeError", "Exception"], "message": message,
           "own_raise": False}
    if accepted:
        assert "accepted" in check.judge_fn(None, {}, case, out)
    else:
        with pytest.raises(Fail) as failure:
            check.judge_fn(None, {}, case, out)
        assert failure.value.diagnosis == ["learnable.no_length_check"]
