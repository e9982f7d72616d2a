"""When a sign-in's tokens expire and when to refresh them: pure functions on a token response and auth_state.

DatalabOAuthenticator (hub/auth.py) stores absolute expiry times in auth_state at login and refresh, and
decides from them whether a refresh is due, so the id_token handed to STS and Vault is never stale.
"""

from __future__ import annotations

import base64
import json


def jwt_claims(token: str | None) -> dict:
    """The payload of a JWT, NOT verified: only for reading `exp` of a token we just got from the IdP."""
    if not token or token.count(".") != 2:
        return {}
    payload = token.split(".")[1]
    try:
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, json.JSONDecodeError):
        return {}


def token_expiries(token_info: dict, now: float) -> dict:
    """Absolute expiry times (epoch seconds) of the access and id tokens of a token response."""
    out = {}
    expires_in = token_info.get("expires_in")
    if isinstance(expires_in, int | float) and expires_in > 0:
        out["access_token_expires_at"] = now + float(expires_in)
    exp = jwt_claims(token_info.get("id_token")).get("exp")
    if isinstance(exp, int | float):
        out["id_token_expires_at"] = float(exp)
    return out


def refresh_due_at(auth_state: dict, *, fraction: float, min_margin: float) -> float | None:
    """When (epoch seconds) the first token comes within its margin of expiry; None when auth_state says
    nothing about expiry. The margin is `fraction` of the token's lifetime, at least `min_margin` seconds."""
    issued = auth_state.get("tokens_obtained_at")
    due = []
    for key in ("access_token_expires_at", "id_token_expires_at"):
        expires_at = auth_state.get(key)
        if not isinstance(expires_at, int | float):
            continue
        lifetime = expires_at - issued if isinstance(issued, int | float) else 0.0
        due.append(expires_at - max(min_margin, fraction * max(lifetime, 0.0)))
    return min(due) if due else None


def needs_refresh(auth_state: dict, now: float, *, fraction: float, min_margin: float) -> bool | None:
    """True when a token expires within its margin; None when auth_state says nothing about expiry."""
    due = refresh_due_at(auth_state, fraction=fraction, min_margin=min_margin)
    return None if due is None else now >= due


def still_valid(auth_state: dict, now: float) -> bool:
    """Whether every token with a known expiry in auth_state is still unexpired."""
    expiries = [auth_state.get(k) for k in ("access_token_expires_at", "id_token_expires_at")]
    known = [e for e in expiries if isinstance(e, int | float)]
    return bool(known) and all(e > now for e in known)
