"""The catalog a running hub uses: re-read when its files change, never replaced by an invalid one.

One `CatalogSource` per directory is shared by every spawner of the hub process (`shared_source`).
It checks the directory at most every `check_interval` seconds with a fingerprint of the *contents*
of the files the loader reads (opened through symlinks, so the atomic `..data` symlink swap of a
mounted Kubernetes ConfigMap is seen even when names, sizes and times look alike). A valid change
replaces the catalog at once; an invalid one is refused: the last valid catalog stays in force and
the problems (the `datalab profiles lint` lines) are logged once per change and kept in `.problems`
so hub pages can show them. In the hub a task checks the files periodically in a thread; a use that
finds the check due (`get()`) reads the few small files inline.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ..catalog import Catalog, CatalogError, Problem, load_catalog

_SUBDIRS = ("services", "lists", "icons")
DEFAULT_CHECK_INTERVAL = 5.0

log = logging.getLogger("datalab.catalog")


def fingerprint(directory: Path) -> str:
    """A hash of the names and contents of catalog.yaml and the files of services/, lists/, icons/."""
    h = hashlib.sha256()

    def add(rel: str, path: Path) -> None:
        try:
            data = path.read_bytes() if path.is_file() else b"<not a file>"
        except OSError as e:
            data = f"<unreadable: {e.strerror}>".encode()
        h.update(f"{rel}\0{len(data)}\0".encode())
        h.update(data)

    add("catalog.yaml", directory / "catalog.yaml")
    for sub in _SUBDIRS:
        try:
            names = sorted(os.listdir(directory / sub))
        except OSError as e:
            h.update(f"{sub}/\0<{type(e).__name__}>\0".encode())
            continue
        for name in names:
            if not name.startswith("."):  # the loader ignores them; ConfigMaps keep ..data etc. there
                add(f"{sub}/{name}", directory / sub / name)
    return h.hexdigest()


class CatalogSource:
    """The last valid catalog of one directory, reloaded when the files change (see module docstring)."""

    def __init__(
        self,
        directory: str | Path,
        *,
        registry: str | None = None,
        check_interval: float = DEFAULT_CHECK_INTERVAL,
        logger: logging.Logger | logging.LoggerAdapter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.directory = Path(directory)
        self.registry = registry
        self.check_interval = check_interval
        self.log = logger or log
        self._clock = clock
        self._lock = threading.Lock()
        self._catalog: Catalog | None = None
        self._fingerprint: str | None = None
        self._checked = float("-inf")
        self.problems: tuple[Problem, ...] = ()
        self.loaded_at: datetime | None = None  # when the catalog in force was loaded
        self.refused_at: datetime | None = None  # when the current (invalid) files were refused

    @property
    def catalog(self) -> Catalog | None:
        """The catalog in force (the last valid one), without checking the files."""
        return self._catalog

    def get(self) -> Catalog:
        """The catalog in force, after checking for changes if due; CatalogError if none ever loaded."""
        self.refresh()
        if self._catalog is None:
            raise CatalogError(list(self.problems))
        return self._catalog

    def refresh(self, *, force: bool = False) -> bool:
        """Check the files (if `check_interval` has passed or `force`); True if the catalog was replaced."""
        now = self._clock()
        if not force and now - self._checked < self.check_interval:
            return False
        with self._lock:
            self._checked = now
            current = fingerprint(self.directory)
            if current == self._fingerprint:
                return False
            first = self._fingerprint is None
            self._fingerprint = current
            try:
                catalog = load_catalog(self.directory, registry=self.registry)
            except CatalogError as e:
                self.problems = tuple(e.problems)
                self.refused_at = datetime.now(UTC)
                if self._catalog is None:
                    self.log.error("The service catalog in %s is invalid:\n%s", self.directory, e)
                else:
                    self.log.error(
                        "The service catalog in %s changed but is invalid; the last valid one (loaded %s) "
                        "stays in force. Problems:\n%s",
                        self.directory,
                        self.loaded_at.isoformat(timespec="seconds") if self.loaded_at else "?",
                        e,
                    )
                return False
            self._catalog = catalog
            self.problems = ()
            self.refused_at = None
            self.loaded_at = datetime.now(UTC)
            if not first:
                lists = ", ".join(sorted(catalog.lists)) or "none"
                self.log.info(
                    "The service catalog in %s changed: reloaded (%d services; lists: %s)",
                    self.directory,
                    len(catalog.services),
                    lists,
                )
            return True

    _watch_task: asyncio.Task | None = None

    def ensure_watching(self) -> None:
        """In the hub (a running event loop): check the files periodically, so a change is noticed,
        and a refused one logged and shown, even when nobody opens a form or starts a server."""
        if self._watch_task is not None and not self._watch_task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # a command line tool: checking at each use is enough
        self._watch_task = loop.create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(max(self.check_interval, 1.0))
            try:
                # Reading, hashing and parsing the files is blocking I/O: off the hub's loop (refresh() locks).
                await asyncio.to_thread(self.refresh)
            except Exception:
                self.log.exception("Checking the service catalog in %s failed", self.directory)


_shared: dict[tuple[str, str | None], CatalogSource] = {}
_shared_lock = threading.Lock()


def shared_source(
    directory: str | Path,
    *,
    registry: str | None = None,
    check_interval: float = DEFAULT_CHECK_INTERVAL,
    logger: logging.Logger | logging.LoggerAdapter | None = None,
) -> CatalogSource:
    """The process's one CatalogSource for (directory, registry); the first caller's settings apply."""
    key = (str(directory), registry)
    with _shared_lock:
        source = _shared.get(key)
        if source is None:
            source = _shared[key] = CatalogSource(
                directory, registry=registry, check_interval=check_interval, logger=logger
            )
        source.ensure_watching()
        return source


def shared_sources() -> list[CatalogSource]:
    with _shared_lock:
        return list(_shared.values())


def forget_shared_sources() -> None:
    """Drop every shared source (tests that load several catalogs in one process)."""
    with _shared_lock:
        for source in _shared.values():
            if source._watch_task is not None:
                source._watch_task.cancel()
        _shared.clear()
