"""Project sessions: a server started "in project X" gets the project's credentials and nothing of its owner's.

S3: the project's session role (its trust policy admits members only) with the project's bucket and prefix;
Vault: a login to the project's role on the project-session JWT mount (its token carries the project's
policy only). The same at spawn and at every renewal: the renewal endpoint recognises a project server's own
token (`server_project`), so a visitor who reads that token from the server gets the project's credentials,
never the owner's personal ones.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from jupyterhub.utils import url_escape_path, url_path_join

from jupyter_s3_ext.credentials.document import CredentialsDocument

from ..credentials import s3, vault
from ..credentials.broker import CredentialBroker
from ..credentials.errors import BrokerError
from .model import Project
from .settings import Projects

ENV = "DATALAB_PROJECT"  # the project a session runs in


def server_project(owner, token) -> str:
    """The project of the owner's server whose own API token `token` is ('' for none or a personal one).

    JupyterHub notes each server's token `Server at <its base URL>`; a token the owner made with such a note
    only ever narrows what the owner gets."""
    note = getattr(token, "note", None) or ""
    for name, spawner in getattr(owner, "spawners", {}).items():
        project = (getattr(spawner, "user_options", None) or {}).get("project")
        if project and note == f"Server at {url_path_join(owner.base_url, url_escape_path(name), '/')}":
            return str(project)
    return ""


def find(projects: Projects, name: str, id_token: str | None) -> Project:
    """The project `name` among the token's projects; BrokerError when the token's owner is not a member."""
    mine, _ = projects.of_token(id_token)
    for p in mine:
        if p.name == name:
            return p
    raise BrokerError("project", f"you are not a member of the project {name!r} (any more)")


async def credentials(
    broker: CredentialBroker, projects: Projects, name: str, username: str, id_token: str | None
) -> tuple[CredentialsDocument, dict[str, str]]:
    """The project's credentials document and the session's non-secret env; BrokerError as the broker's."""
    project = find(projects, name, id_token)
    warnings: list[str] = []
    parts: dict[str, object] = {"s3": None, "vault": None}
    loop = asyncio.get_running_loop()
    calls = {}
    if broker.s3_mode != "off":
        s3_settings = replace(
            broker.s3_settings(),
            role_arn=projects.session_role_arn(project),
            bucket_template=project.bucket,
            prefix_template=project.prefix,
        )
        calls["s3"] = (s3.mint, s3_settings, username, id_token, lambda: s3.sts_client(s3_settings))
    if broker.vault_mode != "off":
        vault_settings = replace(
            broker.vault_settings(),
            auth_mount=projects.vault_session_auth_mount,
            role=projects.vault_session_role(project),
            top_dir_template=project.vault_dir,
        )
        calls["vault"] = (vault.mint, vault_settings, username, id_token)
    for kind, (fn, *args) in calls.items():
        mode = broker.s3_mode if kind == "s3" else broker.vault_mode
        try:
            try:
                parts[kind] = await asyncio.wait_for(loop.run_in_executor(None, fn, *args), broker.timeout)
            except TimeoutError:
                raise BrokerError(kind, f"{kind} credentials of project {name}: no answer in time") from None
        except BrokerError as e:
            if mode == "required":
                raise
            warnings.append(str(e))
    env = broker.session_env(username)
    env.update({ENV: project.name})
    if "DATALAB_S3_BUCKET" in env:
        env.update({"DATALAB_S3_BUCKET": project.bucket, "DATALAB_S3_PREFIX": project.prefix})
    if "VAULT_TOP_DIR" in env:
        env["VAULT_TOP_DIR"] = project.vault_dir
    document = CredentialsDocument(s3=parts["s3"], vault=parts["vault"], warnings=tuple(warnings))
    return document, env
