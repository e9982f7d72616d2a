"""S3 credentials (hub.credentials.s3) through the broker, against SeaweedFS STS and the IdP: per-user buckets
through `${jwt:preferred_username}`, isolation between users, and clear errors for tampered or expired
tokens, a wrong role, a dead STS."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from datetime import UTC, datetime

import botocore.exceptions
import pytest

from hub.credentials.broker import CredentialBroker
from hub.credentials.errors import BrokerError
from hub.credentials.s3 import user_bucket
from tests.support.credentials_hub import ROLE, iam_config
from tests.support.idp import node_available, run_idp
from tests.support.procs import free_port
from tests.support.seaweedfs import run_seaweedfs

TTL = 4  # seconds the IdP's id_tokens live: short, for the expiry test
USERS = {
    "alice": {"password": "alice-pw", "groups": ["datalab-users"]},
    "bob": {"password": "bob-pw", "groups": ["datalab-users"]},
}


@pytest.fixture(scope="module")
def s3stack(tmp_path_factory):
    if not node_available():
        pytest.skip("node or hub/idp/node_modules missing (run scripts/bootstrap.sh)")
    work = tmp_path_factory.mktemp("s3broker")
    with run_idp(work / "idp", users=USERS, access_token_ttl=TTL) as idp:
        iam = iam_config(idp.issuer, idp.test_client_id)
        with run_seaweedfs(work / "weed", iam=iam) as sw:
            sw.make_bucket("user-alice")
            sw.make_bucket("user-bob")
            sw.client().put_object(Bucket="user-bob", Key="secret.txt", Body=b"bob's data")
            early = idp.tokens("bob", USERS["bob"]["password"])["id_token"]  # expires while the tests run
            yield idp, sw, early


def broker(sw, **kw) -> CredentialBroker:
    kw.setdefault("s3_role_arn", ROLE)
    return CredentialBroker(s3_mode=kw.pop("s3_mode", "required"), s3_endpoint=sw.endpoint, timeout=5, **kw)


def test_bucket_names_are_checked():
    assert user_bucket("user-{username}", "alice") == "user-alice"
    with pytest.raises(ValueError, match="not a valid bucket name"):
        user_bucket("user-{username}", "Alice_Smith")


async def test_an_invalid_bucket_template_is_a_clear_error():
    static = dict(s3_static_access_key_id="AK", s3_static_secret_access_key="SK-value")
    b = CredentialBroker(
        s3_mode="required", s3_endpoint="http://127.0.0.1:9", s3_bucket_template="U_{username}", **static
    )
    with pytest.raises(BrokerError, match="S3 credentials for alice: the S3 bucket name 'U_alice'") as e:
        await b.credentials("alice", None)
    assert "SK-value" not in str(e.value)


def id_token(idp, user="alice") -> str:
    return idp.tokens(user, USERS[user]["password"])["id_token"]


def denied(call) -> bool:
    try:
        call()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"] in ("AccessDenied", "Forbidden", "403")
    return False


async def test_sts_credentials_give_alice_her_bucket_and_nothing_of_bobs(s3stack):
    idp, sw, _ = s3stack
    result = await broker(sw).credentials("alice", id_token(idp))
    s3 = result.s3
    assert s3.bucket == "user-alice" and s3.endpoint == sw.endpoint and s3.session_token
    assert s3.expiration > datetime.now(UTC)
    c = sw.client(
        s3.access_key_id, s3.secret_access_key.get_secret_value(), s3.session_token.get_secret_value()
    )
    c.put_object(Bucket="user-alice", Key="notes/hello.txt", Body=b"hi")
    assert c.get_object(Bucket="user-alice", Key="notes/hello.txt")["Body"].read() == b"hi"
    assert [o["Key"] for o in c.list_objects_v2(Bucket="user-alice")["Contents"]] == ["notes/hello.txt"]
    assert denied(lambda: c.list_objects_v2(Bucket="user-bob"))
    assert denied(lambda: c.get_object(Bucket="user-bob", Key="secret.txt"))
    assert denied(lambda: c.put_object(Bucket="user-bob", Key="x", Body=b"x"))
    # The session gets the same document through credentials.json or the renewal endpoint.
    doc = result.to_json()["s3"]
    assert doc["session_token"] == s3.session_token.get_secret_value() and doc["expiration"].endswith("Z")


def forge(jwt: str, username: str) -> str:
    header, payload, sig = jwt.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["preferred_username"] = username
    return f"{header}.{base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b'=').decode()}.{sig}"


async def test_tampered_token_wrong_role_and_dead_sts_are_clear_errors(s3stack):
    idp, sw, _ = s3stack
    token = id_token(idp)
    with pytest.raises(BrokerError, match=f"refused role {ROLE}") as e:
        await broker(sw).credentials("alice", forge(token, "bob"))
    assert token.split(".")[2] not in str(e.value)
    with pytest.raises(BrokerError, match="refused role arn:aws:iam::role/nope"):
        await broker(sw, s3_role_arn="arn:aws:iam::role/nope").credentials("alice", token)
    dead = f"http://127.0.0.1:{free_port()}"
    # A refused connection answers at once; the broker's own timeout (10 s) only leaves room for a loaded
    # machine making its first STS client (3 s was once too little with both suites running on 2 cores).
    with pytest.raises(BrokerError, match="unreachable"):
        await CredentialBroker(s3_mode="required", s3_endpoint=dead, s3_role_arn=ROLE).credentials(
            "alice", token
        )
    optional = CredentialBroker(s3_mode="optional", s3_endpoint=dead, s3_role_arn=ROLE)
    result = await optional.credentials("alice", token)
    assert result.s3 is None and "S3 credentials for alice" in result.warnings[0]


async def test_expired_id_token_is_refused(s3stack):
    """Last in the module, so the token minted at setup is (nearly) expired already."""
    idp, sw, token = s3stack
    exp = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["exp"]
    await asyncio.sleep(max(0.0, exp - time.time() + 1.5))
    with pytest.raises(BrokerError, match="refused role") as e:
        await broker(sw).credentials("bob", token)
    assert "xpired" in str(e.value)
