"""The credentials provider: broker results become SessionCredentials (env without secrets, credentials.json,
warnings), and a required integration that fails stops the spawn with a message the user can act on."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest

from hub.credentials.broker import CredentialBroker
from hub.credentials.spawn import session_credentials
from jupyter_s3_ext.credentials.source import CredentialSource
from spawner.errors import SpawnException
from tests.support.procs import free_port


class FakeUser:
    """Stands in for JupyterHub's User: a name and a stored auth_state."""

    def __init__(self, name, auth_state):
        self.name = name
        self._state = auth_state

    async def get_auth_state(self):
        return self._state


def spawner_for(user, refresh_result=True):
    async def refresh_user(u, handler=None):
        return refresh_result

    authenticator = SimpleNamespace(enable_auth_state=True, refresh_user=refresh_user)
    return SimpleNamespace(user=user, authenticator=authenticator, config=None, log=logging.getLogger("t"))


STATIC = dict(
    s3_endpoint="http://127.0.0.1:9", s3_static_access_key_id="AK", s3_static_secret_access_key="SK-value"
)


async def test_static_s3_and_optional_vault_failure_give_env_file_and_a_warning():
    dead_vault = f"http://127.0.0.1:{free_port()}"
    broker = CredentialBroker(
        s3_mode="required", vault_mode="optional", vault_addr=dead_vault, timeout=3, **STATIC
    )
    spawner = spawner_for(FakeUser("alice", {"id_token": "x.y.z"}))
    creds = await session_credentials(spawner, broker=broker)
    doc = json.loads(creds.secret_files["credentials.json"])
    assert doc["s3"]["secret_access_key"] == "SK-value" and doc["vault"] is None
    assert (
        creds.env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9" and creds.env["VAULT_TOP_DIR"] == "users/alice"
    )
    assert "SK-value" not in json.dumps(creds.env)
    assert len(creds.warnings) == 1 and "Vault token for alice" in creds.warnings[0]


async def test_the_session_reads_the_spawn_file_as_the_hub_wrote_it(tmp_path):
    broker = CredentialBroker(s3_mode="required", **STATIC)
    creds = await session_credentials(spawner_for(FakeUser("alice", {"id_token": "x.y.z"})), broker=broker)
    spawn_file = tmp_path / "credentials.json"
    spawn_file.write_text(creds.secret_files["credentials.json"])
    session = CredentialSource(
        cache_path=tmp_path / "rt" / "credentials.json", initial_path=spawn_file
    ).current()
    assert session.s3.secret_access_key.get_secret_value() == "SK-value" and session.s3.bucket == "user-alice"
    assert session.s3.endpoint == creds.env["AWS_ENDPOINT_URL"] and session.vault is None


async def test_required_failure_and_expired_sign_in_stop_the_spawn_with_a_clear_message():
    dead_vault = f"http://127.0.0.1:{free_port()}"
    broker = CredentialBroker(vault_mode="required", vault_addr=dead_vault, timeout=3)
    with pytest.raises(SpawnException) as e:
        await session_credentials(spawner_for(FakeUser("bob", {"id_token": "x.y.z"})), broker=broker)
    assert e.value.status_code == 503 and e.value.message.startswith("Cannot start: Vault token for bob")
    with pytest.raises(SpawnException) as e:
        await session_credentials(spawner_for(FakeUser("bob", {}), refresh_result=False), broker=broker)
    assert "sign-in of bob has expired" in e.value.message


async def test_nothing_configured_means_no_credentials():
    creds = await session_credentials(spawner_for(FakeUser("alice", None)), broker=CredentialBroker())
    assert creds.env == {} and creds.secret_files == {} and creds.warnings == ()
