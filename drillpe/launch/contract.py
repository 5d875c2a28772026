"""The contract between drillpe's CLI and the processes it starts, in one
place: which module plays which role, the arguments each takes, the fds
the learner writes to, the exit codes children use to say something, and
the line that tells the judge how the learner process ended.

    judge    python -m drillpe.grading.judge   --exercise --file --device --seed --run-dir
                                               [--consequence]
    learner  python -m drillpe.grading.learner --exercise --file --device --seed [--consequence]
                                               [--deadline] (records on fd 3, stuck dump on fd 4)

``--consequence`` (both or neither): the grade also runs the grader's
consequence checks, after the others (``check --consequence``).
    worker   python -m drillpe.grading.warm_worker    learner|judge   (see drillpe.grading.warm_worker)
    bench    python -m drillpe.grading.bench_child --role learner|reference ...
                                               (the JSON result on fd 3)

The run folder of one grade (private to the CLI, never visible to the
learner) holds ``records.bin`` (written by the CLI from the learner's fd 3,
capped), ``stuck.txt`` (from fd 4) and ``report.json`` (the judge's).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import struct
import sys
from dataclasses import asdict, dataclass

# --------------------------------------------------------------------------- a child's Python

# ``python -c`` and ``python -m`` put the working folder first on sys.path, and
# learner code under the guard can write files there (a json.py or torch.py ran
# inside doctor's torch probe that way): drillpe's children never import from
# it (``-P`` from Python 3.11; before, the same by hand).
_SAFE_PATH = "import sys; del sys.path[0]; "


def python_argv(code: str, *args: str) -> list[str]:
    """``python -c code args`` for a child of drillpe's, never importing from its
    working folder."""
    if sys.version_info >= (3, 11):
        return [sys.executable, "-P", "-c", code, *args]
    return [sys.executable, "-c", _SAFE_PATH + code, *args]


def inherited_environ() -> dict[str, str]:
    """The environment a child of drillpe's starts from: the CLI's, less what the
    CLI's own Python was told to ignore. Children are started without the CLI's
    -E, -I or -s, so a CLI that ignored PYTHONPATH (or PYTHONHOME, ...) or the user
    site-packages would otherwise start children that read them: a reviewer's
    sitecustomize.py and .pth ran in the judge that way, while doctor (which reads
    the CLI's own import path) said nothing could."""
    env = dict(os.environ)
    if sys.flags.ignore_environment:  # -E, or -I
        env = {k: v for k, v in env.items() if not k.startswith("PYTHON")}
    if sys.flags.no_user_site:  # -s, -I or PYTHONNOUSERSITE
        env["PYTHONNOUSERSITE"] = "1"
    return env


JUDGE = "drillpe.grading.judge"
LEARNER = "drillpe.grading.learner"
WORKER = "drillpe.grading.warm_worker"
BENCH = "drillpe.grading.bench_child"

RECORDS_FD = 3
STUCK_FD = 4
# `drillpe bench`'s timing processes mark each timed phase on this fd (the
# stuck dump's slot: a bench has none); the parent timestamps the marks.
BENCH_CLOCK_FD = STUCK_FD
# A bench's learner-side process signs its phase marks and its report with a key
# it takes from this variable (and removes) before the learner's code is loaded:
# code that writes on those fds itself cannot sign (a reviewer's forged a whole
# report, with marks around sleeps, and any timing it liked was shown).
BENCH_KEY_ENV = "DRILLPE_BENCH_KEY"
MARK_SIZE = 9  # the kind (K, L, R, S, B, E, C, D, F or G) and 8 bytes of its tag
# The learner's side times its own check (the guard) this many times between K and L
# marks before the learner's file loads: what the check after each end mark may cost
GUARD_TIMINGS = 3


def _python_hmac(key: bytes, body: bytes, digest: str) -> bytes:
    return hmac.new(key, body, getattr(hashlib, digest)).digest()


# OpenSSL's HMAC, a C function bound when this module loads: hmac.new looks up the
# hmac module's names and runs its Python class as it goes, and code in the same
# process that replaced one of those (the learner's, in a bench's timing process)
# would be handed the key. Python's own where Python has no OpenSSL.
try:
    from _hashlib import hmac_digest as _hmac_digest
except ImportError:  # pragma: no cover
    _hmac_digest = _python_hmac


def signing(key: bytes, _digest=_hmac_digest):
    """The two signers for ``key``: ``mark(kind, index)``, the tag of the
    ``index``-th phase mark of kind b"B", b"E", b"C", b"D", b"F" or b"G", and
    ``report(body)``. Closures over the key and the C HMAC: the bench's timing
    process makes them before the learner's file loads, and a function's defaults
    or a module's names, which the learner's code can replace, would hand over the
    key the first time a mark is signed."""
    digest = _digest

    def mark(kind: bytes, index: int) -> bytes:
        return digest(key, kind + index.to_bytes(8, "little"), "sha256")[:8]

    def report(body: bytes) -> bytes:
        return digest(key, body, "sha256").hex().encode()

    return mark, report


def mark_tag(key: bytes, kind: bytes, index: int) -> bytes:
    return signing(key)[0](kind, index)


def report_tag(key: bytes, body: bytes) -> bytes:
    return signing(key)[1](body)


EXIT_DEVICE_UNAVAILABLE = 4  # the device asked for is not there: a usage error
EXIT_NO_SPEC = 5  # bench: no bench for this exercise

MAX_RECORDS_BYTES = 768 * 1024 * 1024  # what the CLI stores of one grade's records

# How a report's digest travels (a cold judge's digest pipe, a warm judge child's word)
SHA256_HEX = "[0-9a-f]{64}"

RUN_REFUSED_ENV = "DRILLPE_RUN_REFUSED"
RECORDS_FILE = "records.bin"
STUCK_FILE = "stuck.txt"
REPORT_FILE = "report.json"


@dataclass(frozen=True)
class Grade:
    """What one grade is about: the arguments judge and learner share."""

    exercise: str
    file: str  # the staged copy
    device: str
    seed: int
    consequence: bool = False  # also run the consequence checks (judge and learner alike)

    def args(self) -> list[str]:
        return ["--exercise", self.exercise, "--file", self.file, "--device", self.device,
                "--seed", str(self.seed), *(["--consequence"] if self.consequence else [])]

    def judge_args(self, run_dir: str) -> list[str]:
        return [*self.args(), "--run-dir", run_dir]

    def learner_args(self, deadline: float | None, level: str) -> list[str]:
        out = [*self.args(), "--records-fd", str(RECORDS_FD), "--stuck-fd", str(STUCK_FD)]
        # A file the rules refuse as hostile runs only where the sandbox contains it
        # (grading.learner.run), or where the user asks for it: drillpe's own tests try
        # the run-time guards under the guard with such files.
        if level == "namespaces" or os.environ.get(RUN_REFUSED_ENV) == "1":
            out.append("--run-refused")
        if deadline is not None:
            out += ["--deadline", repr(deadline)]
        return out


@dataclass
class LearnerEnd:
    """The line the judge reads on stdin once the learner process is gone."""

    returncode: int | None
    timed_out: bool
    timeout_s: float
    memory_exceeded: bool = False
    memory_limit: int = 0
    records_overflow: bool = False
    harm: str | None = None  # what the learner's code did to drillpe's processes

    def line(self) -> bytes:
        return (json.dumps(asdict(self)) + "\n").encode()


# The warm learner worker's control socket: length-prefixed JSON, with fds.


def send_message(sock: socket.socket, message: dict, fds: list[int] = ()) -> None:
    data = json.dumps(message).encode()
    payload = struct.pack("<I", len(data)) + data
    if fds:
        socket.send_fds(sock, [payload], list(fds))
    else:
        sock.sendall(payload)


MESSAGE_MAX = 16 * 1024 * 1024


def receive_message(sock: socket.socket, max_fds: int = 0) -> tuple[dict | None, list[int]]:
    """One message (None: the other side closed) and the fds that came with it.
    Exactly its bytes are read: a message sent right after it (the warm learner
    worker's "gone" after its early answer) stays in the socket for the next call."""
    if max_fds:
        head, fds, _, _ = socket.recv_fds(sock, 4, max_fds)
    else:
        head, fds = sock.recv(4), []
    head += _exactly(sock, 4 - len(head)) if head else b""
    if len(head) < 4:
        return None, fds
    (size,) = struct.unpack("<I", head)
    if size > MESSAGE_MAX:
        raise ValueError(f"a control message of {size} bytes")
    body = _exactly(sock, size)
    if len(body) < size:
        return None, fds
    return json.loads(body), fds


def _exactly(sock: socket.socket, size: int) -> bytes:
    """``size`` bytes, or fewer where the other side closed first."""
    data = b""
    while len(data) < size:
        more = sock.recv(size - len(data))
        if not more:
            break
        data += more
    return data


def syntax_message(exc: SyntaxError) -> str:
    """The sentence for a syntax error: the judge's report and the CLI's quick
    answer (drillpe.launch.quick) word it the same way. The line is quoted: unquoted,
    `x = (` read as "(line 26: x = ()", its bracket lost in the sentence's."""
    text = (exc.text or "").strip()
    if len(text) > 200:
        text = text[:200] + "…"
    return f"{exc.msg} (line {exc.lineno}: `{text}`)"


def caret_lines(exc: SyntaxError) -> list[str]:
    """The line as written, and a caret under the column Python points at."""
    line = (exc.text or "").rstrip("\n")
    if not line or exc.lineno is None:
        return []
    shown = line.expandtabs(4)
    indent = len(shown) - len(shown.lstrip())
    column = max((exc.offset or 1) - 1 - (len(line) - len(line.lstrip())), 0)
    end = exc.end_offset if exc.end_offset and exc.end_offset > (exc.offset or 0) and \
        exc.end_lineno == exc.lineno else (exc.offset or 1) + 1
    width = max(1, min(end - (exc.offset or 1), len(shown) - indent - column))
    lines = [f"line {exc.lineno}, column {exc.offset or 1}:", f"    {shown.strip()}",
             "    " + " " * column + "^" * width]
    return [line[:300] for line in lines]
