"""A real hub, IdP and OpenBao: login through the form, credentials at spawn and from the renewal endpoint.

One stack for the module (the tests only add users and servers); the faults test stops OpenBao, so it
runs last. The hub log is searched for every secret value seen during the module.
"""

from __future__ import annotations

import json
import os
import re
import stat

import botocore.exceptions
import hvac
import pytest
import requests

from tests.support.credentials_hub import (
    ROLE,
    iam_config,
    own_token,
    run_credentials_hub,
    run_hub_idp,
    signed_in,
)
from tests.support.idp import LoginFailed, login
from tests.support.log_secrets import register_secret
from tests.support.openbao import run_openbao
from tests.support.seaweedfs import run_seaweedfs

USERS = {  # carol is added during the tests
    "alice": {
        "password": "alice-pw",
        "groups": ["datalab-users", "datalab-admins"],
        "email": "alice@example.org",
    },
    "bob": {"password": "bob-pw", "groups": ["datalab-users", "team-b"]},
    "eve": {"password": "eve-pw", "groups": ["outsiders"]},
}
ENDPOINT = "/datalab/credentials"


class Stack:
    def __init__(self, idp, bao, sw, hub, sessions, client_secret):
        self.idp, self.bao, self.sw, self.hub, self.sessions = idp, bao, sw, hub, sessions
        self.client_secret = client_secret
        self.secrets_seen: set[str] = set()
        self.browsers: dict[str, requests.Session] = {}

    def login(self, username: str, password: str | None = None) -> requests.Session:
        s = signed_in(self.hub, username, password or USERS[username]["password"])
        self.browsers[username] = s
        return s

    def auth_state(self, username: str) -> dict:
        r = self.hub.api("GET", f"/users/{username}", params={"include_stopped_servers": "1"})
        r.raise_for_status()
        state = r.json()["auth_state"]
        self.secrets_seen.update(
            state[k] for k in ("access_token", "refresh_token", "id_token") if state.get(k)
        )
        return state

    def user_token(self, username: str, scopes: list[str]) -> str:
        """A token the user asks for themselves (signed in): tokens others ask for get no credentials."""
        browser = self.browsers.get(username) or self.login(username)
        token = own_token(self.hub.url, browser, username, scopes)
        self.secrets_seen.add(token)
        return token

    def credentials(self, token: str) -> requests.Response:
        r = self.hub.api("GET", ENDPOINT, token=token)
        if r.status_code == 200:
            doc = r.json()
            for part, key in (("s3", "secret_access_key"), ("s3", "session_token"), ("vault", "token")):
                if doc.get(part) and doc[part].get(key):
                    self.secrets_seen.add(doc[part][key])
        return r


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("hubcreds")
    with (
        run_hub_idp(work, USERS) as (idp, client_secret),
        run_openbao(work / "bao") as bao,
        run_seaweedfs(work / "weed", iam=iam_config(idp.issuer, "datalab-hub")) as sw,
    ):
        for user in ("alice", "bob"):
            sw.make_bucket(f"user-{user}")
        sw.client().put_object(Bucket="user-bob", Key="private.csv", Body=b"a,b\n1,2\n")
        bao.configure_jwt(issuer=idp.issuer, audience="datalab-hub")
        bao.write_user_secret("alice", "env", {"ALICE_KEY": "alice-value"})
        bao.write_user_secret("bob", "env", {"BOB_KEY": "bob-value"})
        broker = {
            "vault_mode": "required",
            "vault_addr": bao.addr,
            "s3_mode": "required",
            "s3_endpoint": sw.endpoint,
            "s3_role_arn": ROLE,
            "timeout": 5.0,
        }
        with run_credentials_hub(work, idp, client_secret, broker=broker) as hub:
            yield Stack(idp, bao, sw, hub, work / "sessions", client_secret)
            assert hub.alive(), "the hub died during the tests"


def test_login_through_the_form_gives_groups_admin_and_tokens(stack):
    s = stack.login("alice")
    home = s.get(f"{stack.hub.url}/hub/home", timeout=30)
    assert home.status_code == 200 and "alice" in home.text
    r = stack.hub.api("GET", "/users/alice")
    model = r.json()
    assert sorted(model["groups"]) == ["datalab-admins", "datalab-users"]
    assert model["admin"] is True
    state = stack.auth_state("alice")
    assert state["access_token"] and state["refresh_token"] and state["id_token"]
    assert state["oauth_user"]["preferred_username"] == "alice"
    assert state["id_token_expires_at"] > state["tokens_obtained_at"]


def test_user_outside_allowed_groups_is_refused(stack):
    s = requests.Session()
    resp = login(s, "eve", "eve-pw", start_url=f"{stack.hub.url}/hub/oauth_login")
    assert resp.status_code == 403
    assert stack.hub.api("GET", "/users/eve").status_code == 404
    with pytest.raises(LoginFailed):
        login(requests.Session(), "bob", "wrong", start_url=f"{stack.hub.url}/hub/oauth_login")


def test_renewal_endpoint_gives_each_user_only_their_own_credentials(stack):
    stack.login("alice")
    stack.login("bob")
    alice_tok = stack.user_token("alice", ["custom:datalab-credentials:read!user"])
    bob_tok = stack.user_token("bob", ["custom:datalab-credentials:read!user"])
    a = stack.credentials(alice_tok)
    assert a.status_code == 200, a.text
    assert a.headers["Cache-Control"] == "no-store"
    vault = a.json()["vault"]
    assert vault["top_dir"] == "users/alice" and vault["addr"] == stack.bao.addr
    client = hvac.Client(url=stack.bao.addr, token=vault["token"], timeout=5)
    read = client.secrets.kv.v2.read_secret_version(
        path="users/alice/env", mount_point="secret", raise_on_deleted_version=True
    )
    assert read["data"]["data"] == {"ALICE_KEY": "alice-value"}
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.kv.v2.read_secret_version(
            path="users/bob/env", mount_point="secret", raise_on_deleted_version=True
        )
    s3 = a.json()["s3"]
    assert s3["bucket"] == "user-alice" and s3["endpoint"] == stack.sw.endpoint and s3["expiration"]
    c = stack.sw.client(s3["access_key_id"], s3["secret_access_key"], s3["session_token"])
    c.put_object(Bucket="user-alice", Key="data.csv", Body=b"x,y\n")
    assert c.get_object(Bucket="user-alice", Key="data.csv")["Body"].read() == b"x,y\n"
    for call in (
        lambda: c.list_objects_v2(Bucket="user-bob"),
        lambda: c.get_object(Bucket="user-bob", Key="private.csv"),
        lambda: c.put_object(Bucket="user-bob", Key="planted.csv", Body=b"!"),
    ):
        with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
            call()
    b = stack.credentials(bob_tok)
    assert b.json()["vault"]["top_dir"] == "users/bob" and b.json()["vault"]["token"] != vault["token"]
    # There is no way to ask for someone else: query parameters are ignored, the owner decides.
    assert (
        stack.hub.api("GET", ENDPOINT + "?user=bob", token=alice_tok).json()["vault"]["top_dir"]
        == "users/alice"
    )


def test_tokens_without_the_scope_and_services_get_403(stack):
    stack.login("bob")
    plain = stack.user_token("bob", ["read:users:name!user"])
    r = stack.credentials(plain)
    assert r.status_code == 403 and "custom:datalab-credentials:read" in r.json()["message"]
    assert stack.credentials(stack.hub.admin_token).status_code == 403  # a service, even an admin one
    assert stack.hub.api("GET", ENDPOINT, token="not-a-token").status_code == 403


def test_the_browser_cookie_gets_no_credentials(stack):
    """A page in a server bob visits runs in his browser: with his cookie and xsrf it must get nothing."""
    browser = stack.login("bob")
    assert browser.get(f"{stack.hub.url}/hub/home", timeout=30).status_code == 200
    xsrf = browser.cookies.get("_xsrf")
    assert xsrf
    for url in (f"{stack.hub.url}/hub/api{ENDPOINT}", f"{stack.hub.url}/hub/api{ENDPOINT}?force=1"):
        r = browser.get(
            url, headers={"X-XSRFToken": xsrf, "Referer": f"{stack.hub.url}/hub/home"}, timeout=30
        )
        assert r.status_code == 403, r.text
        assert "token" in r.json()["message"] and "secret_access_key" not in r.text
    # The same browser still reaches the rest of the API as bob (only this endpoint refuses cookies).
    me = browser.get(f"{stack.hub.url}/hub/api/user", headers={"X-XSRFToken": xsrf}, timeout=30)
    assert me.status_code == 200 and me.json()["name"] == "bob"


def test_an_admin_cannot_mint_a_token_with_another_users_credentials(stack):
    stack.login("bob")
    admin = stack.user_token("alice", ["tokens", "read:users"])  # alice is an admin: she may make tokens
    before = {t["id"] for t in stack.hub.api("GET", "/users/bob/tokens").json()["api_tokens"]}
    for requester in (admin, stack.hub.admin_token):  # an admin user, and an admin service
        for body in (
            {"scopes": ["custom:datalab-credentials:read!user"]},
            {"scopes": ["custom:datalab-credentials:read!user=bob"]},
            {"scopes": ["inherit"]},
            {},  # JupyterHub's default token inherits all of bob's scopes
        ):
            r = stack.hub.api("POST", "/users/bob/tokens", token=requester, json=body)
            assert r.status_code == 403, (body, r.text)
            assert "allow_granting_to_others" in r.json()["message"]
    after = {t["id"] for t in stack.hub.api("GET", "/users/bob/tokens").json()["api_tokens"]}
    assert after == before, "a refused request created a token"
    # Tokens for other purposes are still the admin's to make; they get no credentials.
    r = stack.hub.api("POST", "/users/bob/tokens", token=admin, json={"scopes": ["read:users:name!user"]})
    assert r.status_code == 201, r.text
    stack.secrets_seen.add(r.json()["token"])
    assert stack.credentials(r.json()["token"]).status_code == 403
    assert "Refused: user alice asked for a token of bob holding" in stack.hub.log()


def test_forced_renewals_are_limited_per_user_and_every_issue_is_logged(stack):
    stack.login("alice")
    stack.login("bob")
    tok = stack.user_token("alice", ["custom:datalab-credentials:read!user"])
    forced = [stack.hub.api("GET", ENDPOINT + "?force=1", token=tok) for _ in range(6)]
    for r in forced:
        if r.status_code == 200:
            stack.credentials(tok)  # record the secrets the tests saw
    assert [r.status_code for r in forced[:5]] == [200] * 5
    refused = forced[5]
    assert refused.status_code == 429, refused.text
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert "too many forced renewals for alice" in refused.json()["message"]
    assert "secret_access_key" not in refused.text
    keys = {r.json()["s3"]["access_key_id"] for r in forced[:5]}
    assert len(keys) == 5  # each forced renewal minted new keys: that is what the limit bounds
    assert stack.credentials(tok).status_code == 200  # unforced (cached) renewals go on
    bob = stack.user_token("bob", ["custom:datalab-credentials:read!user"])
    assert stack.hub.api("GET", ENDPOINT + "?force=1", token=bob).status_code == 200  # per user
    ids = {t["id"] for t in stack.hub.api("GET", "/users/alice/tokens").json()["api_tokens"]}
    given = re.findall(
        r"Credentials of alice given to token (a\d+) \(note 'test'\) of alice \(forced renewal\)",
        stack.hub.log(),
    )
    assert len(given) >= 5 and set(given) <= ids, given


def test_an_oversized_spawn_request_is_refused_before_it_is_read(stack):
    stack.login("bob")
    db = stack.hub.workdir / "jupyterhub.sqlite"
    size_before = db.stat().st_size
    filler = "z" * 2_000_000
    r = stack.hub.api("POST", "/users/bob/server", json={"notes": filler})
    assert r.status_code == 413, r.text[:300]
    assert "at most 65536" in r.json()["message"] and len(r.text) < 400
    assert stack.hub.server("bob") is None
    assert db.stat().st_size < size_before + 100_000, "the refused options reached the database"
    assert "z" * 100 not in stack.hub.log() and "Refused a spawn request of" in stack.hub.log()


def test_spawn_puts_credentials_in_a_0600_file_and_the_server_token_renews_them(stack):
    stack.login("alice")
    r = stack.hub.api("POST", "/users/alice/server")
    assert r.status_code in (201, 202), r.text
    stack.hub.wait_server("alice")
    home = stack.sessions / "alice"
    creds_file = home / "credentials.json"
    assert stat.S_IMODE(os.stat(creds_file).st_mode) == 0o600
    doc = json.loads(creds_file.read_text())
    stack.secrets_seen.add(doc["vault"]["token"])
    env = json.loads((home / "env.json").read_text())
    assert (
        env["VAULT_ADDR"] == stack.bao.addr
        and env["VAULT_MOUNT"] == "secret"
        and env["VAULT_TOP_DIR"] == "users/alice"
    )
    assert env["AWS_ENDPOINT_URL"] == stack.sw.endpoint and env["DATALAB_S3_BUCKET"] == "user-alice"
    assert env["DATALAB_CREDENTIALS_FILE"].endswith("credentials.json")
    stack.secrets_seen.update([doc["s3"]["secret_access_key"], doc["s3"]["session_token"]])
    for value in (doc["vault"]["token"], doc["s3"]["secret_access_key"], doc["s3"]["session_token"]):
        assert value not in json.dumps(env)
    # What the session finds in its file works for its user's bucket and Vault folder.
    s3 = doc["s3"]
    c = stack.sw.client(s3["access_key_id"], s3["secret_access_key"], s3["session_token"])
    c.put_object(Bucket=s3["bucket"], Key="from-session.txt", Body=b"ok")
    assert c.get_object(Bucket=s3["bucket"], Key="from-session.txt")["Body"].read() == b"ok"
    v = hvac.Client(url=doc["vault"]["addr"], token=doc["vault"]["token"], timeout=5)
    secret = v.secrets.kv.v2.read_secret_version(
        path=f"{doc['vault']['top_dir']}/env",
        mount_point=doc["vault"]["mount"],
        raise_on_deleted_version=True,
    )
    assert secret["data"]["data"] == {"ALICE_KEY": "alice-value"}
    server_token = (home / "api_token").read_text()
    stack.secrets_seen.add(server_token)
    renewed = stack.credentials(server_token)
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["vault"]["top_dir"] == "users/alice"
    stack.hub.api("DELETE", "/users/alice/server")
    stack.hub.wait_server("alice", ready=False)


def test_vault_unreachable_gives_clear_errors_and_the_hub_stays_up(stack):
    """Runs last in the module: it stops OpenBao."""
    stack.login("bob")
    tok = stack.user_token("bob", ["custom:datalab-credentials:read!user"])
    assert stack.credentials(tok).status_code == 200  # cached from before, or minted now
    stack.bao.stop()
    forced = stack.hub.api("GET", ENDPOINT + "?force=1", token=tok)
    assert forced.status_code == 503
    assert "Vault token for bob" in forced.json()["message"] and "unreachable" in forced.json()["message"]
    # bob's cached credentials still serve his spawn (sessions keep working); carol, new, cannot start.
    stack.idp.set_users({**USERS, "carol": {"password": "carol-pw", "groups": ["datalab-users"]}})
    stack.login("carol", "carol-pw")
    r = stack.hub.api("POST", "/users/carol/server")
    assert r.status_code == 503, r.text
    assert r.json()["message"].startswith("Cannot start: Vault token for carol")
    assert stack.hub.server("carol") is None
    log = stack.hub.log()
    assert "Cannot start: Vault token for carol" in log
    assert stack.hub.alive()
    assert stack.hub.api("GET", "/users/bob").status_code == 200


def test_no_secret_value_in_the_hub_log(stack):
    for user in ("alice", "bob", "carol"):
        stack.auth_state(user)
    register_secret(*stack.secrets_seen)  # and every other log of the run (tests/conftest.py)
    log = stack.hub.log() + stack.idp.log()
    assert len(stack.secrets_seen) >= 12
    leaked = [v[:6] + "..." for v in stack.secrets_seen if v in log]
    assert not leaked, f"secret values in the hub log: {leaked}"
    assert stack.client_secret not in log
