"""Vault tokens (hub.credentials.vault) through the broker, against a real IdP and OpenBao: per-user tokens,
isolation, faults, caching."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta

import hvac
import pytest

from hub.credentials.broker import CredentialBroker
from hub.credentials.errors import BrokerError
from tests.support.idp import node_available, run_idp
from tests.support.openbao import run_openbao
from tests.support.procs import free_port

USERS = {
    "alice": {"password": "alice-pw", "groups": ["datalab-users"]},
    "bob": {"password": "bob-pw", "groups": ["datalab-users"]},
}


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    if not node_available():
        pytest.skip("node or hub/idp/node_modules missing (run scripts/bootstrap.sh)")
    work = tmp_path_factory.mktemp("broker")
    with run_idp(work / "idp", users=USERS) as idp, run_openbao(work / "bao") as bao:
        bao.configure_jwt(issuer=idp.issuer, audience=idp.test_client_id, token_ttl="2m")
        bao.write_user_secret("alice", "env", {"ALICE_KEY": "a"})
        bao.write_user_secret("bob", "env", {"BOB_KEY": "b"})
        yield idp, bao


def vault_broker(bao, **kw):
    return CredentialBroker(vault_mode=kw.pop("vault_mode", "required"), vault_addr=bao.addr, timeout=5, **kw)


def kv(token, addr, path):
    c = hvac.Client(url=addr, token=token, timeout=5)
    return c.secrets.kv.v2.read_secret_version(path=path, mount_point="secret", raise_on_deleted_version=True)


async def test_vault_token_reads_own_path_only(services):
    idp, bao = services
    broker = vault_broker(bao)
    alice = await broker.credentials("alice", idp.tokens("alice", "alice-pw")["id_token"])
    v = alice.vault
    assert v.renewable and v.top_dir == "users/alice" and v.mount == "secret" and v.addr == bao.addr
    assert timedelta(seconds=60) < v.expiration - datetime.now(UTC) <= timedelta(seconds=121)
    assert kv(v.token.get_secret_value(), bao.addr, "users/alice/env")["data"]["data"] == {"ALICE_KEY": "a"}
    with pytest.raises(hvac.exceptions.Forbidden):
        kv(v.token.get_secret_value(), bao.addr, "users/bob/env")
    # Cached: the same token while most of its life is left; force mints a new one.
    again = await broker.credentials("alice", None)
    assert again.vault.token == v.token
    forced = await broker.credentials("alice", idp.tokens("alice", "alice-pw")["id_token"], force=True)
    assert forced.vault.token != v.token


def tamper(jwt: str) -> str:
    header, payload, sig = jwt.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["preferred_username"] = "bob"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{sig}"


async def test_tampered_token_wrong_role_and_unreachable_vault_are_clear_errors(services):
    idp, bao = services
    id_token = idp.tokens("alice", "alice-pw")["id_token"]
    with pytest.raises(BrokerError, match="refused JWT login to role 'datalab'") as e:
        await vault_broker(bao).credentials("alice", tamper(id_token))
    assert id_token.split(".")[2] not in str(e.value)
    with pytest.raises(BrokerError, match="role 'nope'"):
        await vault_broker(bao, vault_role="nope").credentials("alice", id_token)
    dead = f"http://127.0.0.1:{free_port()}"
    # Refused at once, so "unreachable", never the broker's "no answer within 10s" (its default timeout,
    # which only leaves room for a loaded machine).
    with pytest.raises(BrokerError, match="unreachable"):
        await CredentialBroker(vault_mode="required", vault_addr=dead).credentials("alice", id_token)
    # Optional: the failure becomes a warning, nothing raised.
    result = await CredentialBroker(vault_mode="optional", vault_addr=dead).credentials("alice", id_token)
    assert result.vault is None and "unreachable" in result.warnings[0]


async def test_expired_id_token_is_refused(tmp_path):
    if not node_available():
        pytest.skip("node missing")
    with (
        run_idp(tmp_path / "idp", users=USERS, access_token_ttl=1) as idp,
        run_openbao(tmp_path / "bao") as bao,
    ):
        bao.configure_jwt(issuer=idp.issuer, audience=idp.test_client_id, strict_expiry=True)
        id_token = idp.tokens("alice", "alice-pw")["id_token"]
        await asyncio.sleep(2.2)  # past exp (1 s lifetime)
        with pytest.raises(BrokerError, match="refused JWT login"):
            await vault_broker(bao).credentials("alice", id_token)
