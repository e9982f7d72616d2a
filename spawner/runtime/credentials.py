"""The credentials seam of every catalog spawner: who gives a session its S3/Vault credentials.

The spawner does not know where credentials come from: `credentials_provider` is an async callable
`provider(spawner) -> SessionCredentials` (hub.configure sets it to the hub's credential broker,
hub.credentials.spawn.session_credentials). A provider refuses a spawn by raising a SpawnException.
"""

from __future__ import annotations

from traitlets import Callable
from traitlets.config import Configurable

from ..plan import SessionCredentials


class CredentialsMixin(Configurable):
    """Mixed into every catalog spawner (spawner.runtime.mixin)."""

    credentials_provider = Callable(
        None,
        allow_none=True,
        help="""Async callable `provider(spawner) -> spawner.plan.SessionCredentials` giving each session its
        credentials at spawn (non-secret env, secret files, warnings). hub.configure(c) sets the credential
        broker's. None: sessions get no credentials.""",
    ).tag(config=True)

    async def session_credentials(self) -> SessionCredentials:
        if self.credentials_provider is None:
            return SessionCredentials()
        return await self.credentials_provider(self)
