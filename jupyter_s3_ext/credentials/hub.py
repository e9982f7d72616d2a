"""Ask the hub for fresh credentials: `GET {JUPYTERHUB_API_URL}/datalab/credentials`.

Authenticated by the session's own JupyterHub API token. Two clients with the same behaviour: an async
one (tornado) for the server's refresher and a blocking one (urllib, quick to import) for the
`datalab-credentials` command. Errors say what failed (address, status, the hub's message), never the token.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from .document import CacheDocument, CredentialsError
from .model import utcnow

CREDENTIALS_PATH = "datalab/credentials"


class HubError(RuntimeError):
    """The hub could not give fresh credentials; the message is safe to log and show."""


@dataclass(frozen=True)
class HubEndpoint:
    url: str
    token: str = field(default="", repr=False)

    @classmethod
    def from_env(cls, env=None, path: str = CREDENTIALS_PATH) -> HubEndpoint | None:
        env = os.environ if env is None else env
        api_url = env.get("JUPYTERHUB_API_URL")
        token = env.get("JUPYTERHUB_API_TOKEN") or env.get("JPY_API_TOKEN") or ""
        if not api_url or not token:
            return None
        return cls(url=endpoint_url(api_url, path), token=token)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}", "Accept": "application/json"}


def endpoint_url(api_url: str, path: str = CREDENTIALS_PATH) -> str:
    return api_url.rstrip("/") + "/" + path.lstrip("/")


def _error_message(status: int, body: bytes | None) -> str:
    detail = ""
    if body:
        try:
            data = json.loads(body)
            if isinstance(data, dict) and isinstance(data.get("message"), str):
                detail = data["message"]
        except ValueError:
            detail = ""
    return f"HTTP {status}" + (f": {detail[:300]}" if detail else "")


def _parse(body: bytes, url: str) -> CacheDocument:
    try:
        data = json.loads(body)
    except ValueError:
        raise HubError(f"{url} answered something that is not JSON") from None
    try:
        doc = CacheDocument.parse(data, source=url)
    except CredentialsError as e:
        raise HubError(str(e)) from None
    return doc.model_copy(update={"fetched_at": utcnow()})


async def fetch_async(endpoint: HubEndpoint, request_timeout: float) -> CacheDocument:
    """Fresh credentials from the hub (tornado's AsyncHTTPClient; never blocks the event loop)."""
    from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

    request = HTTPRequest(
        endpoint.url,
        headers=endpoint.headers(),
        connect_timeout=request_timeout,
        request_timeout=request_timeout,
    )
    try:
        response = await AsyncHTTPClient().fetch(request)
    except HTTPClientError as e:
        body = e.response.body if e.response is not None else None
        if e.code == 599:
            raise HubError(f"could not reach {endpoint.url}: {e.message}") from None
        raise HubError(
            f"{endpoint.url} refused to renew credentials: {_error_message(e.code, body)}"
        ) from None
    except OSError as e:
        raise HubError(f"could not reach {endpoint.url}: {e.strerror or e}") from None
    return _parse(response.body, endpoint.url)


def fetch_blocking(endpoint: HubEndpoint, timeout: float) -> CacheDocument:
    """The same, blocking (for the command line, which has no event loop)."""
    import urllib.error  # imported here: most runs of the command never call the hub
    import urllib.request

    request = urllib.request.Request(endpoint.url, headers=endpoint.headers())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as e:
        raise HubError(
            f"{endpoint.url} refused to renew credentials: {_error_message(e.code, e.read())}"
        ) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise HubError(f"could not reach {endpoint.url}: {reason}") from None
    return _parse(body, endpoint.url)
