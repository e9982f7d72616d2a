"""Spawn progress: the steps a catalog spawner reports (options accepted, credentials warnings, PostgreSQL,
git clone, PVC, pod, Secret...) interleaved with what the backend's own `progress()` relays (KubeSpawner:
the pod's Kubernetes events)."""

from __future__ import annotations

import asyncio


class ProgressMixin:
    """Mix in before the backend's Spawner to report steps with `report_progress`."""

    _progress_messages: list[str] | None = None

    def start(self):
        self._progress_messages = []
        return super().start()

    def report_progress(self, message: str) -> None:
        if self._progress_messages is None:
            self._progress_messages = []
        self._progress_messages.append(message)
        self.log.info("%s: %s", self._log_name, message)

    async def progress(self):
        messages = self._progress_messages if self._progress_messages is not None else []
        sent = 0

        def ours():
            nonlocal sent
            while sent < len(messages):
                sent += 1
                yield {"progress": min(5 * sent, 25), "message": messages[sent - 1]}

        inner = super().progress().__aiter__()
        pending = asyncio.ensure_future(inner.__anext__())
        try:
            while True:
                for event in ours():
                    yield event
                done, _ = await asyncio.wait({pending}, timeout=0.2)
                if pending not in done:
                    continue
                try:
                    event = pending.result()
                except StopAsyncIteration:
                    break
                yield event
                pending = asyncio.ensure_future(inner.__anext__())
            # KubeSpawner's events are over (or disabled): our last steps until the start finishes
            while True:
                for event in ours():
                    yield event
                start = self._start_future
                if start is None or start.done():
                    break
                await asyncio.sleep(0.2)
            for event in ours():
                yield event
        finally:
            if not pending.done():
                pending.cancel()
