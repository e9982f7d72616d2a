"""DatalabOAuthenticator.refresh_user decisions without a hub: fresh tokens are kept, an unavailable IdP does
not log anyone out while their tokens last, a refusing IdP does; OIDC discovery fills the endpoints."""

from __future__ import annotations

import time

import pytest

from hub.auth import DatalabOAuthenticator, jwt_claims, refusal_reason, still_valid, token_expiries
from tests.support.idp import node_available, run_idp
from tests.support.procs import free_port


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
    return DatalabOAuthenticator(
        client_id="c", client_secret="s", token_url=token_url, userdata_url=token_url, authorize_url=token_url
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


async def test_unavailable_idp_keeps_valid_tokens_but_not_expired_ones():
    auth = authenticator(f"http://127.0.0.1:{free_port()}/token")
    assert await auth.refresh_user(FakeUser("alice", state(lifetime_left=10))) is True  # due, still valid
    assert await auth.refresh_user(FakeUser("alice", state(lifetime_left=-1))) is False  # expired
    assert await auth.refresh_user(FakeUser("alice", None)) is False


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


def test_discovery_failure_names_the_issuer():
    issuer = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RuntimeError, match=f"OIDC discovery failed for issuer '{issuer}'"):
        DatalabOAuthenticator(oidc_issuer=issuer, oidc_discovery_timeout=0.5)
