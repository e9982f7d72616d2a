"""Garbage collection: an object whose ownerReferences all point to objects that no longer exist is deleted.

As in Kubernetes (background propagation), this also covers objects created with an owner that is already
gone, and runs shortly after a deletion rather than inside it.
"""

from __future__ import annotations

import asyncio
import logging

from tests.support.kube.errors import ApiError
from tests.support.kube.store import Change, Store

log = logging.getLogger("kube-emulator.gc")


def orphans(store: Store) -> list[tuple[str, str, str]]:
    """(plural, namespace, name) of every object whose owners are all gone."""
    uids = store.uids()
    found = []
    for plural, obj in store.owned_objects():
        meta = obj["metadata"]
        owners = meta.get("ownerReferences") or []
        if owners and not any(o.get("uid") in uids for o in owners) and not meta.get("deletionTimestamp"):
            found.append((plural, meta.get("namespace", ""), meta["name"]))
    return found


def collect(store: Store) -> int:
    """Delete the orphans now; returns how many were deleted."""
    deleted = 0
    for plural, namespace, name in orphans(store):
        try:
            store.delete(plural, namespace, name)
            deleted += 1
            log.info("garbage-collected %s %s/%s", plural, namespace, name)
        except ApiError:
            pass  # deleted meanwhile
    return deleted


class GarbageCollector:
    """Runs collect() soon after every deletion and every `interval` seconds anyway."""

    def __init__(self, store: Store, interval: float = 2.0, delay: float = 0.05):
        self.store = store
        self.interval = interval
        self.delay = delay
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _on_change(self, change: Change) -> None:
        if change.type == "DELETED" or (
            change.type == "ADDED" and change.obj["metadata"].get("ownerReferences")
        ):
            try:
                self._loop.call_soon_threadsafe(self._wake.set)
            except RuntimeError:
                pass

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.store.subscribe(self._on_change)
        try:
            while True:
                try:
                    await asyncio.wait_for(self._wake.wait(), self.interval)
                    await asyncio.sleep(self.delay)
                except TimeoutError:
                    pass
                self._wake.clear()
                collect(self.store)
        finally:
            self.store.unsubscribe(self._on_change)
