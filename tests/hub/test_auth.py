"""DatalabOAuthenticator: refresh_user decisions without a hub (fresh tokens are kept, an unavailable IdP does
not log anyone out while their tokens last, a refusing IdP does, refresh_user_hook decides first as
upstream, a refresh whose reply was lost is retried with the same refresh token); a sign-in whose IdP
dies during the code exchange (a real hub: a clear 503, no code or state in the log); the OAuthenticator
versions its private seams were checked on."""

from __future__ import annotations

import base64
import importlib.metadata
import inspect
import json
import time
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from oauthenticator.generic import GenericOAuthenticator
from oauthenticator.oauth2 import OAuthenticator

from hub.auth import (
    DISCOVERED,
    UPSTREAM_PRIVATE,
    DatalabOAuthenticator,
    jwt_claims,
    refusal_reason,
    still_valid,
    token_expiries,
)
from tests.support.credentials_hub import run_credentials_hub, run_hub_idp
from tests.support.idp import login, lossy_proxy, node_available, run_idp
from tests.support.oidc_provider import provider
from tests.support.procs import free_port

# The oauthenticator versions hub/auth.py's UPSTREAM_PRIVATE list (and what it mirrors) was checked on,
# reading oauthenticator/oauth2.py and generic.py. The main .venv and the chart's image both have 17.4.0.
OAUTHENTICATOR_CHECKED = {"17.4.0"}


class FakeUser:
    """JupyterHub's User as refresh_user sees it: a name and an auth_state store."""

    def __init__(self, name, auth_state):
        self.name = name
        self.auth_state = auth_state

    async def get_auth_state(self):
        return self.auth_state

    async def save_auth_state(self, state):
        self.auth_state = state


def state(lifetime_left: float, obtained_ago: float = 100.0) -> dict:
    now = time.time()
    return {
        "access_token": "at",
        "refresh_token": "rt",
        "id_token": "it",
        "tokens_obtained_at": now - obtained_ago,
        "access_token_expires_at": now + lifetime_left,
        "id_token_expires_at": now + lifetime_left,
    }


def authenticator(token_url: str) -> DatalabOAuthenticator:
    """Against `token_url`, never retrying a refresh (in these tests nothing that answers listens there)."""
    return DatalabOAuthenticator(
        client_id="c",
        client_secret="s",
        token_url=token_url,
        userdata_url=token_url,
        authorize_url=token_url,
        refresh_retry_timeout=0,
    )


def test_expiry_helpers():
    assert jwt_claims("not a jwt") == {} and jwt_claims("a.!!!.c") == {}
    assert token_expiries({"expires_in": 60}, 1000.0) == {"access_token_expires_at": 1060.0}
    assert still_valid({"id_token_expires_at": time.time() + 5}, time.time())
    assert not still_valid({"id_token_expires_at": time.time() - 1}, time.time())
    assert not still_valid({}, time.time())


def test_refusal_reason_never_quotes_the_token_response():
    from tornado import web

    leaked = web.HTTPError(500, "Bad response: {'id_token': 'eyJ.secret.sig', 'refresh_token': 'rt-secret'}")
    assert "secret" not in refusal_reason(leaked) and refusal_reason(leaked) == "HTTPError 500"
    refused = web.HTTPError(403, "An access token was not returned: grant request is invalid")
    assert refusal_reason(refused) == "An access token was not returned: grant request is invalid"


async def test_fresh_tokens_are_kept_without_calling_the_idp():
    auth = authenticator(f"http://127.0.0.1:{free_port()}/token")  # nothing listens there
    assert await auth.refresh_user(FakeUser("alice", state(lifetime_left=500))) is True


class SealedUser(FakeUser):
    """A user whose auth_state, as JupyterHub's, is stored encrypted: each read decrypts it."""

    def __init__(self, name, auth_state):
        super().__init__(name, auth_state)
        self.encrypted_auth_state, self.reads = b"sealed-1", 0

    async def get_auth_state(self):
        self.reads += 1
        return self.auth_state


async def test_a_sign_in_not_due_is_not_decrypted_again_until_it_changes_or_falls_due():
    """Renewals ask refresh_user at every call: reading auth_state each time cost the hub most of a renewal's
    CPU beyond an ordinary API call (issue 17)."""
    auth = authenticator(f"http://127.0.0.1:{free_port()}/token")  # nothing listens there
    user = SealedUser("alice", state(lifetime_left=500))
    for _ in range(3):
        assert await auth.refresh_user(user) is True
    assert user.reads == 1
    user.encrypted_auth_state = b"sealed-2"  # a new login or refresh stored other tokens
    assert await auth.refresh_user(user) is True and user.reads == 2
    user.auth_state = state(lifetime_left=-5)  # expired, the IdP unreachable: a new login is needed
    user.encrypted_auth_state = b"sealed-3"
    assert await auth.refresh_user(user) is False and user.reads == 3
    assert await auth.refresh_user(user) is False and user.reads == 4  # never remembered as fresh
    auth._fresh_until["alice"] = (b"sealed-3", time.time() - 1)  # remembered, but due by now
    assert await auth.refresh_user(user) is False and user.reads == 5


async def test_unavailable_idp_keeps_valid_tokens_but_not_expired_ones():
    auth = authenticator(f"http://127.0.0.1:{free_port()}/token")
    assert await auth.refresh_user(FakeUser("alice", state(lifetime_left=10))) is True  # due, still valid
    assert await auth.refresh_user(FakeUser("alice", state(lifetime_left=-1))) is False  # expired
    assert await auth.refresh_user(FakeUser("alice", None)) is False


async def test_an_unreachable_idp_is_retried_for_a_while_then_tried_once_per_check():
    """While the IdP is down, one request waits for the retries; the next ones of that user do not."""
    auth = authenticator(f"http://127.0.0.1:{free_port()}/token")
    auth.refresh_retry_timeout = 3.0  # tries at 0, 0.5 and 1.5 s; the next would be after the timeout
    user = FakeUser("alice", state(lifetime_left=60, obtained_ago=600))  # due, valid for a minute
    started = time.monotonic()
    assert await auth.refresh_user(user) is True
    first = time.monotonic() - started
    started = time.monotonic()
    assert await auth.refresh_user(user) is True
    second = time.monotonic() - started
    assert first >= 1.5 and second < 1.0, (first, second)


async def test_refusing_idp_ends_the_sign_in(tmp_path):
    if not node_available():
        pytest.skip("node or hub/idp/node_modules missing")
    with run_idp(tmp_path, users={"alice": {"password": "pw"}}) as idp:
        auth = DatalabOAuthenticator(
            oidc_issuer=idp.issuer, client_id=idp.test_client_id, client_secret="wrong"
        )
        assert auth.token_url == idp.metadata()["token_endpoint"] and auth.userdata_url.endswith("/me")
        user = FakeUser("alice", state(lifetime_left=10))  # due; the IdP answers 4xx (bad client, bad token)
        assert await auth.refresh_user(user) is False


# ---- a refresh whose reply is lost ------------------------------------------------------------------
REFRESH = b"grant_type=refresh_token"


@pytest.fixture
def lossy_idp(tmp_path):
    """The dev IdP with its default settings, and a proxy to it that can lose replies."""
    if not node_available():
        pytest.skip("node or hub/idp/node_modules missing")
    with run_idp(tmp_path, users={"alice": {"password": "pw"}}) as idp, lossy_proxy(idp.port) as proxy:
        yield idp, proxy


def signed_in(idp, lifetime_left: float) -> FakeUser:
    """alice with real tokens from the IdP, and the expiry times the test chooses."""
    tokens = idp.tokens("alice", "pw")
    keys = ("access_token", "refresh_token", "id_token")
    return FakeUser("alice", {**state(lifetime_left), **{k: tokens[k] for k in keys}})


def through(idp, proxy, **settings) -> DatalabOAuthenticator:
    """Our authenticator asking for tokens through the proxy (the rest straight from the IdP)."""
    return DatalabOAuthenticator(
        oidc_issuer=idp.issuer,
        token_url=f"{proxy.url}/token",
        client_id=idp.test_client_id,
        client_secret=idp.test_client_secret,
        allow_all=True,
        **settings,
    )


def refresh_token_of(reply: bytes) -> str:
    return json.loads(reply.partition(b"\r\n\r\n")[2])["refresh_token"]


async def test_a_lost_refresh_reply_is_retried_with_the_same_refresh_token(lossy_idp):
    """Expired tokens, and the IdP used up the refresh token but its reply never came: still signed in."""
    idp, proxy = lossy_idp
    user = signed_in(idp, lifetime_left=-1)
    proxy.lose_next(REFRESH)
    model = await through(idp, proxy, refresh_retry_timeout=30).refresh_user(user)
    assert len(proxy.lost) == 1
    assert isinstance(model, dict) and model["name"] == "alice"
    assert user.auth_state == model["auth_state"]  # saved
    lost = refresh_token_of(proxy.lost[0])
    assert model["auth_state"]["refresh_token"] != lost
    assert idp.refresh(model["auth_state"]["refresh_token"]).status_code == 200  # the grant lives on


async def test_after_a_lost_reply_and_a_crash_the_next_refresh_still_works(lossy_idp):
    """The IdP dies as it answers and stays down past the retries: the current tokens stay in use, and once
    the IdP is back the next refresh, with the same refresh token, works."""
    idp, proxy = lossy_idp
    user = signed_in(idp, lifetime_left=10)  # due, still valid
    first = user.auth_state["refresh_token"]
    auth = through(idp, proxy, refresh_retry_timeout=1)
    proxy.lose_next(REFRESH, then=idp.kill)
    assert await auth.refresh_user(user) is True
    assert user.auth_state["refresh_token"] == first and len(proxy.lost) == 1
    idp.start()
    model = await auth.refresh_user(user)
    assert isinstance(model, dict), idp.log()[-2000:]
    assert user.auth_state["refresh_token"] not in (first, refresh_token_of(proxy.lost[0]))


# ---- refresh_user_hook ------------------------------------------------------------------------------


def hooked(hook, token_url: str) -> DatalabOAuthenticator:
    auth = authenticator(token_url)
    auth.refresh_user_hook = hook
    return auth


async def test_refresh_user_hook_decides_first_as_upstream():
    closed = f"http://127.0.0.1:{free_port()}/token"  # any call to the IdP would fail
    calls = []

    def keep(authenticator, user, auth_state):
        calls.append((authenticator, user.name, auth_state))
        return True

    user = FakeUser("alice", state(lifetime_left=-1))  # expired: a new login without the hook
    auth = hooked(keep, closed)
    assert await auth.refresh_user(user) is True
    assert calls == [(auth, "alice", user.auth_state)]

    async def new_login(authenticator, user, auth_state):
        return False

    assert await hooked(new_login, closed).refresh_user(FakeUser("alice", state(lifetime_left=500))) is False

    model = {"name": "alice", "auth_state": {"access_token": "from-the-hook"}}
    assert await hooked(lambda a, u, s: model, closed).refresh_user(FakeUser("alice", None)) is model


async def test_refresh_user_hook_returning_none_leaves_the_decision_to_us():
    calls = []

    def undecided(authenticator, user, auth_state):
        calls.append(user.name)

    auth = hooked(undecided, f"http://127.0.0.1:{free_port()}/token")
    assert await auth.refresh_user(FakeUser("alice", state(lifetime_left=500))) is True  # fresh
    assert await auth.refresh_user(FakeUser("alice", state(lifetime_left=-1))) is False  # expired, IdP down
    assert await auth.refresh_user(FakeUser("alice", None)) is False
    assert calls == ["alice"] * 3


async def test_refresh_user_hook_runs_once_when_the_expiry_is_unknown():
    """Without expiry times our override hands over to upstream's refresh_user, which calls the hook."""
    calls = []

    def keep(authenticator, user, auth_state):
        calls.append(user.name)
        return True

    auth = hooked(keep, f"http://127.0.0.1:{free_port()}/token")
    assert await auth.refresh_user(FakeUser("alice", {"access_token": "at"})) is True
    assert calls == ["alice"]


async def test_refresh_user_hook_errors_are_raised():
    def broken(authenticator, user, auth_state):
        raise ValueError("hook failed")

    with pytest.raises(ValueError, match="hook failed"):
        await hooked(broken, f"http://127.0.0.1:{free_port()}/token").refresh_user(
            FakeUser("alice", state(10))
        )


# ---- a sign-in whose IdP dies during the code exchange ----------------------------------------------


def forged_state(state_id: str) -> str:
    """A state in oauthenticator's format (base64 of JSON with a state_id)."""
    doc = json.dumps({"state_id": state_id, "next_url": ""}).encode()
    return base64.urlsafe_b64encode(doc).decode()


def test_an_idp_gone_during_the_code_exchange_gets_a_clear_error_and_leaves_no_secret_in_the_log(tmp_path):
    users = {"alice": {"password": "alice-pw", "groups": ["datalab-users"]}}
    with run_hub_idp(tmp_path, users) as (idp, secret):
        with run_credentials_hub(
            tmp_path, idp, secret, broker={"s3_mode": "off", "vault_mode": "off"}
        ) as hub:
            browser = requests.Session()
            callback_url = f"{hub.url}/hub/oauth_callback"
            callback = login(
                browser, "alice", "alice-pw", start_url=f"{hub.url}/hub/oauth_login", stop_at=callback_url
            )
            query = parse_qs(urlparse(callback).query)
            code, state = query["code"][0], query["state"][0]
            idp.kill()  # after the redirect with the code, before the hub exchanges it
            r = browser.get(callback, allow_redirects=False, timeout=60)
            # A second sign-in, and a callback whose state is not the browser's (the hub logs a mismatch).
            started = browser.get(f"{hub.url}/hub/oauth_login", allow_redirects=False, timeout=30)
            own_state = parse_qs(urlparse(started.headers["Location"]).query)["state"][0]
            own_id = json.loads(base64_decode(own_state))["state_id"]
            other = forged_state("f" * 32)
            mismatch = browser.get(f"{callback_url}?code=x&state={other}", allow_redirects=False, timeout=30)
            log = hub.log()
            for value in (code, state, own_state, own_id, other, "f" * 32):
                assert value not in log, f"{value[:12]}... is in the hub log"
            assert "oauth_callback" in log  # the requests were logged, scrubbed
            assert r.status_code == 503, r.text[-2000:]
            assert "identity provider" in r.text and idp.issuer in r.text
            assert "Traceback" not in r.text and "Traceback" not in log
            assert mismatch.status_code == 400
            assert hub.alive()
            assert requests.get(f"{hub.url}/hub/health", timeout=30).status_code == 200


def base64_decode(value: str) -> str:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()


# ---- upstream seams ---------------------------------------------------------------------------------


def test_oauthenticator_private_seams_were_checked_on_this_version():
    version = importlib.metadata.version("oauthenticator")
    assert version in OAUTHENTICATOR_CHECKED, (
        f"oauthenticator {version} is installed; hub/auth.py uses {', '.join(UPSTREAM_PRIVATE)} and mirrors "
        "what its module docstring lists: check them in oauthenticator/oauth2.py and generic.py of this "
        "version, then add it to OAUTHENTICATOR_CHECKED"
    )
    signatures = {
        "OAuthenticator._token_to_auth_model": ["self", "token_info"],
        "OAuthenticator._call_refresh_user_hook": ["self", "user", "auth_state"],
    }
    assert sorted(signatures) == sorted(UPSTREAM_PRIVATE)
    for name, params in signatures.items():
        method = getattr(OAuthenticator, name.split(".")[1])
        assert inspect.iscoroutinefunction(method) and list(inspect.signature(method).parameters) == params


async def test_what_hub_auth_mirrors_is_still_upstream_behaviour(monkeypatch):
    # GenericOAuthenticator's client validates certificates as validate_server_cert says.
    assert GenericOAuthenticator(validate_server_cert=False).http_client.defaults["validate_cert"] is False
    # Upstream's endpoint defaults read the OAUTH2_*_URL variables.
    for trait, (_, env) in DISCOVERED.items():
        if env:
            monkeypatch.setenv(env, f"https://sso.example.org/{trait}")
            assert getattr(GenericOAuthenticator(), trait) == f"https://sso.example.org/{trait}"
    # A refusal with an error_description starts with the text refusal_reason relays.
    with provider() as p:
        auth = GenericOAuthenticator(token_url=f"{p.issuer}/token", client_id="c", client_secret="s")
        with pytest.raises(Exception) as refused:
            await auth.get_token_info(None, {"grant_type": "refresh_token", "refresh_token": "rt"})
    assert refusal_reason(refused.value) == "An access token was not returned: grant request is invalid"
