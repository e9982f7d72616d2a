"""The current credentials for a process that has no event loop (credential_process, botocore, the CLI).

Reads the cache the session server keeps fresh; when the cached S3 credentials are near their end (the
server is gone or failing), asks the hub itself, so a client made at any moment keeps working.
Blocking by design: callers are a short-lived command or botocore's own refresh (run off any loop).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from . import store
from .document import CacheDocument, CredentialsError
from .hub import HubEndpoint, HubError, fetch_blocking
from .model import first_seen, is_due, is_expired, utcnow, with_lifetime

# Share of a credential's lifetime after which a client fetches for itself. Later than the server's
# refresher (which renews at half its life), so while the server is healthy clients never call the hub.
CLIENT_FRACTION = 0.8


def cache_path_from_env(env=None) -> Path:
    env = os.environ if env is None else env
    explicit = env.get(store.CACHE_ENV)
    return Path(explicit) if explicit else store.default_runtime_dir() / store.CACHE_NAME


@dataclass
class CredentialSource:
    cache_path: Path
    initial_path: Path | None = None
    endpoint: HubEndpoint | None = None
    fraction: float = CLIENT_FRACTION
    timeout: float = 10.0

    @classmethod
    def from_env(cls, env=None) -> CredentialSource:
        env = os.environ if env is None else env
        initial = env.get(store.INITIAL_ENV)
        return cls(
            cache_path=cache_path_from_env(env),
            initial_path=Path(initial) if initial else None,
            endpoint=HubEndpoint.from_env(env),
        )

    def configured(self) -> bool:
        return self.cache_path.exists() or bool(self.initial_path and self.initial_path.exists())

    def cached(self) -> CacheDocument:
        """What the cache holds (seeded from the initial file at first use), without asking the hub."""
        doc = store.read_document(self.cache_path)
        if doc is None and self.initial_path is not None:
            doc = store.read_document(self.initial_path)
            if doc is not None:
                doc = store.merge_into_cache(self.cache_path, first_seen(doc, utcnow()), replace_vault=False)
        if doc is None:
            where = str(self.initial_path) if self.initial_path else f"${store.INITIAL_ENV} (not set)"
            raise CredentialsError(f"no session credentials: neither {self.cache_path} nor {where} exists")
        return doc

    def current(self) -> CacheDocument:
        """Cached credentials, renewed through the hub first when the S3 part is near its end."""
        doc = self.cached()
        now = utcnow()
        if doc.s3 is None or not is_due(doc.s3, now, self.fraction):
            return doc
        if self.endpoint is None:
            if is_expired(doc.s3, now):
                raise CredentialsError(
                    "S3 credentials expired and this process cannot renew them "
                    "(JUPYTERHUB_API_URL or JUPYTERHUB_API_TOKEN is not set)"
                )
            return doc
        try:
            fresh = fetch_blocking(self.endpoint, self.timeout)
        except HubError as e:
            if is_expired(doc.s3, utcnow()):
                raise CredentialsError(f"S3 credentials expired and renewal failed: {e}") from None
            print(f"datalab-credentials: renewal failed, using current credentials: {e}", file=sys.stderr)
            return doc
        now = utcnow()
        fresh = fresh.model_copy(
            update={
                "s3": with_lifetime(fresh.s3, doc.s3, now),
                "vault": with_lifetime(fresh.vault, doc.vault, now),
            }
        )
        # Keep the Vault token the server renews unless the cached one is dead.
        keep_vault = doc.vault is not None and not is_expired(doc.vault, now)
        return store.merge_into_cache(self.cache_path, fresh, replace_vault=not keep_vault)
