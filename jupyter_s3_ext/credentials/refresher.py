"""The session server's background task that keeps S3 and Vault credentials fresh.

Once half (configurable) of a credential's life is spent: the Vault token is renewed with renew_self;
S3 credentials, and a Vault token that can no longer be renewed (max TTL reached, not renewable,
refused), are fetched anew from the hub. Results land in the private cache (read by kernels'
credential_process), the Vault token file (read by hvac and the vault/bao CLI) and the AWS config
file. A failure keeps the current credentials, is retried with backoff and is shown in the status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ..session_env import DEFAULT_REGION
from . import store, vault
from .document import CacheDocument, CredentialsError, format_time
from .hub import HubEndpoint, HubError, fetch_async
from .model import (
    PARTS,
    adopt_renewal,
    aws_config_text,
    backoff_delay,
    describe,
    first_seen,
    freshest,
    is_due,
    is_expired,
    missing_message,
    missing_parts,
    newer,
    next_wakeup,
    session_state,
    utcnow,
)


def _holds(path: Path, text: str) -> bool:
    try:
        return path.read_text() == text
    except OSError:
        return False


@dataclass
class RefresherSettings:
    cache_path: Path
    initial_path: Path | None = None
    endpoint: HubEndpoint | None = None
    refresh_fraction: float = 0.5
    request_timeout: float = 10.0
    retry_initial_delay: float = 2.0
    retry_max_delay: float = 60.0
    min_interval: float = 1.0
    max_interval: float = 3600.0
    vault_token_file: Path | None = None
    aws_config_file: Path | None = None
    aws_command: str = "datalab-credentials aws"
    default_region: str = DEFAULT_REGION
    vault_env_path: str | None = None  # read `<top>/<path>` for kernels' environment; None = off
    expected: tuple[str, ...] = ()  # parts the hub serves ("s3", "vault"): missing ones are retried


class CredentialsRefresher:
    def __init__(self, settings: RefresherSettings, log: logging.Logger | None = None):
        self.settings = settings
        self.log = log or logging.getLogger(__name__)
        self.document: CacheDocument | None = None
        self.last_renewal: datetime | None = None
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        self.failures = 0
        self.next_check: datetime | None = None
        self.kernel_env: dict[str, str] = {}
        self.kernel_env_error: str | None = None
        self._written_token: str | None = None
        self._written_aws_config: str | None = None
        self._task: asyncio.Task | None = None

    # --- start and stop --------------------------------------------------------------------------

    def load(self) -> CacheDocument | None:
        """Read the cache (or the initial file) and write the files tools read. Safe to call before the loop."""
        s = self.settings
        cached = initial = None
        try:
            cached = store.read_document(s.cache_path)
        except CredentialsError as e:  # a damaged cache is rewritten below
            self.log.warning("Ignoring the credential cache: %s", e)
        if s.initial_path is not None:
            try:
                initial = store.read_document(s.initial_path)
            except CredentialsError as e:
                self._fail(str(e))
        # A cache left by an earlier run of the session (persistent home) may be older than the spawn's file.
        doc = freshest(cached, initial)
        if doc is not None:
            self._apply(first_seen(doc, utcnow()))
        return self.document

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.remove_files()

    def remove_files(self) -> None:
        """Leave no secret behind on a (possibly persistent) home: the cache, and the token file if ours."""
        s = self.settings
        with contextlib.suppress(FileNotFoundError):
            s.cache_path.unlink()
        token_file = s.vault_token_file
        if token_file and self._written_token and _holds(token_file, self._written_token):
            with contextlib.suppress(FileNotFoundError):
                token_file.unlink()

    async def _run(self) -> None:
        while True:
            try:
                delay = await self.refresh_once()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a bug must not end renewal for the rest of the session
                self.log.exception("credential refresh failed unexpectedly")
                delay = self._fail(f"unexpected error: {type(e).__name__}")
            self.next_check = utcnow() + timedelta(seconds=delay)
            await asyncio.sleep(delay)

    # --- one round -------------------------------------------------------------------------------

    async def refresh_once(self) -> float:
        """Renew what is due; return the seconds until the next look."""
        s = self.settings
        now = utcnow()
        doc = self.document or CacheDocument()
        with contextlib.suppress(CredentialsError):  # a client may have renewed S3 itself meanwhile
            cached = store.read_document(s.cache_path)
            if cached is not None:
                doc = doc.model_copy(update={"s3": newer(doc.s3, cached.s3)})
        fraction = s.refresh_fraction
        # A part the hub serves but the session lacks (the hub could not mint it at spawn, or it
        # expired unrenewed) is asked for at every round, with the failure backoff: seconds, not hours.
        lacking = missing_parts(doc, s.expected, now)
        need_hub = self.document is None or is_due(doc.s3, now, fraction) or bool(lacking)
        need_vault = "vault" in lacking
        token = doc.vault
        renewal_error = None
        if token is not None and is_due(token, now, fraction):
            if token.renewable and not is_expired(token, now):
                try:
                    renewed = await self._in_executor(vault.renew, token, s.request_timeout)
                    # Uncapped, a renewal's lease is the token's TTL: the lifetime to plan with.
                    lease = (renewed.expiration - utcnow()).total_seconds()
                    token = renewed.model_copy(update={"lifetime": max(token.lifetime or 0.0, lease)})
                    self.last_renewal = utcnow()
                    self.log.info("Vault token renewed until %s", format_time(token.expiration))
                    need_vault = is_due(token, utcnow(), fraction)  # capped by its max TTL: re-mint
                except (vault.VaultError, TimeoutError) as e:
                    renewal_error = str(e) or "Vault token renewal timed out"
                    need_vault = True
            else:
                need_vault = True
        doc = doc.model_copy(update={"vault": token})
        if need_hub or need_vault:
            if s.endpoint is None:
                self._apply(doc)
                what = (
                    missing_message(lacking, doc.warnings) + ", and"
                    if lacking
                    else "credentials are due, but"
                )
                return self._fail(f"{what} JUPYTERHUB_API_URL/TOKEN are not set: the hub cannot be asked")
            try:
                fresh = await fetch_async(s.endpoint, s.request_timeout)
            except HubError as e:
                self._apply(doc)
                reason = f"{renewal_error}; then {e}" if renewal_error else str(e)
                if lacking:
                    reason = f"{missing_message(lacking, doc.warnings)}; asking the hub failed: {reason}"
                return self._fail(reason)
            now = utcnow()
            doc, missing = adopt_renewal(doc, fresh, need_vault=need_vault, now=now)
            self.last_renewal = now
            self.log.info(
                "Credentials renewed through the hub (S3 until %s, Vault until %s)",
                format_time(doc.s3.expiration) if doc.s3 else "-",
                format_time(doc.vault.expiration) if doc.vault else "-",
            )
            for warning in fresh.warnings:
                self.log.warning("Credential renewal: %s", warning)
            lacking = missing_parts(doc, s.expected, now)
            if lacking:
                self._apply(doc)
                return self._fail(missing_message(lacking, fresh.warnings) + ": the hub could not give them")
            if missing:
                self._apply(doc)
                detail = "; ".join(fresh.warnings)
                return self._fail(
                    f"the hub gave no {' and no '.join(missing)} credentials; keeping the current ones"
                    + (f" ({detail})" if detail else "")
                )
        elif renewal_error:
            self._apply(doc)
            return self._fail(renewal_error)
        self._apply(doc)
        self.failures = 0
        await self._refresh_kernel_env()
        return next_wakeup(
            doc, utcnow(), fraction=fraction, min_interval=s.min_interval, max_interval=s.max_interval
        )

    async def _in_executor(self, fn, *args):
        loop = asyncio.get_running_loop()
        return await asyncio.wait_for(
            loop.run_in_executor(None, fn, *args), self.settings.request_timeout + 5
        )

    async def _refresh_kernel_env(self) -> None:
        s = self.settings
        if not s.vault_env_path or self.document is None or self.document.vault is None:
            return
        try:
            self.kernel_env = await self._in_executor(
                vault.read_env, self.document.vault, s.vault_env_path, s.request_timeout
            )
            self.kernel_env_error = None
        except (vault.VaultError, TimeoutError) as e:
            self.kernel_env_error = str(e) or "reading the Vault env secrets timed out"
            self.log.warning("%s", self.kernel_env_error)

    def _fail(self, message: str) -> float:
        self.failures += 1
        self.last_error = message
        self.last_error_at = utcnow()
        delay = backoff_delay(self.failures, self.settings.retry_initial_delay, self.settings.retry_max_delay)
        self.log.warning("Credential renewal failed (retry in %.0fs): %s", delay, message)
        return delay

    # --- writing what tools read -----------------------------------------------------------------

    def _apply(self, doc: CacheDocument) -> None:
        s = self.settings
        self.document = doc = store.merge_into_cache(s.cache_path, doc)
        token = doc.vault.token.get_secret_value() if doc.vault else None
        if (
            s.vault_token_file
            and token
            and (token != self._written_token or not _holds(s.vault_token_file, token))
        ):
            # Rewritten too when someone else changed it (another server of the user sharing the home).
            store.write_private(s.vault_token_file, token)
            self._written_token = token
        if s.aws_config_file and doc.s3:
            text = aws_config_text(s.aws_command, doc.s3, s.default_region)
            if text != self._written_aws_config:
                store.write_private(s.aws_config_file, text, mode=0o644)
                self._written_aws_config = text

    # --- status (never a secret) -----------------------------------------------------------------

    def status(self) -> dict:
        s = self.settings
        now = utcnow()
        doc = self.document or CacheDocument()
        lacking = missing_parts(doc, s.expected, now)
        retry_in = (self.next_check - now).total_seconds() if self.next_check else None
        return {
            "state": session_state(lacking, self.failures),
            "missing": [{"part": p, "name": PARTS[p]} for p in lacking],
            "message": self.last_error
            if self.failures
            else (missing_message(lacking, doc.warnings) if lacking else None),
            "s3": {**describe(doc.s3, now), "expected": "s3" in s.expected},
            "vault": {**describe(doc.vault, now), "expected": "vault" in s.expected},
            "renewal": {
                "hub_endpoint": s.endpoint.url if s.endpoint else None,
                "refresh_fraction": s.refresh_fraction,
                "last_renewal": format_time(self.last_renewal),
                "next_check": format_time(self.next_check),
                "next_attempt_in_seconds": None if retry_in is None else max(0, round(retry_in)),
                "last_error": self.last_error,
                "last_error_at": format_time(self.last_error_at),
                "consecutive_failures": self.failures,
            },
            "warnings": list(doc.warnings),
            "files": {
                "aws_config": str(s.aws_config_file) if s.aws_config_file else None,
                "vault_token": str(s.vault_token_file) if s.vault_token_file else None,
            },
            "kernel_env": {
                "enabled": bool(s.vault_env_path),
                "keys": sorted(self.kernel_env),
                "error": self.kernel_env_error,
            },
        }
