"""The local spawner's own readiness wait: a session is seen as soon as it answers, a dead one at once."""

from __future__ import annotations

import asyncio
import time

from tornado.httpserver import HTTPServer
from tornado.web import Application

from spawner.local.answering import wait_answering
from tests.support.procs import free_port


async def test_a_server_that_starts_late_is_seen_within_a_fraction_of_a_second():
    port = free_port()
    url = f"http://127.0.0.1:{port}/user/bob/api"
    server = HTTPServer(Application([]))  # every path a 404: still an answer

    async def listen_later():
        await asyncio.sleep(1.0)
        server.listen(port, "127.0.0.1")
        return time.monotonic()

    listening = asyncio.ensure_future(listen_later())
    try:
        assert await wait_answering(url, lambda: True, give_up_after=10)
        assert time.monotonic() - await listening < 0.5
    finally:
        server.stop()


async def test_a_process_that_died_ends_the_wait_without_an_answer():
    url = f"http://127.0.0.1:{free_port()}/api"
    t0 = time.monotonic()
    assert not await wait_answering(url, lambda: time.monotonic() - t0 < 0.3, give_up_after=30)
    assert time.monotonic() - t0 < 5


async def test_nothing_answering_gives_up_at_the_timeout():
    url = f"http://127.0.0.1:{free_port()}/api"
    assert not await wait_answering(url, lambda: True, give_up_after=0.5)
