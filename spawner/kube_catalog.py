"""The catalog as the spawner sees it: loaded once, re-read when its files change, never half-valid.

An operator who edits the catalog of a running hub gets the new offers at the next form or spawn. If
the edit makes the catalog invalid, the hub keeps serving the last valid one and logs every problem
(the `datalab profiles lint` output); with no valid catalog at all, spawns fail with a clear 500.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from jupyterhub.spawner import SpawnException

from .catalog import Catalog, CatalogError, load_catalog

_SUBDIRS = ("", "services", "lists", "icons")


def catalog_signature(directory: Path) -> tuple:
    """Cheap fingerprint of the catalog files (name, mtime, size): a change means re-read."""
    entries = []
    for sub in _SUBDIRS:
        try:
            with os.scandir(directory / sub if sub else directory) as it:
                for entry in it:
                    st = entry.stat()
                    entries.append((sub, entry.name, st.st_mtime_ns, st.st_size))
        except FileNotFoundError:
            entries.append((sub, None, 0, 0))
    return tuple(sorted(entries, key=repr))


class CatalogCache:
    """Valid catalogs by directory, shared by all spawners of the hub process."""

    def __init__(self) -> None:
        self._entries: dict[tuple[Path, str | None], tuple[tuple, Catalog | None]] = {}

    def get(
        self, directory: Path, log: logging.Logger | logging.LoggerAdapter, registry: str | None = None
    ) -> Catalog:
        signature = catalog_signature(directory)
        key = (directory, registry)
        cached = self._entries.get(key)
        if cached and cached[0] == signature and cached[1] is not None:
            return cached[1]
        last_good = cached[1] if cached else None
        try:
            catalog = load_catalog(directory, registry=registry)
        except CatalogError as e:
            self._entries[key] = (signature, last_good)
            if last_good is not None:
                if not cached or cached[0] != signature:
                    log.error(
                        "The catalog in %s is invalid; still serving the last valid one:\n%s", directory, e
                    )
                return last_good
            log.error("The catalog in %s is invalid:\n%s", directory, e)
            raise SpawnException(
                "The service catalog is invalid; the administrators have been told.",
                reason="catalog_invalid",
                status_code=500,
            ) from None
        self._entries[key] = (signature, catalog)
        return catalog

    def clear(self) -> None:
        self._entries.clear()
