"""The user's id_token for the credential broker: refreshed through the authenticator when it is due."""

from __future__ import annotations


class LoginRequired(Exception):
    """The user's sign-in cannot be refreshed: they must log in again."""


async def ensure_signed_in(authenticator, user, handler=None) -> None:
    """Refresh the user's sign-in when it is due; LoginRequired if that failed."""
    if getattr(authenticator, "enable_auth_state", False) and hasattr(authenticator, "refresh_user"):
        refreshed = await authenticator.refresh_user(user, handler)
        if refreshed is False:
            raise LoginRequired(f"the sign-in of {user.name} has expired: log in to the hub again")
        if isinstance(refreshed, dict) and handler is not None and hasattr(handler, "auth_to_user"):
            await handler.auth_to_user(refreshed, user)  # groups and admin status follow the new tokens


async def id_token_of(user) -> str | None:
    """The id_token stored in the user's auth_state (decrypted: only read when a mint needs it)."""
    auth_state = await user.get_auth_state() or {}
    return auth_state.get("id_token")


async def fresh_id_token(authenticator, user, handler=None) -> str | None:
    """The user's id_token, refreshed first when it is about to expire; LoginRequired if that failed."""
    await ensure_signed_in(authenticator, user, handler)
    return await id_token_of(user)
