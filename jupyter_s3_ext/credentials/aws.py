"""botocore credentials that stay fresh, for code inside the session server (e.g. the S3 contents manager).

    from jupyter_s3_ext.credentials import botocore_session, s3_client_kwargs
    client = botocore_session().create_client("s3", **s3_client_kwargs())

The credentials re-read the session cache (and renew through the hub when needed) as botocore asks,
exactly like a kernel's `credential_process`, but without starting a process. botocore refreshes
synchronously: use such clients off the event loop (executor), as every boto3 call must be anyway.
"""

from __future__ import annotations

import asyncio

from botocore.credentials import CredentialProvider

from ..session_env import DEFAULT_REGION
from .document import CachedS3, CredentialsError, format_time
from .model import missing_message
from .source import CredentialSource


def _metadata(s3: CachedS3) -> dict:
    return {
        "access_key": s3.access_key_id,
        "secret_key": s3.secret_access_key.get_secret_value(),
        "token": _token(s3),
        "expiry_time": format_time(s3.expiration),
    }


def _token(s3: CachedS3) -> str | None:
    return s3.session_token.get_secret_value() if s3.session_token is not None else None


def _timeouts(s3: CachedS3) -> dict:
    """botocore refreshes 15 and 10 minutes before expiry by default; scale that to short lifetimes."""
    lifetime = s3.lifetime or 3600.0
    return {"advisory_timeout": min(900, lifetime * 0.5), "mandatory_timeout": min(600, lifetime * 0.2)}


def _s3(source: CredentialSource) -> CachedS3:
    doc = source.current()
    if doc.s3 is None:  # e.g. S3's STS was down at spawn: the session's refresher keeps asking
        raise CredentialsError(missing_message(["s3"], doc.warnings))
    return doc.s3


def refreshable_credentials(source: CredentialSource | None = None):
    """botocore Credentials for the session's S3 (RefreshableCredentials when they expire)."""
    from botocore.credentials import Credentials, RefreshableCredentials

    source = source or CredentialSource.from_env()
    s3 = _s3(source)
    if s3.expiration is None:
        return Credentials(
            s3.access_key_id, s3.secret_access_key.get_secret_value(), _token(s3), method="datalab-session"
        )
    return RefreshableCredentials.create_from_metadata(
        _metadata(s3), refresh_using=lambda: _metadata(_s3(source)), method="datalab-session", **_timeouts(s3)
    )


def aio_refreshable_credentials(source: CredentialSource | None = None):
    """The same for aiobotocore (s3fs, async contents managers); the refresh runs in a thread."""
    from aiobotocore.credentials import AioCredentials, AioRefreshableCredentials

    source = source or CredentialSource.from_env()
    s3 = _s3(source)
    if s3.expiration is None:
        return AioCredentials(
            s3.access_key_id, s3.secret_access_key.get_secret_value(), _token(s3), method="datalab-session"
        )

    async def refresh():
        return _metadata(await asyncio.to_thread(_s3, source))

    return AioRefreshableCredentials.create_from_metadata(
        _metadata(s3), refresh_using=refresh, method="datalab-session", **_timeouts(s3)
    )


class SessionCredentialProvider(CredentialProvider):
    """A botocore credential provider (first in the chain) serving the session's credentials."""

    METHOD = "datalab-session"
    CANONICAL_NAME = "DatalabSession"

    def __init__(self, source: CredentialSource | None = None):
        super().__init__()
        self._source = source or CredentialSource.from_env()

    def load(self):
        return refreshable_credentials(self._source) if self._source.configured() else None


def botocore_session(source: CredentialSource | None = None):
    """A botocore Session whose credentials are the session's self-refreshing S3 credentials."""
    import botocore.session

    source = source or CredentialSource.from_env()
    session = botocore.session.get_session()
    resolver = session.get_component("credential_provider")
    resolver.insert_before("env", SessionCredentialProvider(source))
    s3 = source.cached().s3
    if s3 and s3.region:
        session.set_config_variable("region", s3.region)
    return session


def s3_client_kwargs(source: CredentialSource | None = None) -> dict:
    """endpoint_url, region_name and path-style addressing for `create_client("s3", ...)`."""
    from botocore.config import Config

    source = source or CredentialSource.from_env()
    s3 = source.cached().s3
    kwargs = {"region_name": (s3.region if s3 else None) or DEFAULT_REGION}
    if s3 and s3.endpoint:
        kwargs["endpoint_url"] = s3.endpoint
    kwargs["config"] = Config(s3={"addressing_style": "path"})
    return kwargs
