"""The ``drillpe`` command line (cli.md). Commands stay thin and live in
``drillpe/commands/``; this module maps every outcome to an exit code, in one
place. Nothing here imports torch: grading runs in child processes.
"""

from __future__ import annotations

import errno
import sys
import traceback

import typer

from drillpe import render
from drillpe.app import app
from drillpe.commands import (  # noqa: F401  (they register commands)
    core,
    debug_round,
    learn,
    review,
    rounds,
    tools,
)
from drillpe.errors import EXIT_BUG, EXIT_FAILED, EXIT_OK, EXIT_USAGE, DrillpeBug, DrillpeError
from drillpe.launch import processes
from drillpe.launch.processes import Terminated, terminate_on_signals

try:  # newer typer vendors click and raises its own usage errors
    from typer import TyperException as CommandLineError
except ImportError:  # older typer raises click's
    from click import ClickException as CommandLineError


# A folder or disk the user's files cannot be written to: a usage problem
# (exit 2) with the path named, not a drillpe bug.
UNWRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT}
# A workspace or home that is a file, or lies below one: the user's setting, not a bug.
NOT_A_FOLDER = {errno.ENOTDIR, errno.EEXIST}


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and map every outcome to cli.md's exit codes.
    Whatever ends the command (Ctrl-C, SIGTERM, SIGHUP, an error), every
    process it started is killed before it exits."""
    _tolerant_streams()
    try:
        with terminate_on_signals():
            code = _run(argv)
    except Terminated as exc:  # raised again by a handler outside the command
        code = 128 + exc.signum
    if processes.received_signal:  # whatever a layer below made of it
        code = 128 + processes.received_signal
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def _tolerant_streams() -> None:
    """A terminal that cannot show a character (Chinese text on a latin-1
    locale) gets a replacement mark, not a UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="replace")
            except (ValueError, OSError):
                pass


def _run(argv: list[str] | None) -> int:
    try:
        code = app(args=argv, prog_name="drillpe", standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except CommandLineError as exc:
        if hasattr(exc, "show"):
            exc.show()
        else:
            render.error(str(exc))
        code = getattr(exc, "exit_code", EXIT_USAGE)
    except Terminated as exc:
        code = 128 + exc.signum
    except typer.Abort as exc:  # click turns Ctrl-C (and our Terminated) into Abort
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, Terminated):
            code = 128 + cause.signum
        elif isinstance(cause, KeyboardInterrupt):
            code = 130
        else:
            render.error("aborted")
            code = EXIT_FAILED
    except DrillpeBug as exc:
        render.error(str(exc))
        code = EXIT_BUG
    except DrillpeError as exc:
        render.error(str(exc))
        code = exc.exit_code
    except KeyboardInterrupt:
        code = 130
    except OSError as exc:
        if exc.errno in NOT_A_FOLDER:
            render.error(f"cannot use {exc.filename or 'a folder'}: {exc.strerror}; a file "
                         "stands where drillpe needs a folder (check --workspace, "
                         "DRILLPE_WORKSPACE and DRILLPE_HOME). Nothing was changed.")
            return EXIT_USAGE
        if exc.errno not in UNWRITABLE:
            return report_bug(exc)
        render.error(f"cannot write {exc.filename or 'a file'}: {exc.strerror}. drillpe "
                     "changes a file only by writing a new copy and renaming it into place, "
                     "so what was there is as it was.")
        code = EXIT_USAGE
    except Exception as exc:  # anything unexpected is drillpe's fault, said plainly
        code = report_bug(exc)
    return code if isinstance(code, int) else EXIT_OK


def report_bug(exc: BaseException) -> int:
    """Report an unexpected error as drillpe's own bug: the traceback, then the sentence."""

    traceback.print_exception(exc)
    render.error(str(DrillpeBug(f"unexpected {type(exc).__name__}: {exc}")))
    return EXIT_BUG
