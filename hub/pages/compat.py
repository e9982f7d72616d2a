"""JupyterHub's private SpawnHandler/User hooks the launch page relies on, on the chart's 5.5 and on 6.x.

JupyterHub 6 added `_check_named_server_request` (which also refuses new named servers whose names are not
safe slugs), `User.get_or_create_spawner` and a display-name argument to `_wrap_spawn_single_user`; 5.5 has
none of them. These helpers call the hooks of the version that runs, and on 5.5 check what its own spawn
page checks (named servers enabled, the per-user limit). Checked on JupyterHub 5.5.0 and 6.1.
"""

from __future__ import annotations

import jupyterhub
from tornado import web

JUPYTERHUB_6 = int(jupyterhub.__version__.split(".")[0]) >= 6


async def check_named_server(handler, user, server_name: str) -> None:
    """Refuse (400) a named server the running JupyterHub would not start from its own spawn page."""
    if JUPYTERHUB_6:
        await handler._check_named_server_request(user, server_name, server_name)
        return
    if not handler.allow_named_servers:
        raise web.HTTPError(400, "Named servers are not enabled.")
    limit = await handler.get_current_user_named_server_limit()
    if limit > 0 and server_name not in user.orm_spawners:
        if limit <= len(list(user.all_spawners(include_default=False))):
            raise web.HTTPError(
                400,
                f"User {user.name} already has the maximum of {limit} named servers."
                "  One must be deleted before a new server can be created",
            )


def get_spawner(user, server_name: str):
    """The server's spawner, made if new (a failed one replaced)."""
    if JUPYTERHUB_6:
        return user.get_or_create_spawner(server_name, server_name, replace_failed=True)
    return user.get_spawner(server_name, replace_failed=True)


async def spawn(handler, user, server_name: str, spawner, pending_url: str, options: dict):
    """Start the server the way the spawn page does (JupyterHub's `_wrap_spawn_single_user`)."""
    if JUPYTERHUB_6:
        return await handler._wrap_spawn_single_user(
            user, server_name, server_name, spawner, pending_url, options
        )
    return await handler._wrap_spawn_single_user(user, server_name, spawner, pending_url, options)
