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


def test_two_messages_sent_at_once_are_read_one_at_a_time():
    """The worker's early answer and its "gone" 10-15 ms later arrive in one read
    when the CLI is slow to read: the second must wait in the socket, not be lost
    (a reviewer's late reader lost it, and every grade then waited its timeout)."""
    ours, theirs = socket.socketpair()
    r, w = os.pipe()
    try:
        contract.send_message(theirs, {"returncode": 0, "early": True})
        contract.send_message(theirs, {"gone": True, "leaving": False})
        contract.send_message(theirs, {"args": []}, [r])  # a request, with its fds
        contract.send_message(theirs, {"args": [1]})
        time.sleep(0.05)
        assert warm_pool._receive(ours, 1.0) == {"returncode": 0, "early": True}
        assert warm_pool._receive(ours, 1.0) == {"gone": True, "leaving": False}
        request, fds = contract.receive_message(ours, max_fds=3)
        assert request == {"args": []} and len(fds) == 1
        os.close(fds[0])
        assert contract.receive_message(ours, max_fds=3) == ({"args": [1]}, [])
        theirs.close()
        assert contract.receive_message(ours) == (None, [])
    finally:
        ours.close()
        for fd in (r, w):
            os.close(fd)


FDS_OF_ITS_OWN = """
import os, sys
print("FDS", sorted(int(fd) for fd in os.listdir("/proc/self/fd")))
""" + (ROOT / "solutions" / "sinusoidal.py").read_text()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the namespace sandbox")
def test_a_grade_that_comes_at_once_gives_its_child_its_fds_once(tmp_path, monkeypatch):
    """A grade sent before a child is ready for it: the child forked then must not
    keep the worker's copies of the grade's fds beside the ones it is given, or
    closing those at the end of its run would not end the records and output."""
    from drillpe.launch.runner import GradeRequest, grade

    monkeypatch.setenv("DRILLPE_ISOLATION", "namespaces")
    path = tmp_path / "sinusoidal.py"
    path.write_text(FDS_OF_ITS_OWN)
    with warm_pool.launcher() as pool:
        first = grade(GradeRequest("sinusoidal", path, timeout=60), launcher=pool)
        again = grade(GradeRequest("sinusoidal", path, timeout=60), launcher=pool)  # at once
    for result in (first, again):
        # (listing its fds is against the rules: in the sandbox the file still runs)
        assert [c.id for c in result.checks if c.status != "pass"] == ["rules.allowed"]
        [line] = [x for x in result.output.splitlines() if x.startswith("FDS")]
        fds = [int(fd) for fd in line[5:-1].split(",")]
        # 0-4 (stdin, the output twice, records, stuck), the one listdir itself opens,
        # and the over-word's pipe, above 10
        assert len([fd for fd in fds if fd > 4]) == 2 and max(fds) >= 10, fds


@pytest.mark.parametrize("where", ["wait", "settle"])
def test_ctrl_c_while_a_grade_waits_takes_its_sandbox_down_before_its_folders_go(
        tmp_path, monkeypatch, where):
    """Ctrl-C in the wait for the worker's answer, or for its "gone": the grade's
    child may still run, so the sandbox goes (and everything in it) before the
    grade's folders are removed; they are removed still (a reviewer's found the
    folders gone while the child ran on, and the interrupted settle skipping them)."""
    from drillpe.launch import leftovers, runner
    from drillpe.launch.runner import GradeRequest, grade

    monkeypatch.setenv("DRILLPE_ISOLATION", "namespaces")
    receive = warm_pool._receive
    removed = []

    def interrupted(sock, timeout):
        import inspect

        caller = inspect.stack()[1].function
        if caller == where:
            raise KeyboardInterrupt
        return receive(sock, timeout)

    remove_tree = leftovers.remove_tree

    def removing(folder, *args, **kwargs):
        removed.append(pool.learner_worker is None)
        return remove_tree(folder, *args, **kwargs)

    monkeypatch.setattr(runner.leftovers, "remove_tree", removing)
    with warm_pool.launcher() as pool:
        pool.wait_ready()
        monkeypatch.setattr(warm_pool, "_receive", interrupted)
        with pytest.raises(KeyboardInterrupt):
            grade(GradeRequest("rope", ROOT / "solutions" / "rope.py", timeout=60),
                  launcher=pool)
        assert pool.learner_worker is None  # retired: its sandbox killed
        assert removed and all(removed), removed
