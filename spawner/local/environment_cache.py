"""Keeping the shared environment cache from growing without end.

A changed definition builds a new environment beside the old one (spawner.local.environments), so old
ones would pile up, about a gigabyte each. Every running `datalab up` holds a shared lock on the
environments its catalog uses (`hold`); `prune` removes an environment only when no running datalab
holds it, no build of it is under way, and nothing has built or used it for `unused_days` (a build that
finds it ready counts as a use, so a datalab starting right now is never pruned under).
"""

from __future__ import annotations

import fcntl
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from .environments import MARKER, mark_used

UNUSED_DAYS = 14


def _lock_file(cache: Path, directory: Path, kind: str) -> Path:
    return cache / f".{kind}-{directory.name.removeprefix('env-')}"


def last_used(directory: Path) -> float:
    """When a datalab last built, found or held the environment (an unfinished one: when it was begun)."""
    for path in (directory / MARKER, directory):
        try:
            return path.stat().st_mtime
        except OSError:
            continue
    return 0.0


class Held:
    """Shared locks on environments, released by `release()` or when the process ends (even by -9)."""

    def __init__(self, cache: Path, directories: Iterable[Path]):
        self._files = []
        for directory in directories:
            mark_used(directory)
            try:
                f = open(_lock_file(cache, directory, "in-use"), "a")  # noqa: SIM115 (held for the run)
            except OSError:
                continue
            fcntl.flock(f, fcntl.LOCK_SH)
            self._files.append(f)

    def release(self) -> None:
        for f in self._files:
            f.close()
        self._files = []


def _free(lock: Path) -> object | None:
    """The lock taken exclusively without waiting, or None when someone holds it."""
    try:
        f = open(lock, "a")  # noqa: SIM115 (closed by the caller)
    except OSError:
        return None
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        return None
    return f


def prune(
    cache: Path,
    keep: Iterable[Path] = (),
    *,
    unused_days: float = UNUSED_DAYS,
    now: float | None = None,
    say: Callable[[str], None] = print,
) -> list[Path]:
    """Remove the environments in `cache` nobody holds or has used for `unused_days`; the removed ones."""
    now = time.time() if now is None else now
    kept = {Path(p).resolve() for p in keep}
    removed: list[Path] = []
    try:
        candidates = sorted(p for p in cache.glob("env-*") if p.is_dir() and p.resolve() not in kept)
    except OSError:
        return removed
    for directory in candidates:
        if now - last_used(directory) < unused_days * 86400:
            continue
        in_use = _free(_lock_file(cache, directory, "in-use"))
        if in_use is None:
            continue  # a running datalab's sessions use it
        try:
            building = _free(_lock_file(cache, directory, "lock"))
            if building is None:
                continue  # being built right now
            try:
                shutil.rmtree(directory)
            except OSError as e:
                say(f"datalab: could not remove the unused environment {directory}: {e.strerror}")
                continue
            finally:
                building.close()
        finally:
            in_use.close()
        removed.append(directory)
        say(f"datalab: removed {directory.name}, a session environment unused for {unused_days:g} days")
    return removed
