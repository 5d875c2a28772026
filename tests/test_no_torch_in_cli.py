"""The CLI process never imports torch: list, start, hint, reveal, the practice
commands and --help must start as fast as typer and rich allow. Grading runs in
children."""

import pytest
from conftest import heavy_imports

COMMANDS = [["--help"], ["list"], ["start", "rope"], ["hint", "rope"], ["reveal", "rope", "--raw"],
            ["check", "rope", "--json"], ["stats"], ["next"], ["doctor"], ["bench", "--help"],
            ["mock", "status"], ["mock", "start", "--no-live", "-e", "rope"], ["learn", "rope"],
            ["learn", "t5_bias", "--lang", "zh"], ["learn", "rope_scaling"],
            ["debug", "rope", "--seed", "1"], ["mock", "--help"], ["watch", "--help"]]


@pytest.fixture(scope="session")
def held(tmp_path_factory):
    """Every command of COMMANDS in one process, in turn (conftest.heavy_imports)."""
    return heavy_imports(tmp_path_factory, "no-torch-in-cli", COMMANDS)


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_command_does_not_import_torch(args, held):
    seen = held[" ".join(args)]
    assert not seen["before"], f"not known: an earlier command imported {seen['before']}"
    assert seen["now"] == [], f"`drillpe {' '.join(args)}` imported {seen['now']}"
