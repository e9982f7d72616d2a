"""extend_user_role: the configure_* calls add their scopes to the `user` role without losing the operator's."""

from __future__ import annotations

from traitlets.config import Config

from hub.user_role import extend_user_role


def test_scopes_are_added_once_and_other_roles_and_settings_are_kept():
    c = Config()
    c.JupyterHub.load_roles = [
        {"name": "user", "scopes": ["self", "read:groups"], "description": "ours"},
        {"name": "teachers", "scopes": ["admin:servers"], "groups": ["t"]},
    ]
    extend_user_role(c, ["shares!user"])
    extend_user_role(c, ["shares!user", "custom:x!user"])
    by_name = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert by_name["user"]["scopes"] == ["self", "read:groups", "shares!user", "custom:x!user"]
    assert by_name["user"]["description"] == "ours"
    assert by_name["teachers"] == {"name": "teachers", "scopes": ["admin:servers"], "groups": ["t"]}


def test_without_a_user_role_the_default_self_is_kept():
    c = Config()
    extend_user_role(c, ["shares!user"])
    assert c.JupyterHub.load_roles == [{"name": "user", "scopes": ["self", "shares!user"]}]
