"""Removing the folders a grade leaves in the temporary folder, which learner
code may have reached (under the guard it writes as you): never following a
link it put there, opening up the folders it made read-only or unlistable,
and never dying of what it built (a folder 3000 deep makes rmtree recurse
past Python's limit).

Reviewers planted each of these: a pool folder whose ``stage`` was a link to
a folder of yours (chmod followed it), a grade's own folder renamed away and
its name linked to a folder of yours (the clean-up walked into the link), and
a read-only folder of 400,000 entries that no rmtree could remove, so every
later grade walked it again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys

OPEN = 0o700


def identity(path: str | os.PathLike) -> tuple[int, int] | None:
    """Which file ``path`` names now (device, inode), without following a link."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def remove_tree(path: str | os.PathLike, expected: tuple[int, int] | None = None) -> None:
    """Remove ``path`` and everything in it, as far as this user may. A link put
    in its place (learner code renamed a grade's folder and linked its name to a
    folder of yours) is removed itself; nothing is done through it. With
    ``expected`` (its identity() when drillpe made it), a folder moved into its
    place is not drillpe's and is left alone (a reviewer's moved one of yours
    there, and the clean-up removed it)."""
    path = os.fspath(path)
    if expected is not None and identity(path) not in (expected, None) \
            and not os.path.islink(path):
        return
    if os.path.islink(path) or (os.path.lexists(path) and not os.path.isdir(path)):
        with contextlib.suppress(OSError):
            os.unlink(path)
        return
    failed: list[str] = []
    record = {"onexc" if sys.version_info >= (3, 12) else "onerror":
              lambda *_: failed.append("")}
    with contextlib.suppress(RecursionError):
        shutil.rmtree(path, **record)
    if not failed or not os.path.lexists(path):
        return
    open_up(path)
    with contextlib.suppress(RecursionError):
        shutil.rmtree(path, ignore_errors=True)


def open_up(top: str) -> None:
    """Give this user full access to ``top`` and every folder below it (those
    it owns), without following a link; iterative, so depth cannot break it.
    A link at ``top`` stops it (a reviewer's swapped grade folder had it chmod
    the target's subfolders). Below, each folder is checked by name only: a
    race that swaps a folder for a link between the check and the chmod is
    open to code running as you, which could chmod your folders itself."""
    if os.path.islink(top) or not os.path.isdir(top):
        return
    stack = [top]
    while stack:
        folder = stack.pop()
        chmod_folder(folder, OPEN)
        try:
            entries = os.scandir(folder)
        except OSError:
            continue
        with entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)


def chmod_folder(path: str | os.PathLike, mode: int) -> bool:
    """chmod ``path`` only if it is a folder itself, not a link to one: the
    link's target may be any folder of yours."""
    path = os.fspath(path)
    if hasattr(os, "O_PATH") and os.path.isdir("/proc/self/fd"):
        # Linux has no lchmod: open the folder itself (O_NOFOLLOW refuses a link,
        # O_DIRECTORY anything else), then chmod it through its descriptor
        try:
            fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY)
        except OSError:
            return False
        try:
            os.chmod(f"/proc/self/fd/{fd}", mode)
            return True
        except OSError:
            return False
        finally:
            os.close(fd)
    try:
        os.chmod(path, mode, follow_symlinks=False)  # macOS and the BSDs have lchmod
        return True
    except (OSError, NotImplementedError):
        return False
