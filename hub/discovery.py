"""OIDC discovery: the issuer's discovery document, fetched at hub start and retried while the IdP starts.

DatalabOAuthenticator (hub/auth.py) fills its endpoint settings from it; this module only fetches.
"""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

ATTEMPT_TIMEOUT = 5.0  # seconds per discovery request, unless http_request_kwargs sets request_timeout
RETRY_INTERVAL = 0.5


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def fetch_discovery(
    issuer: str, *, timeout: float, request_kwargs: dict | None = None, client_defaults: dict | None = None
) -> dict:
    """The issuer's discovery document, retried until `timeout` seconds (the IdP may start after the hub).

    Tornado's HTTP client (the configured implementation, e.g. curl) with `request_kwargs` on every request
    and `client_defaults` under them. Blocking, and callable while this thread runs an event loop (JupyterHub
    makes its authenticator inside its own): the requests run on a new loop in a worker thread.
    """
    attempts = _fetch_until(
        issuer, dict(request_kwargs or {}), dict(client_defaults or {}), give_up_after=timeout
    )
    with ThreadPoolExecutor(1, thread_name_prefix="oidc-discovery") as pool:
        return pool.submit(asyncio.run, attempts).result()


async def _fetch_until(
    issuer: str, request_kwargs: dict, client_defaults: dict, *, give_up_after: float
) -> dict:
    url = discovery_url(issuer)
    deadline = time.monotonic() + give_up_after
    client = AsyncHTTPClient(force_instance=True, defaults=client_defaults)
    try:
        while True:
            left = deadline - time.monotonic()
            kwargs = {"request_timeout": min(ATTEMPT_TIMEOUT, max(left, 1.0)), **request_kwargs}
            try:
                response = await client.fetch(HTTPRequest(url, **kwargs))
                document = json.loads(response.body)
                if not isinstance(document, dict):
                    raise ValueError("the answer is not a JSON object")
                return document
            except (OSError, HTTPClientError, ValueError) as e:  # not up, not reachable, not answering well
                if time.monotonic() >= deadline:
                    raise RuntimeError(
                        f"OIDC discovery failed for issuer {issuer!r} ({url}) after {give_up_after:g} s: {e}"
                    ) from e
                await asyncio.sleep(min(RETRY_INTERVAL, max(deadline - time.monotonic(), 0.0)))
            except Exception as e:  # e.g. an http_request_kwargs entry the client refuses: no use retrying
                raise RuntimeError(f"OIDC discovery failed for issuer {issuer!r} ({url}): {e!r}") from e
    finally:
        client.close()
