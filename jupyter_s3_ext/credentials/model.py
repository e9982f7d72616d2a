"""The credentials of a session as plain data, and every decision about them (pure: no I/O).

The hub hands the session one JSON document (see notes/contracts.md): `s3` and `vault` parts, each
possibly null. We keep the same shape in the cache file, plus when each credential was first seen and
how long it lived then (`lifetime`), which is what "refresh once half its life is spent" needs.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

CACHE_VERSION = 1


class CredentialsError(ValueError):
    """Credentials that cannot be used; the message names what was wrong, never a secret value."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_time(value: Any, where: str) -> datetime | None:
    """An ISO 8601 instant (with Z or an offset; naive means UTC), or None."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise CredentialsError(f"{where}: expected an ISO 8601 string, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CredentialsError(f"{where}: {value!r} is not an ISO 8601 date and time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_time(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


@dataclass(frozen=True)
class S3Credentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    expiration: datetime | None = None
    endpoint: str | None = None
    region: str | None = None
    bucket: str | None = None
    prefix: str | None = None
    lifetime: float | None = None  # seconds it was valid for when first seen


@dataclass(frozen=True)
class VaultCredentials:
    token: str = field(repr=False)
    expiration: datetime | None = None
    addr: str | None = None
    mount: str | None = None
    top_dir: str | None = None
    renewable: bool = False
    lifetime: float | None = None


@dataclass(frozen=True)
class Bundle:
    s3: S3Credentials | None = None
    vault: VaultCredentials | None = None
    warnings: tuple[str, ...] = ()
    fetched_at: datetime | None = None


def _str(data: dict, key: str, where: str, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise CredentialsError(f"{where}.{key} is missing")
        return None
    if not isinstance(value, str):
        raise CredentialsError(f"{where}.{key}: expected a string, got {type(value).__name__}")
    return value


def _lifetime(data: dict, where: str) -> float | None:
    value = data.get("lifetime")
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise CredentialsError(f"{where}.lifetime: expected a positive number of seconds")
    return float(value)


def parse_bundle(data: Any, *, source: str) -> Bundle:
    """Hub JSON (or our cache file) -> Bundle; CredentialsError naming the source and field otherwise."""
    if not isinstance(data, dict):
        raise CredentialsError(f"{source}: expected a JSON object, got {type(data).__name__}")
    s3 = vault = None
    raw = data.get("s3")
    if raw is not None:
        where = f"{source}: s3"
        if not isinstance(raw, dict):
            raise CredentialsError(f"{where}: expected an object or null")
        s3 = S3Credentials(
            access_key_id=_str(raw, "access_key_id", where, required=True),
            secret_access_key=_str(raw, "secret_access_key", where, required=True),
            session_token=_str(raw, "session_token", where),
            expiration=parse_time(raw.get("expiration"), f"{where}.expiration"),
            endpoint=_str(raw, "endpoint", where),
            region=_str(raw, "region", where),
            bucket=_str(raw, "bucket", where),
            prefix=_str(raw, "prefix", where),
            lifetime=_lifetime(raw, where),
        )
    raw = data.get("vault")
    if raw is not None:
        where = f"{source}: vault"
        if not isinstance(raw, dict):
            raise CredentialsError(f"{where}: expected an object or null")
        vault = VaultCredentials(
            token=_str(raw, "token", where, required=True),
            expiration=parse_time(raw.get("expiration"), f"{where}.expiration"),
            addr=_str(raw, "addr", where),
            mount=_str(raw, "mount", where),
            top_dir=_str(raw, "top_dir", where),
            renewable=bool(raw.get("renewable", False)),
            lifetime=_lifetime(raw, where),
        )
    warnings = data.get("warnings") or []
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        raise CredentialsError(f"{source}: warnings: expected a list of strings")
    fetched_at = parse_time(data.get("fetched_at"), f"{source}: fetched_at")
    return Bundle(s3=s3, vault=vault, warnings=tuple(warnings), fetched_at=fetched_at)


def bundle_to_json(bundle: Bundle) -> dict:
    """The cache file's content: the hub's shape plus `lifetime` and `fetched_at`."""
    s3 = vault = None
    if bundle.s3:
        c = bundle.s3
        s3 = {
            "access_key_id": c.access_key_id,
            "secret_access_key": c.secret_access_key,
            "session_token": c.session_token,
            "expiration": format_time(c.expiration),
            "endpoint": c.endpoint,
            "region": c.region,
            "bucket": c.bucket,
            "prefix": c.prefix,
            "lifetime": c.lifetime,
        }
    if bundle.vault:
        v = bundle.vault
        vault = {
            "token": v.token,
            "expiration": format_time(v.expiration),
            "addr": v.addr,
            "mount": v.mount,
            "top_dir": v.top_dir,
            "renewable": v.renewable,
            "lifetime": v.lifetime,
        }
    return {
        "version": CACHE_VERSION,
        "fetched_at": format_time(bundle.fetched_at),
        "s3": s3,
        "vault": vault,
        "warnings": list(bundle.warnings),
    }


# --- lifetimes -------------------------------------------------------------------------------------


def with_lifetime(cred, previous, now: datetime):
    """Stamp a credential with its lifetime: kept from `previous` when it is the same credential."""
    if cred is None or cred.expiration is None:
        return cred
    if previous is not None and _same(cred, previous) and previous.lifetime:
        return replace(cred, lifetime=previous.lifetime)
    if cred.lifetime:
        return cred
    return replace(cred, lifetime=max((cred.expiration - now).total_seconds(), 1.0))


def first_seen(bundle: Bundle, now: datetime) -> Bundle:
    """A bundle just read from a file: each part stamped with its lifetime, `fetched_at` now if unknown."""
    return replace(
        bundle,
        s3=with_lifetime(bundle.s3, None, now),
        vault=with_lifetime(bundle.vault, None, now),
        fetched_at=bundle.fetched_at or now,
    )


def _same(a, b) -> bool:
    if isinstance(a, S3Credentials) and isinstance(b, S3Credentials):
        return a.access_key_id == b.access_key_id and a.session_token == b.session_token
    if isinstance(a, VaultCredentials) and isinstance(b, VaultCredentials):
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


newer_s3 = newer


def freshest(a: Bundle | None, b: Bundle | None) -> Bundle | None:
    """Two bundles merged part by part, keeping the longer-lived credential (warnings and time from `b`)."""
    if a is None or b is None:
        return a or b
    return Bundle(
        s3=newer(a.s3, b.s3), vault=newer(a.vault, b.vault), warnings=b.warnings, fetched_at=b.fetched_at
    )


def adopt_renewal(current: Bundle, fresh: Bundle, *, need_vault: bool, now: datetime):
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
    return Bundle(s3=s3, vault=vault, warnings=fresh.warnings, fetched_at=fresh.fetched_at), missing


def backoff_delay(failures: int, initial: float, maximum: float) -> float:
    """Seconds to wait after `failures` consecutive failed renewals: doubling, capped."""
    return min(maximum, initial * (2 ** max(failures - 1, 0)))


def next_wakeup(bundle: Bundle, now: datetime, *, fraction: float, min_interval: float, max_interval: float):
    """How many seconds until the refresher should look again."""
    waits = [max_interval]
    for cred in (bundle.s3, bundle.vault):
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
    out = {"Version": 1, "AccessKeyId": s3.access_key_id, "SecretAccessKey": s3.secret_access_key}
    if s3.session_token:
        out["SessionToken"] = s3.session_token
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


def session_env(bundle: Bundle, default_region: str) -> dict[str, str]:
    """The non-secret, Onyxia-compatible variables a session's tools read."""
    env: dict[str, str] = {}
    s3, vault = bundle.s3, bundle.vault
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


def export_lines(bundle: Bundle, default_region: str) -> str:
    """`export` lines for tools that only read static variables (they go stale: re-run to refresh)."""
    env = session_env(bundle, default_region)
    if bundle.s3:
        env["AWS_ACCESS_KEY_ID"] = bundle.s3.access_key_id
        env["AWS_SECRET_ACCESS_KEY"] = bundle.s3.secret_access_key
        if bundle.s3.session_token:
            env["AWS_SESSION_TOKEN"] = bundle.s3.session_token
    if bundle.vault:
        env["VAULT_TOKEN"] = bundle.vault.token
    lines = []
    for cred, name in ((bundle.s3, "S3"), (bundle.vault, "Vault")):
        if cred and cred.expiration:
            lines.append(f"# {name} credentials expire at {format_time(cred.expiration)}")
    lines += [f"export {key}={shlex.quote(value)}" for key, value in sorted(env.items())]
    return "\n".join(lines) + "\n"


def describe(cred, now: datetime) -> dict:
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
