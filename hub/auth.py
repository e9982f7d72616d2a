"""Login for Datalab: a GenericOAuthenticator with OIDC defaults and proactive token refresh.

Why a subclass and not only configuration: the credential broker needs a *valid* id_token at any moment
(STS and Vault refuse expired ones), so tokens are refreshed before they expire rather than after the
first failure, refreshes of one user are serialised (identity providers that rotate refresh tokens revoke
the whole grant when a refresh token is used twice), and a refused refresh token means "log in again"
(refresh_user returns False), never a session that is silently broken. A refresh that gets no answer is
retried with the same refresh token: the provider may have used it up and lost its reply, and only a retry
of that token, within the provider's reuse grace, gets the user's new tokens.

A provider that does not answer during a sign-in (the code exchange, the userinfo request) gets the user
a 503 page naming it, not a 500 with a traceback in the log.

OIDC discovery (hub/discovery.py) fills the endpoint settings through `@default` methods (explicit settings
win), with Tornado's HTTP client and OAuthenticator's `http_request_kwargs` and `validate_server_cert`. When
tokens are due is decided by the pure functions of hub/token_times.py.

Where this module reaches past OAuthenticator's public settings and methods (UPSTREAM_PRIVATE; checked on
oauthenticator 17.4.0, whose version tests/hub/test_auth.py pins):
- `OAuthenticator._token_to_auth_model` (called): turns refreshed tokens into an auth model exactly as a
  login does (userinfo, username, auth_state, modify_auth_state_hook, groups); no public method does all.
- `OAuthenticator._call_refresh_user_hook` (called): runs `refresh_user_hook` exactly as upstream's
  refresh_user does (awaits it when async, logs and re-raises its errors).
- `GenericOAuthenticator.http_client`'s defaults (mirrored): the discovery client validates certificates
  per `validate_server_cert` as that client does; it cannot be that client, which belongs to the hub's
  event loop while discovery runs on its own.
- The `OAUTH2_AUTHORIZE_URL`, `OAUTH2_TOKEN_URL`, `OAUTH2_USERDATA_URL` variables (mirrored): upstream's
  defaults read them; ours still prefer them to discovery, as before.
- The text `An access token was not returned` of `get_token_info`'s refusal (matched by refusal_reason):
  the one refusal message that quotes the provider's error_description and never its tokens.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import defaultdict
from urllib.parse import urlparse

from oauthenticator.generic import GenericOAuthenticator
from tornado import web
from tornado.httpclient import HTTPClientError
from traitlets import Float, Integer, Unicode, default

# The pure parts, by job; importable from here as before.
from .discovery import discovery_url, fetch_discovery
from .token_times import jwt_claims, needs_refresh, refresh_due_at, still_valid, token_expiries

__all__ = [
    "DatalabOAuthenticator",
    "discovery_url",
    "fetch_discovery",
    "jwt_claims",
    "needs_refresh",
    "refusal_reason",
    "still_valid",
    "token_expiries",
    "unanswered",
]

UPSTREAM_PRIVATE = ("OAuthenticator._token_to_auth_model", "OAuthenticator._call_refresh_user_hook")

DEFAULT_SCOPES = ["openid", "profile", "email", "groups", "offline_access"]

# endpoint setting -> (its key in the discovery document, the environment variable upstream's default reads)
DISCOVERED = {
    "authorize_url": ("authorization_endpoint", "OAUTH2_AUTHORIZE_URL"),
    "token_url": ("token_endpoint", "OAUTH2_TOKEN_URL"),
    "userdata_url": ("userinfo_endpoint", "OAUTH2_USERDATA_URL"),
    "jwks_uri": ("jwks_uri", None),
    "end_session_url": ("end_session_endpoint", None),
}
REFRESH_RETRY_FIRST, REFRESH_RETRY_MAX = 0.5, 4.0  # seconds between retries of a refresh, doubling


def unanswered(e: BaseException) -> bool:
    """Whether a request to the provider failed without an answer saying what became of it.

    No connection, a connection closed or reset before the reply, a timeout, a 5xx: the provider may have
    carried the request out (a refresh token used up) and lost its reply. A 4xx is an answer.
    """
    if isinstance(e, HTTPClientError):
        return e.response is None or e.code == 599 or e.code >= 500
    return isinstance(e, OSError)


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
        help="""OIDC issuer URL. When set, authorize_url, token_url, userdata_url, jwks_uri and
        end_session_url default to its discovery document (fetched once, when the authenticator is made at
        hub start, with `http_request_kwargs`); a URL set explicitly (or by OAuthenticator's OAUTH2_*_URL
        variables) wins.""",
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

    jwks_uri = Unicode(help="The provider's JWKS URL (from discovery when oidc_issuer is set).").tag(
        config=True
    )

    end_session_url = Unicode(
        help="The provider's end-session (logout) endpoint (from discovery when oidc_issuer is set)."
    ).tag(config=True)

    refresh_retry_timeout = Float(
        10.0,
        help="""Seconds to keep retrying, with the same refresh token, a refresh that got no answer (no
        connection, connection closed before the reply, timeout, 5xx): the provider may have used the token
        up and lost its reply, and its reuse grace accepts the retry (docs/deploy.md). The request that
        needs the refresh waits meanwhile; no retry starts later than this, and each attempt lasts at most
        the request_timeout of http_request_kwargs (Tornado's default: 20 s). When this user's previous
        refresh got no answer less than this long ago, it is tried once. 0: no retries. After that, tokens
        that are still valid stay in use and the next check tries the same refresh again.""",
    ).tag(config=True)

    # ---- defaults -------------------------------------------------------------------------------------
    _discovery: dict | None = None

    def discovery(self) -> dict:
        """The issuer's discovery document, fetched on first use and kept (empty without `oidc_issuer`)."""
        if not self.oidc_issuer:
            return {}
        if self._discovery is None:
            self._discovery = fetch_discovery(
                self.oidc_issuer,
                timeout=self.oidc_discovery_timeout,
                request_kwargs=self.http_request_kwargs,
                client_defaults=self._client_defaults(),
            )
        return self._discovery

    def _client_defaults(self) -> dict:
        return {"validate_cert": self.validate_server_cert}  # as GenericOAuthenticator's http_client

    def _endpoint_default(self, trait: str) -> str:
        key, env = DISCOVERED[trait]
        if env and os.environ.get(env):
            return os.environ[env]
        if trait == "userdata_url" and self.userdata_from_id_token:
            return ""  # upstream refuses both; the user's details then come from the id_token
        return self.discovery().get(key) or ""

    @default("authorize_url")
    def _discovered_authorize_url(self):
        return self._endpoint_default("authorize_url")

    @default("token_url")
    def _discovered_token_url(self):
        return self._endpoint_default("token_url")

    @default("userdata_url")
    def _discovered_userdata_url(self):
        return self._endpoint_default("userdata_url")

    @default("jwks_uri")
    def _discovered_jwks_uri(self):
        return self._endpoint_default("jwks_uri")

    @default("end_session_url")
    def _discovered_end_session_url(self):
        return self._endpoint_default("end_session_url")

    @default("scope")
    def _scope_default(self):
        return list(DEFAULT_SCOPES)

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
        # user name -> monotonic time when their last refresh went unanswered
        self._unanswered_at: dict[str, float] = {}
        # user name -> (their encrypted auth_state when last read, when its refresh is due): renewals and
        # JupyterHub's own checks ask often, and reading auth_state means decrypting it in a thread
        self._fresh_until: dict[str, tuple[bytes, float]] = {}
        if self.oidc_issuer:
            # Resolve the endpoint defaults now, while the hub is starting and serves nothing: no login
            # ever waits for discovery, and a provider that stays unreachable stops the hub with the reason.
            for trait in DISCOVERED:
                getattr(self, trait)

    # ---- auth_state -----------------------------------------------------------------------------------
    def build_auth_state_dict(self, token_info, user_info):
        """Add absolute token expiry times, so refresh can happen before they run out."""
        auth_state = super().build_auth_state_dict(token_info, user_info)
        now = time.time()
        auth_state["tokens_obtained_at"] = now
        auth_state.update(token_expiries(token_info, now))
        return auth_state

    # ---- sign-in ----------------------------------------------------------------------------------------
    async def authenticate(self, handler, data=None, **kwargs):
        """As upstream; a provider that gives no answer makes a 503 naming it (the code cannot be reused)."""
        try:
            return await super().authenticate(handler, data, **kwargs)
        except Exception as e:
            if not unanswered(e):
                raise
            provider = self.provider_label()
            self.log.warning(
                "A sign-in failed: the identity provider %s did not answer (%s)", provider, type(e).__name__
            )
            raise web.HTTPError(
                503,
                "The identity provider (%s) is unavailable, so the sign-in could not be completed. "
                "Please sign in again in a moment.",
                provider,
            ) from None

    def provider_label(self) -> str:
        """How messages name the identity provider: its issuer, or else the scheme and host of its token URL."""
        url = urlparse(self.token_url)
        return self.oidc_issuer or f"{url.scheme}://{url.netloc}"

    # ---- refresh ----------------------------------------------------------------------------------------
    async def refresh_user(self, user, handler=None, **kwargs):
        """True while tokens are fresh; a new auth model after refreshing; False when a new login is needed."""
        if not self.enable_auth_state:
            return True
        sealed = getattr(user, "encrypted_auth_state", None)
        if sealed and self.refresh_user_hook is None:
            known, fresh_until = self._fresh_until.get(user.name, (None, 0.0))
            if known == sealed and time.time() < fresh_until:
                return True  # the same stored tokens as last read, not due yet: no decrypting them again
        async with self._refresh_locks[user.name]:
            # Read inside the lock: a concurrent refresh of this user may just have saved new tokens.
            auth_state = await user.get_auth_state()
            has_tokens = bool(auth_state and auth_state.get("access_token"))
            due = has_tokens and needs_refresh(
                auth_state,
                time.time(),
                fraction=self.refresh_margin_fraction,
                min_margin=self.refresh_min_margin,
            )
            if due is None:
                # The provider says nothing about expiry: upstream's check (a userinfo call), which calls
                # refresh_user_hook itself.
                return await super().refresh_user(user, handler, **kwargs)
            if self.refresh_user_hook is not None:
                # As upstream's refresh_user: the hook decides, unless it returns None.
                refreshed = await self._call_refresh_user_hook(user, auth_state)
                if refreshed is not None:
                    return refreshed
            if not has_tokens:
                self.log.info("No tokens stored for %s: a new login is needed", user.name)
                return False
            if not due:
                if sealed and self.refresh_user_hook is None:
                    margins = {
                        "fraction": self.refresh_margin_fraction,
                        "min_margin": self.refresh_min_margin,
                    }
                    self._fresh_until[user.name] = (sealed, refresh_due_at(auth_state, **margins) or 0.0)
                return True
            refresh_token = auth_state.get("refresh_token")
            if not refresh_token:
                self.log.warning(
                    "Tokens of %s expire and there is no refresh token: a new login is needed", user.name
                )
                return False
            try:
                token_info = await self._refresh_tokens(handler, user.name, refresh_token)
            except Exception as e:  # the provider's message names the error, never the token
                code = getattr(e, "code", None)
                if not (isinstance(code, int) and 400 <= code < 500) and still_valid(auth_state, time.time()):
                    # The IdP is down or failing, not refusing: keep the current tokens while they last.
                    self.log.warning(
                        "Could not refresh %s's sign-in, the identity provider is unavailable (%s); "
                        "the current tokens stay in use until they expire, the next check tries again",
                        user.name,
                        type(e).__name__,
                    )
                    return True
                if unanswered(e):
                    self.log.warning(
                        "The identity provider did not answer the refresh of %s's sign-in (%s) and the "
                        "tokens have expired: a new login is needed",
                        user.name,
                        type(e).__name__,
                    )
                    return False
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

    async def _refresh_tokens(self, handler, username: str, refresh_token: str) -> dict:
        """The token endpoint's answer to a refresh, asked again with the same token while there is none.

        Retried for `refresh_retry_timeout` seconds, or tried once when this user's previous refresh went
        unanswered less than that ago (requests queued on the user's lock would each wait that long).
        """
        params = self.build_refresh_token_request_params(refresh_token)
        started = time.monotonic()
        previous = self._unanswered_at.get(username)
        recent = previous is not None and started - previous < self.refresh_retry_timeout
        deadline = started if recent else started + self.refresh_retry_timeout
        delay = REFRESH_RETRY_FIRST
        while True:
            try:
                token_info = await self.get_token_info(handler, params)
            except Exception as e:
                if not unanswered(e):
                    self._unanswered_at.pop(username, None)
                    raise
                if time.monotonic() + delay > deadline:
                    self._unanswered_at[username] = time.monotonic()
                    raise
                self.log.warning(
                    "No answer from the identity provider to the refresh of %s's sign-in (%s): "
                    "the same refresh again in %g s",
                    username,
                    type(e).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(2 * delay, REFRESH_RETRY_MAX)
            else:
                self._unanswered_at.pop(username, None)
                return token_info
