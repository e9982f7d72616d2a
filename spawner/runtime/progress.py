"""Spawn progress: the steps a catalog spawner reports (options accepted, credentials, PostgreSQL, git
clone, PVC, pod, Secret...) interleaved with what the backend's own `progress()` relays (KubeSpawner:
the pod's Kubernetes events), on one bar that never goes backwards.

The seam: JupyterHub's base `Spawner.progress()` yields a placeholder "Spawning server..." at 50%, and
KubeSpawner computes its own percentages from the number of pod events; our steps had theirs (5%, 10%...),
so the bar went 50% then 15%. Here every event, ours or the backend's, moves one bar forward by a share of
what is left below `ProgressBar.ceiling` (JupyterHub's ready or failed event is the 100%), the
backend's percentage is only a floor, and the base class's placeholder is not relayed at all.
`progress_log` keeps every step's message for the hub's pages (the last spawn's, failed or not).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass
class ProgressBar:
    """A percentage that only grows: each step covers `share` of what is left below `ceiling`."""

    value: float = 0.0
    ceiling: float = 95.0
    share: float = 0.18

    def advance(self, at_least: float | None = None) -> int:
        target = self.value + (self.ceiling - self.value) * self.share
        if at_least is not None:
            target = max(target, min(float(at_least), self.ceiling))
        self.value = max(self.value, min(target, self.ceiling))
        return int(self.value)


def _backend_progress_is_placeholder(cls: type) -> bool:
    """Whether the next `progress` after ProgressMixin in `cls`'s MRO is JupyterHub's placeholder."""
    mro = cls.__mro__
    after = mro[mro.index(ProgressMixin) + 1 :]
    owner = next((c for c in after if "progress" in vars(c)), None)
    return owner is None or (owner.__module__ == "jupyterhub.spawner" and owner.__name__ == "Spawner")


class ProgressMixin:
    """Mix in before the backend's Spawner to report steps with `report_progress`."""

    _progress_messages: list[str] | None = None
    _progress_still: frozenset[int] = frozenset()  # the steps that leave the bar where it was

    def start(self):
        self._progress_messages, self._progress_still = [], frozenset()
        return super().start()

    @property
    def progress_log(self) -> list[str]:
        """The messages of the current (or last) spawn's steps, in order."""
        return list(self._progress_messages or [])

    def report_progress(self, message: str, *, advance: bool = True) -> None:
        """A step, shown at once; `advance=False`: the bar stays where it is (e.g. a place in line)."""
        if self._progress_messages is None:
            self._progress_messages = []
        if not advance:
            self._progress_still = self._progress_still | {len(self._progress_messages)}
        self._progress_messages.append(message)
        self.log.info("%s: %s", self._log_name, message)

    async def _backend_events(self):
        if _backend_progress_is_placeholder(type(self)):
            return
        async for event in super().progress():
            yield event

    async def progress(self):
        messages = self._progress_messages if self._progress_messages is not None else []
        bar = ProgressBar()
        sent = 0

        def ours():
            nonlocal sent
            while sent < len(messages):
                sent += 1
                still = sent - 1 in self._progress_still
                yield {"progress": int(bar.value) if still else bar.advance(), "message": messages[sent - 1]}

        inner = self._backend_events().__aiter__()
        pending = asyncio.ensure_future(inner.__anext__())
        try:
            while True:
                for event in ours():
                    yield event
                done, _ = await asyncio.wait({pending}, timeout=0.2)
                if pending not in done:
                    continue
                for event in ours():  # steps reported while we waited came first
                    yield event
                try:
                    event = pending.result()
                except StopAsyncIteration:
                    break
                yield {**event, "progress": bar.advance(event.get("progress"))}
                pending = asyncio.ensure_future(inner.__anext__())
            # the backend's events are over (or there are none): our last steps until the start finishes
            while True:
                for event in ours():
                    yield event
                start = getattr(self, "_start_future", None)
                if start is None or start.done():
                    break
                await asyncio.sleep(0.2)
            for event in ours():
                yield event
        finally:
            if not pending.done():
                pending.cancel()
