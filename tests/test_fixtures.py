"""Every hand-written learner file under tests/fixtures/<exercise>/ gets
exactly the verdict and diagnoses its header declares:

    # expect: pass
    # expect: fail rope.half_split
    # error: not_implemented          (optional: the report's error kind)

`pass`/`fail` is the exercise verdict (all core checks pass or not); the codes
are the exact set of diagnosis codes over all checks (core and extra), so a
correct file must come out with no diagnosis at all. (Untouched stubs are
graded straight from exercises/ by tests/test_catalog.py.)

tests/corpus/<exercise>/*.py holds real-world implementations rewritten to the
exercise APIs (their source named in a `# source:` header line, listed in
tests/corpus/README.md), with the same `# expect:` header; they are graded warm only.

Every fixture is graded through warm workers (drillpe.launch.warm_pool: torch imported
once, a fresh forked learner and judge process per grade; the `warm` fixture of
conftest.py), which keeps the suite fast. A subset is also graded cold, the way
`drillpe check` does, and must agree: every attack whose outcome depends on the
process it runs in (its lifetime, threads, finalisers, memory limit, stdio, the
records fd, what its file system shows, what sys.modules holds), one attack on the
source scan, and one right and one wrong answer (these three with both processes
cold; the process attacks with a cold learner beside a warm judge: ColdLearner below).
The other attacks and answers are
decided by code both paths share (the source scan and the judge read the file's
text; the harness sends the same records), which
test_cold_and_warm_grades_run_the_same_entry_points pins down: a cold grade costs
two torch imports, about 3 s of CPU each on the CI machine, a warm one about 0.1 s.
"""

import os
import re
import shutil
from pathlib import Path

import pytest

from drillpe.data import catalog
from drillpe.devtools import fixture_expectation
from drillpe.grading.static import analyse
from drillpe.launch.runner import GradeRequest, grade
from drillpe.launch.warm_pool import launcher as warm_launcher

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# Real-world implementations (HF, Meta, GPT-J, x-transformers, timm, ...), rewritten
# to the exercise APIs with their conventions kept: graded warm only, same header plus
# a `# source:` line (tests/corpus/README.md lists them).
CORPUS = Path(__file__).resolve().parent / "corpus"
SOURCE = re.compile(r"^#\s*source:\s*\S", re.M)
ERROR = re.compile(r"^#\s*error:\s*(\w+)\s*$", re.M)


def fixture_files():
    return sorted(p for p in FIXTURES.glob("*/*.py") if fixture_expectation(p))


def corpus_files():
    return sorted(CORPUS.glob("*/*.py"))


def expectation(path: Path):
    passed, codes = fixture_expectation(path)
    error = ERROR.search(path.read_text())
    return passed, codes, error.group(1) if error else None


# Attacks on the process itself: what they do depends on how the learner process was
# started (cold: a fresh interpreter under the supervisor; warm: forked from a worker
# that imported torch and the graders already).
PROCESS_ATTACKS = {
    "alibi/attack_forged_empty_shape", "rope/attack_reads_oracle",
    "rope_neox/attack_mutation_hidden", "sinusoidal/attack_empty_cases",
    "sinusoidal/attack_finaliser", "sinusoidal/attack_forged_records",
    "sinusoidal/attack_forged_report", "sinusoidal/attack_gc_callback",
    "sinusoidal/attack_huge_allocation", "sinusoidal/attack_os_exit",
    "sinusoidal/attack_patch_allclose", "sinusoidal/attack_patch_harness",
    "sinusoidal/attack_patch_os_write", "sinusoidal/attack_reads_reference",
    "sinusoidal/attack_sys_exit", "sinusoidal/attack_terminal_escapes",
    "sinusoidal/attack_thread", "sinusoidal/attack_thread_rewrites",
    "sinusoidal/attack_zero_stride_output",
}
# One attack on the source scan (caught both statically and at run time), one right
# answer, one wrong answer with its diagnosis.
REPRESENTATIVES = {"rope/attack_sdpa_wrapped", "rope/correct_complex", "rope/half_split"}


def _name(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


COLD = [p for p in fixture_files() if _name(p) in PROCESS_ATTACKS | REPRESENTATIVES]


def test_every_cold_fixture_exists_and_every_attack_is_classified():
    """A renamed fixture cannot silently drop out of the cold run; a new attack is
    graded cold until someone decides it attacks only the source."""
    names = {_name(p) for p in fixture_files()}
    assert PROCESS_ATTACKS | REPRESENTATIVES <= names
    source_only = {"alibi/attack_annotation_eval", "alibi/attack_enum_builtins",
                   "alibi/attack_lazy_module", "alibi/attack_match_args",
                   "alibi/attack_module_as_value", "alibi/attack_reexported_module",
                   "alibi/attack_sdpa_format_string", "rope/attack_sdpa_aten",
                   "rope/attack_torch_internals",
                   "sinusoidal/attack_forged_api_facts", "sinusoidal/attack_forged_signature",
                   "sinusoidal/attack_storage_type_string",
                   "sinusoidal/attack_redirect_reads_sys", "sinusoidal/attack_enum_convert",
                   "sinusoidal/attack_array_interface",
                   "sinusoidal/attack_enum_functional_dunder"}
    attacks = {n for n in names if n.split("/")[1].startswith("attack_")}
    assert attacks - source_only <= {_name(p) for p in COLD}, \
        "a new attack: add it to PROCESS_ATTACKS (graded cold) or to source_only here"


def test_cold_and_warm_grades_run_the_same_entry_points():
    """Warm and cold differ only in how the two processes start: both run
    drillpe.grading.learner.run and drillpe.grading.judge.run on the arguments
    drillpe.launch.contract.Grade builds, so a verdict proved warm holds cold."""
    import inspect

    from drillpe.grading import judge, learner, warm_worker
    from drillpe.launch import contract
    from drillpe.launch.cold import ColdJudge, ColdLauncher
    from drillpe.launch.warm_pool import WarmPool

    def source(fn):
        return " ".join(inspect.getsource(fn).split())

    # cold: `python -m drillpe.grading.learner ARGS` / `python -m drillpe.grading.judge ARGS`
    # (the judge's made private first: processes.module_argv(private=True))
    assert contract.LEARNER == learner.__name__ and contract.JUDGE == judge.__name__
    assert "module_argv(contract.LEARNER, *job.learner_args(deadline, level))" in \
        source(ColdLauncher.start_learner)
    # (a cold judge also gets the pipe its report's digest goes down: --digest-fd)
    assert 'module_argv(contract.JUDGE, *job.judge_args(str(run_dir)), "--digest-fd", ' \
        'str(digest_w), private=True)' in source(ColdJudge)
    for module in (learner, judge):
        assert "return run(parse_args(argv))" in source(module.main)
    # warm: the same arguments travel in the request, and the forked child runs run()
    assert '"args": job.learner_args(deadline, level)' in source(WarmPool.start_learner)
    assert '"args": job.judge_args(str(run_dir))' in source(WarmPool.start_judge)
    child = source(warm_worker._learner_child)
    assert 'learner.parse_args(request["args"])' in child
    assert "return learner.run(args, grader=grader)" in child
    child = source(warm_worker._judge_child)
    assert 'judge.parse_args(request["args"])' in child
    assert "return judge.run(args, grader=grader, reference=reference)" in child
    # and a preloaded grader is the one a cold run loads from the same file
    preloaded = warm_worker._preload("learner")
    assert set(preloaded) == set(catalog.ids())
    from drillpe.grading.common import load_grader

    for exercise_id, (grader, reference) in preloaded.items():
        assert reference is None  # the learner side never loads a reference
        fresh = load_grader(exercise_id)
        assert [c.id for c in grader.checks] == [c.id for c in fresh.checks], exercise_id


@pytest.mark.parametrize("path", fixture_files(), ids=_name)
def test_fixture_verdict(path, warm):
    assert_verdict(path, launcher=warm)


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: f"corpus/{_name(p)}")
def test_corpus_verdict(path, warm):
    assert fixture_expectation(path), "a corpus file needs a '# expect:' header"
    assert SOURCE.search(path.read_text()), "a corpus file needs a '# source:' header line"
    assert path.parent.name in catalog.ids()
    assert_verdict(path, launcher=warm)


def test_corpus_readme_lists_every_file():
    readme = (CORPUS / "README.md").read_text()
    for path in corpus_files():
        assert f"{path.parent.name}/{path.name}" in readme, path


class ColdLearner:
    """A grade whose learner process starts cold, as `drillpe check` starts it (a fresh
    interpreter under the supervisor), beside a judge forked from a warm judge worker.
    PROCESS_ATTACKS attack the learner's process; the judge only reads what comes back,
    with the same judge.run either way (test_cold_and_warm_grades_run_the_same_entry_points),
    and a cold judge's own defences (its report's digest, a judge killed or stopped) are
    tested in tests/test_sandbox.py. One torch import per grade instead of two: 19 of
    them in this module, about 12 s of the CI run."""

    def __init__(self, warm):
        from drillpe.launch.runner import COLD

        self.cold, self.warm = COLD, warm

    def isolation(self):
        return self.cold.isolation()

    def namespaces_failed(self, why: str) -> None:
        self.cold.namespaces_failed(why)

    def stage_root(self, run_dir):
        return self.cold.stage_root(run_dir)

    def start_judge(self, job, run_dir):
        return self.warm.start_judge(job, run_dir)

    def start_learner(self, *args, **kwargs):
        return self.cold.start_learner(*args, **kwargs)


@pytest.mark.parametrize("path", COLD, ids=_name)
def test_fixture_verdict_cold(path, warm):
    """REPRESENTATIVES go the whole way `drillpe check` goes (both processes cold);
    PROCESS_ATTACKS get a cold learner process and a warm judge (ColdLearner)."""
    cold_judge = _name(path) in REPRESENTATIVES or warm is None
    assert_verdict(path, launcher=None if cold_judge else ColdLearner(warm))


@pytest.fixture(scope="module")
def warm_guard():
    """Workers at the weaker isolation level (no namespaces: macOS, or a
    kernel that refuses user namespaces), where the judge's evidence checks
    and the learner's guards must still catch every attack on their own.
    The level is read when the pool starts: the variable is set only for
    that, so that other tests of this module (the cold grades) keep theirs."""
    saved = os.environ.get("DRILLPE_ISOLATION")
    os.environ["DRILLPE_ISOLATION"] = "guard"
    try:
        pool = warm_launcher()
        launcher = pool.__enter__()
    finally:
        if saved is None:
            os.environ.pop("DRILLPE_ISOLATION", None)
        else:
            os.environ["DRILLPE_ISOLATION"] = saved
    try:
        assert launcher.isolation().level == "guard"
        yield launcher
    finally:
        pool.__exit__(None, None, None)


@pytest.mark.parametrize("path", [p for p in fixture_files() if p.stem.startswith("attack_")],
                         ids=_name)
def test_attack_fails_without_namespaces(path, warm_guard):
    assert_verdict(path, launcher=warm_guard, isolation="guard")


NOT_RUN = "not run: drillpe does not run a file that the rules check refuses"


def assert_verdict(path, launcher, isolation=None):
    passed, codes, error_kind = expectation(path)
    result = grade(GradeRequest(exercise_id=path.parent.name, file=path, timeout=60),
                   launcher=launcher)
    if isolation is not None:
        assert result.isolation == isolation
    hostile = {"rules.tampering", "rules.uses_reference"}
    if result.isolation == "guard" and codes & hostile:
        exercise = catalog.get(path.parent.name)
        read = analyse(path.read_text(), exercise.banned, exercise.banned_modules)
        if hostile & {f.code for f in read.findings}:
            # Without the sandbox a file the rules refuse as hostile is not run: only the
            # rules check's findings remain (what the run showed is proved in the sandbox).
            loads = next(c for c in result.checks if c.id == "file.loads")
            assert (loads.status, loads.message) == ("skip", NOT_RUN + " (below)"), loads
            codes = {c for c in codes if c in {f.code for f in read.findings}}
            error_kind = "rules"
        # else only the learner process's own guards can catch it: it runs, at both levels
    got_codes = set(result.diagnoses)
    summary = "\n".join(f"  {c.id} [{c.level}] {c.status}: {c.message} {c.diagnosis}"
                        for c in result.checks)
    assert result.passed == passed, f"verdict {result.passed}, expected {passed}\n{summary}"
    assert got_codes == codes, f"diagnoses {sorted(got_codes)}, expected {sorted(codes)}\n{summary}"
    if error_kind is not None:
        assert (result.error or {}).get("kind") == error_kind, f"error {result.error}\n{summary}"
    if passed:
        assert result.error is None


def exercise_codes() -> list[str]:
    return sorted(code for eid in catalog.ids() for code in catalog.exercise_diagnoses(eid))


@pytest.mark.parametrize("code", exercise_codes())
def test_every_exercise_diagnosis_has_a_fixture_that_triggers_exactly_it(code):
    alone = [p for p in fixture_files() if expectation(p)[1] == {code}]
    assert alone, f"no fixture under tests/fixtures/ is headed '# expect: fail {code}'"


def test_a_square_grid_assumption_is_named_in_the_core_grid_check(warm):
    """A file that rebuilds its grid from sqrt(n_patches) crashes on every grid
    that is not square and runs on the square ones: the core grid check names
    it, not only the checks whose cases run (divmod's file runs on every grid,
    with the wrong values there)."""
    for name in ("square_grid_eva.py", "square_grid_divmod.py"):
        result = grade(GradeRequest(exercise_id="rope_2d", file=FIXTURES / "rope_2d" / name,
                                    timeout=60), launcher=warm)
        grid = next(c for c in result.checks if c.id == "rope_2d.grid")
        assert grid.level == "core" and grid.status != "pass"
        assert "rope_2d.grid_assumed" in grid.diagnosis, (name, grid.message)


@pytest.mark.parametrize("fixture, codes, said", [
    ("rope_neox/offset_ignored", ["rope_neox.offset_ignored"], "does not read position_ids"),
    ("rope_2d/flat_index", ["output.mismatch"], "it does not read the ids"),
    ("rope/rotates_nothing", ["output.mismatch"], "nothing is rotated by its position")])
def test_the_relative_property_fails_code_whose_output_does_not_move(warm, fixture, codes, said):
    """Code that ignores its positions (or rotates nothing) returns the same for
    positions p and p + offset, or at every position, so its scores are unchanged:
    the property held only because nothing moved (a reviewer's rope_neox file passed
    this check). The check says so; a right answer passes it (correct_*.py in
    test_fixture_verdict)."""
    exercise, name = fixture.split("/")
    result = grade(GradeRequest(exercise_id=exercise, file=FIXTURES / exercise / f"{name}.py",
                                timeout=60), launcher=warm)
    prop = next(c for c in result.checks if c.id == f"{exercise}.relative_property")
    assert prop.status == "fail" and prop.diagnosis == codes, prop
    assert said in prop.message


def test_the_square_grid_pattern_needs_every_square_to_run_and_every_other_to_crash():
    from graders.rope_2d import square_only  # the grader module, in process

    def grids(*pairs):
        return [({"grid": grid}, crashed) for grid, crashed in pairs]

    assert square_only(grids(("1x1", False), ("2x3", True), ("4x4", False)))[0] == \
        ["rope_2d.grid_assumed"]
    assert square_only(grids(("1x1", True), ("2x3", True), ("4x4", True))) is None
    assert square_only(grids(("1x1", False), ("2x3", True), ("4x4", True))) is None
    assert square_only(grids(("1x1", False), ("2x3", False), ("4x4", False))) is None


def test_a_file_the_rules_refuse_is_not_run_without_the_sandbox(tmp_path, warm_guard, monkeypatch):
    """Under the guard, code runs as you: a reviewer's graded file (which failed as
    tampering) planted a `python` on the user's PATH that a later grade ran, and that
    grade passed. A file the rules check refuses as hostile is now not run at all
    there; the test hook DRILLPE_RUN_REFUSED=1 runs it, which proves the marker shows
    a run."""
    marker = tmp_path / "ran"
    learner = tmp_path / "rope.py"
    learner.write_text((FIXTURES / "rope" / "correct_gptj_vectorised.py").read_text()
                       + f"\nopen({str(marker)!r}, 'w').close()\n")
    result = grade(GradeRequest(exercise_id="rope", file=learner, timeout=60),
                   launcher=warm_guard)
    loads = next(c for c in result.checks if c.id == "file.loads")
    assert (loads.status, loads.message) == ("skip", NOT_RUN + " (below)")
    assert not result.passed and set(result.diagnoses) == {"rules.tampering"}
    assert result.error["kind"] == "rules" and "open()" in result.error["message"]
    assert not marker.exists()
    monkeypatch.setenv("DRILLPE_RUN_REFUSED", "1")
    ran = grade(GradeRequest(exercise_id="rope", file=learner, timeout=60), launcher=warm_guard)
    assert marker.exists() and not ran.passed and "rules.tampering" in ran.diagnoses


def test_a_folder_moved_into_a_grade_folders_place_is_not_removed(tmp_path, warm_guard,
                                                                  monkeypatch):
    """A reviewer's code (under the guard) moved its staged folder away and a folder
    of the user's into its place: the grade was an ordinary FAIL and the clean-up
    removed the user's folder. Now the swap is tampering and the folder is left."""
    monkeypatch.setenv("DRILLPE_RUN_REFUSED", "1")  # os.rename, open: the rules refuse them
    victim, where = tmp_path / "victim", tmp_path / "where"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    learner = tmp_path / "rope.py"
    learner.write_text(
        "import os\n"
        "here = os.getcwd()\n"
        f"open({str(where)!r}, 'w').write(here)\n"
        "os.rename(here, here + '-away')\n"
        f"os.rename({str(victim)!r}, here)\n"
        "def RoPE(q, k):\n    raise NotImplementedError\n")
    result = grade(GradeRequest(exercise_id="rope", file=learner, timeout=60),
                   launcher=warm_guard)
    here = Path(where.read_text())
    try:
        assert (here / "keep.txt").read_text() == "mine"
        assert "rules.tampering" in result.diagnoses and "run folder" in result.error["message"]
    finally:
        shutil.rmtree(here, ignore_errors=True)
        shutil.rmtree(f"{here}-away", ignore_errors=True)
