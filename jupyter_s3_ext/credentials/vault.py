"""Vault calls the session makes itself: renew its token, read the user's `<top>/env` secrets.

hvac is blocking (requests): these are plain functions the refresher runs in an executor, each with a
timeout. Errors come back as VaultError with a message that names the call and address, never the token.
"""

from __future__ import annotations

from datetime import timedelta

from .document import CachedVault
from .model import utcnow


class VaultError(RuntimeError):
    """A Vault call failed; the message is safe to log and show."""


def _client(vault: CachedVault, timeout: float):
    import hvac

    if not vault.addr:
        raise VaultError("the Vault address is unknown (no vault.addr in the credentials)")
    return hvac.Client(url=vault.addr, token=vault.token.get_secret_value(), timeout=timeout)


def _describe(e: Exception) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}" + (f": {text[:200]}" if text else "")


def renew(vault: CachedVault, timeout: float) -> CachedVault:
    """renew_self; the same token with its new expiration (capped by Vault at the token's max TTL)."""
    try:
        response = _client(vault, timeout).auth.token.renew_self()
    except VaultError:
        raise
    except Exception as e:
        raise VaultError(f"renewing the Vault token at {vault.addr} failed: {_describe(e)}") from None
    auth = (response or {}).get("auth") or {}
    lease = auth.get("lease_duration")
    if not isinstance(lease, int):
        raise VaultError(f"renewing the Vault token at {vault.addr} gave no lease duration")
    return vault.model_copy(
        update={"expiration": utcnow() + timedelta(seconds=lease), "renewable": bool(auth.get("renewable"))}
    )


def read_env(vault: CachedVault, path: str, timeout: float) -> dict[str, str]:
    """The keys stored at `<mount>/<top_dir>/<path>` (KV v2), as environment variables."""
    if not vault.mount or not vault.top_dir:
        raise VaultError("VAULT_MOUNT or VAULT_TOP_DIR is unknown: cannot find the env secrets")
    secret_path = f"{vault.top_dir.strip('/')}/{path.strip('/')}"
    try:
        response = _client(vault, timeout).secrets.kv.v2.read_secret_version(
            path=secret_path, mount_point=vault.mount, raise_on_deleted_version=False
        )
    except Exception as e:
        if type(e).__name__ == "InvalidPath":
            return {}
        raise VaultError(
            f"reading {vault.mount}/{secret_path} at {vault.addr} failed: {_describe(e)}"
        ) from None
    data = ((response or {}).get("data") or {}).get("data") or {}
    return {str(k): str(v) for k, v in data.items() if _valid_env_name(str(k))}


def _valid_env_name(name: str) -> bool:
    return bool(name) and (name[0].isalpha() or name[0] == "_") and all(c.isalnum() or c == "_" for c in name)
