"""How much the history database grows per distinct attempt, now that every
grade keeps its source and report (the attempt timeline).

    python benchmarks/history_size.py [--saves 200] [--seed 0] [--no-grade]

A scripted learner works through the shipped exercises (a share of the saves
each): starting from the stub, each save is one realistic small edit of the
file: the next piece of the model answer typed in, a debug print added or
taken out, a typo (a sign, a number) made or fixed, a comment, or nothing at
all (saving again unchanged). Every save is graded by the warm workers
(``--no-grade``: the previous real report is reused, for a quick run) and
recorded through ``History.record_check(result, file=path)``, the path
``drillpe check`` and ``watch`` use. The database file is measured with its
WAL checkpointed, before and after; the growth is divided by the distinct
sources recorded. The goal is under 2 KB per distinct attempt.
"""

from __future__ import annotations

import argparse
import difflib
import os
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
GOAL = 2048


def size(path: Path) -> int:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path.stat().st_size


class Learner:
    """One exercise's file, edited save by save from the stub toward the answer."""

    def __init__(self, stub: str, answer: str, rng: random.Random):
        self.lines = stub.splitlines()
        self.answer = answer.splitlines()
        self.rng = rng
        self.debug: int | None = None  # line of a debug print we added
        self.typo: tuple[int, str] | None = None  # (line, its right text)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

    def _progress(self) -> None:
        """Type in the next piece of the answer (one hunk of the diff, a few lines)."""
        ops = [op for op in difflib.SequenceMatcher(None, self.lines, self.answer,
                                                    autojunk=False).get_opcodes()
               if op[0] != "equal"]
        if not ops:
            return
        tag, i1, i2, j1, j2 = ops[0]
        j2 = min(j2, j1 + self.rng.randint(1, 4))  # a few lines at a time
        i2 = min(i2, i1 + (j2 - j1)) if tag == "replace" else i2
        self.lines[i1:i2] = self.answer[j1:j2]

    def save(self) -> str:
        roll = self.rng.random()
        code = [n for n, line in enumerate(self.lines) if line.startswith("    ") and
                line.strip() and not line.strip().startswith("#")]
        if roll < 0.55 or not code:
            self._progress()
        elif roll < 0.65 and self.debug is None:
            self.debug = self.rng.choice(code)
            indent = self.lines[self.debug][:len(self.lines[self.debug]) -
                                             len(self.lines[self.debug].lstrip())]
            self.lines.insert(self.debug, f"{indent}print('debug', locals().keys())")
        elif roll < 0.72 and self.debug is not None:
            if self.debug < len(self.lines) and "print('debug'" in self.lines[self.debug]:
                del self.lines[self.debug]
            self.debug = None
        elif roll < 0.80 and self.typo is None:
            n = self.rng.choice(code)
            line = self.lines[n]
            for a, b in (("-", "+"), ("2", "3"), ("cos", "sin"), ("[..., ::2]", "[..., 1::2]")):
                if a in line:
                    self.typo = (n, line)
                    self.lines[n] = line.replace(a, b, 1)
                    break
        elif roll < 0.88 and self.typo is not None:
            n, right = self.typo
            if n < len(self.lines):
                self.lines[n] = right
            self.typo = None
        elif roll < 0.95:
            n = self.rng.choice(code)
            self.lines.insert(n, "    # " + self.rng.choice(
                ["shapes: (B, H, L, D)", "TODO check the dtype", "half split?", "try again"]))
        # else: saved again without a change
        return self.text()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--saves", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-grade", action="store_true",
                        help="grade each exercise's first save only and reuse its report")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="drillpe-history-size-"))
    os.environ["DRILLPE_HOME"] = str(scratch / "home")
    os.environ["DRILLPE_WORKSPACE"] = str(scratch / "workspace")
    os.environ.pop("DRILLPE_KEEP_SOURCES", None)

    from drillpe.data import bundle, catalog, places
    from drillpe.launch.runner import GradeRequest, grade
    from drillpe.launch.warm_pool import launcher
    from drillpe.results import timeline
    from drillpe.results.history import FILENAME, History

    rng = random.Random(args.seed)
    ids = catalog.ids()
    ws = places.workspace(None)
    ws.mkdir(parents=True)
    learners = {eid: Learner(bundle.stub_path(eid).read_text(encoding="utf-8"),
                             bundle.solution_path(eid).read_text(encoding="utf-8"),
                             random.Random(f"{args.seed}:{eid}")) for eid in ids}
    history = History()
    db = Path(os.environ["DRILLPE_HOME"]) / FILENAME
    start_size = size(db)
    distinct: set[bytes] = set()
    last_report = {}
    started = time.perf_counter()
    with launcher() as pool:
        for n in range(args.saves):
            eid = ids[n % len(ids)] if n < len(ids) else rng.choice(ids)
            path = places.learner_file(eid, ws)
            text = learners[eid].save()
            path.write_text(text, encoding="utf-8")
            if args.no_grade and eid in last_report:
                result = last_report[eid]
            else:
                result = grade(GradeRequest(exercise_id=eid, file=path, seed=0, timeout=20.0,
                                            display_path=places.display(path)), launcher=pool)
                last_report[eid] = result
            history.record_check(result, file=path)
            distinct.add(timeline.sha(text))
    seconds = time.perf_counter() - started
    history.close()
    end_size = size(db)
    conn = sqlite3.connect(db)
    blob_bytes = conn.execute("SELECT SUM(LENGTH(data)) FROM blobs").fetchone()[0]
    attempts = conn.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]
    conn.close()
    growth = end_size - start_size
    per = growth / max(1, len(distinct))
    print(f"{attempts} saves recorded ({len(distinct)} distinct sources) over {len(ids)} "
          f"exercises in {seconds:.0f} s{' (reports reused)' if args.no_grade else ''}")
    print(f"database: {start_size} -> {end_size} bytes; compressed blobs {blob_bytes} bytes")
    print(f"growth per distinct attempt: {per:.0f} bytes "
          f"({'under' if per < GOAL else 'OVER'} the {GOAL} byte goal)")
    return 0 if per < GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
