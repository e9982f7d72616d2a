"""The share page: `/hub/datalab/share` (default server) and `/hub/datalab/share/{server}`.

A user shares one of their servers with named users or a group, and revokes it, through JupyterHub's
sharing API (`POST`/`PATCH /hub/api/shares/{user}/{server}`, JupyterHub 5+): the page's script calls the
API with the user's own session, so JupyterHub checks every permission itself. A share grants
`access:servers!server=<user>/<server>` only: the other user reaches the server (its files, kernels and
terminals!), never the owner's hub account or credentials endpoint.

Users need, in the `user` role (`configure_pages` adds them): `shares!user` (share their own servers),
`read:users:name` and `read:groups:name` (JupyterHub requires them to share *by name*; they let users
see the names of other users and groups, which a datalab's users can see anyway in shared buckets).
"""

from __future__ import annotations

from jupyterhub import orm, roles, scopes
from jupyterhub.handlers.base import BaseHandler
from jupyterhub.utils import url_escape_path, url_path_join
from tornado import web

USER_SCOPES = ("shares!user", "read:users:name", "read:groups:name")


def fix_group_share_tokens() -> None:
    """JupyterHub 6.1 drops the scopes of *group* shares from tokens (`scopes.get_scopes_for` adds only the
    owner's own shares to a token's owner scopes, so the server's OAuth token loses
    `access:servers!server=...` and group members are refused). Add them where both branches of
    get_scopes_for compute a user's role scopes; the user branch adds the same set again: a no-op.
    Idempotent; tests/hub/test_sharing.py proves a group member gets in (and out after revocation)."""
    original = roles.roles_to_expanded_scopes
    if getattr(original, "_datalab_group_shares", False):
        return

    def roles_to_expanded_scopes(role_list, owner):
        expanded = original(role_list, owner)
        if isinstance(owner, orm.User):
            for group in owner.groups:
                for share in group.shared_with_me:
                    expanded = expanded | scopes.expand_share_scopes(share)
        return expanded

    roles_to_expanded_scopes._datalab_group_shares = True
    roles.roles_to_expanded_scopes = roles_to_expanded_scopes


def share_rows(orm_spawner) -> list[dict[str, str]]:
    """The server's current shares as plain rows for the page."""
    rows = []
    for share in sorted(orm_spawner.shares, key=lambda s: (s.group is None, (s.group or s.user).name)):
        kind = "group" if share.group is not None else "user"
        rows.append(
            {"kind": kind, "name": (share.group or share.user).name, "created": str(share.created_at)}
        )
    return rows


class ShareHandler(BaseHandler):
    """GET the share page of one of the current user's servers."""

    @web.authenticated
    async def get(self, server_name: str | None = None):
        user = self.current_user
        server_name = server_name or ""
        if not server_name:
            user.spawners[""]  # the default server always exists (JupyterHub makes its record on access)
        orm_spawner = user.orm_spawners.get(server_name)
        if orm_spawner is None:
            raise web.HTTPError(404, f"You have no server named {server_name!r}" if server_name else (
                "You have no default server"))  # fmt: skip
        spawner = user.spawners[server_name]
        api_url = url_path_join(
            self.hub.base_url, "api/shares", user.escaped_name, url_escape_path(server_name)
        )
        page = await self.render_template(
            "datalab_share.html",
            server_name=server_name,
            server_url=user.server_url(server_name),
            ready=bool(spawner.ready),
            shares=share_rows(orm_spawner),
            shares_api=api_url + ("" if server_name else "/"),
            groups=sorted(g.name for g in self.db.query(orm.Group).order_by(orm.Group.name)),
            servers=[
                {
                    "name": name,
                    "url": url_path_join(self.hub.base_url, "datalab/share", url_escape_path(name)),
                }
                for name in sorted(user.orm_spawners)
            ],
        )
        self.finish(page)


HANDLERS = [(r"/datalab/share/?", ShareHandler), (r"/datalab/share/([^/]+)/?", ShareHandler)]
