"""Projects on a Vault (OpenBao) server: applies hub.projects.policies with an operator's token. Idempotent.

Blocking (hvac): `datalab up` calls it at start with the root token; an operator can call it the same way.
For each project: its policy; an external identity group carrying it, aliased to the IdP group on the
personal JWT mount; and a role of the project-session mount bound to the group.
"""

from __future__ import annotations

from dataclasses import dataclass

import hvac

from .model import Project
from .policies import vault_policy, vault_policy_name


@dataclass(frozen=True)
class VaultProjectSetup:
    """Where the projects go on the Vault server, and who may log in to their sessions."""

    kv_mount: str
    personal_mount: str  # the JWT mount of personal logins (its role has groups_claim set)
    session_mount: str  # the JWT mount of project sessions
    session_role_template: str  # e.g. "project-{project}"
    issuer: str
    audience: str
    user_claim: str = "preferred_username"
    groups_claim: str = "groups"
    token_ttl: str = "1h"
    token_max_ttl: str = "24h"


def _accessor(c: hvac.Client, mount: str) -> str:
    return c.sys.list_auth_methods()[f"{mount}/"]["accessor"]


def _group_id(c: hvac.Client, project: Project) -> str:
    name = vault_policy_name(project)
    c.secrets.identity.create_or_update_group(
        name=name, group_type="external", policies=[name], metadata={"datalab_project": project.name}
    )
    return c.secrets.identity.read_group_by_name(name=name)["data"]["id"]


def _ensure_alias(c: hvac.Client, group_id: str, group: str, accessor: str) -> None:
    found = c.secrets.identity.read_group(group_id=group_id)["data"].get("alias") or {}
    if found.get("name") == group and found.get("mount_accessor") == accessor:
        return
    if found.get("id"):
        c.secrets.identity.update_group_alias(
            alias_id=found["id"], name=group, mount_accessor=accessor, canonical_id=group_id
        )
    else:
        c.secrets.identity.create_or_update_group_alias(
            name=group, mount_accessor=accessor, canonical_id=group_id
        )


def apply(c: hvac.Client, setup: VaultProjectSetup, projects: list[Project]) -> None:
    """Policies, external groups and project-session roles for `projects` on the server `c` (an admin client)."""
    if f"{setup.session_mount}/" not in c.sys.list_auth_methods():
        c.sys.enable_auth_method("jwt", path=setup.session_mount)
    c.auth.jwt.configure(oidc_discovery_url=setup.issuer, bound_issuer=setup.issuer, path=setup.session_mount)
    personal = _accessor(c, setup.personal_mount)
    for p in projects:
        c.sys.create_or_update_policy(vault_policy_name(p), vault_policy(p, setup.kv_mount))
        _ensure_alias(c, _group_id(c, p), p.group, personal)
        c.auth.jwt.create_role(
            name=setup.session_role_template.format(project=p.name),
            role_type="jwt",
            bound_audiences=[setup.audience],
            user_claim=setup.user_claim,
            bound_claims={setup.groups_claim: [p.group]},
            token_policies=[vault_policy_name(p)],
            token_ttl=setup.token_ttl,
            token_max_ttl=setup.token_max_ttl,
            allowed_redirect_uris=[],
            path=setup.session_mount,
        )
