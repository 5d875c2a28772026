"""Text from learner code is shown as text, never obeyed by the terminal.

Learner code controls its prints, its exception messages and the reprs of
what it returns. Before any of it reaches a scorecard or a JSON report,
every control character but newline and tab (ESC sequences that clear the
screen or paint a fake PASS, carriage returns that overwrite a line, C1
controls) and every bidirectional override (text that displays in another
order than it reads) is replaced by a visible stand-in.
"""

from __future__ import annotations

import re

from drillpe.results.report import ExerciseResult

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _stand_in(match: re.Match) -> str:
    char = match.group()
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # ␛ for ESC, ␍ for CR, ...
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"\\u{code:04x}" if code > 0xFF else f"\\x{code:02x}"


def neutralise(text: str) -> str:
    return _UNSAFE.sub(_stand_in, text) if text else text


def neutralise_result(result: ExerciseResult) -> ExerciseResult:
    """Every string in a report that learner code could have written."""
    result.output = neutralise(result.output)
    if result.error:
        result.error = {k: neutralise(v) if isinstance(v, str) else v
                        for k, v in result.error.items()}
    for check in result.checks:
        check.message = neutralise(check.message)
        check.traceback = [neutralise(line) for line in check.traceback]
    if result.consequence and isinstance(result.consequence.get("message"), str):
        result.consequence["message"] = neutralise(result.consequence["message"])
    return result
