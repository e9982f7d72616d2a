"""Who may hold the credentials scope: tokens one user creates for another never do (unless the operator says).

JupyterHub lets an admin create a token for any user with any of that user's scopes; with the credentials
scope, the admin would get the user's S3 keys and Vault token from the renewal endpoint. By default
(`CredentialBroker.allow_granting_to_others` False):
- `TokenRequestGuard` refuses, before anything is created, a request to
  `POST /hub/api/users/<name>/tokens` made by anyone but <name> when the token would hold the scope
  (asked for by name, through roles, or inherited: the default token of JupyterHub 5 inherits all);
- the renewal endpoint refuses tokens whose note JupyterHub set to "Requested via api by ..." (its own mark
  of a token requested for someone else, e.g. one made before this guard existed).

hub.configure installs the guard in place of JupyterHub's handler of the route (hub/overrides.py), whatever
the authenticator. Upstream parts this relies on (checked on
JupyterHub 5.4 / 6.1): `UserTokenListAPIHandler.post` and its body fields `scopes` and `roles`, the default
`token` role, `jupyterhub.roles.roles_to_scopes`, `jupyterhub.scopes.expand_scopes` and `get_scopes_for`,
and the note text `Requested via api by`.
"""

from __future__ import annotations

from jupyterhub import orm
from jupyterhub.apihandlers.users import UserTokenListAPIHandler
from jupyterhub.user import User
from tornado import web

from .broker import get_broker

SCOPE = "custom:datalab-credentials:read"
OTHERS_MARK = "Requested via api by "  # JupyterHub's note for a token requested for another user


def holds_credentials_scope(expanded_scopes) -> bool:
    """Whether expanded JupyterHub scopes give the credentials scope (for anyone)."""
    return any(s.partition("!")[0] == SCOPE for s in expanded_scopes)


def requested_for_someone_else(note: str | None) -> bool:
    """Whether JupyterHub marked a token as requested for its owner by someone else."""
    return bool(note) and note.startswith(OTHERS_MARK)


def _raw_scopes(db, body: dict, owner: orm.User) -> list[str]:
    """The raw scopes a token request asks for, as JupyterHub's new_api_token will resolve them."""
    from jupyterhub import roles, scopes

    requested, role_names = body.get("scopes"), body.get("roles")
    if requested is None and role_names is None:
        token_role = orm.Role.find(db, "token")
        requested = roles.roles_to_scopes([token_role]) if token_role else ["inherit"]
    elif requested is None:
        found = [orm.Role.find(db, name) for name in role_names]
        requested = roles.roles_to_scopes([r for r in found if r is not None])
    requested = list(requested)
    if "inherit" in requested:
        requested = [s for s in requested if s != "inherit"] + list(scopes.get_scopes_for(owner))
    return requested


class TokenRequestGuard(UserTokenListAPIHandler):
    """JupyterHub's token creation, refusing tokens for someone else that would hold the credentials scope."""

    async def post(self, user_name):
        broker = get_broker(self.settings.get("config"), self.log)
        requester = self.current_user
        target = self.find_user(user_name)
        someone_else = requester is not None and not (
            isinstance(requester, User) and target is not None and requester.name == target.name
        )
        if broker.allow_granting_to_others or target is None or not someone_else:
            return await super().post(user_name)
        from jupyterhub import scopes

        body = self.get_json_body() or {}
        if not isinstance(body, dict):
            raise web.HTTPError(400, "Body must be a JSON dict or empty")
        try:
            expanded = scopes.expand_scopes(
                _raw_scopes(self.db, body, target.orm_user), owner=target.orm_user
            )
        except Exception:  # roles or scopes JupyterHub would refuse: refuse too, never create
            raise web.HTTPError(400, "token roles or scopes not understood") from None
        if holds_credentials_scope(expanded):
            kind = "user" if isinstance(requester, User) else "service"
            self.log.warning(
                "Refused: %s %s asked for a token of %s holding %s", kind, requester.name, target.name, SCOPE
            )
            raise web.HTTPError(
                403,
                f"a token for another user may not hold {SCOPE} (their S3 and Vault credentials): ask for "
                "explicit scopes without it (CredentialBroker.allow_granting_to_others allows it)",
            )
        return await super().post(user_name)
