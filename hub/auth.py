"""Login for Datalab: a GenericOAuthenticator with OIDC defaults and proactive token refresh.

Why a subclass and not only configuration: the credential broker needs a *valid* id_token at any moment
(STS and Vault refuse expired ones), so tokens are refreshed before they expire rather than after the
first failure, refreshes of one user are serialised (identity providers that rotate refresh tokens revoke
the whole grant when a refresh token is used twice), and a refused refresh token means "log in again"
(refresh_user returns False), never a session that is silently broken.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import urllib.request
from collections import defaultdict

from oauthenticator.generic import GenericOAuthenticator
from traitlets import Float, Integer, List, Unicode, default

DEFAULT_SCOPES = ["openid", "profile", "email", "groups", "offline_access"]


# ---- pure helpers (tested without a hub) ----------------------------------------------------------
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


def needs_refresh(auth_state: dict, now: float, *, fraction: float, min_margin: float) -> bool | None:
    """True when a token expires within its margin; None when auth_state says nothing about expiry.

    The margin is `fraction` of the token's lifetime, at least `min_margin` seconds.
    """
    issued = auth_state.get("tokens_obtained_at")
    known = False
    for key in ("access_token_expires_at", "id_token_expires_at"):
        expires_at = auth_state.get(key)
        if not isinstance(expires_at, int | float):
            continue
        known = True
        lifetime = expires_at - issued if isinstance(issued, int | float) else 0.0
        margin = max(min_margin, fraction * max(lifetime, 0.0))
        if expires_at - now <= margin:
            return True
    return False if known else None


def still_valid(auth_state: dict, now: float) -> bool:
    """Whether every token with a known expiry in auth_state is still unexpired."""
    expiries = [auth_state.get(k) for k in ("access_token_expires_at", "id_token_expires_at")]
    known = [e for e in expiries if isinstance(e, int | float)]
    return bool(known) and all(e > now for e in known)


def discover(issuer: str, timeout: float) -> dict:
    """Fetch the provider's discovery document, retrying until `timeout` (the IdP may start after the hub)."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:  # the configured issuer
                return json.load(r)
        except (OSError, ValueError) as e:
            if time.monotonic() >= deadline:
                raise RuntimeError(f"OIDC discovery failed for issuer {issuer!r} ({url}): {e}") from e
            time.sleep(0.5)


def refusal_reason(e: Exception) -> str:
    """Why a token request failed, for the log: the provider's error_description, never the response itself.

    oauthenticator's HTTPError for a response without an access token quotes the whole response, which may
    hold an id_token or refresh_token.
    """
    message = getattr(e, "log_message", None)
    if isinstance(message, str) and message.startswith("An access token was not returned"):
        return message
    code = getattr(e, "code", None) or getattr(e, "status_code", None)
    return f"{type(e).__name__} {code}" if code else type(e).__name__


class DatalabOAuthenticator(GenericOAuthenticator):
    """OIDC login with groups, auth_state tokens and refresh before expiry (entry point `datalab`)."""

    oidc_issuer = Unicode(
        "",
        help="""OIDC issuer URL. When set, authorize/token/userinfo URLs come from its discovery document
        (fetched once when the hub starts), unless set explicitly.""",
    ).tag(config=True)

    oidc_discovery_timeout = Float(
        30.0, help="Seconds to keep retrying OIDC discovery at hub start before giving up."
    ).tag(config=True)

    refresh_margin_fraction = Float(
        0.25,
        help="""Refresh the user's tokens when less than this fraction of their lifetime is left, so the
        id_token handed to STS and Vault is never about to expire.""",
    ).tag(config=True)

    refresh_min_margin = Integer(
        30, help="Refresh the user's tokens at least this many seconds before they expire."
    ).tag(config=True)

    jwks_uri = Unicode("", help="The provider's JWKS URL (from discovery when oidc_issuer is set).").tag(
        config=True
    )

    end_session_url = Unicode(
        "", help="The provider's end-session (logout) endpoint (from discovery when oidc_issuer is set)."
    ).tag(config=True)

    scope = List(Unicode(), default_value=DEFAULT_SCOPES, help="OAuth scopes requested at login.").tag(
        config=True
    )

    @default("username_claim")
    def _username_claim_default(self):
        return "preferred_username"

    @default("auth_state_groups_key")
    def _groups_key_default(self):
        return f"{self.user_auth_state_key}.groups"

    @default("manage_groups")
    def _manage_groups_default(self):
        return True

    @default("enable_auth_state")
    def _enable_auth_state_default(self):
        return True

    @default("basic_auth")
    def _basic_auth_default(self):
        return True  # client_secret_basic, the method every OIDC provider supports

    @default("auth_refresh_age")
    def _auth_refresh_age_default(self):
        return 60

    @default("login_service")
    def _login_service_default(self):
        return "Datalab"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._refresh_locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        if self.oidc_issuer:
            self._apply_discovery(discover(self.oidc_issuer, self.oidc_discovery_timeout))

    def _apply_discovery(self, meta: dict) -> None:
        for trait, key in (
            ("authorize_url", "authorization_endpoint"),
            ("token_url", "token_endpoint"),
            ("userdata_url", "userinfo_endpoint"),
            ("jwks_uri", "jwks_uri"),
            ("end_session_url", "end_session_endpoint"),
        ):
            if not getattr(self, trait) and meta.get(key):
                setattr(self, trait, meta[key])

    # ---- auth_state -----------------------------------------------------------------------------------
    def build_auth_state_dict(self, token_info, user_info):
        """Add absolute token expiry times, so refresh can happen before they run out."""
        auth_state = super().build_auth_state_dict(token_info, user_info)
        now = time.time()
        auth_state["tokens_obtained_at"] = now
        auth_state.update(token_expiries(token_info, now))
        return auth_state

    # ---- refresh ----------------------------------------------------------------------------------------
    async def refresh_user(self, user, handler=None, **kwargs):
        """True while tokens are fresh; a new auth model after refreshing; False when a new login is needed."""
        if not self.enable_auth_state:
            return True
        async with self._refresh_locks[user.name]:
            # Read inside the lock: a concurrent refresh of this user may just have saved new tokens.
            auth_state = await user.get_auth_state()
            if not auth_state or not auth_state.get("access_token"):
                self.log.info("No tokens stored for %s: a new login is needed", user.name)
                return False
            due = needs_refresh(
                auth_state,
                time.time(),
                fraction=self.refresh_margin_fraction,
                min_margin=self.refresh_min_margin,
            )
            if due is None:  # the provider says nothing about expiry: the generic check (userinfo call)
                return await super().refresh_user(user, handler, **kwargs)
            if not due:
                return True
            refresh_token = auth_state.get("refresh_token")
            if not refresh_token:
                self.log.warning(
                    "Tokens of %s expire and there is no refresh token: a new login is needed", user.name
                )
                return False
            try:
                token_info = await self.get_token_info(
                    handler, self.build_refresh_token_request_params(refresh_token)
                )
            except Exception as e:  # the provider's message names the error, never the token
                code = getattr(e, "code", None)
                if not (isinstance(code, int) and 400 <= code < 500) and still_valid(auth_state, time.time()):
                    # The IdP is down or failing, not refusing: keep the current tokens while they last.
                    self.log.warning(
                        "Could not refresh %s's sign-in, the identity provider is unavailable (%s); "
                        "the current tokens stay in use until they expire",
                        user.name,
                        type(e).__name__,
                    )
                    return True
                self.log.warning(
                    "The identity provider refused to refresh %s's sign-in (%s): a new login is needed",
                    user.name,
                    refusal_reason(e),
                )
                return False
            if not token_info.get("refresh_token"):
                token_info["refresh_token"] = refresh_token
            try:
                auth_model = await self._token_to_auth_model(token_info)
            except Exception as e:
                self.log.warning(
                    "Fresh tokens of %s did not work (%s): a new login is needed", user.name, type(e).__name__
                )
                return False
            if auth_model["name"] != user.name:
                self.log.error("Refreshed tokens of %s name another user: a new login is needed", user.name)
                return False
            if not await self.check_allowed(user.name, auth_model):
                # e.g. removed from the allowed groups at the IdP: the next login will say so (403)
                self.log.warning("%s is no longer allowed by the identity provider's groups", user.name)
                return False
            # Save now, inside the lock, so a concurrent refresh never reuses the rotated refresh token.
            await user.save_auth_state(auth_model["auth_state"])
            self.log.info("Refreshed the sign-in of %s", user.name)
            return auth_model
