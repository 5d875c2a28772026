"""A warm grade in the namespace sandbox is answered as soon as the learner's child
says its run is over (drillpe.grading.warm_worker._say_over), while the kernel still
tears the child down; the grade's folders are removed, and the next grade starts,
only once the worker says the child is gone (drillpe.launch.warm_pool.WarmPool.settle)."""

import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from drillpe.grading import warm_worker
from drillpe.launch import contract, warm_pool

ROOT = Path(__file__).resolve().parent.parent


def _child(act) -> warm_worker.Spare:
    """A forked child holding the over-word's pipe, as _fork_spare makes one."""
    word_r, word_w = os.pipe()
    token = "ab" * 16
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        try:
            os.close(word_r)
            act(word_w, token)
        finally:
            os._exit(0)
    os.close(word_w)
    return warm_worker.Spare(pid, None, word_r, token)


def _reap(spare: warm_worker.Spare) -> None:
    try:
        os.kill(spare.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(spare.pid, 0)


def test_the_word_is_read_while_the_child_still_runs():
    def says_then_lingers(fd, token):
        warm_worker._say_over(fd, token, 3)
        time.sleep(30)

    spare = _child(says_then_lingers)
    began = time.monotonic()
    try:
        assert warm_worker._over_word(spare, 20.0) == 3
        assert time.monotonic() - began < 10
        assert spare.word_fd == -1  # closed
    finally:
        _reap(spare)


@pytest.mark.parametrize("act", ["silent", "wrong token", "garbage"])
def test_no_word_is_no_answer_before_the_exit(act):
    def ends(fd, token):
        if act == "wrong token":
            os.write(fd, b"cd" * 16 + b" 0\n")
        elif act == "garbage":
            os.write(fd, token.encode() + b" zero\n")

    spare = _child(ends)
    try:
        assert warm_worker._over_word(spare, 20.0) is None
    finally:
        _reap(spare)


def test_a_child_that_never_says_it_is_over_meets_the_timeout():
    spare = _child(lambda fd, token: time.sleep(30))
    began = time.monotonic()
    try:
        assert warm_worker._over_word(spare, 0.3) is None
        assert 0.25 < time.monotonic() - began < 10
    finally:
        _reap(spare)


class _FakeWorker:
    def __init__(self):
        self.sock, self.other = socket.socketpair()
        self.busy = True
        self.closed = False

    def close(self):
        self.closed = True
        self.sock.close()


@pytest.mark.parametrize("reply, kept", [
    ({"gone": True, "leaving": False}, True),
    ({"gone": True, "leaving": True}, False),  # its sandbox was changed
    ({"returncode": 0, "timed_out": False}, False),  # not what follows an early answer
    ({"gone": "yes", "leaving": False}, False),
    (None, False),  # no word within the grade's time
])
def test_settle_keeps_only_a_worker_that_says_its_child_is_gone(reply, kept, monkeypatch):
    monkeypatch.setattr(warm_pool, "SETTLE_GRACE_S", 0.2)
    pool = warm_pool.WarmPool(start=False)
    try:
        worker = _FakeWorker()
        pool.learner_worker = worker
        pool.unsettled = (worker, time.monotonic())
        if reply is not None:
            contract.send_message(worker.other, reply)
        pool.settle()
        assert pool.unsettled is None
        assert (pool.learner_worker is worker) == kept
        assert worker.closed != kept
        if kept:
            assert not worker.busy
    finally:
        pool.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the namespace sandbox")
def test_a_sandboxed_warm_grade_is_answered_early_and_settled_before_its_folders_go(
        tmp_path, monkeypatch):
    from drillpe.launch import leftovers, runner
    from drillpe.launch.runner import GradeRequest, grade

    monkeypatch.setenv("DRILLPE_ISOLATION", "namespaces")
    seen = []
    remove_tree = leftovers.remove_tree

    def removing(folder, *args, **kwargs):
        seen.append(("remove", pool.unsettled is None))
        return remove_tree(folder, *args, **kwargs)

    monkeypatch.setattr(runner.leftovers, "remove_tree", removing)
    wait = warm_pool.WarmLearner.wait

    def waited(self, timeout):
        status = wait(self, timeout)
        seen.append(("answered", self.pool.unsettled is not None))
        return status

    monkeypatch.setattr(warm_pool.WarmLearner, "wait", waited)
    with warm_pool.launcher() as pool:
        for name in ("solutions/rope.py", "tests/fixtures/rope/half_split.py"):
            seen.clear()
            result = grade(GradeRequest("rope", ROOT / name, timeout=60), launcher=pool)
            assert result.isolation == "namespaces"
            assert result.passed == name.startswith("solutions"), result.checks
            # answered before the child was gone; every folder removed after it was
            assert seen[0] == ("answered", True), seen
            assert [s for s in seen[1:] if s[0] == "remove"] and \
                all(ok for kind, ok in seen[1:] if kind == "remove"), seen
            assert pool.learner_worker is not None and not pool.learner_worker.busy
            time.sleep(0.2)
