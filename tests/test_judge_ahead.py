"""Judging while the learner runs (drillpe.grading.judge_ahead) changes when
the judge works, never what it decides: a verdict reached ahead is used only
for a record whose bytes are the very bytes the judge's own pass reads."""

import functools
import importlib.util
import os
import random
import sys
from pathlib import Path

import pytest
import torch

from drillpe.data import catalog
from drillpe.grading import judge, judge_ahead, learner, records
from drillpe.grading.api import Env, learner_exception
from drillpe.grading.common import case_inputs, load_grader, load_reference
from drillpe.grading.static import analyse

ROOT = Path(__file__).resolve().parent.parent
CPU = torch.device("cpu")


@functools.cache
def records_of(exercise_id: str, answer: Path) -> bytes:
    """The frames an honest learner process sends for ``answer``: the learner's
    own loop (drillpe.grading.learner.run) without its sandbox and guards, for
    trusted files only (the model answers and fixtures named below). The same bytes
    every time (every generator seeded), so computed once per file and pytest process."""
    grader = load_grader(exercise_id)
    spec = importlib.util.spec_from_file_location(f"ahead_{answer.stem}", answer)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    frames = [records.frame("load", {"status": "ok",
                                     "api": learner.describe_api(mod, catalog.get(exercise_id))})]
    env = Env(mod=mod, device=CPU)
    for index, check in enumerate(grader.checks):
        for case in range(len(check.cases)):
            x = case_inputs(check, case, 0, CPU)
            learner.seed_generators(0, CPU)
            failed = False
            try:
                out = check.run(env, x, check.cases[case])
            except Exception as exc:
                out = learner_exception(exc, answer)
                failed = isinstance(exc, NotImplementedError) or check.handles_exceptions
            frames.append(records.frame("case", {"check": index, "case": case, "failed": failed,
                                                 "inputs": records.input_digests(x)},
                                        {"out": out}))
            if failed:
                break
    frames.append(records.frame("end", {"runtime": {}}))
    return b"".join(frames)


def graded(exercise_id: str, answer: Path, run_dir: Path, ahead: judge_ahead.Ahead | None):
    exercise = catalog.get(exercise_id)
    static = analyse(answer.read_text(), exercise.banned, exercise.banned_modules)
    end = judge.LearnerEnd(returncode=0, timed_out=False, timeout_s=20)
    judge._ahead = ahead
    try:
        result = judge.grade(exercise_id, answer, run_dir, CPU, 0, end, static,
                             load_grader(exercise_id), load_reference(exercise_id))
    finally:
        judge._ahead = None
    return result.to_dict()


def ahead_over(exercise_id: str, path: Path) -> judge_ahead.Ahead:
    ctx = judge.JudgeContext(ref=load_reference(exercise_id), device=CPU, seed=0)
    return judge.reader_ahead(path, load_grader(exercise_id).checks, ctx)


ANSWERS = [
    ("rope", "solutions/rope.py"),
    ("rope", "tests/fixtures/rope/half_split.py"),  # fails, with a diagnosis
    ("relative", "tests/fixtures/relative/hardcoded_batch_one.py"),  # crashes on some cases
    ("alibi", "tests/fixtures/alibi/input_mutated.py"),  # changes its inputs
    # fails on cases too small for a heatmap: the judge draws a later, larger case's
    ("relative", "tests/fixtures/relative/sign_flipped.py"),
]


@pytest.mark.parametrize("exercise_id,answer", ANSWERS, ids=[a.split("/")[-1] for _, a in ANSWERS])
def test_verdicts_reached_ahead_give_the_report_the_judge_gives_alone(
        tmp_path, exercise_id, answer):
    path = tmp_path / judge.RECORDS_FILE
    data = records_of(exercise_id, ROOT / answer)
    path.write_bytes(data)
    alone = graded(exercise_id, ROOT / answer, tmp_path, None)
    # The file arriving in pieces, as the runner appends it while the learner runs.
    path.write_bytes(b"")
    ahead = ahead_over(exercise_id, path)
    cuts = sorted(random.Random(0).sample(range(1, len(data)), 12))
    for start, stop in zip([0, *cuts], [*cuts, len(data)]):
        with open(path, "ab") as fh:
            fh.write(data[start:stop])
        ahead.step()
    assert ahead.kept and ahead.stopped  # the end record ends the reading ahead
    with_ahead = graded(exercise_id, ROOT / answer, tmp_path, ahead)
    assert with_ahead == alone
    assert alone["passed"] == (answer.startswith("solutions/"))
    assert not ahead.kept, "the judge's pass used every verdict reached ahead"


def test_a_verdict_reached_on_other_bytes_is_not_used(tmp_path):
    """The file the judge reads ahead is rewritten before the end (learner code
    without the sandbox can write there): verdicts on the old bytes decide nothing."""
    path = tmp_path / judge.RECORDS_FILE
    right = records_of("rope", ROOT / "solutions/rope.py")
    wrong_file = ROOT / "tests/fixtures/rope/half_split.py"
    path.write_bytes(right)
    ahead = ahead_over("rope", path)
    ahead.step()
    passes = len(ahead.kept)
    assert passes > 20 and all(kind == "pass" for kind, _ in ahead.kept.values())
    path.write_bytes(records_of("rope", wrong_file))
    report = graded("rope", wrong_file, tmp_path, ahead)
    assert not report["passed"]
    failed = {c["id"]: c["diagnosis"] for c in report["checks"] if c["status"] == "fail"}
    assert failed["rope.matches_reference"] == ["rope.half_split"]
    assert len(ahead.kept) == passes, "no verdict reached on the old bytes was used"
    # the same bytes again (what an honest run gives) are confirmed and used
    path.write_bytes(right)
    ahead = ahead_over("rope", path)
    ahead.step()
    assert graded("rope", ROOT / "solutions/rope.py", tmp_path, ahead)["passed"]
    assert ahead.confirmed and not ahead.kept


def test_a_file_written_again_from_its_start_ends_the_reading_ahead(tmp_path):
    path = tmp_path / judge.RECORDS_FILE
    right = records_of("rope", ROOT / "solutions/rope.py")
    path.write_bytes(right[:len(right) // 2])
    ahead = ahead_over("rope", path)
    ahead.step()
    assert ahead.kept and not ahead.stopped
    key = next(iter(ahead.kept))
    wrong = records_of("rope", ROOT / "tests/fixtures/rope/half_split.py")
    ahead.confirm(wrong)  # another file's start: nothing read ahead counts
    assert not ahead.confirmed and ahead.take(*key) is None
    ahead.confirm(right)  # what was judged is the finished file's start: it stands
    assert ahead.confirmed and ahead.take(*key) is not None
    ahead = ahead_over("rope", path)
    ahead.step()
    path.write_bytes(right[:1000])  # shorter than what was read: written again
    ahead.step()
    assert ahead.stopped and not ahead.kept and not ahead.consumed


@pytest.mark.parametrize("make", ["garbage", "fifo", "link", "huge_header"])
def test_reading_ahead_gives_up_quietly_on_what_is_not_a_records_file(tmp_path, make):
    path = tmp_path / judge.RECORDS_FILE
    if make == "garbage":
        path.write_bytes(os.urandom(4096))
    elif make == "fifo":
        os.mkfifo(path)  # opened without blocking, and refused
    elif make == "link":
        path.symlink_to(ROOT / "README.md")
    else:
        path.write_bytes(b"DPR1" + (2**31).to_bytes(4, "little"))
    ahead = ahead_over("rope", path)
    ahead.step()
    assert ahead.stopped and not ahead.kept


def test_the_judge_reads_ahead_until_the_learners_end_arrives(tmp_path, monkeypatch):
    """judge.run's wait: steps while stdin is quiet, stops at the end line."""
    read_end, write_end = os.pipe()
    monkeypatch.setattr(sys, "stdin", os.fdopen(read_end, "r"))
    steps = []
    def step(self):
        steps.append(1)
        if len(steps) == 5:
            os.write(write_end, b"{}\n")
        return 0.001

    monkeypatch.setattr(judge_ahead.Ahead, "step", step)
    ctx = judge.JudgeContext(ref=None, device=CPU, seed=0)
    judge.judge_while_waiting(tmp_path / judge.RECORDS_FILE, [], ctx)
    assert len(steps) == 5 and sys.stdin.readline() == "{}\n"
    judge._ahead = None
    os.close(write_end)


def test_reading_ahead_waits_longer_while_nothing_arrives(tmp_path):
    """Polling fast only while records arrive: a judge waiting out the learner's
    torch import (or slow code) must not take CPU from it."""
    path = tmp_path / judge.RECORDS_FILE
    ahead = ahead_over("rope", path)
    waits = [ahead.step() for _ in range(8)]  # no file yet
    assert waits[0] > judge_ahead.POLL_MIN_S and waits == sorted(waits)
    assert waits[-1] == judge_ahead.POLL_MAX_S
    data = records_of("rope", ROOT / "solutions/rope.py")
    path.write_bytes(data[:len(data) // 2])
    assert ahead.step() == judge_ahead.POLL_MIN_S
    with open(path, "ab") as fh:
        fh.write(data[len(data) // 2:])
    assert ahead.step() is None and ahead.stopped  # the end record: nothing more to read


def counting_ahead(path: Path) -> tuple[judge_ahead.Ahead, list]:
    judged = []
    ahead = judge_ahead.Ahead(path, load_grader("rope").checks,
                              lambda check, index, row: judged.append(index) or ("pass", None))
    return ahead, judged


def test_a_stream_the_real_pass_refuses_is_not_judged_ahead(tmp_path):
    """A flood of copies of one passing frame (or frames before the load record)
    would cost the judge a comparison each; the order read_records demands is
    checked first, and the first frame out of it ends the reading ahead."""
    right = records_of("rope", ROOT / "solutions/rope.py")
    frames, _ = records.split_frames(right)
    load, first_case = bytes(frames[0].raw), bytes(frames[1].raw)
    path = tmp_path / judge.RECORDS_FILE
    for data in (load + first_case * 2000, first_case * 2000 + load):
        path.write_bytes(data)
        ahead, judged = counting_ahead(path)
        ahead.step()
        assert ahead.stopped and not ahead.kept and len(judged) <= 1


def test_a_large_frame_arriving_in_pieces_is_parsed_once(tmp_path, monkeypatch):
    right = records_of("rope", ROOT / "solutions/rope.py")
    frames, _ = records.split_frames(right)
    big = max(frames, key=lambda f: len(f.raw))
    data = bytes(frames[0].raw) + b"".join(bytes(f.raw) for f in frames[1:] if f.at <= big.at)
    splits = []
    real_split = records.split_frames
    monkeypatch.setattr(records, "split_frames", lambda d: splits.append(len(d)) or real_split(d))
    path = tmp_path / judge.RECORDS_FILE
    path.write_bytes(b"")
    ahead, judged = counting_ahead(path)
    for start in range(0, len(data), 16384):  # a 2 MiB frame in 16 KiB writes
        with open(path, "ab") as fh:
            fh.write(data[start:start + 16384])
        ahead.step()
    assert len(data) // 16384 > 100 and len(splits) < 20  # not once per piece
    assert sum(splits) < 3 * len(data)
    assert len(judged) == len(frames[1:]) - sum(f.at > big.at for f in frames[1:])


def test_more_bytes_than_an_honest_grade_writes_end_the_reading_ahead(tmp_path, monkeypatch):
    monkeypatch.setattr(judge_ahead, "MAX_AHEAD_BYTES", 100_000)
    path = tmp_path / judge.RECORDS_FILE
    path.write_bytes(records_of("rope", ROOT / "solutions/rope.py"))
    ahead, judged = counting_ahead(path)
    ahead.step()
    assert ahead.stopped and not ahead.kept and not ahead.consumed and not judged


def test_a_refusal_the_judges_own_reading_does_not_back_is_tampering(tmp_path):
    """The learner process may decline to run a file the rules refuse (under the
    guard); the judge believes that only where its own reading of the file finds
    such a rule broken. Either way the answer fails: a claim cannot pass anything."""
    refused = records.frame("load", {"status": "refused", "finding": "line 1: open()"}) + \
        records.frame("end", {"runtime": {}})
    (tmp_path / "records.bin").write_bytes(refused)
    clean = graded("rope", ROOT / "solutions" / "rope.py", tmp_path, None)
    assert not clean["passed"] and clean["error"]["kind"] == "rules"
    assert "did not run a file the rules allow" in clean["error"]["message"]
    hostile = tmp_path / "rope.py"
    hostile.write_text((ROOT / "solutions" / "rope.py").read_text() + "\nopen('x')\n")
    told = graded("rope", hostile, tmp_path, None)
    loads = next(c for c in told["checks"] if c["id"] == "file.loads")
    assert not told["passed"] and loads["status"] == "skip" and "open()" in told["error"]["message"]


@pytest.mark.parametrize("exercise_id,answer", [
    ("rope", "tests/fixtures/rope/half_split.py"),
    ("relative", "tests/fixtures/relative/sign_flipped.py"),
    ("t5_bias", "tests/fixtures/t5_bias/direction_flipped.py"),
    # graders that name their mistakes themselves skip it there (api.naming)
    ("rope_2d", "tests/fixtures/rope_2d/axes_swapped.py"),
    ("rope_neox", "tests/fixtures/rope_neox/interleaved.py"),
    ("rope_convert", "tests/fixtures/rope_convert/inverse_swapped.py"),
], ids=lambda v: v.split("/")[-1])
def test_later_cases_judged_only_for_a_heatmap_change_nothing_in_the_report(
        tmp_path, monkeypatch, exercise_id, answer):
    """The cases after a check's first failure are judged only for a heatmap large
    enough to show (judge._larger_heatmap), so the mistake is not named for them
    (api.heat_only): the report is the one naming every case gives."""
    import contextlib

    path = tmp_path / judge.RECORDS_FILE
    path.write_bytes(records_of(exercise_id, ROOT / answer))
    reports = []
    for named in (False, True):
        if named:
            monkeypatch.setattr(judge, "heat_only", contextlib.nullcontext)
        ahead = ahead_over(exercise_id, path)
        while ahead.step() is not None:
            pass
        reports.append(graded(exercise_id, ROOT / answer, tmp_path, ahead))
    assert reports[0] == reports[1]
    assert not reports[0]["passed"] and any(c.get("heatmap") for c in reports[0]["checks"])
