"""The broker (hub.credentials.broker): modes, reuse of cached credentials, the document it builds (read by the
session with the same models), and no secret in its logs. Static keys: no server needed."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest
from traitlets import TraitError

from hub.credentials.broker import CredentialBroker, still_fresh
from jupyter_s3_ext.credentials.document import CacheDocument, CredentialsDocument
from jupyter_s3_ext.credentials.model import credential_process_output

STATIC = dict(
    s3_mode="required",
    s3_endpoint="http://127.0.0.1:9",
    s3_static_access_key_id="AK",
    s3_static_secret_access_key="SK-value",
)


def test_reuse_until_most_of_the_lifetime_is_spent():
    issued = 1000.0
    exp = datetime.fromtimestamp(issued + 100, UTC)
    assert still_fresh(issued, exp, issued + 40, 0.5)
    assert not still_fresh(issued, exp, issued + 60, 0.5)
    assert not still_fresh(issued, exp, issued + 101, 1.5)  # never past expiry
    assert still_fresh(issued, None, issued + 1e9, 0.5)  # static keys never expire


def test_modes_are_an_enum_and_a_bad_one_is_refused_with_its_name():
    with pytest.raises(TraitError, match="s3_mode.*'off', 'optional', 'required'"):
        CredentialBroker(s3_mode="sometimes")
    with pytest.raises(TraitError, match="vault_mode"):
        CredentialBroker(vault_mode="Required")
    assert CredentialBroker().s3_mode == "off" and not CredentialBroker().enabled


async def test_static_s3_keys_fallback():
    broker = CredentialBroker(**STATIC)
    doc = await broker.credentials("alice", None)
    assert isinstance(doc, CredentialsDocument)
    assert doc.s3.access_key_id == "AK" and doc.s3.bucket == "user-alice" and doc.s3.expiration is None
    assert doc.s3.prefix is None and doc.s3.session_token is None and doc.vault is None
    env = broker.session_env("alice")
    assert env["AWS_S3_ENDPOINT"] == "127.0.0.1:9" and env["DATALAB_S3_BUCKET"] == "user-alice"
    assert "SK-value" not in json.dumps(env)
    assert (
        "DATALAB_S3_BROWSER_ENDPOINT" not in env
    )  # no endpoint for browsers: uploads go through the session


def test_the_browser_endpoint_reaches_sessions_only_when_set():
    broker = CredentialBroker(**STATIC, s3_browser_endpoint="https://s3.example.org")
    assert broker.session_env("alice")["DATALAB_S3_BROWSER_ENDPOINT"] == "https://s3.example.org"
    broker.s3_mode = "off"
    assert "DATALAB_S3_BROWSER_ENDPOINT" not in broker.session_env("alice")


async def test_the_session_reads_the_brokers_document_with_the_same_models():
    hub_doc = await CredentialBroker(**STATIC, s3_prefix_template="users/{username}/").credentials(
        "alice", None
    )
    wire = json.loads(json.dumps(hub_doc.to_json()))  # what the endpoint answers and credentials.json holds
    assert wire["s3"]["secret_access_key"] == "SK-value" and wire == {
        "s3": {
            "access_key_id": "AK",
            "secret_access_key": "SK-value",
            "session_token": None,
            "expiration": None,
            "endpoint": "http://127.0.0.1:9",
            "region": "us-east-1",
            "bucket": "user-alice",
            "prefix": "users/alice/",
        },
        "vault": None,
        "warnings": [],
    }
    session = CacheDocument.parse(wire, source="hub")
    assert CredentialsDocument.parse(session.to_json(), source="cache") == hub_doc
    assert credential_process_output(session.s3) == {
        "Version": 1,
        "AccessKeyId": "AK",
        "SecretAccessKey": "SK-value",
    }


async def test_no_secret_in_the_brokers_logs_or_the_documents_repr(caplog):
    broker = CredentialBroker(**STATIC, vault_mode="optional", vault_addr="", timeout=3)
    with caplog.at_level(logging.DEBUG):
        doc = await broker.credentials("alice", None)
        broker.log.info("document: %s / %r", doc, doc)
    assert "Minted s3 credentials for alice (expire never)" in caplog.text
    assert "Optional vault credentials for alice unavailable" in caplog.text and doc.warnings
    for text in (caplog.text, repr(doc), str(doc), doc.model_dump_json()):
        assert "SK-value" not in text


async def test_cached_credentials_are_reused_and_force_or_forget_mints_again():
    broker = CredentialBroker(**STATIC)
    first = await broker.credentials("alice", None)
    assert (await broker.credentials("alice", None)).s3 is first.s3
    assert (await broker.credentials("alice", None, force=True)).s3 is not first.s3
    broker.forget("alice")
    assert (await broker.credentials("alice", None)).s3 is not first.s3


async def test_the_id_token_is_only_asked_for_when_something_is_minted():
    """The renewal endpoint hands a coroutine function: reading the id_token decrypts auth_state, which a
    renewal served from the cache (nearly all of them) never needs."""
    asked = []

    async def id_token():
        asked.append(1)
        return None

    broker = CredentialBroker(**STATIC)
    first = await broker.credentials("alice", id_token)
    assert len(asked) == 1  # one mint, asked once
    assert (await broker.credentials("alice", id_token)).s3 is first.s3 and len(asked) == 1
    await broker.credentials("alice", id_token, force=True)
    assert len(asked) == 2
