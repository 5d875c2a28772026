"""Removing the folders a grade leaves in the temporary folder, which learner
code may have reached (under the guard it writes as you): never following a
link it put there, opening up the folders it made read-only or unlistable,
and never dying of what it built (a folder 3000 deep makes rmtree recurse
past Python's limit).

Reviewers planted each of these: a pool folder whose ``stage`` was a link to
a folder of yours (chmod followed it), a grade's own folder renamed away and
its name linked to a folder of yours (the clean-up walked into the link), and
a read-only folder of 400,000 entries that no rmtree could remove, so every
later grade walked it again, and locked folders deeper than the system's path
limit, which nothing that works by path could open up.
"""

from __future__ import annotations

import contextlib
import os
import secrets
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
    it owns), without following a link, and move every folder below it up
    into ``top`` itself, so that no path in the tree is long (a reviewer's
    grade left folders deeper than the system's path limit, with one locked
    at the bottom, which no removal by path could reach: every later grade
    tried again). A link at ``top`` stops it (a reviewer's swapped grade
    folder had it chmod the target's subfolders); below, each folder is
    opened by name relative to its parent's descriptor, never through a link.
    One descriptor is open at a time besides ``top``'s, whatever the depth."""
    if os.path.islink(top) or not os.path.isdir(top):
        return
    chmod_folder(top, OPEN)
    try:
        top_fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return
    tag = secrets.token_hex(4)
    moved = 0
    pending: list[str | None] = [None]  # folders directly in top; None: top itself
    try:
        while pending:
            name = pending.pop()
            try:
                fd = top_fd if name is None else os.open(
                    name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=top_fd)
            except OSError:
                continue
            try:
                with os.scandir(fd) as found:
                    entries = [e.name for e in found if e.is_dir(follow_symlinks=False)]
            except OSError:
                entries = []
            try:
                for entry in entries:
                    chmod_folder(entry, OPEN, dir_fd=fd)
                    if name is None:
                        pending.append(entry)
                        continue
                    flat = f".open-{tag}-{moved}"
                    moved += 1
                    with contextlib.suppress(OSError):
                        os.rename(entry, flat, src_dir_fd=fd, dst_dir_fd=top_fd)
                        pending.append(flat)
            finally:
                if fd != top_fd:
                    os.close(fd)
    finally:
        os.close(top_fd)


def chmod_folder(path: str | os.PathLike, mode: int, dir_fd: int | None = None) -> bool:
    """chmod ``path`` (relative to ``dir_fd`` if given) only if it is a folder
    itself, not a link to one: the link's target may be any folder of yours."""
    path = os.fspath(path)
    if hasattr(os, "O_PATH") and os.path.isdir("/proc/self/fd"):
        # Linux has no lchmod: open the folder itself (O_NOFOLLOW refuses a link,
        # O_DIRECTORY anything else), then chmod it through its descriptor
        try:
            fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY, dir_fd=dir_fd)
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
        os.chmod(path, mode, dir_fd=dir_fd, follow_symlinks=False)  # macOS, BSDs: lchmod
        return True
    except (OSError, NotImplementedError):
        return False
