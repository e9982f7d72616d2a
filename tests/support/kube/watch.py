"""Watch streams: one JSON event per line (ADDED/MODIFIED/DELETED), resumable from a resourceVersion.

Like the real API server: without a resourceVersion (or "0") the stream starts with the current objects as
ADDED; an object that stops matching the selector is sent as DELETED (and ADDED when it starts matching);
a resourceVersion older than the kept history gets an ERROR event with a 410 Status; `timeoutSeconds`
ends the stream (clients then re-list).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter

from aiohttp import web

from tests.support.kube.errors import ApiError
from tests.support.kube.selectors import Selector
from tests.support.kube.store import Change, Store

DEFAULT_TIMEOUT = 1800.0  # the real server ends watches after 30-60 minutes


def _event(type_: str, obj: dict) -> bytes:
    return json.dumps({"type": type_, "object": obj}).encode() + b"\n"


def translate(change: Change, namespace: str | None, selector: Selector) -> str | None:
    """What this watcher sees of a change, or None."""

    def visible(obj):
        return (
            obj is not None
            and (namespace is None or obj["metadata"].get("namespace") == namespace)
            and selector.matches(obj)
        )

    now = visible(change.obj)
    if change.type == "ADDED":
        return "ADDED" if now else None
    if change.type == "DELETED":
        return "DELETED" if now else None
    before = visible(change.old)
    if now and before:
        return "MODIFIED"
    if now:
        return "ADDED"
    return "DELETED" if before else None


class Watches:
    """Serves watch requests and can end them all at once (a simulated API server restart)."""

    def __init__(self, store: Store):
        self.store = store
        self._queues: set[asyncio.Queue] = set()
        self.opened: Counter[str] = Counter()  # watches served so far, by plural (a test sees who watches)

    def close_all(self) -> None:
        for queue in list(self._queues):
            queue.put_nowait(None)

    async def serve(
        self, request, plural, namespace, selector, resource_version, timeout_seconds
    ) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        def on_change(change: Change) -> None:
            if change.plural == plural:
                try:
                    loop.call_soon_threadsafe(queue.put_nowait, change)
                except RuntimeError:  # the server's loop is closed
                    pass

        initial: list[bytes] = []
        try:
            if resource_version in (None, "", "0"):
                items, rv = self.store.list(plural, namespace, selector, shared=True)  # only serialized
                initial = [_event("ADDED", obj) for obj in items]
                replay = self.store.subscribe(on_change, since=rv)
            else:
                replay = self.store.subscribe(on_change, since=int(resource_version))
        except ValueError:
            return web.json_response(
                ApiError.bad_request(f"invalid resourceVersion {resource_version!r}").status(), status=400
            )
        except ApiError as e:
            initial, replay = [_event("ERROR", e.status())], []
            timeout_seconds = 0
        self._queues.add(queue)
        self.opened[plural] += 1
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        try:
            await response.prepare(request)
            for line in initial:
                await response.write(line)
            for change in replay:
                if kind := translate(change, namespace, selector):
                    await response.write(_event(kind, change.obj))
            deadline = loop.time() + (DEFAULT_TIMEOUT if timeout_seconds is None else timeout_seconds)
            while (remaining := deadline - loop.time()) > 0:
                try:
                    change = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    break
                if change is None:  # close_all()
                    break
                if kind := translate(change, namespace, selector):
                    await response.write(_event(kind, change.obj))
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.store.unsubscribe(on_change)
            self._queues.discard(queue)
        return response
