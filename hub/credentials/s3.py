"""A user's S3 credentials, blocking (the broker runs this in a thread with a timeout).

STS AssumeRoleWithWebIdentity with the user's id_token (boto3, unsigned, pointed at the S3 endpoint as
with MinIO/SeaweedFS), or the static keys where there is no STS.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jupyter_s3_ext.credentials.document import CredentialsError, S3Credentials

from .errors import BrokerError, server_said

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class S3Settings:
    """The broker's S3 settings (CredentialBroker.s3_*), as one call needs them."""

    endpoint: str
    sts_endpoint: str
    region: str
    role_arn: str
    duration_seconds: int
    bucket_template: str
    prefix_template: str
    static_access_key_id: str
    static_secret_access_key: str = field(repr=False)
    timeout: float


def user_bucket(template: str, username: str) -> str:
    """The user's bucket name from a template like `user-{username}`; ValueError if not a valid bucket name."""
    name = template.format(username=username)
    if not _BUCKET_RE.match(name) or ".." in name:
        raise ValueError(f"the S3 bucket name {name!r} for user {username!r} is not a valid bucket name")
    return name


def sts_client(settings: S3Settings):
    """An unsigned STS client for `settings.sts_endpoint` (one attempt, the broker's timeout)."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    return boto3.session.Session().client(
        "sts",
        endpoint_url=settings.sts_endpoint,
        region_name=settings.region,
        config=Config(
            signature_version=UNSIGNED,
            connect_timeout=min(5.0, settings.timeout),
            read_timeout=settings.timeout,
            retries={"max_attempts": 1, "mode": "standard"},
        ),
    )


def mint(settings: S3Settings, username: str, id_token: str | None, sts: Callable[[], Any]) -> S3Credentials:
    """The user's S3 credentials; `sts()` gives the STS client. BrokerError naming what failed."""
    where = f"S3 credentials for {username}"
    try:
        bucket = user_bucket(settings.bucket_template, username)
    except ValueError as e:
        raise BrokerError("s3", f"{where}: {e}") from None
    common = dict(
        endpoint=settings.endpoint,
        region=settings.region,
        bucket=bucket,
        prefix=settings.prefix_template.format(username=username),
    )
    if not settings.role_arn:
        if not (settings.static_access_key_id and settings.static_secret_access_key):
            raise BrokerError(
                "s3", f"{where}: neither an STS role (s3_role_arn) nor static keys are configured"
            )
        keys = dict(
            access_key_id=settings.static_access_key_id,
            secret_access_key=settings.static_secret_access_key,
        )
        return _credentials(f"{where}: the static keys", **keys, **common)
    if not settings.sts_endpoint:
        raise BrokerError("s3", f"{where}: no STS endpoint configured (s3_endpoint / s3_sts_endpoint)")
    if not id_token:
        raise BrokerError("s3", f"{where}: no OIDC id_token (log in again)")
    import botocore.exceptions

    at = f"STS at {settings.sts_endpoint}"
    try:
        resp = sts().assume_role_with_web_identity(
            RoleArn=settings.role_arn,
            RoleSessionName=f"datalab-{username}"[:64],
            WebIdentityToken=id_token,
            DurationSeconds=settings.duration_seconds,
        )
    except botocore.exceptions.ClientError as e:
        raise BrokerError("s3", f"{where}: {at} refused role {settings.role_arn}: {server_said(e)}") from None
    except (botocore.exceptions.BotoCoreError, OSError) as e:
        raise BrokerError("s3", f"{where}: {at} unreachable: {type(e).__name__}") from None
    c = resp.get("Credentials") or {}
    return _credentials(
        f"{where}: the answer of {at}",
        access_key_id=c.get("AccessKeyId"),
        secret_access_key=c.get("SecretAccessKey"),
        session_token=c.get("SessionToken"),
        expiration=c.get("Expiration"),  # a datetime; naive means UTC
        **common,
    )


def _credentials(source: str, **fields) -> S3Credentials:
    try:
        return S3Credentials.parse(fields, source=source)
    except CredentialsError as e:
        raise BrokerError("s3", str(e)) from None
