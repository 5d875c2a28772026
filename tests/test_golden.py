"""Golden reports: the exact JSON the judge writes for a few learner files.

Regenerate after an intended change with DRILLPE_UPDATE_GOLDEN=1 and review
the diff like code. Graded through the shared warm workers (the judge writes
the same report either way: tests/test_fixtures.py proves cold agrees).
"""

import json
import os
from pathlib import Path

import pytest

from drillpe.launch.runner import GradeRequest, grade

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
CASES = {
    "sinusoidal-seed": ("sinusoidal", "fixtures/sinusoidal/seed_code.py"),
    "sinusoidal-swapped": ("sinusoidal", "fixtures/sinusoidal/sin_cos_swapped.py"),
    "sinusoidal-stub": ("sinusoidal", "../exercises/sinusoidal/stub.py"),
    "sinusoidal-syntax": ("sinusoidal", "golden/learner_syntax_error.py"),
    "sinusoidal-import": ("sinusoidal", "golden/learner_import_error.py"),
    "learnable-seed": ("learnable", "fixtures/learnable/seed_code.py"),
    "relative-seed": ("relative", "fixtures/relative/seed_code.py"),
    "rope-half-split": ("rope", "fixtures/rope/half_split.py"),
    "rope-correct": ("rope", "fixtures/rope/correct_complex.py"),
}
VOLATILE = ("duration_s", "file", "output", "isolation")


def normalised(result) -> dict:
    data = result.to_dict()
    for key in VOLATILE:
        data.pop(key)
    return data


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_report(name, warm):
    exercise, rel = CASES[name]
    result = grade(GradeRequest(exercise, HERE / rel, timeout=60), launcher=warm)
    got = normalised(result)
    path = GOLDEN / f"{name}.json"
    if os.environ.get("DRILLPE_UPDATE_GOLDEN"):
        path.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n")
    assert got == json.loads(path.read_text())
