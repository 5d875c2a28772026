"""Cold grading processes: a fresh judge (``python -m drillpe.grading.judge``)
and a fresh sandboxed learner process (through the supervisor) per grade.
drillpe.launch.warm_pool offers the same methods with warm workers.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from drillpe.launch import contract, lifeline, processes, sandbox


class ColdJudge:
    """One judge process, fed the learner's end on stdin."""

    def __init__(self, job: contract.Grade, run_dir: Path):
        self.log = run_dir / f"judge-{os.urandom(3).hex()}.log"
        # The report's digest comes back on a pipe of its own: the run folder is the
        # user's, the pipe only the judge's and ours (neither process is dumpable).
        self._digest, digest_w = os.pipe()
        # It makes itself private before it imports torch, and says so here: the
        # learner's supervisor waits for that word (``private_signal``).
        self.private_signal, private_w = os.pipe()
        self.report_sha256: str | None = None
        try:
            with open(self.log, "wb") as fh:
                self.proc = processes.spawn(
                    processes.module_argv(contract.JUDGE, *job.judge_args(str(run_dir)),
                                          "--digest-fd", str(digest_w), private=True),
                    stdin=subprocess.PIPE, stdout=fh, stderr=fh, cwd=run_dir,
                    env=processes.trusted_env({lifeline.PRIVATE_FD_ENV: str(private_w)}),
                    pass_fds=(digest_w, private_w))
        except BaseException:
            os.close(self._digest)
            os.close(self.private_signal)
            raise
        finally:
            os.close(digest_w)
            os.close(private_w)

    def resume(self) -> bool:
        return processes.resume(self.proc)

    def finish(self, end: contract.LearnerEnd, timeout: float, early: bool = False
               ) -> int | None:
        """Send how the learner ended; the judge's exit status (None: it was
        killed after ``timeout``, or it had died already by a signal). ``early``
        changes nothing here (see WarmJudge.finish)."""
        try:
            self.proc.stdin.write(end.line())
            self.proc.stdin.close()
        except (BrokenPipeError, OSError, ValueError):
            pass
        rc = processes.wait_or_kill(self.proc, timeout)
        processes.finished(self.proc)
        self.report_sha256 = _read_digest(self._digest)
        self._close_pipes()
        return rc

    def kill(self) -> None:
        processes.kill(self.proc)
        self._close_pipes()

    def _close_pipes(self) -> None:
        if self._digest is not None:
            os.close(self._digest)
            self._digest = None
        if self.private_signal is not None:
            os.close(self.private_signal)
            self.private_signal = None

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


def _read_digest(fd: int | None) -> str | None:
    """What the exited judge wrote down its digest pipe: one SHA-256 in hex, or None."""
    if fd is None:
        return None
    os.set_blocking(fd, False)
    try:
        data = os.read(fd, 256)
    except OSError:
        return None
    text = data.decode("ascii", "replace").strip()
    return text if re.fullmatch(contract.SHA256_HEX, text) else None


def hidden_places(extra: list[str] = ()) -> list[str]:
    """What a bound tree must not show: the workspace and the learner's own
    folder (other exercises' files), besides sandbox.secrets()."""
    # deferred: read only when a learner starts
    from drillpe.data import places

    return [str(places.workspace()), *extra]


class ColdLauncher:
    """Starts each grading process from scratch (each imports torch)."""

    def isolation(self) -> sandbox.Choice:
        return sandbox.choose()

    def namespaces_failed(self, why: str) -> None:
        sandbox.namespaces_failed(why)

    def stage_root(self, run_dir: Path) -> Path:
        root = run_dir / "stage"
        root.mkdir(exist_ok=True)
        os.chmod(root, 0o711)  # traversable by the sandbox's user, not listable
        return root

    def start_judge(self, job: contract.Grade, run_dir: Path) -> ColdJudge:
        return ColdJudge(job, run_dir)

    def start_learner(self, job: contract.Grade, run_dir: Path, pipes: processes.Pipes,
                      timeout: float, deadline: float, level: str,
                      hidden: list[str] = (), judge_private: int | None = None
                      ) -> processes.Supervised:
        argv = processes.module_argv(contract.LEARNER, *job.learner_args(deadline, level))
        return self.start_process(argv, staged=Path(job.file), device=job.device,
                                  timeout=timeout, pipes=pipes, level=level, hidden=hidden,
                                  log=run_dir / "supervisor.log", judge_private=judge_private)

    def start_process(self, argv: list[str], *, staged: Path, device: str, timeout: float,
                      pipes: processes.Pipes, level: str, hidden: list[str], log: Path,
                      judge_private: int | None = None,
                      env: dict[str, str] | None = None) -> processes.Supervised:
        """Any learner-side process (a grade's, a bench's) in the sandbox, in
        the folder of its staged file, which is the only file of the
        learner's it can see. ``judge_private``: the judge's ``private_signal``;
        under the guard, learner code starts only once the judge is private."""
        plan = sandbox.plan(
            level=level, argv=argv, cwd=str(staged.parent), stage_dir=str(staged.parent),
            device=device, deadline_s=timeout, fds={}, hidden=hidden_places(list(hidden)),
            env=env)
        fds = dict(pipes.child)
        if judge_private is not None:
            fds["judge_private"] = judge_private
        return processes.Supervised(plan, fds, log)
