"""A user's Vault token, blocking (the broker runs this in a thread with a timeout): a JWT auth login
(hvac) with the user's id_token."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from jupyter_s3_ext.credentials.document import CredentialsError, VaultCredentials

from .errors import BrokerError, server_said


@dataclass(frozen=True)
class VaultSettings:
    """The broker's Vault settings (CredentialBroker.vault_*), as one call needs them."""

    hub_addr: str
    addr: str
    auth_mount: str
    role: str
    kv_mount: str
    top_dir_template: str
    timeout: float


def mint(settings: VaultSettings, username: str, id_token: str | None) -> VaultCredentials:
    """A token of the user's JWT role, and their place in the KV mount. BrokerError naming what failed."""
    import hvac
    import requests

    where = f"Vault token for {username}"
    if not settings.hub_addr:
        raise BrokerError("vault", f"{where}: no Vault address configured (vault_addr)")
    if not id_token:
        raise BrokerError("vault", f"{where}: no OIDC id_token (log in again)")
    client = hvac.Client(url=settings.hub_addr, timeout=settings.timeout)
    try:
        resp = client.auth.jwt.jwt_login(
            role=settings.role, jwt=id_token, use_token=False, path=settings.auth_mount
        )
    except hvac.exceptions.VaultError as e:
        raise BrokerError(
            "vault",
            f"{where}: {settings.hub_addr} refused JWT login to role {settings.role!r} "
            f"(auth/{settings.auth_mount}): {server_said(e)}",
        ) from None
    except requests.RequestException as e:
        raise BrokerError("vault", f"{where}: {settings.hub_addr} unreachable: {type(e).__name__}") from None
    finally:
        client.adapter.close()
    auth = resp.get("auth") or {}
    lease = auth.get("lease_duration") or 0
    fields = dict(
        token=auth.get("client_token"),
        expiration=datetime.fromtimestamp(time.time(), UTC) + timedelta(seconds=lease) if lease else None,
        addr=settings.addr,
        mount=settings.kv_mount,
        top_dir=settings.top_dir_template.format(username=username),
        renewable=bool(auth.get("renewable")),
    )
    try:
        return VaultCredentials.parse(fields, source=f"{where}: the answer of {settings.hub_addr}")
    except CredentialsError as e:
        raise BrokerError("vault", str(e)) from None
