"""A line for starting sessions: at most `slots` start at once, the others wait their turn (FIFO).

Fifty Jupyter servers starting together on two cores each take minutes and many miss their timeouts;
two at a time per core, each takes seconds. A slot is held from launching the session's process until
it answers, fails or dies: `async with queue.slot(report): ...` leaves the line or frees the slot on
every path (exception, cancellation). While waiting, `report(ahead)` is called with how many are ahead,
first at once, then as the line moves (every step when 10 or fewer are ahead, every fifth before).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable


def waiting_message(ahead: int) -> str:
    return f"Waiting for a free start slot: {ahead} ahead of you"


def worth_reporting(ahead: int, shown: int | None) -> bool:
    """Whether a change of place to `ahead` is shown, the last shown being `shown`."""
    return shown is None or (ahead != shown and (ahead <= 10 or ahead % 5 == 0))


class StartQueue:
    """At most `slots` holders at once; the rest are served in the order they came."""

    def __init__(self, slots: int):
        if slots < 1:
            raise ValueError(f"a start queue needs at least one slot, not {slots}")
        self.slots = slots
        self.holding = 0
        self._line: deque[_Waiter] = deque()

    @property
    def waiting(self) -> int:
        return len(self._line)

    @contextlib.asynccontextmanager
    async def slot(self, report: Callable[[int], None] | None = None) -> AsyncIterator[None]:
        await self._acquire(report)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, report: Callable[[int], None] | None) -> None:
        if self.holding < self.slots and not self._line:
            self.holding += 1
            return
        waiter = _Waiter(asyncio.get_running_loop().create_future(), report)
        self._line.append(waiter)
        waiter.moved(len(self._line) - 1)
        try:
            await waiter.turn
        except BaseException:
            if waiter.turn.done() and not waiter.turn.cancelled():
                self._release()  # given the slot as it was cancelled: pass it on
            elif waiter in self._line:
                self._line.remove(waiter)
                self._tell_places()
            raise

    def _release(self) -> None:
        self.holding -= 1
        while self._line and self.holding < self.slots:
            waiter = self._line.popleft()
            if waiter.turn.done():  # cancelled, not yet out of the line
                continue
            self.holding += 1
            waiter.turn.set_result(None)
        self._tell_places()

    def _tell_places(self) -> None:
        for ahead, waiter in enumerate(self._line):
            waiter.moved(ahead)


class _Waiter:
    def __init__(self, turn: asyncio.Future, report: Callable[[int], None] | None):
        self.turn, self.report, self.shown = turn, report, None

    def moved(self, ahead: int) -> None:
        if self.report is not None and worth_reporting(ahead, self.shown):
            self.shown = ahead
            self.report(ahead)
