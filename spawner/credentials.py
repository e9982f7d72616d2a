"""Credentials at spawn: the broker's result as a SessionCredentials for any backend (Kubernetes or local).

`BrokerCredentialsMixin.session_credentials()` implements the spawner hook of contracts.md: non-secret
Onyxia-compatible env, the secret document `credentials.json` (secret_files only: the per-server Secret or
a 0600 file), and warnings for optional integrations that failed. A required one that failed raises
`SpawnCredentialsError`, which fails the spawn with a message the user can act on.
"""

from __future__ import annotations

import json

from tornado import web
from traitlets import Unicode
from traitlets.config import Configurable

from .plan import SessionCredentials

CREDENTIALS_FILE = "credentials.json"


class SpawnCredentialsError(web.HTTPError):
    """A required integration could not give credentials; the spawn stops and the user sees this message."""

    def __init__(self, message: str):
        super().__init__(503, message.replace("%", "%%"))
        self.jupyterhub_message = message  # what JupyterHub shows in the spawn progress and error page

    def __str__(self) -> str:
        return self.jupyterhub_message


async def session_credentials_for(spawner, credentials_file_path: str, broker=None) -> SessionCredentials:
    """Mint the user's credentials through the hub's broker (kept apart from the mixin to be testable)."""
    from hub.broker import BrokerError
    from hub.credentials_api import LoginRequired, fresh_id_token, get_broker

    broker = broker or get_broker(spawner.config, spawner.log)
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
        result = await broker.credentials(username, id_token)
    except BrokerError as e:
        raise SpawnCredentialsError(f"Cannot start: {e}") from None
    env = broker.session_env(username)
    env["DATALAB_CREDENTIALS_FILE"] = credentials_file_path
    warnings = tuple(f"Credentials: {w}" for w in result.warnings)
    return SessionCredentials(
        env=env,
        secret_files={CREDENTIALS_FILE: json.dumps(result.to_json())},
        warnings=warnings,
    )


class BrokerCredentialsMixin(Configurable):
    """Mix into a Spawner: `session_credentials()` from the CredentialBroker (config section CredentialBroker)."""

    credentials_file_path = Unicode(
        "/var/run/datalab/" + CREDENTIALS_FILE,
        help="Where the session finds credentials.json (DATALAB_CREDENTIALS_FILE); the backend puts it there.",
    ).tag(config=True)

    async def session_credentials(self) -> SessionCredentials:
        return await session_credentials_for(self, self.credentials_file_path)
