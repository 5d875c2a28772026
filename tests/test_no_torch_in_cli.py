"""The CLI process never imports torch: list, start, hint, reveal and --help
must start as fast as typer and rich allow. Grading runs in children."""

import subprocess
import sys

import pytest

PROBE = """
import sys
from drillpe.cli import main
sys.argv = ["drillpe", *{args!r}]
try:
    main()
except SystemExit:
    pass
heavy = sorted(m for m in ("torch", "numpy") if m in sys.modules)
print("HEAVY:" + ",".join(heavy), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--help"], ["list"], ["start", "rope"], ["hint", "rope"],
                                  ["reveal", "rope", "--raw"], ["check", "rope", "--json"],
                                  ["stats"], ["next"], ["doctor"], ["bench", "--help"],
                                  ["mock", "status"],
                                  ["mock", "start", "--no-live", "-e", "rope"],
                                  ["learn", "rope"], ["learn", "t5_bias", "--lang", "zh"],
                                  ["learn", "rope_scaling"], ["debug", "rope", "--seed", "1"]])
def test_command_does_not_import_torch(args):
    res = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], capture_output=True,
                         text=True, timeout=120)
    marker = [line for line in res.stderr.splitlines() if line.startswith("HEAVY:")]
    assert marker == ["HEAVY:"], res.stderr
