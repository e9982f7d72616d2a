"""Fault injection for tests: the next N requests matching a verb and a path answer 500, hang, or are dropped.

Also keeps a short log of the requests served, so tests can see what a client actually did.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections import deque
from dataclasses import dataclass

from aiohttp import web

from tests.support.kube.errors import ApiError


@dataclass
class Fault:
    method: str | None  # None: any verb
    path: re.Pattern
    action: str  # "error" | "hang" | "drop" | "late" (carried out at once, answered after `seconds`)
    status: int = 500
    count: int = 1  # how many more requests it applies to; -1: until cleared
    seconds: float = 3600.0  # how long a "hang" lasts, or a "late" answer is held
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and bool(self.path.search(path))


class Faults:
    def __init__(self, log_size: int = 5000):
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.requests: deque[tuple[str, str, int]] = deque(maxlen=log_size)

    def add(self, *, method=None, path=".*", action="error", status=500, count=1, seconds=3600.0) -> Fault:
        """Add a rule; `path` is a regex searched in the request path plus query string."""
        if action not in ("error", "hang", "drop", "late"):
            raise ValueError(f"unknown fault action {action!r}")
        fault = Fault(method.upper() if method else None, re.compile(path), action, status, count, seconds)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.count != 0 and fault.matches(method, path):
                    fault.hits += 1
                    if fault.count > 0:
                        fault.count -= 1
                    return fault
            return None

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        target = request.path_qs
        fault = self.take(request.method, target)
        if fault is not None and fault.action == "late":
            response = await handler(request)
            self.requests.append((request.method, target, response.status))
            await asyncio.sleep(fault.seconds)
            return response
        if fault is not None:
            self.requests.append((request.method, target, -1))
            if fault.action == "drop":
                if request.transport is not None:
                    request.transport.abort()
                raise ConnectionResetError("fault injection: connection dropped")
            if fault.action == "hang":
                await asyncio.sleep(fault.seconds)
                error = ApiError(504, "Timeout", "fault injection: the request hung")
            else:
                error = ApiError(fault.status, "InternalError", f"fault injection: answering {fault.status}")
            return web.json_response(error.status(), status=error.code)
        response = await handler(request)
        self.requests.append((request.method, target, response.status))
        return response
