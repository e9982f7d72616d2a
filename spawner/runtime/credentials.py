"""The credentials seam of every catalog spawner: who gives a session its S3/Vault credentials.

The spawner does not know where credentials come from: `credentials_provider` is an async callable
`provider(spawner) -> SessionCredentials` (hub.configure sets it to the hub's credential broker,
hub.credentials.spawn.session_credentials). A provider refuses a spawn by raising a SpawnException.
"""

from __future__ import annotations

from datetime import UTC, datetime

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

    credentials_expiration: str | None = None  # when the session's first credential expires (ISO 8601)

    def report_progress(self, message: str, *, advance: bool = True) -> None:
        """A step of the spawn's progress. The catalog spawners show it (ProgressMixin comes first in their
        classes); another spawner mixing only this class in, as docs/credentials.md offers, goes without."""

    async def session_credentials(self) -> SessionCredentials:
        """The provider's credentials, each outcome a step of the spawn progress."""
        if self.credentials_provider is None:
            self.report_progress("Credentials: none configured (this session has no S3 or Vault access)")
            return SessionCredentials()
        self.report_progress("Credentials: asking for the session's S3 and Vault credentials")
        try:
            credentials = await self.credentials_provider(self)
        except Exception as e:
            self.report_progress(f"Credentials: refused ({getattr(e, 'message', None) or 'see the hub log'})")
            raise
        for warning in credentials.warnings:
            self.report_progress(f"Warning: {warning}")
        if credentials.summary:
            until = f", valid until {_clock(credentials.expiration)}" if credentials.expiration else ""
            self.report_progress(f"Credentials: {credentials.summary} ready{until}")
        elif not credentials.warnings:
            self.report_progress("Credentials: none for this session")
        self.credentials_expiration = credentials.expiration
        return credentials


def _clock(iso: str) -> str:
    """'2026-12-02T14:05:00+00:00' -> '14:05 UTC' (the date only when it is not today's)."""
    try:
        when = datetime.fromisoformat(iso).astimezone(UTC)
    except ValueError:
        return iso
    today = datetime.now(UTC).date()
    return when.strftime("%H:%M UTC" if when.date() == today else "%Y-%m-%d %H:%M UTC")
