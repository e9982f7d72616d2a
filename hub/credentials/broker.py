"""The credential broker: a user's OIDC id_token in, temporary S3 credentials and a Vault token out.

S3 comes from STS AssumeRoleWithWebIdentity (boto3, pointed at the S3 endpoint as with MinIO/SeaweedFS),
or from static keys where there is no STS; Vault from its JWT auth login (hvac). Both libraries block, so
every call runs in a thread with a timeout. Results are cached per user and reused until most of their
lifetime is spent. Errors name the integration, the endpoint and what the server said: never a secret.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from traitlets import Float, Integer, Unicode, default
from traitlets.config import LoggingConfigurable

MODES = ("off", "optional", "required")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class BrokerError(Exception):
    """A required integration failed. `integration` is "s3" or "vault"; the message is safe to show."""

    def __init__(self, integration: str, message: str):
        super().__init__(message)
        self.integration = integration


# ---- plain data -------------------------------------------------------------------------------------
def iso(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z") if dt else None


@dataclass(frozen=True)
class S3Credentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    expiration: datetime | None = None
    endpoint: str = ""
    region: str = ""
    bucket: str = ""
    prefix: str = ""
    issued_at: float = 0.0

    def to_json(self) -> dict:
        return {
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            "session_token": self.session_token,
            "expiration": iso(self.expiration),
            "endpoint": self.endpoint,
            "region": self.region,
            "bucket": self.bucket,
            "prefix": self.prefix,
        }


@dataclass(frozen=True)
class VaultCredentials:
    token: str = field(repr=False)
    expiration: datetime | None = None
    addr: str = ""
    mount: str = ""
    top_dir: str = ""
    renewable: bool = False
    issued_at: float = 0.0

    def to_json(self) -> dict:
        return {
            "token": self.token,
            "expiration": iso(self.expiration),
            "addr": self.addr,
            "mount": self.mount,
            "top_dir": self.top_dir,
            "renewable": self.renewable,
        }


@dataclass(frozen=True)
class BrokerResult:
    s3: S3Credentials | None = None
    vault: VaultCredentials | None = None
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict:
        """The document of the renewal endpoint and of the session's credentials.json (contracts.md)."""
        return {
            "s3": self.s3.to_json() if self.s3 else None,
            "vault": self.vault.to_json() if self.vault else None,
            "warnings": list(self.warnings),
        }


# ---- pure decisions ---------------------------------------------------------------------------------
def still_fresh(issued_at: float, expiration: datetime | None, now: float, reuse_fraction: float) -> bool:
    """Reuse a credential while less than `reuse_fraction` of its lifetime is spent (no expiry: always)."""
    if expiration is None:
        return True
    expires = expiration.timestamp()
    return now < issued_at + reuse_fraction * (expires - issued_at) and now < expires


def user_bucket(template: str, username: str) -> str:
    """The user's bucket name from a template like `user-{username}`; ValueError if not a valid bucket name."""
    name = template.format(username=username)
    if not _BUCKET_RE.match(name) or ".." in name:
        raise ValueError(f"the S3 bucket name {name!r} for user {username!r} is not a valid bucket name")
    return name


def host_of(url: str) -> str:
    return url.split("://", 1)[-1].rstrip("/")


def _client_error(e: Exception) -> str:
    """What a server said, from a botocore/hvac error, without request details."""
    response = getattr(e, "response", None)
    if isinstance(response, dict) and "Error" in response:
        err = response["Error"]
        return f"{err.get('Code', 'Error')}: {err.get('Message', '')}".strip().rstrip(":")
    errors = getattr(e, "errors", None)
    if errors:
        return "; ".join(str(x) for x in errors)[:500]
    return f"{type(e).__name__}: {e}"[:500]


class CredentialBroker(LoggingConfigurable):
    """Mints per-user S3 and Vault credentials from the user's id_token (config section `CredentialBroker`)."""

    # -- S3 --
    s3_mode = Unicode("off", help="S3 credentials: off | optional (failure = warning) | required.").tag(
        config=True
    )
    s3_endpoint = Unicode(
        "", help="S3 endpoint URL as sessions reach it (also STS, unless s3_sts_endpoint)."
    ).tag(config=True)
    s3_sts_endpoint = Unicode("", help="STS endpoint URL for the hub; default: s3_endpoint.").tag(config=True)
    s3_region = Unicode("us-east-1", help="S3 region name given to clients.").tag(config=True)
    s3_role_arn = Unicode(
        "",
        help="""Role assumed with the user's id_token (e.g. arn:aws:iam::role/datalab-user). Its policy should
        name the user through the token (`${jwt:preferred_username}`), never through the session name.
        Empty: use the static keys.""",
    ).tag(config=True)
    s3_duration_seconds = Integer(
        3600,
        help="Requested lifetime of S3 temporary credentials (STS allows 900-43200; servers may cap it).",
    ).tag(config=True)
    s3_bucket_template = Unicode("user-{username}", help="The user's bucket; `{username}` is replaced.").tag(
        config=True
    )
    s3_prefix_template = Unicode(
        "", help="Key prefix inside the bucket for the user (e.g. `users/{username}/` with a shared bucket)."
    ).tag(config=True)
    s3_static_access_key_id = Unicode(
        "", help="Static S3 access key id, used when s3_role_arn is empty (no STS)."
    ).tag(config=True)
    s3_static_secret_access_key = Unicode("", help="Static S3 secret key paired with the access key id.").tag(
        config=True
    )

    # -- Vault --
    vault_mode = Unicode("off", help="Vault token: off | optional (failure = warning) | required.").tag(
        config=True
    )
    vault_addr = Unicode("", help="Vault/OpenBao address as sessions reach it.").tag(config=True)
    vault_hub_addr = Unicode("", help="Vault address the hub uses to log in; default: vault_addr.").tag(
        config=True
    )
    vault_auth_mount = Unicode("jwt", help="Mount path of the JWT auth method.").tag(config=True)
    vault_role = Unicode(
        "datalab", help="JWT auth role (its bound_audiences must hold the id_token's aud)."
    ).tag(config=True)
    vault_kv_mount = Unicode("secret", help="KV v2 mount of users' secrets (VAULT_MOUNT).").tag(config=True)
    vault_top_dir_template = Unicode(
        "users/{username}",
        help="The user's folder in the KV mount (VAULT_TOP_DIR); `{username}` is replaced.",
    ).tag(config=True)

    # -- common --
    timeout = Float(10.0, help="Seconds allowed for one STS or Vault call (it runs in a thread).").tag(
        config=True
    )
    reuse_fraction = Float(
        0.5, help="Cached credentials are reused until this fraction of their lifetime is spent."
    ).tag(config=True)

    @default("s3_sts_endpoint")
    def _sts_default(self):
        return self.s3_endpoint

    @default("vault_hub_addr")
    def _vault_hub_addr_default(self):
        return self.vault_addr

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        for name in ("s3_mode", "vault_mode"):
            if getattr(self, name) not in MODES:
                raise ValueError(
                    f"CredentialBroker.{name} must be one of {MODES}, got {getattr(self, name)!r}"
                )
        self._cache: dict[tuple[str, str], S3Credentials | VaultCredentials] = {}
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._sts = None
        self._sts_lock = threading.Lock()

    # -- public API ---------------------------------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        return self.s3_mode != "off" or self.vault_mode != "off"

    def session_env(self, username: str) -> dict[str, str]:
        """Non-secret, Onyxia-compatible variables for the user's sessions (endpoints, bucket, Vault paths)."""
        env: dict[str, str] = {}
        if self.s3_mode != "off" and self.s3_endpoint:
            env["AWS_ENDPOINT_URL"] = self.s3_endpoint
            env["AWS_S3_ENDPOINT"] = host_of(self.s3_endpoint)
            env["AWS_DEFAULT_REGION"] = self.s3_region
            env["DATALAB_S3_BUCKET"] = self.s3_bucket_template.format(username=username)
            env["DATALAB_S3_PREFIX"] = self.s3_prefix_template.format(username=username)
        if self.vault_mode != "off" and self.vault_addr:
            env["VAULT_ADDR"] = self.vault_addr
            env["VAULT_MOUNT"] = self.vault_kv_mount
            env["VAULT_TOP_DIR"] = self.vault_top_dir_template.format(username=username)
        return env

    async def credentials(self, username: str, id_token: str | None, *, force: bool = False) -> BrokerResult:
        """Credentials for `username` (cached unless `force`); BrokerError when a required one fails."""
        warnings: list[str] = []
        s3 = vault = None
        async with self._locks[username]:
            if self.s3_mode != "off":
                s3 = await self._one("s3", username, id_token, force, warnings)
            if self.vault_mode != "off":
                vault = await self._one("vault", username, id_token, force, warnings)
        return BrokerResult(s3=s3, vault=vault, warnings=tuple(warnings))

    def forget(self, username: str) -> None:
        """Drop the user's cached credentials (e.g. at logout)."""
        for key in [k for k in self._cache if k[0] == username]:
            del self._cache[key]

    # -- internals ------------------------------------------------------------------------------------------
    async def _one(self, kind: str, username: str, id_token: str | None, force: bool, warnings: list[str]):
        mode = self.s3_mode if kind == "s3" else self.vault_mode
        cached = self._cache.get((username, kind))
        if (
            cached
            and not force
            and still_fresh(cached.issued_at, cached.expiration, time.time(), self.reuse_fraction)
        ):
            return cached
        try:
            minted = await self._call(kind, username, id_token)
        except BrokerError as e:
            if mode == "required":
                raise
            self.log.warning("Optional %s credentials for %s unavailable: %s", kind, username, e)
            warnings.append(str(e))
            return None
        self._cache[(username, kind)] = minted
        self.log.info(
            "Minted %s credentials for %s (expire %s)", kind, username, iso(minted.expiration) or "never"
        )
        return minted

    async def _call(self, kind: str, username: str, id_token: str | None):
        fn = self._mint_s3 if kind == "s3" else self._mint_vault
        label = "S3" if kind == "s3" else "Vault"
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(None, fn, username, id_token), self.timeout)
        except TimeoutError:
            raise BrokerError(
                kind, f"{label} credentials for {username}: no answer within {self.timeout:g}s"
            ) from None

    def _sts_client(self):
        with self._sts_lock:
            if self._sts is None:
                import boto3
                from botocore import UNSIGNED
                from botocore.config import Config

                self._sts = boto3.session.Session().client(
                    "sts",
                    endpoint_url=self.s3_sts_endpoint,
                    region_name=self.s3_region,
                    config=Config(
                        signature_version=UNSIGNED,
                        connect_timeout=min(5.0, self.timeout),
                        read_timeout=self.timeout,
                        retries={"max_attempts": 1, "mode": "standard"},
                    ),
                )
            return self._sts

    def _mint_s3(self, username: str, id_token: str | None) -> S3Credentials:
        """Blocking: runs in a thread."""
        where = f"S3 credentials for {username}"
        try:
            bucket = user_bucket(self.s3_bucket_template, username)
        except ValueError as e:
            raise BrokerError("s3", f"{where}: {e}") from None
        common = dict(
            endpoint=self.s3_endpoint,
            region=self.s3_region,
            bucket=bucket,
            prefix=self.s3_prefix_template.format(username=username),
            issued_at=time.time(),
        )
        if not self.s3_role_arn:
            if not (self.s3_static_access_key_id and self.s3_static_secret_access_key):
                raise BrokerError(
                    "s3", f"{where}: neither an STS role (s3_role_arn) nor static keys are configured"
                )
            return S3Credentials(self.s3_static_access_key_id, self.s3_static_secret_access_key, **common)
        if not self.s3_sts_endpoint:
            raise BrokerError("s3", f"{where}: no STS endpoint configured (s3_endpoint / s3_sts_endpoint)")
        if not id_token:
            raise BrokerError("s3", f"{where}: no OIDC id_token (log in again)")
        import botocore.exceptions

        try:
            resp = self._sts_client().assume_role_with_web_identity(
                RoleArn=self.s3_role_arn,
                RoleSessionName=f"datalab-{username}"[:64],
                WebIdentityToken=id_token,
                DurationSeconds=self.s3_duration_seconds,
            )
        except botocore.exceptions.ClientError as e:
            raise BrokerError(
                "s3",
                f"{where}: STS at {self.s3_sts_endpoint} refused role {self.s3_role_arn}: {_client_error(e)}",
            ) from None
        except (botocore.exceptions.BotoCoreError, OSError) as e:
            raise BrokerError(
                "s3", f"{where}: STS at {self.s3_sts_endpoint} unreachable: {type(e).__name__}"
            ) from None
        c = resp["Credentials"]
        expiration = c.get("Expiration")
        if isinstance(expiration, datetime) and expiration.tzinfo is None:
            expiration = expiration.replace(tzinfo=UTC)
        return S3Credentials(
            c["AccessKeyId"], c["SecretAccessKey"], c.get("SessionToken"), expiration, **common
        )

    def _mint_vault(self, username: str, id_token: str | None) -> VaultCredentials:
        """Blocking: runs in a thread."""
        import hvac
        import requests

        where = f"Vault token for {username}"
        if not self.vault_hub_addr:
            raise BrokerError("vault", f"{where}: no Vault address configured (vault_addr)")
        if not id_token:
            raise BrokerError("vault", f"{where}: no OIDC id_token (log in again)")
        client = hvac.Client(url=self.vault_hub_addr, timeout=self.timeout)
        try:
            resp = client.auth.jwt.jwt_login(
                role=self.vault_role, jwt=id_token, use_token=False, path=self.vault_auth_mount
            )
        except hvac.exceptions.VaultError as e:
            raise BrokerError(
                "vault",
                f"{where}: {self.vault_hub_addr} refused JWT login to role {self.vault_role!r} "
                f"(auth/{self.vault_auth_mount}): {_client_error(e)}",
            ) from None
        except requests.RequestException as e:
            raise BrokerError(
                "vault", f"{where}: {self.vault_hub_addr} unreachable: {type(e).__name__}"
            ) from None
        finally:
            client.adapter.close()
        auth = resp["auth"]
        now = time.time()
        lease = auth.get("lease_duration") or 0
        return VaultCredentials(
            token=auth["client_token"],
            expiration=datetime.fromtimestamp(now, UTC) + timedelta(seconds=lease) if lease else None,
            addr=self.vault_addr,
            mount=self.vault_kv_mount,
            top_dir=self.vault_top_dir_template.format(username=username),
            renewable=bool(auth.get("renewable")),
            issued_at=now,
        )


_broker: CredentialBroker | None = None


def get_broker(config=None, log=None) -> CredentialBroker:
    """The hub's one broker (shared by the spawner and the endpoint, so they share its cache)."""
    global _broker
    if _broker is None:
        kwargs = {"config": config} if config is not None else {}
        if log is not None:
            kwargs["log"] = log
        _broker = CredentialBroker(**kwargs)
    return _broker
