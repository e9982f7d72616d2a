"""Credential files and the `datalab-credentials` command, without any server (files and a dead address)."""

from __future__ import annotations

import json
import logging
import stat
from datetime import UTC, datetime, timedelta

import pytest

from jupyter_s3_ext.credentials import cli, store
from jupyter_s3_ext.credentials.document import CacheDocument, CachedS3, CachedVault, CredentialsError
from jupyter_s3_ext.credentials.hub import HubEndpoint
from jupyter_s3_ext.credentials.refresher import CredentialsRefresher, RefresherSettings
from jupyter_s3_ext.credentials.source import CredentialSource
from tests.support.procs import free_port


def doc(key: str, expires_in: float, token: str = "vault-token-1") -> dict:
    expiration = (datetime.now(UTC) + timedelta(seconds=expires_in)).isoformat()
    return {
        "s3": {
            "access_key_id": key,
            "secret_access_key": f"secret-of-{key}",
            "session_token": f"session-of-{key}",
            "expiration": expiration,
            "endpoint": "http://127.0.0.1:9",
            "region": None,
            "bucket": "user-alice",
            "prefix": None,
        },
        "vault": {"token": token, "expiration": expiration, "addr": "http://127.0.0.1:9", "renewable": True},
        "warnings": [],
    }


def S3(key, secret, **kw) -> CachedS3:
    return CachedS3(access_key_id=key, secret_access_key=secret, **kw)


def Vault(token) -> CachedVault:
    return CachedVault(token=token)


def dead_endpoint() -> HubEndpoint:
    return HubEndpoint(f"http://127.0.0.1:{free_port()}/hub/api/datalab/credentials", "token")


def test_first_use_seeds_a_private_cache_from_the_spawn_file(tmp_path):
    initial = tmp_path / "credentials.json"
    initial.write_text(json.dumps(doc("KEY1", 600)))
    source = CredentialSource(cache_path=tmp_path / "private" / "credentials.json", initial_path=initial)
    held = source.current()
    assert held.s3.access_key_id == "KEY1" and 590 < held.s3.lifetime <= 600
    assert stat.S_IMODE(source.cache_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(source.cache_path.parent.stat().st_mode) == 0o700
    assert store.read_document(source.cache_path).s3.lifetime == held.s3.lifetime


def test_missing_or_damaged_credentials_give_a_clear_error(tmp_path):
    source = CredentialSource(cache_path=tmp_path / "c.json", initial_path=tmp_path / "none.json")
    with pytest.raises(
        CredentialsError, match="no session credentials: neither .*c.json nor .*none.json exists"
    ):
        source.current()
    (tmp_path / "none.json").write_text("{not json")
    with pytest.raises(CredentialsError, match=r"none.json: not valid JSON"):
        source.current()


def test_near_expiry_with_the_hub_down_keeps_current_credentials_until_they_expire(tmp_path, capsys):
    initial = tmp_path / "credentials.json"
    initial.write_text(json.dumps(doc("KEY1", 600)))
    source = CredentialSource(cache_path=tmp_path / "c.json", initial_path=initial, endpoint=dead_endpoint())
    held = source.cached()
    # Pretend 90% of the life is spent: due for a client-side renewal, which fails: current ones are kept.
    store.write_document(
        source.cache_path,
        CacheDocument(s3=S3("KEY1", "s", expiration=held.s3.expiration, lifetime=6000)),
    )
    assert source.current().s3.access_key_id == "KEY1"
    assert "renewal failed, using current credentials: could not reach" in capsys.readouterr().err
    # Expired: an error that says why, never the secret.
    past = datetime.now(UTC) - timedelta(seconds=1)
    store.write_document(
        source.cache_path, CacheDocument(s3=S3("KEY1", "s3cr3t", expiration=past, lifetime=60))
    )
    with pytest.raises(
        CredentialsError, match="S3 credentials expired and renewal failed: could not reach"
    ) as e:
        source.current()
    assert "s3cr3t" not in str(e.value)
    source.endpoint = None
    with pytest.raises(CredentialsError, match="JUPYTERHUB_API_URL or JUPYTERHUB_API_TOKEN is not set"):
        source.current()


def test_cache_writes_keep_the_longer_lived_s3_key_and_optionally_the_vault_token(tmp_path):
    cache = tmp_path / "c.json"
    now = datetime.now(UTC)
    long = S3("LONG", "a", expiration=now + timedelta(hours=2))
    short = S3("SHORT", "b", expiration=now + timedelta(hours=1))
    store.write_document(cache, CacheDocument(s3=long, vault=Vault("kept")))
    written = store.merge_into_cache(
        cache, CacheDocument(s3=short, vault=Vault("other")), replace_vault=False
    )
    assert written.s3.access_key_id == "LONG" and written.vault.token.get_secret_value() == "kept"
    written = store.merge_into_cache(cache, CacheDocument(s3=short, vault=Vault("other")))
    assert written.vault.token.get_secret_value() == "other"


def test_a_stale_cache_from_an_earlier_run_loses_to_the_new_spawn_file(tmp_path):
    cache, initial = tmp_path / "rt" / "credentials.json", tmp_path / "credentials.json"
    store.write_document(
        cache, CacheDocument(s3=S3("OLD", "x", expiration=datetime.now(UTC) - timedelta(days=1)))
    )
    initial.write_text(json.dumps(doc("NEW", 600, token="vault-new")))
    settings = RefresherSettings(
        cache_path=cache, initial_path=initial, vault_token_file=tmp_path / "home" / ".vault-token"
    )
    refresher = CredentialsRefresher(settings)
    assert refresher.load().s3.access_key_id == "NEW"
    assert store.read_document(cache).s3.access_key_id == "NEW"
    assert (tmp_path / "home" / ".vault-token").read_text() == "vault-new"
    assert stat.S_IMODE((tmp_path / "home" / ".vault-token").stat().st_mode) == 0o600


def test_cli_prints_process_json_env_and_status(tmp_path, monkeypatch, capsys):
    initial = tmp_path / "credentials.json"
    initial.write_text(json.dumps(doc("KEY1", 600)))
    monkeypatch.setenv("DATALAB_CREDENTIALS_FILE", str(initial))
    monkeypatch.setenv("DATALAB_CREDENTIALS_CACHE", str(tmp_path / "rt" / "c.json"))
    for var in ("JUPYTERHUB_API_URL", "JUPYTERHUB_API_TOKEN", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    assert cli.main(["aws"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["Version"] == 1 and out["AccessKeyId"] == "KEY1" and out["SessionToken"] == "session-of-KEY1"
    assert cli.main(["env"]) == 0
    assert "export AWS_SESSION_TOKEN=session-of-KEY1\n" in capsys.readouterr().out
    assert cli.main(["status"]) == 0
    status = capsys.readouterr().out
    assert json.loads(status)["s3"]["bucket"] == "user-alice"
    assert "secret-of" not in status and "session-of" not in status and "vault-token" not in status
    monkeypatch.setenv("DATALAB_CREDENTIALS_FILE", str(tmp_path / "gone.json"))
    monkeypatch.setenv("DATALAB_CREDENTIALS_CACHE", str(tmp_path / "rt2" / "c.json"))
    assert cli.main(["aws"]) == 1
    assert "datalab-credentials: no session credentials" in capsys.readouterr().err


def test_named_servers_sharing_a_home_get_their_own_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("JUPYTERHUB_SERVER_NAME", "")
    assert store.default_runtime_dir() == tmp_path / "datalab-credentials"
    monkeypatch.setenv("JUPYTERHUB_SERVER_NAME", "gpu")
    assert store.default_runtime_dir() == tmp_path / "datalab-credentials-gpu"


def test_the_token_file_is_restored_and_removed_only_when_ours(tmp_path):
    initial = tmp_path / "credentials.json"
    initial.write_text(json.dumps(doc("KEY1", 600, token="ours")))
    token_file = tmp_path / "home" / ".vault-token"
    refresher = CredentialsRefresher(
        RefresherSettings(
            cache_path=tmp_path / "rt" / "c.json", initial_path=initial, vault_token_file=token_file
        )
    )
    held = refresher.load()
    token_file.unlink()  # e.g. another server of the user stopped and cleaned up
    refresher._apply(held)
    assert token_file.read_text() == "ours"
    token_file.write_text("someone else's")
    refresher.remove_files()
    assert token_file.read_text() == "someone else's" and not (tmp_path / "rt" / "c.json").exists()


def test_an_invalid_spawn_file_is_reported_with_its_path_and_field_never_a_secret(tmp_path, caplog):
    initial = tmp_path / "credentials.json"
    bad = doc("KEY1", 600)
    del bad["s3"]["access_key_id"]
    initial.write_text(json.dumps(bad))
    expected = f"{initial}: s3.access_key_id is missing"
    source = CredentialSource(cache_path=tmp_path / "rt" / "c.json", initial_path=initial)
    with pytest.raises(CredentialsError) as e:
        source.current()
    assert str(e.value) == expected
    refresher = CredentialsRefresher(
        RefresherSettings(cache_path=tmp_path / "rt" / "c.json", initial_path=initial)
    )
    with caplog.at_level(logging.INFO):
        assert refresher.load() is None
    assert refresher.status()["renewal"]["last_error"] == expected and expected in caplog.text
    assert "secret-of-KEY1" not in caplog.text and "session-of-KEY1" not in caplog.text


def test_the_hub_token_is_not_in_the_endpoints_repr():
    endpoint = HubEndpoint("http://127.0.0.1:9/hub/api/datalab/credentials", "hub-api-t0ken")
    assert (
        "hub-api-t0ken" not in repr(endpoint) and endpoint.headers()["Authorization"] == "token hub-api-t0ken"
    )
