"""Sharing a running server through JupyterHub's sharing API, checked with real requests as the other
user against a real jupyterhub-singleuser (which asks the hub who is calling)."""

from __future__ import annotations

import html
import re

import pytest

from tests.hub.pages.support import pages_hub, real_sessions

pytestmark = pytest.mark.e2e


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


def test_only_the_owner_shares_their_server(hub):
    r = hub.api("POST", "/shares/ann/shared", token=token(hub, "abe"), json={"user": "abe"})
    assert r.status_code in (403, 404), r.text
    assert status_as(hub, "abe") == 403


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
