"""The whole grader and the bench on CUDA, for every exercise.

Skipped (cleanly, one line) on a machine without CUDA, so it is safe in the
normal suite. On a GPU machine run it on its own:

    python -m pytest tests/gpu -v -s        # or: python tests/gpu/test_cuda.py

With about 250 fixtures graded cold (two processes each) this takes minutes;
on a many-core GPU machine spread it with pytest-xdist and keep -v, so that
every result is printed as it completes even if a time limit cuts the run:

    python -m pytest tests/gpu -v -n 12 -k "not bench"   # then: -k bench

It checks, on the GPU: each reference passes every check (core and extra,
bf16/fp16 included: inputs, learner code and float64 references all on the
same CUDA device); every hand-written fixture gets the verdict and diagnoses
its header declares (as tests/test_fixtures.py does on the CPU); a file that
hard-codes .cuda() is still reported; `drillpe bench ID --device cuda` runs
at the realistic CUDA sizes for every exercise and names the slow RoPE
fixtures' causes. The bench reports are printed (-s) for the record.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

if __name__ == "__main__":  # run as a script: the same tests, verbose, with the bench output
    sys.exit(subprocess.call([sys.executable, "-m", "pytest", "-v", "-s", __file__]))

import pytest  # noqa: E402

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device: the GPU tests run only on a machine with one",
                allow_module_level=True)

TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS))
from conftest import FIXTURES, ROOT, run_cli  # noqa: E402

from drillpe.data import catalog  # noqa: E402
from drillpe.launch.runner import GradeRequest, grade  # noqa: E402

HEADER = re.compile(r"^#\s*expect:\s*(pass|fail)\b(.*)$", re.M)
# Where a fixture's own code behaves otherwise on CUDA (torch's kernels differ), its
# header says so: "# expect-cuda: fail CODES", under the CPU's "# expect:".
CUDA_HEADER = re.compile(r"^#\s*expect-cuda:\s*(pass|fail)\b(.*)$", re.M)
SLOW = TESTS / "fixtures_bench"
EXERCISES = catalog.ids()


def fixture_files():
    return sorted(p for p in FIXTURES.glob("*/*.py") if HEADER.search(p.read_text()))


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_reference_passes_every_check_on_cuda(exercise_id, isolated_places):
    ws = isolated_places["workspace"]
    ws.mkdir(parents=True)
    shutil.copy(ROOT / "solutions" / f"{exercise_id}.py", ws / f"{exercise_id}.py")
    res = run_cli("check", exercise_id, "--device", "cuda", "--json", timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    [result] = json.loads(res.stdout)["results"]
    assert result["device"] == "cuda"
    failing = [c for c in result["checks"] if c["status"] != "pass"]
    assert not failing, failing  # extra checks too: bf16/fp16 at the contract's tolerances


@pytest.mark.parametrize("path", fixture_files(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fixture_verdict_on_cuda(path):
    text = path.read_text()
    verdict, codes = (CUDA_HEADER.search(text) or HEADER.search(text)).groups()
    result = grade(GradeRequest(exercise_id=path.parent.name, file=path, device="cuda",
                                timeout=120))
    summary = "\n".join(f"  {c.id} [{c.level}] {c.status}: {c.message} {c.diagnosis}"
                        for c in result.checks)
    assert result.passed == (verdict == "pass"), summary
    expected = set(codes.split())
    if "device.hardcoded_cuda" in expected:
        # On a GPU a hard-coded .cuda() runs (the inputs are on CUDA already), so the crash
        # a CPU machine reports does not happen; the call is still found in the source.
        expected.discard("runtime.exception")
    assert set(result.diagnoses) == expected, summary


# `check --consequence`: the reference's stack runs on the grading device in the judge,
# the learner's hidden states arrive on the CPU; the two must meet without a device error.
@pytest.mark.parametrize("exercise_id, path", [
    ("rope", FIXTURES / "rope" / "half_split.py"),
    ("rope_neox", ROOT / "solutions" / "rope_neox.py"),
    ("alibi", ROOT / "solutions" / "alibi.py"),
], ids=["rope-half_split", "rope_neox-model", "alibi-model"])
def test_consequence_on_cuda(exercise_id, path):
    result = grade(GradeRequest(exercise_id=exercise_id, file=path, device="cuda",
                                timeout=120, consequence=True))
    shown = result.consequence
    assert shown is not None and shown["status"] == "ok", shown
    assert len(shown["divergence"]) == len(shown["positions"])
    if path.parent.name == "rope":  # a wrong rotation diverges somewhere
        assert shown["from_position"] is not None, shown


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_bench_on_cuda(exercise_id, isolated_places):
    ws = isolated_places["workspace"]
    ws.mkdir(parents=True)
    shutil.copy(ROOT / "solutions" / f"{exercise_id}.py", ws / f"{exercise_id}.py")
    res = run_cli("bench", exercise_id, "--device", "cuda", "--json", timeout=900)
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads(res.stdout)
    assert doc["device"] == "cuda" and doc["device_name"]
    target = doc["targets"][0]
    assert target["error"] is None and target["learner"]["median_s"] > 0
    assert target["refused"] == [], target["refused"]  # events, syncs and checks on a GPU
    print(f"\n{exercise_id}: production {target['reference']['median_s'] * 1e3:.3g} ms, "
          f"roofline share {target['reference_roofline']} (yours {target['learner_roofline']})")


@pytest.mark.parametrize("name, cause", [("rope_slow_loop", "bench.python_loop"),
                                         ("rope_table_every_call", "bench.table_rebuilt"),
                                         ("rope_fast", None)])
def test_bench_causes_on_cuda(name, cause):
    res = run_cli("bench", "rope", "--file", SLOW / f"{name}.py", "--device", "cuda",
                  timeout=900)
    print(res.stdout)
    assert res.returncode == 0, res.stderr
    if cause:
        assert cause in res.stdout
    else:
        assert "bench." not in res.stdout

