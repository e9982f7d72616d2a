"""Oversized spawn requests are refused before JupyterHub reads them.

JupyterHub's REST spawn (`POST /hub/api/users/<name>/server`, `.../servers/<server>`) parses the whole
body as JSON and saves it as the server's options before any spawner sees it: a 10 MB body became a
10 MB database row; the spawn form (`POST /hub/spawn/...`) reads every field of its body the same way.
Both handlers here stream the body instead of letting Tornado buffer it (up to its 100 MB default):
a request announcing more than `SpawnLimits.max_options_bytes` is refused 413 from its headers: above
8 MiB at once, before a byte of its body is read; below, once the body has been read and dropped (kept
nowhere), so that a client still sending reads the answer. A body sent without a length is cut off at the
limit. The message names the
sizes and quotes nothing of the body. Catalog options fit in a few hundred bytes; what validation refuses
after that is bounded too (spawner/catalog/validate.py).

hub.configure installs them in place of JupyterHub's own (hub/overrides.py), whatever the authenticator.
Upstream parts relied on (checked on JupyterHub 5.5 and 6.1): `UserServerAPIHandler` (post, delete) and
`SpawnHandler` (post) reading `request.body` / `request.body_arguments`, and BaseHandler.prepare calling
`check_xsrf_cookie`, which may read the form's `_xsrf` field: with a streamed body that check waits until
the body is read, and runs before the handler's method does anything.
"""

from __future__ import annotations

from jupyterhub.apihandlers.users import UserServerAPIHandler
from jupyterhub.handlers.pages import SpawnHandler
from tornado import httputil, web
from traitlets import Integer
from traitlets.config import LoggingConfigurable

API_ROUTES = (r"/api/users/([^/]+)/server", r"/api/users/([^/]+)/servers/([^/]*)")
FORM_ROUTES = (r"/spawn", r"/spawn/([^/]+)", r"/spawn/([^/]+)/([^/]+)")
# An oversized body announcing at most this much is read and dropped before the 413 (so the client, still
# sending, gets it); a larger one is answered from its headers and the connection closed.
DISCARDED_AT_MOST = 8 * 1024 * 1024


class SpawnLimits(LoggingConfigurable):
    """Limits on what a spawn request may carry (config section `SpawnLimits`)."""

    max_options_bytes = Integer(
        65536,
        min=1024,
        help="""Largest body (bytes) of a spawn request: the JSON of a REST spawn, the fields of the spawn
        form. Larger requests are answered 413 before JupyterHub reads, parses or stores them.""",
    ).tag(config=True)


def body_problem(size: int, limit: int) -> str | None:
    """Why a request body of `size` bytes is refused (None when it is accepted)."""
    if size > limit:
        return f"the spawn request carries {size} bytes of options: at most {limit} are accepted"
    return None


class BoundedBody:
    """A JupyterHub handler whose body is streamed, bounded, then parsed as Tornado would have parsed it."""

    _xsrf_waits = False
    _refused: str | None = None

    async def prepare(self):
        self._chunks: list[bytes] = []
        self._xsrf_waits = True  # the form's _xsrf field is in the body, not read yet
        try:
            await super().prepare()  # who is asking (an error page needs it), as JupyterHub does
        finally:
            self._xsrf_waits = False
        limit = SpawnLimits(config=self.settings.get("config")).max_options_bytes
        declared = self.request.headers.get("Content-Length", "")
        self._refused = body_problem(int(declared), limit) if declared.isdigit() else None
        if self._refused:
            self.log.warning("Refused a spawn request of %s bytes (at most %d)", declared, limit)
            if int(declared) > DISCARDED_AT_MOST:
                raise web.HTTPError(413, self._refused)
            # Read and drop what the client is sending, so that it reads the 413 (a server that closes on
            # unread data resets the connection, and the client sees no answer); nothing of it is kept.
            self.request.connection.set_max_body_size(int(declared))
            return
        self.request.connection.set_max_body_size(limit)  # a body without a length stops there

    def data_received(self, chunk: bytes) -> None:
        if not self._refused:
            self._chunks.append(chunk)

    def check_xsrf_cookie(self):
        if not self._xsrf_waits:
            return super().check_xsrf_cookie()

    def body_received(self) -> None:
        """The body as `request.body` and its form fields as arguments; then JupyterHub's xsrf check."""
        if self._refused:
            raise web.HTTPError(413, self._refused)
        request = self.request
        request.body = b"".join(self._chunks)
        self._chunks = []
        httputil.parse_body_arguments(
            request.headers.get("Content-Type", ""), request.body, request.body_arguments, request.files,
            request.headers,
        )  # fmt: skip
        for key, values in request.body_arguments.items():
            request.arguments.setdefault(key, []).extend(values)
        if request.method not in self._xsrf_safe_methods and self.settings.get("xsrf_cookies"):
            self.check_xsrf_cookie()


@web.stream_request_body
class SpawnRequestGuard(BoundedBody, UserServerAPIHandler):
    """JupyterHub's server API, refusing oversized spawn requests before anything reads them."""

    async def post(self, *args):
        self.body_received()
        return await super().post(*args)

    async def delete(self, *args):
        self.body_received()
        return await super().delete(*args)


@web.stream_request_body
class SpawnFormGuard(BoundedBody, SpawnHandler):
    """JupyterHub's spawn page, refusing oversized form submissions before anything reads them."""

    async def post(self, *args):
        self.body_received()
        result = super().post(*args)  # web.authenticated: None after redirecting to the login page
        return await result if result is not None else None


def handlers() -> list[tuple[str, type]]:
    return [(route, SpawnRequestGuard) for route in API_ROUTES] + [
        (route, SpawnFormGuard) for route in FORM_ROUTES
    ]
