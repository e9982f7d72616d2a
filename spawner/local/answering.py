"""Wait, in the spawner, until a just-started session answers HTTP, trying every tenth of a second.

The hub's own check backs off exponentially (waits of up to 5 s), so a server that is up after 9 s is
often seen only seconds later; a session that is known to answer when start() returns is seen at once.
Until the port accepts a connection the tries are plain TCP connects; the HTTP request then goes through
a client of its own, never the hub's shared one (which the proxy's API calls need).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest


async def _accepts(host: str, port: int) -> bool:
    try:
        # not wait_for: on Python 3.11 it loses a cancel that comes with the connection
        async with asyncio.timeout(1):
            _, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def wait_answering(
    url: str, alive: Callable[[], bool], give_up_after: float, interval: float = 0.1
) -> bool:
    """True once `url` gives any HTTP answer; False when the process died (`alive()` false) or after
    `give_up_after` seconds: the hub's own check then reports it as it always does."""
    parts = urlsplit(url)
    deadline = time.monotonic() + give_up_after
    client = None
    try:
        while time.monotonic() < deadline and alive():
            if await _accepts(parts.hostname or "127.0.0.1", parts.port or 80):
                client = client or AsyncHTTPClient(force_instance=True)
                left = max(0.5, deadline - time.monotonic())
                try:
                    await client.fetch(
                        HTTPRequest(url, request_timeout=min(10.0, left), follow_redirects=False)
                    )
                    return True
                except HTTPClientError as e:
                    if e.code != 599:  # any status from the server itself means it answers
                        return True
                except OSError:
                    pass
            await asyncio.sleep(interval)
        return False
    finally:
        if client is not None:
            client.close()
