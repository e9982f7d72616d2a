"""The renewal endpoint: `GET /hub/api/datalab/credentials` returns fresh credentials for the token's owner.

A session calls it with its own JUPYTERHUB_API_TOKEN; a user may also call it with a token holding the
custom scope `custom:datalab-credentials:read`. It only ever answers for the owner of the token, so
nobody can obtain another user's credentials; services and tokens without the scope get 403.

It takes tokens only, never the browser's cookie: a page of a server shared with a visitor runs in the
visitor's browser, and with the cookie it would get the visitor's credentials (`_accept_cookie_auth`, the
class switch JupyterHub's handlers use to choose how they authenticate). Tokens someone else requested for
the user are refused (grants.py). Forced renewals (`?force=1`, new S3 keys and Vault token) are limited
per user (429 with Retry-After). Every answer with credentials is logged with who asked: the token's
owner, id and note, never its value; at info the first time a token is given a set of credentials, at
debug when it is given the same ones again (renewal_log.py, which also puts JupyterHub's access line of a
successful renewal at debug).

What one renewal costs the hub (issue 17's target: 1,000 a minute under 5% of a core) is mostly JupyterHub's
token authentication: the token is looked up once per request here, not three times, with a leaner query
(`get_token`, token_lookup.py), and `configure_endpoint` makes JupyterHub record a token's activity at most
every ACTIVITY_RESOLUTION seconds (each record is an SQLite commit, dearer than the rest of the request).

`hub.configure(c)` enables it (through `configure_endpoint(c)`, see its docstring).
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict, deque

from jupyterhub.apihandlers.base import APIHandler
from tornado import web

from jupyter_s3_ext.credentials.document import CredentialsDocument

from ..projects import session
from ..projects.settings import get_projects
from ..user_role import extend_user_role
from .broker import get_broker
from .errors import BrokerError
from .grants import SCOPE, requested_for_someone_else
from .renewal_log import Told, renewal_log_function
from .token_lookup import find_token
from .tokens import LoginRequired, ensure_signed_in, id_token_of

# What a server's token gets by default (JupyterHub's `server` role), plus the right to renew credentials.
SERVER_TOKEN_SCOPES = ["users:activity!user", "access:servers!server", f"{SCOPE}!user"]


def scope_allows(parsed_scopes: dict, username: str) -> bool:
    """Whether parsed JupyterHub scopes hold SCOPE for `username` (unfiltered, or filtered to that user)."""
    filters = parsed_scopes.get(SCOPE)
    if filters is None:
        return False
    if not isinstance(filters, dict):  # jupyterhub.scopes.Scope.ALL
        return True
    return username in filters.get("user", ())


def retry_after(times: deque, now: float, *, limit: int, window: float) -> float:
    """0 when one more forced renewal fits `limit` per `window` seconds (and it is counted), else the seconds
    until it would. `times` holds the monotonic times of the user's recent forced renewals."""
    while times and now - times[0] >= window:
        times.popleft()
    if limit <= 0:
        return 0.0
    if len(times) >= limit:
        return window - (now - times[-limit])
    times.append(now)
    return 0.0


_forced: dict[str, deque] = defaultdict(deque)  # user name -> monotonic times of their forced renewals
_told = Told()  # which credentials each token was last given: repeats are logged at debug

# JupyterHub's default is 30 s: a session renewing every minute would commit its token's activity each time.
# 300 s is as often as servers report their own activity (JUPYTERHUB_ACTIVITY_INTERVAL's default).
ACTIVITY_RESOLUTION = 300


class CredentialsHandler(APIHandler):
    """GET: fresh S3/Vault credentials of the authenticated user (a jupyter_s3_ext.credentials.document
    CredentialsDocument), or `{"message"}` with 401 (log in again), 429 (too many forced renewals) or 503 (a
    required integration failed)."""

    _accept_cookie_auth = False  # tokens only: a cookie-authenticated request has no current user here

    def get_token(self):
        """The request's API token (jupyterhub.orm.APIToken or None), looked up once per request.

        JupyterHub's authentication, its scope resolution and this handler each ask for it; upstream looks it
        up each time (~0.2-0.4 ms of hub CPU each), here once, with token_lookup's lean query. The token is
        still checked on every request; one revoked while a request is handled is refused from the next on."""
        if not hasattr(self, "_datalab_token"):
            value = self.get_auth_token()
            self._datalab_token = None if value is None else find_token(self.db, value)
        return self._datalab_token

    def _json(self, status: int, doc: dict) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(doc))

    async def get(self):
        owner = self.current_user
        token = self.get_token()
        live = token is not None and (token.expires_in is None or token.expires_in > 0)
        if owner is None and live and token.user is not None:
            # JupyterHub 5.5 drops the user of a token whose sign-in could not be refreshed (6 keeps it and
            # ensure_signed_in below says so): the same answer on both, log in again
            name = token.user.name
            return self._json(401, {"message": f"the sign-in of {name} has expired: log in to the hub again"})
        if owner is None or getattr(owner, "kind", None) != "user":
            raise web.HTTPError(
                403, "credentials are only given to a user's own token (in the Authorization header)"
            )
        if not scope_allows(self.parsed_scopes, owner.name):
            raise web.HTTPError(403, f"this token lacks the scope {SCOPE} for user {owner.name}")
        broker = get_broker(self.settings.get("config"), self.log)
        who = (
            f"token {token.api_id} (note {(token.note or '')[:60]!r}) of {owner.name}"
            if token
            else owner.name
        )
        if (
            token is not None
            and requested_for_someone_else(token.note)
            and not broker.allow_granting_to_others
        ):
            self.log.warning("Refused credentials of %s to %s: requested by someone else", owner.name, who)
            raise web.HTTPError(
                403, "this token was requested for its user by someone else: it gets no credentials"
            )
        if not broker.enabled:
            return self._json(200, CredentialsDocument().to_json())
        force = self.get_argument("force", "") in ("1", "true", "yes")
        if force:
            wait = retry_after(
                _forced[owner.name],
                time.monotonic(),
                limit=broker.forced_renewals_per_window,
                window=broker.forced_renewal_window,
            )
            if wait > 0:
                self.set_header("Retry-After", str(math.ceil(wait)))
                self.log.warning("Forced renewal for %s refused: over the limit (%s)", owner.name, who)
                return self._json(
                    429,
                    {
                        "message": f"too many forced renewals for {owner.name}: "
                        f"at most {broker.forced_renewals_per_window} per {broker.forced_renewal_window:g} s, "
                        f"retry in {math.ceil(wait)} s"
                    },
                )
        try:
            await ensure_signed_in(self.authenticator, owner, self)
        except LoginRequired as e:
            return self._json(401, {"message": str(e)})
        project = session.server_project(owner, token)  # a project server's own token: its project's only
        try:
            if project:
                projects = get_projects(self.settings.get("config"), self.log)
                id_token = await id_token_of(owner)  # its groups say whether they are still a member
                document, _ = await session.credentials(broker, projects, project, owner.name, id_token)
            else:  # the id_token is only read (decrypted) when something is minted, not for cached ones
                document = await broker.credentials(owner.name, lambda: id_token_of(owner), force=force)
        except BrokerError as e:
            self.log.warning("Credentials for %s unavailable: %s", owner.name, e)
            return self._json(503, {"message": str(e)})
        first = _told.first_time(token.api_id if token else f"user {owner.name}", document)
        (self.log.info if first or force else self.log.debug)(
            "Credentials of %s%s given to %s%s%s",
            owner.name,
            f" (project {project})" if project else "",
            who,
            " (forced renewal)" if force else "",
            "" if first else " (the same as before)",
        )
        self._json(200, document.to_json())


def configure_endpoint(c, *, server_token_scopes: bool = True) -> None:
    """Wire the endpoint into a JupyterHub config `c`: handler, custom scope, users holding it.

    - registers `/hub/api/datalab/credentials` (c.JupyterHub.extra_handlers);
    - declares the custom scope and grants it to every user for themselves (the `user` role keeps `self`);
    - gives servers' JUPYTERHUB_API_TOKEN the scope (c.Spawner.server_token_scopes), unless told not to;
    - unless set: c.JupyterHub.activity_resolution = ACTIVITY_RESOLUTION, and JupyterHub's access log
      (tornado_settings' log_function) with successful renewals at debug.

    Call it after any `c.JupyterHub.load_roles = [...]` of your own: it extends the `user` role there, and a
    server token only gets the scopes its user holds.
    """
    c.JupyterHub.extra_handlers = [
        *list(c.JupyterHub.get("extra_handlers", [])),
        (r"/api/datalab/credentials", CredentialsHandler),
    ]
    custom = dict(c.JupyterHub.get("custom_scopes", {}))
    custom[SCOPE] = {
        "description": "Read your own temporary S3 and Vault credentials (Datalab).",
    }
    c.JupyterHub.custom_scopes = custom
    extend_user_role(c, [f"{SCOPE}!user"])
    if "activity_resolution" not in c.JupyterHub:
        c.JupyterHub.activity_resolution = ACTIVITY_RESOLUTION
    tornado_settings = dict(c.JupyterHub.get("tornado_settings", {}))
    tornado_settings.setdefault("log_function", renewal_log_function(CredentialsHandler))
    c.JupyterHub.tornado_settings = tornado_settings
    if server_token_scopes:
        c.Spawner.server_token_scopes = list(SERVER_TOKEN_SCOPES)
