"""The start line: never more than its slots starting at once, served in order, places told as it moves,
and a slot or a place in line never kept by a start that failed or was cancelled."""

from __future__ import annotations

import asyncio

import pytest

from spawner.local.start_queue import StartQueue, waiting_message, worth_reporting


async def settle():
    for _ in range(5):
        await asyncio.sleep(0)


class Starts:
    """Sessions going through one queue: each holds its slot until told to finish (or fail)."""

    def __init__(self, queue: StartQueue):
        self.queue = queue
        self.order: list[str] = []
        self.running: set[str] = set()
        self.most = 0
        self.places: dict[str, list[int]] = {}
        self.finish: dict[str, asyncio.Future] = {}

    async def start(self, name: str) -> None:
        self.finish[name] = asyncio.get_running_loop().create_future()
        self.places[name] = []
        async with self.queue.slot(self.places[name].append):
            self.order.append(name)
            self.running.add(name)
            self.most = max(self.most, len(self.running))
            try:
                await self.finish[name]
            finally:
                self.running.discard(name)

    def spawn(self, *names: str) -> dict[str, asyncio.Task]:
        return {n: asyncio.ensure_future(self.start(n)) for n in names}


async def test_no_more_than_the_slots_start_at_once_and_the_others_in_the_order_they_came():
    starts = Starts(StartQueue(2))
    names = [f"u{i}" for i in range(7)]
    tasks = {}
    for n in names:  # one after another, as requests come in
        tasks.update(starts.spawn(n))
        await settle()
    assert starts.running == {"u0", "u1"}
    for n in names:
        if not starts.finish[n].done():
            starts.finish[n].set_result(None)
        await settle()
        assert len(starts.running) <= 2
    await asyncio.gather(*tasks.values())
    assert starts.order == names
    assert starts.most == 2
    assert starts.queue.holding == 0 and starts.queue.waiting == 0


async def test_waiting_users_are_told_how_many_are_ahead_as_the_line_moves():
    starts = Starts(StartQueue(1))
    tasks = {}
    for n in ("a", "b", "c", "d"):
        tasks.update(starts.spawn(n))
        await settle()
    assert starts.places == {"a": [], "b": [0], "c": [1], "d": [2]}
    starts.finish["a"].set_result(None)
    await settle()
    assert starts.places["c"] == [1, 0] and starts.places["d"] == [2, 1]
    for n in ("b", "c", "d"):
        starts.finish[n].set_result(None)
        await settle()
    await asyncio.gather(*tasks.values())
    assert starts.places["d"] == [2, 1, 0]
    assert waiting_message(3) == "Waiting for a free start slot: 3 ahead of you"


def test_a_long_line_is_told_every_fifth_place_then_every_place_from_ten():
    shown, told = None, []
    for ahead in range(48, -1, -1):
        if worth_reporting(ahead, shown):
            shown = ahead
            told.append(ahead)
    assert told == [48, 45, 40, 35, 30, 25, 20, 15, *range(10, -1, -1)]


async def test_a_start_that_fails_frees_its_slot_for_the_next_in_line():
    queue = StartQueue(1)
    started = []

    async def failing():
        async with queue.slot():
            started.append("failing")
            raise RuntimeError("the session died")

    async def next_one():
        async with queue.slot():
            started.append("next")

    async with queue.slot():  # someone holds the only slot while both line up
        first = asyncio.ensure_future(failing())
        second = asyncio.ensure_future(next_one())
        await settle()
        assert started == [] and queue.waiting == 2
    with pytest.raises(RuntimeError):
        await first
    await second
    assert started == ["failing", "next"]
    assert queue.holding == 0


async def test_a_user_who_cancels_in_line_leaves_it_and_those_behind_move_up():
    starts = Starts(StartQueue(1))
    tasks = {}
    for n in ("a", "b", "c"):
        tasks.update(starts.spawn(n))
        await settle()
    tasks["b"].cancel()
    await settle()
    assert starts.queue.waiting == 1
    assert starts.places["c"] == [1, 0]  # told at once that nobody is left ahead
    starts.finish["a"].set_result(None)
    await settle()
    assert starts.running == {"c"}
    starts.finish["c"].set_result(None)
    await asyncio.gather(tasks["a"], tasks["c"])
    assert tasks["b"].cancelled() and "b" not in starts.order
    assert starts.queue.holding == 0


async def test_a_start_cancelled_while_holding_its_slot_frees_it():
    starts = Starts(StartQueue(1))
    tasks = starts.spawn("a", "b")
    await settle()
    tasks["a"].cancel()  # e.g. the user stops it while it starts, or start_timeout passes
    await settle()
    assert starts.running == {"b"}
    starts.finish["b"].set_result(None)
    await tasks["b"]
    assert starts.queue.holding == 0


async def test_a_start_cancelled_just_as_its_turn_came_passes_the_slot_on():
    starts = Starts(StartQueue(1))
    tasks = {}
    for n in ("a", "b", "c"):
        tasks.update(starts.spawn(n))
        await settle()
    starts.finish["a"].set_result(None)
    await asyncio.sleep(0)  # a's slot goes to b...
    tasks["b"].cancel()  # ...which is cancelled before it could run
    await settle()
    assert starts.running == {"c"}
    starts.finish["c"].set_result(None)
    await tasks["c"]
    assert starts.queue.holding == 0 and starts.queue.waiting == 0


async def test_a_start_cancelled_before_the_line_moves_past_it_is_skipped():
    queue = StartQueue(1)
    async with queue.slot():
        waiting = asyncio.ensure_future(queue._acquire(None))
        await settle()
        waiting.cancel()  # its turn is cancelled; the slot is released before it leaves the line
    await settle()
    assert waiting.cancelled()
    assert queue.holding == 0 and queue.waiting == 0


def test_a_queue_without_slots_is_refused():
    with pytest.raises(ValueError, match="at least one slot"):
        StartQueue(0)
