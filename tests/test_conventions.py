"""Conventions users expect from a command-line tool: no ANSI codes when
output is not a terminal, no colour with NO_COLOR, --quiet, a close match
for a mistyped id, shell completion, and no torch in the CLI process for
bench and doctor (they time and probe in child processes)."""

import re
from pathlib import Path

import pytest
from conftest import (
    FIXTURES,
    SWAPPED,
    as_record,
    cli_in_process,
    completed,
    isolate,
    once_per_session,
    probe_cli,
    probed_once,
    run_cli,
)

from drillpe.app import complete_exercise_id
from drillpe.data import catalog

SLOW_LOOP = Path(__file__).resolve().parent / "fixtures_bench" / "rope_slow_loop.py"
HALF = FIXTURES / "rope" / "half_split.py"
COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])(?:;[0-9;]*)?m")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

# A bench run starts four torch processes (grading, then the learner's and the
# production code's timing processes), so the tests below that ask different things of
# the same bench run share it (conftest.once_per_session: once per pytest run, whichever
# xdist workers the tests land on).
# --budget 0.05: what these tests read (colour, the quiet text, no torch in the CLI)
# does not depend on how long each side is timed; a second a run fewer.
QUIET_BENCH = ["bench", "rope", "--file", SLOW_LOOP, "--quick", "--budget", "0.05", "--quiet"]
PROBED_BENCH = ["bench", "rope", "--file", str(SLOW_LOOP), "--quick", "--budget", "0.05"]


@pytest.fixture(scope="module")
def quiet_bench(tmp_path_factory):
    """`bench rope --file SLOW_LOOP --quick --quiet` as on a terminal (FORCE_COLOR=1), then
    with NO_COLOR=1 too: (forced, plain). test_no_colour_with_no_color_even_on_a_terminal
    compares the two; test_bench_quiet_leaves_out_the_explanations reads the plain one."""
    def make():
        with pytest.MonkeyPatch.context() as patch:
            isolate(patch, tmp_path_factory.mktemp("quiet-bench"))
            patch.delenv("NO_COLOR", raising=False)
            forced = run_cli(*QUIET_BENCH, env={"FORCE_COLOR": "1"}, timeout=300)
            plain = run_cli(*QUIET_BENCH, env={"FORCE_COLOR": "1", "NO_COLOR": "1"},
                            timeout=300)
        return [as_record(forced), as_record(plain)]

    forced, plain = once_per_session(tmp_path_factory, "quiet-bench", make)
    return completed(forced), completed(plain)


# Every command, in a form that produces styled output when allowed to. The ones that
# start torch processes are run once each, by a test that asks more of the same run:
# `check --file SWAPPED sinusoidal` by test_check_quiet_is_shorter, `bench rope --file HALF` by
# tests/test_bench.py's test_refuses_an_answer_that_fails_its_core_checks, `doctor` and
# `bench rope --file SLOW_LOOP` by test_bench_and_doctor_do_not_import_torch.
COMMANDS = [
    ["--help"], ["list"], ["start", "rope"], ["hint", "rope"], ["reveal", "rope"],
    ["reveal", "rope", "--diff"], ["reset", "rope"], ["check", "rpoe"],
]


def _prepare(capsys):
    """`drillpe start rope`, run in this process: only the command under test needs a
    process of its own."""
    assert cli_in_process(capsys, "start", "rope")[0] == 0


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(map(str, a))[:40])
def test_no_ansi_codes_when_not_a_terminal(args, isolated_places, monkeypatch, capsys):
    _prepare(capsys)
    monkeypatch.delenv("NO_COLOR", raising=False)
    res = run_cli(*args, timeout=300)
    assert res.returncode in (0, 1, 2), res.stderr
    assert "\x1b[" not in res.stdout and "\x1b[" not in res.stderr


@pytest.mark.parametrize("args", [["list"], ["check", "rope", "--file", HALF], ["doctor"],
                                  QUIET_BENCH], ids=lambda a: a[0])
def test_no_colour_with_no_color_even_on_a_terminal(args, isolated_places, monkeypatch, request):
    monkeypatch.delenv("NO_COLOR", raising=False)
    if args == QUIET_BENCH:  # the same two runs as test_bench_quiet_leaves_out_the_explanations
        forced, plain = request.getfixturevalue("quiet_bench")
    else:
        forced = run_cli(*args, env={"FORCE_COLOR": "1"}, timeout=300)
        plain = run_cli(*args, env={"FORCE_COLOR": "1", "NO_COLOR": "1"}, timeout=300)
    assert COLOUR.search(forced.stdout + forced.stderr), "FORCE_COLOR should give colour"
    assert not COLOUR.search(plain.stdout + plain.stderr)


def test_check_quiet_is_shorter(scratch_check, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)  # not a terminal: no ANSI codes anyway
    full, _ = scratch_check  # `check --file SWAPPED sinusoidal`, NO_COLOR unset too
    quiet = run_cli("check", "--file", SWAPPED, "sinusoidal", "--quiet")
    assert full.returncode == quiet.returncode == 1
    for res in (full, quiet):
        assert "\x1b[" not in res.stdout and "\x1b[" not in res.stderr
    assert "sinusoidal.sin_cos_swapped" in quiet.stdout
    assert len(quiet.stdout.splitlines()) < len(full.stdout.splitlines())
    assert "drillpe hint" not in quiet.stdout


def test_bench_quiet_leaves_out_the_explanations(quiet_bench):
    # the NO_COLOR run of test_no_colour_with_no_color_even_on_a_terminal: FORCE_COLOR=1
    # may leave bold and the like, so the text is read without escape sequences
    for quiet in quiet_bench:
        assert quiet.returncode == 0, quiet.stderr
    text = ANSI.sub("", quiet_bench[1].stdout)
    assert "median" in text and "slower" in text
    assert "bench.python_loop" not in text


@pytest.mark.parametrize("command", ["start", "check", "hint", "reveal", "reset", "bench"])
def test_mistyped_id_gets_a_close_match(cli, command):
    res = cli(command, "sinusiodal")
    assert res.returncode == 2
    assert "Did you mean sinusoidal?" in res.stderr
    assert "Traceback" not in res.stderr


def test_exercise_ids_complete():
    assert complete_exercise_id("rope_") == ["rope_neox", "rope_scaling", "rope_2d", "rope_convert"]
    assert complete_exercise_id("a") == ["alibi"]
    assert complete_exercise_id("")[:4] == ["sinusoidal", "learnable", "relative", "rope"]
    assert len(complete_exercise_id("")) == len(catalog.ids())
    assert complete_exercise_id("x") == []


@pytest.mark.parametrize("command", ["check", "bench", "hint"])
def test_shell_completion_offers_exercise_ids(command):
    res = run_cli(env={"_DRILLPE_COMPLETE": "complete_bash",
                       "COMP_WORDS": f"drillpe {command} r", "COMP_CWORD": "2"})
    assert res.returncode == 0, res.stderr
    assert set(res.stdout.split()) == {"relative", "rope", "rope_neox", "rope_scaling", "rope_2d",
                                       "rope_convert"}


def test_completion_install_is_offered(cli):
    res = cli("--help")
    assert "--install-completion" in res.stdout and "--show-completion" in res.stdout


@pytest.fixture(scope="module")
def bench_probe(tmp_path_factory):
    """`bench rope --file SLOW_LOOP --quick` through conftest's PROBE, NO_COLOR unset: read
    by test_bench_and_doctor_do_not_import_torch and test_scorecard_text."""
    return probed_once(tmp_path_factory, "bench-probe", *PROBED_BENCH)


@pytest.mark.parametrize("args", [["doctor"], PROBED_BENCH, ["bench", "--help"]],
                         ids=lambda a: " ".join(a[:2]))
def test_bench_and_doctor_do_not_import_torch(args, monkeypatch, request):
    """The CLI's own process, as `python -m drillpe` runs it (drillpe/__main__.py calls
    cli.main), with NO_COLOR unset: also test_no_ansi_codes_when_not_a_terminal for these."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    if args == PROBED_BENCH:  # the run test_scorecard_text reads
        res = request.getfixturevalue("bench_probe")
    elif args == ["doctor"]:  # the run tests/test_doctor.py's test_doctor_text reads
        res = request.getfixturevalue("doctor_probe")
    else:
        res = probe_cli(*args)
    marker = [line for line in res.stderr.splitlines() if line.startswith("HEAVY:")]
    assert marker == ["HEAVY:"], res.stderr
    [exit_line] = [line for line in res.stderr.splitlines() if line.startswith("EXIT:")]
    assert exit_line in ("EXIT:0", "EXIT:1", "EXIT:2"), res.stderr
    assert "\x1b[" not in res.stdout and "\x1b[" not in res.stderr


def test_scorecard_text(bench_probe):
    """The bench's full scorecard as `python -m drillpe bench` prints it in a pipe (the
    probe's run: the same cli.main, NO_COLOR unset). Lives here, beside the probe, so that
    one bench run serves both."""
    res = bench_probe
    assert "EXIT:0" in res.stderr.splitlines(), res.stderr
    out = res.stdout
    for expected in ("yours", "production", "copy", "median", "q1–q3", "vs prod.",
                     "slower", "bench.python_loop", "of the copy roofline", "Where the time goes",
                     "timed from outside the process", "matched the reference"):
        assert expected in " ".join(out.split()), expected  # rich wraps at 80 columns
    assert "\x1b[" not in out  # not a terminal: no ANSI codes


@pytest.mark.parametrize("args", [["list"], ["reveal", "rope"]])
def test_a_reader_that_leaves_early_is_not_a_failure(args):
    """`drillpe list | head -1`: once the pipe's reader is gone drillpe stops quietly
    and exits as a program killed by SIGPIPE does (141), not with 1 ("failed")."""
    import os
    import subprocess
    import sys

    from conftest import ROOT

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has already left
    try:
        res = subprocess.run([sys.executable, "-m", "drillpe", *args], stdout=write_end,
                             stderr=subprocess.PIPE, text=True, timeout=60,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        os.close(write_end)
    assert res.returncode == 141, res.stderr
    assert "Traceback" not in res.stderr
