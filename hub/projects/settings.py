"""The `Projects` settings: which IdP groups are projects and where their data lives (config section `Projects`).

Read by the credential broker (which projects a user's token reaches), by `datalab up` (the server policies of
each project) and at hub start (`check`), where settings that cannot work stop the hub with every problem named.
"""

from __future__ import annotations

import base64
import json

from traitlets import Dict, List, Unicode
from traitlets.config import LoggingConfigurable

from .model import Project, ProjectRules, check_rules, resolve


def token_groups(id_token: str | None, claim: str) -> list[str]:
    """The groups claim of an id_token the hub just got from the IdP (read, not verified: the S3 and Vault
    servers verify the token themselves; the hub only decides what to show and mint)."""
    if not id_token or id_token.count(".") != 2:
        return []
    payload = id_token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, UnicodeDecodeError):
        return []
    groups = claims.get(claim) if isinstance(claims, dict) else None
    if isinstance(groups, str):
        groups = [groups]
    return [g for g in groups if isinstance(g, str)] if isinstance(groups, list) else []


class Projects(LoggingConfigurable):
    """Project spaces: a bucket (or prefix), a Vault folder and sessions for each project group."""

    groups = List(
        Unicode(),
        help="IdP groups that are projects (e.g. ['project-demo']). With group_prefix, both count.",
    ).tag(config=True)
    group_prefix = Unicode(
        "",
        help="""Every IdP group whose name starts with this is a project (e.g. 'project-'); the project's
        name is the rest, lowercase, other characters as '-'. Empty: only the listed groups.""",
    ).tag(config=True)
    names = Dict(
        Unicode(),
        help="Project names chosen for groups whose names cannot be mapped: {group: name}.",
    ).tag(config=True)
    groups_claim = Unicode("groups", help="The id_token claim holding the user's groups.").tag(config=True)
    bucket_template = Unicode(
        "project-{project}",
        help="A project's bucket; `{project}` is its name. Without {project}: one shared bucket, then "
        "prefix_template must hold {project}.",
    ).tag(config=True)
    prefix_template = Unicode(
        "", help="Key prefix of a project in its bucket (e.g. 'projects/{project}/' with a shared bucket)."
    ).tag(config=True)
    vault_dir_template = Unicode(
        "projects/{project}", help="A project's folder in the KV mount; `{project}` is its name."
    ).tag(config=True)
    session_role_arn_template = Unicode(
        "arn:aws:iam::role/datalab-project-{project}",
        help="The STS role of a project session (its trust policy admits members only).",
    ).tag(config=True)
    vault_session_auth_mount = Unicode(
        "jwt-projects",
        help="JWT auth mount of project sessions' Vault logins (its roles carry no personal policy).",
    ).tag(config=True)
    vault_session_role_template = Unicode(
        "project-{project}",
        help="JWT auth role of a project session on vault_session_auth_mount (bound_claims: members only).",
    ).tag(config=True)

    def rules(self) -> ProjectRules:
        return ProjectRules(
            groups=tuple(self.groups),
            group_prefix=self.group_prefix,
            names=dict(self.names),
            bucket_template=self.bucket_template,
            prefix_template=self.prefix_template,
            vault_dir_template=self.vault_dir_template,
        )

    @property
    def enabled(self) -> bool:
        return self.rules().enabled

    def check(self) -> list[Project]:
        """At hub start: the listed projects, or ProjectError naming every problem."""
        return check_rules(self.rules())

    def of_token(self, id_token: str | None) -> tuple[list[Project], list[str]]:
        """The projects the token's groups make, and one message per group refused."""
        if not self.enabled:
            return [], []
        return resolve(self.rules(), token_groups(id_token, self.groups_claim))

    def session_role_arn(self, project: Project) -> str:
        return self.session_role_arn_template.format(project=project.name)

    def vault_session_role(self, project: Project) -> str:
        return self.vault_session_role_template.format(project=project.name)


_projects: Projects | None = None


def get_projects(config=None, log=None) -> Projects:
    """The hub's one Projects settings object (made from the hub's config at first use)."""
    global _projects
    if _projects is None:
        kwargs = {"config": config} if config is not None else {}
        if log is not None:
            kwargs["log"] = log
        _projects = Projects(**kwargs)
    return _projects


def member_projects(spawner) -> list[str]:
    """The projects a spawner's user may start a server in, from their JupyterHub groups (synced from the
    IdP at login): the form's choices. The servers check membership again, from the id_token."""
    projects = get_projects(spawner.config, spawner.log)
    groups = [getattr(g, "name", g) for g in (getattr(spawner.user, "groups", None) or [])]
    return [p.name for p in resolve(projects.rules(), groups)[0]] if projects.enabled else []
