"""The share page: `/hub/datalab/share` (default server) and `/hub/datalab/share/{server}`.

A user shares one of their servers with named users or a group, and revokes it, through JupyterHub's
sharing API (`POST`/`PATCH /hub/api/shares/{user}/{server}`, JupyterHub 5+): the page's script calls the
API with the user's own session, so JupyterHub checks every permission itself. A share grants
`access:servers!server=<user>/<server>` only: the other user reaches the server (its files, kernels and
terminals, so the S3 and Vault credentials the server holds: they act as the owner there), never the owner's
hub account or credentials endpoint. The page says so.

Users need, in the `user` role (`configure_pages` adds them): `shares!user` (share their own servers),
`read:users:name` and `read:groups:name` (JupyterHub requires them to share *by name*; they let users
see the names of other users and groups, which a datalab's users can see anyway in shared buckets).
"""

from __future__ import annotations

import logging

import jupyterhub
from jupyterhub import orm, roles, scopes
from jupyterhub.handlers.base import BaseHandler
from jupyterhub.utils import url_escape_path, url_path_join
from tornado import web

USER_SCOPES = ("shares!user", "read:users:name", "read:groups:name")

# JupyterHub versions (major, minor) that leave *group* shares out of a token's scopes: from 5.0, where
# sharing begins, to 6.1, the newest checked. Read in the sources of 5.0.0, 5.5.0 (the chart's) and 6.1.1:
# `scopes.get_scopes_for` adds to a token owner's scopes only `owner.shared_with_me` (the user's own
# shares), so the server's OAuth token for a group member loses `access:servers!server=...` and the member
# is refused. tests/hub/pages/test_sharing.py checks the installed version has the bug when this says so.
GROUP_SHARES_DROPPED = ((5, 0), (6, 1))

log = logging.getLogger("JupyterHub")


def group_shares_dropped(version_info: tuple = jupyterhub.version_info) -> bool:
    """Whether this JupyterHub version has the bug (GROUP_SHARES_DROPPED; newer versions are unchecked)."""
    first, last = GROUP_SHARES_DROPPED
    return first <= tuple(version_info[:2]) <= last


def fix_group_share_tokens(version_info: tuple = jupyterhub.version_info) -> bool:
    """Give tokens the scopes of their owner's *group* shares, on the JupyterHub versions that drop them.

    Wraps `roles.roles_to_expanded_scopes`, which both branches of `scopes.get_scopes_for` call for a
    user's role scopes; the user branch already adds group shares, so there it adds the same set again.
    Idempotent; True when the patch is in place.
    """
    original = roles.roles_to_expanded_scopes
    if getattr(original, "_datalab_group_shares", False):
        return True
    if not group_shares_dropped(version_info):
        log.info(
            "JupyterHub %s is outside the versions known to drop group shares from tokens (%s): not patched",
            ".".join(map(str, version_info[:3])),
            " to ".join(".".join(map(str, v)) for v in GROUP_SHARES_DROPPED),
        )
        return False

    def roles_to_expanded_scopes(role_list, owner):
        expanded = original(role_list, owner)
        if isinstance(owner, orm.User):
            for group in owner.groups:
                for share in group.shared_with_me:
                    expanded = expanded | scopes.expand_share_scopes(share)
        return expanded

    roles_to_expanded_scopes._datalab_group_shares = True
    roles_to_expanded_scopes.__wrapped__ = original
    roles.roles_to_expanded_scopes = roles_to_expanded_scopes
    return True


def share_rows(orm_spawner) -> list[dict[str, str]]:
    """The server's current shares as plain rows for the page."""
    rows = []
    for share in sorted(orm_spawner.shares, key=lambda s: (s.group is None, (s.group or s.user).name)):
        kind = "group" if share.group is not None else "user"
        rows.append(
            {"kind": kind, "name": (share.group or share.user).name, "created": str(share.created_at)}
        )
    return rows


def project_group(config, project: str, user_groups: list[str]) -> str:
    """The owner's IdP group that makes `project` (whose members a project server is for); '' if none."""
    if not project:
        return ""
    from ..projects.model import resolve
    from ..projects.settings import get_projects

    mine, _ = resolve(get_projects(config).rules(), user_groups)
    return next((p.group for p in mine if p.name == project), "")


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
        project = str((spawner.user_options or {}).get("project") or "")
        api_url = url_path_join(
            self.hub.base_url, "api/shares", user.escaped_name, url_escape_path(server_name)
        )
        page = await self.render_template(
            "datalab_share.html",
            server_name=server_name,
            server_url=user.server_url(server_name),
            ready=bool(spawner.ready),
            project=project,
            project_group=project_group(
                self.settings.get("config"), project, [g.name for g in user.orm_user.groups]
            ),
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
