"""The credentials provider of the catalog spawners (`credentials_provider`, set by hub.configure): the
broker's result for a spawn as a SessionCredentials any backend can use.

Non-secret Onyxia-compatible env, the secret document (jupyter_s3_ext.credentials.document's
CredentialsDocument as spawner.plan.CREDENTIALS_FILE, only in secret files: the per-server Secret or a 0600
file), and warnings for optional integrations that failed. A
required one that failed refuses the spawn with a message the user can act on.
"""

from __future__ import annotations

import json

from spawner.catalog.resolve import datasets_for
from spawner.errors import SpawnException
from spawner.plan import CREDENTIALS_FILE, SessionCredentials

from ..projects import access, session
from ..projects.settings import Projects, get_projects
from .broker import CredentialBroker, get_broker
from .errors import BrokerError
from .tokens import LoginRequired, fresh_id_token


async def session_credentials(
    spawner, broker: CredentialBroker | None = None, projects: Projects | None = None
) -> SessionCredentials:
    """Mint the spawner's user's credentials through the hub's broker; the projects they reach."""
    broker = broker or get_broker(spawner.config, spawner.log)
    projects = projects or get_projects(spawner.config, spawner.log)
    if not broker.enabled:
        return SessionCredentials()
    username = spawner.user.name
    try:
        id_token = await fresh_id_token(spawner.authenticator, spawner.user)
    except LoginRequired as e:
        id_token = None
        login_problem = str(e)
    else:
        login_problem = None
    try:
        if login_problem and "required" in (broker.s3_mode, broker.vault_mode):
            raise BrokerError("login", login_problem)
        project = getattr(getattr(spawner, "plan", None), "project", "")
        if project:  # the project's credentials only: nothing of the owner's
            document, env = await session.credentials(broker, projects, project, username, id_token)
            return SessionCredentials(
                env=env,
                secret_files={CREDENTIALS_FILE: json.dumps(document.to_json())},
                warnings=tuple(f"Credentials: {w}" for w in document.warnings),
                summary=summary(document),
                expiration=first_expiration(document),
            )
        document = await broker.credentials(username, id_token)
    except BrokerError as e:
        raise SpawnException(f"Cannot start: {e}", reason="credentials", status_code=503) from None
    member_of, refused = projects.of_token(id_token)
    reached, problems = await access.reachable(member_of, document.s3, broker.timeout)
    for problem in [*refused, *problems]:
        spawner.log.warning("Projects of %s: %s", username, problem)
    return SessionCredentials(
        env={
            **broker.session_env(username),
            **access.session_env(reached, problems),
            **datasets_env(spawner),
        },
        secret_files={CREDENTIALS_FILE: json.dumps(document.to_json())},
        warnings=tuple(f"Credentials: {w}" for w in document.warnings)
        + tuple(f"Projects: {w}" for w in [*refused, *problems]),
        summary=summary(document),
        expiration=first_expiration(document),
    )


DATASETS_ENV = "DATALAB_DATASETS"  # the session's event datasets: JSON [{name, bucket, prefix, read_only}]


def datasets_env(spawner) -> dict[str, str]:
    """The datasets of the open lists the user takes part in (read-only) or organises (writable)."""
    if not hasattr(spawner, "current_catalog"):
        return {}
    found = datasets_for(spawner.current_catalog(), spawner.user_groups(), spawner.now())
    return {DATASETS_ENV: json.dumps(found)} if found else {}


def summary(document) -> str:
    """What the session got, in words and without a secret: for the spawn progress and My services."""
    parts = []
    if document.s3 is not None:
        where = "/".join(p.strip("/") for p in (document.s3.bucket, document.s3.prefix) if p)
        parts.append(f"S3 ({where})" if where else "S3")
    if document.vault is not None:
        where = "/".join(p.strip("/") for p in (document.vault.mount, document.vault.top_dir) if p)
        parts.append(f"Vault ({where})" if where else "Vault")
    return " and ".join(parts)


def first_expiration(document) -> str | None:
    times = [c.expiration for c in (document.s3, document.vault) if c is not None and c.expiration]
    return min(times).isoformat() if times else None
