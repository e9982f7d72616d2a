"""The renewal endpoint's lean token lookup gives what JupyterHub's own APIToken.find gives, on a real
JupyterHub database (JupyterHub's ORM on SQLite): valid, expired, revoked, wrong and stale tokens."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from jupyterhub import orm

from hub.credentials.token_lookup import find_token


@pytest.fixture
def db():
    session = orm.new_session_factory("sqlite:///:memory:")()
    session.add(orm.OAuthClient(identifier="jupyterhub"))
    session.add(orm.User(name="alice"))
    session.commit()
    yield session
    session.close()


def new_token(db, value: str | None = None, **kwargs) -> str:
    alice = orm.User.find(db, "alice")
    return alice.new_api_token(token=value, scopes=["inherit"], **kwargs)


def test_each_token_is_found_as_upstream_finds_it_even_when_tokens_share_a_prefix(db):
    generated = new_token(db, note="generated")
    twins = [new_token(db, "abcd" + secrets.token_hex(16), note=f"twin {i}") for i in range(2)]
    for value in [generated, *twins]:
        found = find_token(db, value)
        assert found is not None and found is orm.APIToken.find(db, value)
    assert find_token(db, twins[0]).note == "twin 0" and find_token(db, twins[1]).note == "twin 1"
    assert find_token(db, "abcd" + secrets.token_hex(16)) is None  # the prefix alone finds nothing
    assert find_token(db, generated[:-1] + ("0" if generated[-1] != "0" else "1")) is None


def test_expired_and_revoked_tokens_are_not_found(db):
    expired, revoked = new_token(db, expires_in=3600), new_token(db)
    assert find_token(db, expired) is not None and find_token(db, revoked) is not None  # now held loaded
    orm.APIToken.find(db, expired).expires_at = orm.APIToken.now() - timedelta(seconds=1)
    db.delete(orm.APIToken.find(db, revoked))
    db.commit()
    for value in (expired, revoked):
        assert orm.APIToken.find(db, value) is None
        assert find_token(db, value) is None


def test_a_stale_token_without_client_is_deleted_as_upstream_does(db):
    stale = new_token(db)
    orm.APIToken.find(db, stale).client_id = None
    db.commit()
    assert find_token(db, stale) is None
    assert db.query(orm.APIToken).count() == 0  # upstream's find deleted it
