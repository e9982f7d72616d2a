"""The credential broker: a user's OIDC id_token in, temporary S3 credentials and a Vault token out.

This module holds the settings, the per-user cache and locks, and runs the blocking calls of `s3` (STS or
static keys) and `vault` (JWT login) in threads with a timeout. Results are cached per user and reused until
most of their lifetime is spent. The document it hands out is jupyter_s3_ext.credentials.document's
`CredentialsDocument`. Errors (errors.BrokerError) name the integration, the endpoint and what the server
said: never a secret.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime

from traitlets import Bool, Enum, Float, Integer, Unicode, default
from traitlets.config import LoggingConfigurable

from jupyter_s3_ext.credentials.document import (
    CredentialsDocument,
    S3Credentials,
    VaultCredentials,
    format_time,
)
from jupyter_s3_ext.session_env import BROWSER_ENDPOINT_ENV

from . import s3, vault
from .errors import BrokerError

MODES = ("off", "optional", "required")


def still_fresh(issued_at: float, expiration: datetime | None, now: float, reuse_fraction: float) -> bool:
    """Reuse a credential while less than `reuse_fraction` of its lifetime is spent (no expiry: always)."""
    if expiration is None:
        return True
    expires = expiration.timestamp()
    return now < issued_at + reuse_fraction * (expires - issued_at) and now < expires


def host_of(url: str) -> str:
    return url.split("://", 1)[-1].rstrip("/")


class CredentialBroker(LoggingConfigurable):
    """Mints per-user S3 and Vault credentials from the user's id_token (config section `CredentialBroker`)."""

    # -- S3 --
    s3_mode = Enum(
        MODES, default_value="off", help="S3 credentials: off | optional (failure = warning) | required."
    ).tag(config=True)
    s3_endpoint = Unicode(
        "", help="S3 endpoint URL as sessions reach it (also STS, unless s3_sts_endpoint)."
    ).tag(config=True)
    s3_sts_endpoint = Unicode("", help="STS endpoint URL for the hub; default: s3_endpoint.").tag(config=True)
    s3_browser_endpoint = Unicode(
        "",
        help="""S3 endpoint URL as users' browsers reach it. Set, JupyterLab sends big uploads into the S3
        folder straight there, part by part on URLs the session signs (the server out of the data path);
        the endpoint must allow the datalab's origin in CORS and expose the ETag header. Empty: uploads go
        through the session (DATALAB_S3_BROWSER_ENDPOINT, read by jupyter_s3_ext).""",
    ).tag(config=True)
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
    vault_mode = Enum(
        MODES, default_value="off", help="Vault token: off | optional (failure = warning) | required."
    ).tag(config=True)
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

    # -- who may obtain credentials (the renewal endpoint, hub/credentials/api.py and grants.py) --
    forced_renewals_per_window = Integer(
        5,
        help="""Renewals with `?force=1` (which skip the cache and mint new S3 keys and a new Vault token)
        one user may ask for within `forced_renewal_window` seconds; more are answered 429 with
        Retry-After. Renewals without force are served from the cache and never limited. 0: no limit.""",
    ).tag(config=True)
    forced_renewal_window = Float(
        60.0, help="Seconds over which `forced_renewals_per_window` is counted (a sliding window)."
    ).tag(config=True)
    allow_granting_to_others = Bool(
        False,
        help="""Whether an admin (or any user or service allowed to create tokens for other users) may create
        a token for another user that holds the credentials scope custom:datalab-credentials:read; with
        such a token the admin obtains that user's S3 keys and Vault token. False (the default): such
        token requests are refused (403, nothing created) and tokens JupyterHub marked as requested by
        someone else are refused by the renewal endpoint. Admins who can enter users' servers
        (access:servers) can still use the credentials inside them (docs/credentials.md).""",
    ).tag(config=True)

    @default("s3_sts_endpoint")
    def _sts_default(self):
        return self.s3_endpoint

    @default("vault_hub_addr")
    def _vault_hub_addr_default(self):
        return self.vault_addr

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # (username, "s3" | "vault") -> (when it was asked for, the credential)
        self._cache: dict[tuple[str, str], tuple[float, S3Credentials | VaultCredentials]] = {}
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
            if self.s3_browser_endpoint:
                env[BROWSER_ENDPOINT_ENV] = self.s3_browser_endpoint
            env["AWS_DEFAULT_REGION"] = self.s3_region
            env["DATALAB_S3_BUCKET"] = self.s3_bucket_template.format(username=username)
            env["DATALAB_S3_PREFIX"] = self.s3_prefix_template.format(username=username)
        if self.vault_mode != "off" and self.vault_addr:
            env["VAULT_ADDR"] = self.vault_addr
            env["VAULT_MOUNT"] = self.vault_kv_mount
            env["VAULT_TOP_DIR"] = self.vault_top_dir_template.format(username=username)
        return env

    async def credentials(
        self, username: str, id_token: IdToken, *, force: bool = False
    ) -> CredentialsDocument:
        """Credentials for `username` (cached unless `force`); BrokerError when a required one fails.
        `id_token` may be a coroutine function giving it: then it is only asked for when something is minted
        (the renewal endpoint: reading it decrypts the user's auth_state)."""
        warnings: list[str] = []
        s3_part = vault_part = None
        token = _Once(id_token)
        async with self._locks[username]:
            if self.s3_mode != "off":
                s3_part = await self._one("s3", username, token, force, warnings)
            if self.vault_mode != "off":
                vault_part = await self._one("vault", username, token, force, warnings)
        return CredentialsDocument(s3=s3_part, vault=vault_part, warnings=tuple(warnings))

    def latest_expiration(self, username: str) -> str | None:
        """When the first of the user's latest credentials expires (ISO 8601; None: none, or they do not):
        what My services shows, renewed whenever a session asks the hub for fresh ones."""
        times = [
            c.expiration for (u, _), (_, c) in list(self._cache.items()) if u == username and c.expiration
        ]
        return min(times).isoformat() if times else None

    def forget(self, username: str) -> None:
        """Drop the user's cached credentials (e.g. at logout)."""
        for key in [k for k in self._cache if k[0] == username]:
            del self._cache[key]

    def s3_settings(self) -> s3.S3Settings:
        return s3.S3Settings(
            endpoint=self.s3_endpoint,
            sts_endpoint=self.s3_sts_endpoint,
            region=self.s3_region,
            role_arn=self.s3_role_arn,
            duration_seconds=self.s3_duration_seconds,
            bucket_template=self.s3_bucket_template,
            prefix_template=self.s3_prefix_template,
            static_access_key_id=self.s3_static_access_key_id,
            static_secret_access_key=self.s3_static_secret_access_key,
            timeout=self.timeout,
        )

    def vault_settings(self) -> vault.VaultSettings:
        return vault.VaultSettings(
            hub_addr=self.vault_hub_addr,
            addr=self.vault_addr,
            auth_mount=self.vault_auth_mount,
            role=self.vault_role,
            kv_mount=self.vault_kv_mount,
            top_dir_template=self.vault_top_dir_template,
            timeout=self.timeout,
        )

    # -- internals ------------------------------------------------------------------------------------------
    async def _one(self, kind: str, username: str, token: _Once, force: bool, warnings: list[str]):
        mode = self.s3_mode if kind == "s3" else self.vault_mode
        cached = self._cache.get((username, kind))
        if cached and not force:
            issued_at, cred = cached
            if still_fresh(issued_at, cred.expiration, time.time(), self.reuse_fraction):
                return cred
        issued_at = time.time()
        try:
            minted = await self._call(kind, username, await token.get())
        except BrokerError as e:
            if mode == "required":
                raise
            self.log.warning("Optional %s credentials for %s unavailable: %s", kind, username, e)
            warnings.append(str(e))
            return None
        self._cache[(username, kind)] = (issued_at, minted)
        self.log.info(
            "Minted %s credentials for %s (expire %s)",
            kind,
            username,
            format_time(minted.expiration) or "never",
        )
        return minted

    async def _call(self, kind: str, username: str, id_token: str | None):
        if kind == "s3":
            label, fn, args = "S3", s3.mint, (self.s3_settings(), username, id_token, self._sts_client)
        else:
            label, fn, args = "Vault", vault.mint, (self.vault_settings(), username, id_token)
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(None, fn, *args), self.timeout)
        except TimeoutError:
            raise BrokerError(
                kind, f"{label} credentials for {username}: no answer within {self.timeout:g}s"
            ) from None

    def _sts_client(self):
        """The broker's one STS client, made at first use (in the executor's thread)."""
        with self._sts_lock:
            if self._sts is None:
                self._sts = s3.sts_client(self.s3_settings())
            return self._sts


IdToken = str | None | Callable[[], Awaitable[str | None]]


class _Once:
    """An id_token given as a value or as a coroutine function, asked for at most once."""

    def __init__(self, source: IdToken):
        self.source, self.done = source, not callable(source)
        self.value = None if callable(source) else source

    async def get(self) -> str | None:
        if not self.done:
            self.value, self.done = await self.source(), True
        return self.value


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
