"""Token refresh with short lifetimes: refreshed before expiry, groups follow the IdP, a dead refresh token
means a new login (endpoint 401, browser sent to the login page), never a silently broken session; an IdP
that crashes while answering a refresh costs nobody their sign-in."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from hub.auth import needs_refresh
from tests.support.credentials_hub import (
    HUB_CLIENT_ID,
    own_token,
    run_credentials_hub,
    run_hub_idp,
    signed_in,
)
from tests.support.idp import login, lossy_proxy
from tests.support.openbao import run_openbao

TTL = 10  # seconds of access and id tokens
MARGIN = 5  # refresh when less than this is left
USERS = {
    "alice": {"password": "alice-pw", "groups": ["datalab-users"]},
    "bob": {"password": "bob-pw", "groups": ["datalab-users"]},
    "carol": {"password": "carol-pw", "groups": ["datalab-users"]},
}
ENDPOINT = "/datalab/credentials"
SCOPES = ["custom:datalab-credentials:read!user"]


def test_refresh_margin_is_a_fraction_of_the_lifetime_with_a_floor():
    state = {"tokens_obtained_at": 0.0, "access_token_expires_at": 100.0, "id_token_expires_at": 100.0}
    assert needs_refresh(state, 70, fraction=0.25, min_margin=5) is False
    assert needs_refresh(state, 76, fraction=0.25, min_margin=5) is True
    assert needs_refresh(state, 70, fraction=0.1, min_margin=40) is True
    assert needs_refresh({"access_token": "x"}, 0, fraction=0.25, min_margin=5) is None  # nothing known


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("refresh")
    with (
        run_hub_idp(work, USERS, access_token_ttl=TTL) as (idp, secret),
        run_openbao(work / "bao") as bao,
    ):
        bao.configure_jwt(issuer=idp.issuer, audience=HUB_CLIENT_ID, strict_expiry=True)
        with run_credentials_hub(
            work,
            idp,
            secret,
            broker={"vault_mode": "required", "vault_addr": bao.addr, "timeout": 5.0},
            authenticator={"refresh_min_margin": MARGIN, "auth_refresh_age": 1},
        ) as hub:
            yield idp, hub, secret
            assert hub.alive()


def auth_state(hub, user):
    return hub.api("GET", f"/users/{user}").json()["auth_state"]


def test_tokens_refresh_before_expiry_and_a_dead_refresh_token_forces_a_new_login(stack):
    idp, hub, secret = stack
    browsers = {user: signed_in(hub, user, USERS[user]["password"]) for user in USERS}
    tokens = {u: own_token(hub.url, browsers[u], u, SCOPES) for u in USERS}
    first = {u: auth_state(hub, u) for u in USERS}

    # Fresh tokens are used as they are: no refresh yet.
    assert hub.api("GET", ENDPOINT, token=tokens["alice"]).status_code == 200
    assert auth_state(hub, "alice")["id_token"] == first["alice"]["id_token"]

    # bob's session is revoked at the IdP (e.g. by an administrator); alice changes groups there.
    revoke = requests.post(
        idp.metadata()["revocation_endpoint"],
        data={"token": first["bob"]["refresh_token"], "token_type_hint": "refresh_token"},
        auth=(HUB_CLIENT_ID, secret),
        timeout=10,
    )
    assert revoke.status_code == 200
    # carol leaves the allowed group.
    idp.set_users(
        {
            **USERS,
            "alice": {**USERS["alice"], "groups": ["datalab-users", "team-x"]},
            "carol": {**USERS["carol"], "groups": ["alumni"]},
        }
    )

    time.sleep(max(0.0, first["alice"]["id_token_expires_at"] - MARGIN - time.time()) + 0.5)
    r = hub.api("GET", ENDPOINT, token=tokens["alice"])
    assert r.status_code == 200, r.text
    second = auth_state(hub, "alice")
    assert second["id_token"] != first["alice"]["id_token"]
    assert second["refresh_token"] != first["alice"]["refresh_token"]  # rotated
    assert second["tokens_obtained_at"] < first["alice"]["id_token_expires_at"]  # before expiry
    assert sorted(hub.api("GET", "/users/alice").json()["groups"]) == ["datalab-users", "team-x"]

    # bob and carol logged in after alice: wait until their tokens are due for refresh too.
    due = max(first[u]["id_token_expires_at"] for u in ("bob", "carol")) - MARGIN
    time.sleep(max(0.0, due - time.time()) + 0.5)
    # bob: the renewal endpoint says to log in again; his browser is sent to the login page.
    r = hub.api("GET", ENDPOINT, token=tokens["bob"])
    assert r.status_code == 401 and "log in" in r.json()["message"]
    home = browsers["bob"].get(f"{hub.url}/hub/home", allow_redirects=False, timeout=30)
    assert home.status_code == 302 and "/hub/login" in home.headers["Location"]
    assert "refused to refresh bob's sign-in" in hub.log()
    # carol is no longer allowed: her token stops giving credentials and a new login is refused.
    r = hub.api("GET", ENDPOINT, token=tokens["carol"])
    assert r.status_code == 401, r.text
    relogin = login(requests.Session(), "carol", "carol-pw", start_url=f"{hub.url}/hub/oauth_login")
    assert relogin.status_code == 403
    # After logging in again everything works.
    signed_in(hub, "bob", "bob-pw")
    assert hub.api("GET", ENDPOINT, token=tokens["bob"]).status_code == 200


# ---- the IdP crashes while answering a refresh -------------------------------------------------------
CRASH_TTL = 6  # seconds of access and id tokens


@pytest.fixture(scope="module")
def lossy_stack(tmp_path_factory):
    """The hub asks the dev IdP (default settings) for tokens through a proxy that can lose replies."""
    work = tmp_path_factory.mktemp("lost-refresh")
    users = {"dora": {"password": "dora-pw", "groups": ["datalab-users"]}}
    with (
        run_hub_idp(work, users, access_token_ttl=CRASH_TTL) as (idp, secret),
        lossy_proxy(idp.port) as proxy,
    ):
        authenticator = {
            "token_url": f"{proxy.url}/token",
            "refresh_min_margin": 2,
            "auth_refresh_age": 1,
            "refresh_retry_timeout": 90.0,  # a loaded machine restarts the IdP slowly
        }
        broker = {"s3_mode": "off", "vault_mode": "off"}
        with run_credentials_hub(work, idp, secret, broker=broker, authenticator=authenticator) as hub:
            yield idp, proxy, hub
            assert hub.alive()


def wait_for_expiry(state: dict) -> None:
    time.sleep(max(0.0, state["id_token_expires_at"] - time.time()) + 0.5)


def test_an_idp_crash_while_answering_a_refresh_costs_no_sign_in(lossy_stack):
    idp, proxy, hub = lossy_stack
    browser = signed_in(hub, "dora", "dora-pw")
    first = auth_state(hub, "dora")
    wait_for_expiry(first)  # the next request must refresh: the current tokens are of no use any more

    def crash():
        """The IdP has used up the refresh token and answered; it dies before the reply leaves."""
        idp.kill()
        threading.Thread(target=idp.start, daemon=True).start()  # back a little later, as supervised

    proxy.lose_next(b"grant_type=refresh_token", then=crash)
    home = browser.get(f"{hub.url}/hub/home", allow_redirects=False, timeout=120)
    assert len(proxy.lost) == 1
    assert home.status_code == 200, (home.status_code, home.headers.get("Location"), hub.log()[-3000:])
    second = auth_state(hub, "dora")
    assert second["refresh_token"] != first["refresh_token"]
    assert second["id_token_expires_at"] > time.time()

    # The sign-in goes on: the next refresh, with the token the retry got, works too.
    wait_for_expiry(second)
    home = browser.get(f"{hub.url}/hub/home", allow_redirects=False, timeout=120)
    assert home.status_code == 200, (home.status_code, home.headers.get("Location"), hub.log()[-3000:])
    assert auth_state(hub, "dora")["refresh_token"] != second["refresh_token"]
