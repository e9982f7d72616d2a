"""Add scopes to JupyterHub's `user` role in a jupyterhub_config.py `c`, keeping what the config already set.

Several configure_* calls (credentials endpoint, pages) each need a few scopes for every user; each extends the
role rather than replacing it, so they can be called in any order after the operator's own load_roles.
"""

from __future__ import annotations

from typing import Any


def extend_user_role(c: Any, scopes: list[str] | tuple[str, ...]) -> None:
    """Give the `user` role `scopes` too (its default is `self`); other roles are left as they are."""
    loaded = list(c.JupyterHub.get("load_roles", []))
    user_role = next((r for r in loaded if r.get("name") == "user"), None) or {"name": "user"}
    wanted = list(user_role.get("scopes", ["self"]))
    wanted += [s for s in scopes if s not in wanted]
    c.JupyterHub.load_roles = [r for r in loaded if r.get("name") != "user"] + [
        {**user_role, "name": "user", "scopes": wanted}
    ]
