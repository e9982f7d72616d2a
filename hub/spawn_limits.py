"""Oversized spawn requests are refused before JupyterHub reads them.

JupyterHub's REST spawn (`POST /hub/api/users/<name>/server`, `.../servers/<server>`) parses the whole
body as JSON and saves it as the server's options before any spawner sees it: a 10 MB body became a
10 MB database row. `SpawnRequestGuard` answers 413 first, when the body is larger than
`SpawnLimits.max_options_bytes`, naming the sizes and quoting nothing of it. Catalog options fit in a
few hundred bytes; what validation refuses after that is bounded too (spawner/catalog/validate.py).

DatalabOAuthenticator.get_handlers installs it (an authenticator's handlers come before JupyterHub's own
for the same route). Upstream parts relied on (checked on JupyterHub 5.5 and 6.1): the handler class
`jupyterhub.apihandlers.users.UserServerAPIHandler` and its two routes.
"""

from __future__ import annotations

from jupyterhub.apihandlers.users import UserServerAPIHandler
from tornado import web
from traitlets import Integer
from traitlets.config import LoggingConfigurable

ROUTES = (r"/api/users/([^/]+)/server", r"/api/users/([^/]+)/servers/([^/]*)")


class SpawnLimits(LoggingConfigurable):
    """Limits on what a spawn request may carry (config section `SpawnLimits`)."""

    max_options_bytes = Integer(
        65536,
        min=1024,
        help="""Largest body (bytes) of a REST spawn request, i.e. the JSON of the server's options. Larger
        requests are answered 413 before JupyterHub parses or stores them.""",
    ).tag(config=True)


def body_problem(size: int, limit: int) -> str | None:
    """Why a request body of `size` bytes is refused (None when it is accepted)."""
    if size > limit:
        return f"the spawn request carries {size} bytes of options: at most {limit} are accepted"
    return None


class SpawnRequestGuard(UserServerAPIHandler):
    """JupyterHub's server API, refusing oversized spawn requests before anything reads them."""

    async def prepare(self):
        if self.request.method == "POST":
            limit = SpawnLimits(config=self.settings.get("config")).max_options_bytes
            size = len(self.request.body or b"")
            if why := body_problem(size, limit):
                self.log.warning("Refused a spawn request of %d bytes (at most %d)", size, limit)
                raise web.HTTPError(413, why)
        return await super().prepare()


def handlers() -> list[tuple[str, type]]:
    return [(route, SpawnRequestGuard) for route in ROUTES]
