"""The development IdP: passwords checked, groups in the ID token, refresh tokens (a reuse grace for lost
replies), keys surviving a restart."""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests

from tests.support.idp import LoginFailed, node_available, run_idp

pytestmark = pytest.mark.skipif(
    not node_available(), reason="node or hub/idp/node_modules missing (run scripts/bootstrap.sh)"
)

USERS = {
    "alice": {"password": "alice-pw", "groups": ["datalab-users", "team-a"], "email": "alice@example.org"},
    # made with: echo -n 'hashed pw' | node hub/idp/idp.js hash-password
    "hugo": {
        "password": "scrypt$OObGA8nI7fFwnvOBJ02Cmg==$v6RxLELSVWs3rNFz9vYnGc0YXNkBjEMiJkQ6sn57TnAT418c54v0pF9j98BAdmm5yfo+3TiPxleMQDRcmdvcHQ=="
    },
}


def claims(jwt: str) -> dict:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    with run_idp(tmp_path_factory.mktemp("idp"), users=dict(USERS)) as idp:
        yield idp


def test_sign_in_gives_id_token_with_groups_and_username(idp):
    tokens = idp.tokens("alice", "alice-pw")
    c = claims(tokens["id_token"])
    assert c["iss"] == idp.issuer
    assert c["preferred_username"] == "alice"
    assert c["groups"] == ["datalab-users", "team-a"]
    assert tokens["refresh_token"]
    me = requests.get(
        f"{idp.issuer}/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=10
    )
    assert me.json()["groups"] == ["datalab-users", "team-a"]


def test_scrypt_hashed_passwords_are_checked(idp):
    assert claims(idp.tokens("hugo", "hashed pw")["id_token"])["groups"] == []
    with pytest.raises(LoginFailed):
        idp.tokens("hugo", USERS["hugo"]["password"])  # the hash itself is not a password


def test_wrong_password_and_unknown_user_are_refused(idp):
    with pytest.raises(LoginFailed):
        idp.tokens("alice", "not-her-password")
    with pytest.raises(LoginFailed):
        idp.tokens("mallory", "alice-pw")


def test_tokens_survive_restart_and_users_file_is_reread(idp):
    tokens = idp.tokens("alice", "alice-pw")
    kid_before = requests.get(f"{idp.issuer}/jwks", timeout=10).json()["keys"][0]["kid"]
    idp.restart()
    assert requests.get(f"{idp.issuer}/jwks", timeout=10).json()["keys"][0]["kid"] == kid_before
    refreshed = idp.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    # A changed users.yaml is seen without a restart: new groups on the next refresh, removal kills refresh.
    idp.set_users({**USERS, "alice": {**USERS["alice"], "groups": ["team-b"]}})
    again = idp.refresh(refreshed.json()["refresh_token"])
    assert claims(again.json()["id_token"])["groups"] == ["team-b"]
    idp.set_users({})
    dead = idp.refresh(again.json()["refresh_token"])
    assert dead.status_code == 400 and dead.json()["error"] == "invalid_grant"
    idp.set_users(dict(USERS))


def test_authorization_without_pkce_is_refused(idp):
    from tests.support.idp import TEST_REDIRECT

    params = {
        "client_id": idp.test_client_id,
        "response_type": "code",
        "redirect_uri": TEST_REDIRECT,
        "scope": "openid",
    }
    r = requests.get(f"{idp.issuer}/auth", params=params, allow_redirects=False, timeout=10)
    assert r.status_code in (302, 303) and r.headers["Location"].startswith(TEST_REDIRECT)
    assert "error=invalid_request" in r.headers["Location"] and "PKCE" in r.headers["Location"]


def test_a_rotated_refresh_token_may_be_reused_within_the_grace_and_never_after(tmp_path):
    """A lost reply can be retried with the same refresh token for a while; a later reuse is treated as
    theft: the whole grant is revoked, the newer refresh tokens with it."""
    with run_idp(tmp_path, users=dict(USERS), refresh_token_reuse_grace=2) as idp:
        first = idp.tokens("alice", "alice-pw")["refresh_token"]
        lost = idp.refresh(first)  # used up; say its reply never reached the client
        assert lost.status_code == 200 and lost.json()["refresh_token"] != first
        retried = idp.refresh(first)
        assert retried.status_code == 200, retried.text
        newest = retried.json()["refresh_token"]
        time.sleep(3.5)  # past the grace, counted from the first use
        late = idp.refresh(first)
        assert late.status_code == 400 and late.json()["error"] == "invalid_grant"
        assert idp.refresh(newest).status_code == 400  # the grant is gone

        # Without a grace (0), the first reuse already revokes the grant.
        idp.stop()
        idp.ttl["refresh-token-reuse-grace"] = 0
        idp.start()
        strict = idp.tokens("alice", "alice-pw")["refresh_token"]
        assert idp.refresh(strict).status_code == 200
        assert idp.refresh(strict).status_code == 400


def test_the_default_grace_covers_a_retry_after_a_restart(idp):
    """The hub retries a refresh whose reply was lost once the IdP is back (e.g. restarted after a crash)."""
    first = idp.tokens("alice", "alice-pw")["refresh_token"]
    assert idp.refresh(first).status_code == 200
    idp.restart()
    retried = idp.refresh(first)
    assert retried.status_code == 200, retried.text
    assert idp.refresh(retried.json()["refresh_token"]).status_code == 200
