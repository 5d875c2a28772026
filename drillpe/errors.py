"""Every error drillpe reports on purpose, and the exit code it maps to (cli.md)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BUG = 3


class DrillpeError(Exception):
    """An error with a message meant for the user and a fixed exit code."""

    exit_code = EXIT_USAGE


class UsageError(DrillpeError):
    """Unknown exercise, missing learner file, bad option, unavailable device."""

    exit_code = EXIT_USAGE


class DrillpeBug(DrillpeError):
    """drillpe itself failed; the message asks for a report."""

    exit_code = EXIT_BUG

    def __init__(self, message: str):
        super().__init__(
            f"{message}\nThis is a bug in drillpe, not in your code. Please report it with the "
            "command you ran and the output above."
        )
