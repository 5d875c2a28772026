"""drillpe bench: refuses wrong answers, times right ones against the
reference and a copy roofline, and names recognisable causes of slowness.

Runs with --quick (small inputs, few runs): these tests check what the bench
says, never how fast anything is (speed lives in benchmarks/)."""

import json
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT, run_cli

from drillpe.data import catalog
from drillpe.launch.bench import Cause, TargetBench, explain

SLOW = Path(__file__).resolve().parent / "fixtures_bench"


def bench_json(*args):
    res = run_cli("bench", *args, "--quick", "--json", timeout=300)
    return res, (json.loads(res.stdout) if res.stdout.strip() else None)


def causes(doc):
    return [c["code"] for c in doc["targets"][0]["causes"]]


def test_refuses_an_answer_that_fails_its_core_checks():
    res = run_cli("bench", "rope", "--file", FIXTURES / "rope" / "half_split.py", "--quick")
    assert res.returncode == 1, res.stderr
    assert "does not pass its core checks" in res.stderr
    assert "rope.half_split" in res.stderr
    assert "median" not in res.stdout  # nothing was timed


def test_refusal_as_json():
    res, doc = bench_json("rope", "--file", FIXTURES / "rope" / "half_split.py")
    assert res.returncode == 1
    assert doc["refused"] is True and doc["check"]["passed"] is False


def test_loop_over_positions_is_named():
    res, doc = bench_json("rope", "--file", SLOW / "rope_slow_loop.py")
    assert res.returncode == 0, res.stderr
    target = doc["targets"][0]
    assert target["name"] == "RoPE" and target["error"] is None
    assert target["learner"]["runs"] >= 3 and target["reference"]["runs"] >= 3
    assert "bench.python_loop" in causes(doc)
    loop = next(c for c in target["causes"] if c["code"] == "bench.python_loop")
    assert "positions" in loop["message"]
    assert target["python_work"]["axes"]["L"]["ops"] > 1.5 * target["python_work"]["base_ops"]


def test_table_rebuilt_every_call_is_named():
    res, doc = bench_json("rope", "--file", SLOW / "rope_table_every_call.py")
    assert res.returncode == 0, res.stderr
    assert causes(doc) == ["bench.table_rebuilt"]


def test_fast_answer_has_no_causes_and_a_roofline():
    res, doc = bench_json("rope", "--file", SLOW / "rope_fast.py")
    assert res.returncode == 0, res.stderr
    target = doc["targets"][0]
    assert causes(doc) == []
    assert target["bytes_moved"] == 4 * 1 * 2 * 256 * 64 * 4  # q, k read and written
    assert target["copy"]["median_s"] > 0
    for key in ("ratio", "learner_roofline", "reference_roofline", "learner_bandwidth_gbs"):
        assert target[key] > 0, key
    assert doc["device"] == "cpu" and doc["threads"] == 1 and doc["quick"] is True


def test_scorecard_text(tmp_path):
    res = run_cli("bench", "rope", "--file", SLOW / "rope_slow_loop.py", "--quick",
                  timeout=300)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    for expected in ("yours", "reference", "copy", "median", "q1–q3", "vs reference",
                     "slower", "bench.python_loop", "roofline"):
        assert expected in out, expected
    assert "\x1b[" not in out  # not a terminal: no ANSI codes


def test_a_model_answer_is_benched_through_the_cli(isolated_places):
    """The model answer as the learner's file, end to end (rope; every other
    exercise's bench spec is run in process below)."""
    ws = isolated_places["workspace"]
    ws.mkdir(parents=True)
    shutil.copy(ROOT / "solutions" / "rope.py", ws / "rope.py")
    res, doc = bench_json("rope")
    assert res.returncode == 0, res.stderr
    target = doc["targets"][0]
    assert target["error"] is None
    assert not [c for c in target["causes"] if c["code"] == "bench.python_loop"]


@pytest.mark.parametrize("exercise_id", catalog.ids())
def test_every_bench_spec_runs_on_its_model_answer(exercise_id):
    """graders/bench/ID.py builds inputs, calls the model answer at the quick
    size and traces it, as the learner's timing process does; the model answer
    makes no Python loop over any axis."""
    import torch

    from drillpe.data import bundle
    from drillpe.grading.bench_child import python_work, trace_call
    from drillpe.grading.bench_specs import size_for, targets
    from drillpe.grading.loading import load_module

    answer = load_module(bundle.solution_path(exercise_id), f"bench_answer_{exercise_id}")
    cpu, f32 = torch.device("cpu"), torch.float32
    found = targets(exercise_id)
    assert found, f"graders/bench/{exercise_id}.py declares no TARGETS"
    for target in found:
        size = size_for(target, "cpu", quick=True)
        with torch.no_grad():
            x = target.inputs(size, cpu, f32, torch.Generator().manual_seed(0))
            target.prepare(answer, x, size)()
            trace = trace_call(target, answer, size, cpu, f32, 0, False)
            work = python_work(target, answer, cpu, f32, 0)
        bench = TargetBench(name=target.name, call=target.call, size=size, learner=None,
                            reference={"median_s": 1.0}, trace=trace, python_work=work)
        assert "bench.python_loop" not in [c.code for c in explain(bench, "cpu")], work


def test_missing_learner_file_is_a_usage_error():
    res = run_cli("bench", "rope")
    assert res.returncode == 2
    assert "drillpe start rope" in res.stderr


def test_unknown_exercise_suggests():
    res = run_cli("bench", "rpoe")
    assert res.returncode == 2 and "Did you mean rope" in res.stderr


def test_cuda_unavailable_is_a_usage_error():
    probe = run_cli("doctor", "--json")
    cuda = next(c for c in json.loads(probe.stdout)["checks"] if c["what"] == "cuda")
    if cuda["available"]:
        pytest.skip("this machine has CUDA")
    res = run_cli("bench", "rope", "--file", SLOW / "rope_fast.py", "--device", "cuda")
    assert res.returncode == 2 and "CUDA is not available" in res.stderr


# --------------------------------------------------------------------------- explain (no processes)


def _target(base_ops=40, grown=None, const=0.0, syncs=None, transfers=0):
    return TargetBench(
        name="RoPE", call="RoPE(q, k)", size={"B": 1, "H": 8, "L": 2048, "D": 128},
        learner={"median_s": 2.0}, reference={"median_s": 1.0},
        trace={"ops": 9000, "written": 1000, "const_written": int(1000 * const),
               "syncs": syncs or {},
               "transfers": transfers, "const_top": ["sin", "cos"], "has_data_inputs": True},
        python_work={"base_ops": base_ops, "axes": {
            "L": {"meaning": "positions", "base": 32, "size": 64, "ops": grown or base_ops},
            "H": {"meaning": "heads", "base": 2, "size": 4, "ops": base_ops}}})


def test_explain_recognises_each_cause():
    assert explain(_target(), "cpu") == []
    [loop] = explain(_target(grown=80), "cpu")
    assert loop.code == "bench.python_loop" and "positions" in loop.message
    assert "9000" in loop.message
    assert [c.code for c in explain(_target(const=0.5), "cpu")] == ["bench.table_rebuilt"]
    [sync] = explain(_target(syncs={"item": 3}), "cuda")
    assert sync.code == "bench.host_sync" and "3 host–device" in sync.message
    assert "would wait" in explain(_target(syncs={"item": 1}), "cpu")[0].message
    assert explain(_target(transfers=2), "cuda")[0].code == "bench.device_copy"


def test_explain_ignores_small_growth():
    # one extra call when a dimension doubles (a shape check) is not a loop
    assert explain(_target(base_ops=40, grown=41), "cpu") == []
    assert isinstance(Cause("x", "y"), Cause)
