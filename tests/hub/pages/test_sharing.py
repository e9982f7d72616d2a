"""Sharing a running server through JupyterHub's sharing API, checked with real requests as the other
user against a real jupyterhub-singleuser (which asks the hub who is calling); and the group-share patch
of JupyterHub's scopes, applied on the versions that drop group shares from tokens only (checked on the
installed JupyterHub in-process, so `make test-z2jh` checks the chart's version too)."""

from __future__ import annotations

import html
import re

import jupyterhub
import pytest
from jupyterhub import orm, roles, scopes

from hub.pages.sharing import GROUP_SHARES_DROPPED, fix_group_share_tokens, group_shares_dropped
from tests.hub.pages.support import pages_hub, real_sessions

SHARE = "access:servers!server=ann/shared"


# ---- the patch, on an in-memory JupyterHub database ---------------------------------------------------


@pytest.fixture
def unpatched():
    """JupyterHub's own roles_to_expanded_scopes during the test, the current one after (it is global)."""
    current = roles.roles_to_expanded_scopes
    roles.roles_to_expanded_scopes = getattr(current, "__wrapped__", current)
    try:
        yield roles.roles_to_expanded_scopes
    finally:
        roles.roles_to_expanded_scopes = current


def scopes_after_a_group_share() -> dict[str, set]:
    """ann shares her server `shared` with group g (ben); what JupyterHub resolves for ben's token, for ben
    himself and for abe's token (not in g)."""
    db = orm.new_session_factory("sqlite://")()
    ann, ben, abe = orm.User(name="ann"), orm.User(name="ben"), orm.User(name="abe")
    db.add_all([ann, ben, abe, orm.OAuthClient(identifier="jupyterhub")])
    db.commit()
    server = orm.Spawner(user=ann, name="shared")
    group = orm.Group(name="g")
    group.users.append(ben)
    db.add_all([server, group])
    db.commit()
    orm.Share.grant(db, server, group)

    def token_of(user):
        return orm.APIToken.find(db, user.new_api_token(scopes=["inherit"]))

    try:
        return {
            "ben's token": set(scopes.get_scopes_for(token_of(ben))),
            "ben": set(scopes.get_scopes_for(ben)),
            "abe's token": set(scopes.get_scopes_for(token_of(abe))),
        }
    finally:
        db.close()


def test_the_versions_with_the_bug():
    assert GROUP_SHARES_DROPPED == ((5, 0), (6, 1))
    for version in [(5, 0, 0, "", ""), (5, 5, 0, "", ""), (6, 1, 1, "", "")]:
        assert group_shares_dropped(version)
    for version in [(4, 1, 6, "", ""), (6, 2, 0, "", ""), (7, 0, 0, "", "")]:
        assert not group_shares_dropped(version)


def test_the_patch_is_applied_only_where_the_bug_is(unpatched):
    assert fix_group_share_tokens((6, 2, 0, "", "")) is False
    assert roles.roles_to_expanded_scopes is unpatched
    assert fix_group_share_tokens((5, 5, 0, "", "")) is True
    patched = roles.roles_to_expanded_scopes
    assert patched is not unpatched and patched.__wrapped__ is unpatched
    assert fix_group_share_tokens((5, 5, 0, "", "")) is True and roles.roles_to_expanded_scopes is patched


def test_the_installed_jupyterhub_drops_group_shares_exactly_where_the_gate_says(unpatched):
    before = scopes_after_a_group_share()
    dropped = SHARE not in before["ben's token"]
    assert SHARE in before["ben"]  # the user's own scopes have it: only tokens lose it
    assert dropped == group_shares_dropped(), (
        f"JupyterHub {jupyterhub.__version__} {'drops' if dropped else 'keeps'} group shares in tokens: "
        "update GROUP_SHARES_DROPPED in hub/pages/sharing.py"
    )
    assert fix_group_share_tokens() is dropped
    after = scopes_after_a_group_share()
    assert SHARE in after["ben's token"]
    assert after["ben"] == before["ben"]  # the user branch: the same set again
    assert SHARE not in after["abe's token"]  # nobody outside the group


# ---- a real hub and real sessions ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with pages_hub(tmp_path_factory.mktemp("sharing")) as handle:
        with real_sessions(handle.emu):
            r = handle.spawn("ann", {"service": "jupyter-python"}, "shared")
            assert r.status_code in (201, 202), r.text
            handle.wait_server("ann", "shared")
        yield handle


def token(hub, user: str) -> str:
    """A fresh token (the session caches what the hub says about a token for a few minutes)."""
    r = hub.api("POST", f"/users/{user}/tokens", json={"note": "sharing test", "expires_in": 600})
    r.raise_for_status()
    return r.json()["token"]


def status_as(hub, user: str) -> int:
    return hub.get("/user/ann/shared/api/status", token=token(hub, user), allow_redirects=False).status_code


@pytest.mark.e2e
def test_share_with_a_user_then_revoke(hub):
    assert status_as(hub, "ann") == 200
    assert status_as(hub, "abe") == 403

    ann = token(hub, "ann")
    r = hub.api("POST", "/shares/ann/shared", token=ann, json={"user": "abe"})
    assert r.status_code == 200, r.text
    assert r.json()["scopes"] == ["access:servers!server=ann/shared"]
    assert status_as(hub, "abe") == 200
    assert status_as(hub, "ben") == 403  # only abe
    # abe reaches the server, not ann's account
    assert hub.api("GET", "/users/ann/tokens", token=token(hub, "abe")).status_code in (403, 404)

    r = hub.api("PATCH", "/shares/ann/shared", token=ann, json={"user": "abe"})
    assert r.status_code == 200, r.text
    assert status_as(hub, "abe") == 403


@pytest.mark.e2e
def test_share_with_a_group_then_revoke(hub):
    ann = token(hub, "ann")
    r = hub.api("POST", "/shares/ann/shared", token=ann, json={"group": "event-b"})
    assert r.status_code == 200, r.text
    assert status_as(hub, "ben") == 200
    assert status_as(hub, "abe") == 403
    shares = hub.api("GET", "/shares/ann/shared", token=ann).json()["items"]
    assert [(s["kind"], s["group"]["name"]) for s in shares] == [("group", "event-b")]
    assert hub.api("PATCH", "/shares/ann/shared", token=ann, json={"group": "event-b"}).status_code == 200
    assert status_as(hub, "ben") == 403


@pytest.mark.e2e
def test_only_the_owner_shares_their_server(hub):
    r = hub.api("POST", "/shares/ann/shared", token=token(hub, "abe"), json={"user": "abe"})
    assert r.status_code in (403, 404), r.text
    assert status_as(hub, "abe") == 403


@pytest.mark.e2e
def test_a_group_member_gets_in_through_the_browser_login(hub):
    """The OAuth path a browser takes (the server's own token for the visitor), for a group share."""
    ann = token(hub, "ann")
    assert hub.api("POST", "/shares/ann/shared", token=ann, json={"group": "event-b"}).status_code == 200
    try:
        ben = hub.login("ben")
        consent = ben.get(hub.url + "/user/ann/shared/lab", timeout=30)
        assert consent.status_code == 200 and "/hub/api/oauth2/authorize" in consent.url
        form = re.search(r"<form[^>]*>.*?</form>", consent.text, re.S).group(0)
        fields = [(n, html.unescape(v)) for n, v in re.findall(r'name="([^"]+)"[^>]*value="([^"]*)"', form)]
        assert ("scopes", "access:servers!server=ann/shared") in fields
        accepted = ben.post(consent.url, data=fields, timeout=60)
        assert accepted.status_code == 200 and accepted.url.startswith(hub.url + "/user/ann/shared/")
        status = ben.get(hub.url + "/user/ann/shared/api/status", timeout=30)
        assert status.status_code == 200 and "started" in status.json()
    finally:
        hub.api("PATCH", "/shares/ann/shared", token=ann, json={"group": "event-b"})


def test_the_share_page_says_a_visitor_acts_as_the_owner(hub):
    r = hub.login("ann").get(hub.url + "/hub/datalab/share/shared", timeout=30)
    assert r.status_code == 200, r.text
    text = " ".join(re.sub(r"<[^>]+>", " ", html.unescape(r.text)).split())
    assert "act as you" in text and "your S3 buckets, your projects' data and your Vault secrets" in text
    assert "do not get your hub account, your credentials" not in text
