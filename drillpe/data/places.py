"""Where learner files and drillpe's own state live (cli.md, "Places")."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat as stat_module
from datetime import datetime
from pathlib import Path

from drillpe.data.files import write_atomic, write_beside

WORKSPACE_ENV = "DRILLPE_WORKSPACE"
HOME_ENV = "DRILLPE_HOME"
DEFAULT_WORKSPACE = "drillpe-workspace"


def workspace(option: Path | None = None) -> Path:
    """--workspace, else $DRILLPE_WORKSPACE, else the nearest drillpe-workspace
    folder found walking up from the current folder (the way git finds its
    repository: a learner in a subfolder of their project, or inside the
    workspace itself, keeps working on the same files), else ./drillpe-workspace."""
    if option is not None:
        return Path(option).expanduser()
    env = os.environ.get(WORKSPACE_ENV)
    if env:
        return Path(env).expanduser()
    return find_workspace(Path.cwd()) or Path.cwd() / DEFAULT_WORKSPACE


def find_workspace(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if folder.name == DEFAULT_WORKSPACE and folder.is_dir():
            return folder
        candidate = folder / DEFAULT_WORKSPACE
        if candidate.is_dir():
            return candidate
    return None


STARTED_FILENAME = "started.json"


def remember_start(exercise_id: str, path: Path) -> None:
    """Note where ``start`` wrote an exercise, so that a command run from
    another folder can say where the learner's file is instead of suggesting a
    second stub. Best effort: a home that cannot be written only loses this note."""
    where = str(Path(path).resolve())
    known = _started()
    paths = [p for p in known.get(exercise_id, []) if p != where] + [where]
    known[exercise_id] = paths[-5:]
    try:
        home().mkdir(parents=True, exist_ok=True)
        write_atomic(home() / STARTED_FILENAME, json.dumps(known, indent=1, sort_keys=True))
    except OSError:
        pass


def started_elsewhere(exercise_id: str, here: Path) -> list[Path]:
    """Where this exercise was started before, newest first: files that still
    exist and are not ``here``."""
    here = Path(here).resolve()
    paths = [Path(p) for p in reversed(_started().get(exercise_id, []))]
    return [p for p in paths if p != here and p.is_file()]


def other_workspaces(here: Path) -> list[Path]:
    """The folders other than ``here`` that hold a file ``start`` wrote and that still
    exists, the one whose file was written to last first (where the learner works)."""
    here = Path(here).resolve()
    found: dict[Path, float] = {}
    for paths in _started().values():
        for p in paths:
            folder = Path(p).parent
            if folder == here:
                continue
            try:
                stat = Path(p).stat()
            except OSError:
                continue
            if stat_module.S_ISREG(stat.st_mode):
                found[folder] = max(found.get(folder, 0.0), stat.st_mtime)
    return sorted(found, key=lambda folder: -found[folder])


def _started() -> dict[str, list[str]]:
    try:
        data = json.loads((home() / STARTED_FILENAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: [p for p in v if isinstance(p, str)] for k, v in data.items()
            if isinstance(k, str) and isinstance(v, list)}


def home() -> Path:
    """$DRILLPE_HOME, else the platform's user data directory."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    # deferred: only when DRILLPE_HOME is not set
    from platformdirs import user_data_dir

    return Path(user_data_dir("drillpe", appauthor=False))


def learner_file(exercise_id: str, workspace_dir: Path) -> Path:
    return workspace_dir / f"{exercise_id}.py"


def backup_path(path: Path) -> Path:
    """A free name beside ``path``: rope.py -> rope.backup-20261129T190512.py.

    The name never ends in ``<id>.py``, so a backup is never taken for a
    started exercise.
    """
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    candidate = path.with_name(f"{path.stem}.backup-{stamp}{path.suffix}")
    counter = 1
    while candidate.exists():
        counter += 1
        candidate = path.with_name(f"{path.stem}.backup-{stamp}-{counter}{path.suffix}")
    return candidate


def move_to_backup(path: Path) -> Path:
    """Move ``path`` aside (same folder, so a rename, never a copy-then-delete)."""
    target = backup_path(path)
    os.replace(path, target)
    return target


def replace_keeping_backup(path: Path, text: str) -> Path:
    """Put ``text`` at ``path`` and keep the file that was there as a backup
    beside it; returns the backup. No step loses the old file: the new text
    is written and synced first (a full disk or a read-only folder fails
    there, with nothing changed), the old file then gets its backup name as
    a second link, and one rename puts the new text in place."""
    fresh = write_beside(path, text)
    backup = backup_path(path)
    try:
        try:
            os.link(path, backup)
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP):
                raise
            shutil.copy2(path, backup)  # a file system without hard links
        os.replace(fresh, path)
    except BaseException:
        fresh.unlink(missing_ok=True)
        if path.exists():
            backup.unlink(missing_ok=True)  # the original is still in place
        raise
    return backup


def display(path: Path) -> str:
    """A path as the user would type it: relative to the current folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
