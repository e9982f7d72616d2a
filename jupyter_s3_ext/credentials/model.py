"""Every decision about a session's credentials (pure: no I/O), on the models of `document`.

The session holds a `document.CacheDocument`: the hub's document plus, per part, how long the credential
lived when first seen (`lifetime`), which is what "refresh once half its life is spent" needs.
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime, timedelta
from typing import Any

from .document import (
    CacheDocument,
    CachedS3,
    CachedVault,
    CredentialsDocument,
    S3Credentials,
    VaultCredentials,
    format_time,
)

Cached = CachedS3 | CachedVault


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- lifetimes -------------------------------------------------------------------------------------


def with_lifetime(cred: Cached | None, previous: Cached | None, now: datetime) -> Cached | None:
    """Stamp a credential with its lifetime: kept from `previous` when it is the same credential."""
    if cred is None or cred.expiration is None:
        return cred
    if previous is not None and _same(cred, previous) and previous.lifetime:
        return cred.model_copy(update={"lifetime": previous.lifetime})
    if cred.lifetime:
        return cred
    return cred.model_copy(update={"lifetime": max((cred.expiration - now).total_seconds(), 1.0)})


def first_seen(doc: CacheDocument, now: datetime) -> CacheDocument:
    """A document just read from a file: each part stamped with its lifetime, `fetched_at` now if unknown."""
    return doc.model_copy(
        update={
            "s3": with_lifetime(doc.s3, None, now),
            "vault": with_lifetime(doc.vault, None, now),
            "fetched_at": doc.fetched_at or now,
        }
    )


def _same(a: Cached, b: Cached) -> bool:
    if isinstance(a, CachedS3) and isinstance(b, CachedS3):
        return a.access_key_id == b.access_key_id and a.session_token == b.session_token
    if isinstance(a, CachedVault) and isinstance(b, CachedVault):
        return a.token == b.token
    return False


def due_at(cred, fraction: float) -> datetime | None:
    """When `fraction` of the credential's lifetime is spent (None: it never expires)."""
    if cred is None or cred.expiration is None:
        return None
    lifetime = cred.lifetime or 0.0
    return cred.expiration - timedelta(seconds=(1.0 - fraction) * lifetime)


def is_due(cred, now: datetime, fraction: float) -> bool:
    when = due_at(cred, fraction)
    return when is not None and now >= when


def is_expired(cred, now: datetime) -> bool:
    return cred is not None and cred.expiration is not None and now >= cred.expiration


def newer(a, b):
    """Of two credentials of a kind, the one that lives longer (one without expiry counts as longest)."""
    if a is None or b is None:
        return a or b
    if a.expiration is None:
        return a
    if b.expiration is None:
        return b
    return b if b.expiration > a.expiration else a


def freshest(a: CacheDocument | None, b: CacheDocument | None) -> CacheDocument | None:
    """Two documents merged part by part, keeping the longer-lived credential (warnings and time from `b`)."""
    if a is None or b is None:
        return a or b
    return b.model_copy(update={"s3": newer(a.s3, b.s3), "vault": newer(a.vault, b.vault)})


def adopt_renewal(current: CacheDocument, fresh: CacheDocument, *, need_vault: bool, now: datetime):
    """Merge the hub's answer into what the session holds; also return the parts the hub failed to give.

    S3 credentials are always taken (every client re-reads them). A new Vault token is taken only when
    ours is ending (`need_vault`) or missing: clients such as hvac.Client() keep the token they were made
    with, so a token that is kept renewed is worth more than a fresh one. A part the hub answered with
    null (an optional integration failing) keeps the current credential while it is still valid.
    """
    missing = []
    s3 = current.s3
    if fresh.s3 is not None:
        s3 = with_lifetime(fresh.s3, current.s3, now)
    elif current.s3 is not None:
        missing.append("S3")
        s3 = None if is_expired(current.s3, now) else current.s3
    vault = current.vault
    if fresh.vault is not None:
        if need_vault or vault is None or is_expired(vault, now):
            vault = with_lifetime(fresh.vault, vault, now)
    elif vault is not None:
        if need_vault:
            missing.append("Vault")
        vault = None if is_expired(vault, now) else vault
    return fresh.model_copy(update={"s3": s3, "vault": vault}), missing


# --- what the session should have --------------------------------------------------------------------

PARTS = {"s3": "S3", "vault": "Vault"}
# The hub sets these non-secret variables for every integration it serves (hub.credentials.broker's
# session_env), also when minting that credential failed at spawn: they say what the session should have.
EXPECTED_BY_ENV = {"s3": ("DATALAB_S3_BUCKET", "AWS_ENDPOINT_URL"), "vault": ("VAULT_ADDR",)}


def expected_parts(env) -> list[str]:
    """The credentials the hub serves this session ("s3", "vault"), from its non-secret environment."""
    return [part for part, names in EXPECTED_BY_ENV.items() if any(env.get(n) for n in names)]


def missing_parts(doc: CacheDocument | None, expected, now: datetime) -> list[str]:
    """Expected parts the session does not hold (never given, or expired without a renewal)."""
    out = []
    for part in expected:
        cred = getattr(doc, part, None) if doc is not None else None
        if cred is None or is_expired(cred, now):
            out.append(part)
    return out


def missing_message(missing: list[str], warnings) -> str:
    """Which credentials are missing and, when the hub said why, its words (never a secret)."""
    what = " and ".join(PARTS[p] for p in missing)
    said = "; ".join(
        str(w)[:300] for w in warnings if any(PARTS[p].lower() in str(w).lower() for p in missing)
    )
    return f"no {what} credentials yet" + (f" ({said})" if said else "")


def session_state(missing: list[str], failures: int) -> str:
    """ "ready", "waiting" (an expected credential is missing: retrying) or "retrying" (renewal failing)."""
    if missing:
        return "waiting"
    return "retrying" if failures else "ready"


def backoff_delay(failures: int, initial: float, maximum: float) -> float:
    """Seconds to wait after `failures` consecutive failed renewals: doubling, capped."""
    return min(maximum, initial * (2 ** max(failures - 1, 0)))


def next_wakeup(
    doc: CacheDocument, now: datetime, *, fraction: float, min_interval: float, max_interval: float
) -> float:
    """How many seconds until the refresher should look again."""
    waits = [max_interval]
    for cred in (doc.s3, doc.vault):
        when = due_at(cred, fraction)
        if when is not None:
            left = (when - now).total_seconds()
            if left <= 0:  # already due although just handled: the hub gave the same one; retry soon
                remaining = (cred.expiration - now).total_seconds()
                left = remaining / 4
            waits.append(left)
    return max(min_interval, min(waits))


# --- what tools see --------------------------------------------------------------------------------


def credential_process_output(s3: S3Credentials) -> dict:
    """The JSON an AWS SDK's `credential_process` expects (Version 1)."""
    out = {
        "Version": 1,
        "AccessKeyId": s3.access_key_id,
        "SecretAccessKey": s3.secret_access_key.get_secret_value(),
    }
    if s3.session_token is not None:
        out["SessionToken"] = s3.session_token.get_secret_value()
    if s3.expiration:
        out["Expiration"] = format_time(s3.expiration)
    return out


def aws_config_text(command: str, s3: S3Credentials | None, default_region: str) -> str:
    """An AWS shared config file whose default profile runs `command` for credentials."""
    lines = ["# Written by jupyter_s3_ext: credentials come fresh from the session, never stored here.", ""]
    lines += ["[default]", f"credential_process = {command}"]
    lines.append(f"region = {(s3.region if s3 else None) or default_region}")
    if s3 and s3.endpoint:
        lines.append(f"endpoint_url = {s3.endpoint}")
        lines += ["s3 =", "    addressing_style = path"]
    return "\n".join(lines) + "\n"


def session_env(doc: CredentialsDocument, default_region: str) -> dict[str, str]:
    """The non-secret, Onyxia-compatible variables a session's tools read."""
    env: dict[str, str] = {}
    s3, vault = doc.s3, doc.vault
    if s3:
        region = s3.region or default_region
        env["AWS_DEFAULT_REGION"] = region
        if s3.endpoint:
            env["AWS_ENDPOINT_URL"] = s3.endpoint
            env["AWS_S3_ENDPOINT"] = s3.endpoint.split("://", 1)[-1].rstrip("/")
        if s3.bucket:
            env["DATALAB_S3_BUCKET"] = s3.bucket
        if s3.prefix:
            env["DATALAB_S3_PREFIX"] = s3.prefix
    if vault:
        for key, value in (
            ("VAULT_ADDR", vault.addr),
            ("VAULT_MOUNT", vault.mount),
            ("VAULT_TOP_DIR", vault.top_dir),
        ):
            if value:
                env[key] = value
    return env


def export_lines(doc: CredentialsDocument, default_region: str) -> str:
    """`export` lines for tools that only read static variables (they go stale: re-run to refresh)."""
    env = session_env(doc, default_region)
    if doc.s3:
        env["AWS_ACCESS_KEY_ID"] = doc.s3.access_key_id
        env["AWS_SECRET_ACCESS_KEY"] = doc.s3.secret_access_key.get_secret_value()
        if doc.s3.session_token is not None:
            env["AWS_SESSION_TOKEN"] = doc.s3.session_token.get_secret_value()
    if doc.vault:
        env["VAULT_TOKEN"] = doc.vault.token.get_secret_value()
    lines = []
    for cred, name in ((doc.s3, "S3"), (doc.vault, "Vault")):
        if cred and cred.expiration:
            lines.append(f"# {name} credentials expire at {format_time(cred.expiration)}")
    lines += [f"export {key}={shlex.quote(value)}" for key, value in sorted(env.items())]
    return "\n".join(lines) + "\n"


def describe(cred: S3Credentials | VaultCredentials | None, now: datetime) -> dict:
    """A credential's status without its secret parts."""
    if cred is None:
        return {"configured": False}
    out: dict[str, Any] = {
        "configured": True,
        "expiration": format_time(cred.expiration),
        "expires_in_seconds": round((cred.expiration - now).total_seconds()) if cred.expiration else None,
        "expired": is_expired(cred, now),
    }
    if isinstance(cred, S3Credentials):
        out.update(endpoint=cred.endpoint, region=cred.region, bucket=cred.bucket, prefix=cred.prefix)
        out["temporary"] = cred.session_token is not None
    else:
        out.update(addr=cred.addr, mount=cred.mount, top_dir=cred.top_dir, renewable=cred.renewable)
    return out
