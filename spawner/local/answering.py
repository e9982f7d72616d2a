"""Wait, in the spawner, until a just-started session answers HTTP, polling every tenth of a second.

The hub's own check backs off exponentially (waits of up to 5 s), so a server that is up after 9 s is
often seen only seconds later; a session that is known to answer when start() returns is seen at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest


async def wait_answering(
    url: str, alive: Callable[[], bool], give_up_after: float, interval: float = 0.1
) -> bool:
    """True once `url` gives any HTTP answer; False when the process died (`alive()` false) or at
    `give_up_after` seconds: the hub's own check then reports it as it always does."""
    client = AsyncHTTPClient()
    deadline = time.monotonic() + give_up_after
    while time.monotonic() < deadline and alive():
        try:
            await client.fetch(HTTPRequest(url, request_timeout=2, follow_redirects=False))
            return True
        except HTTPClientError as e:
            if e.code != 599:  # any status from the server itself means it answers
                return True
        except OSError:  # refused: not listening yet
            pass
        await asyncio.sleep(interval)
    return False
