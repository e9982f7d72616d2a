"""The extension in a real Jupyter server: files and environment it sets up, the status endpoint, and a
renewal failure (the hub unreachable) that keeps the current credentials and shows in the status."""

from __future__ import annotations

import json
import stat
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from jupyter_s3_ext.app import DatalabExtensionApp
from tests.jupyter_s3_ext.credentials.session import run_session
from tests.support.procs import REPO, VENV_BIN, free_port

SECRET_KEY = "secret-key-" + "x" * 20
SESSION_TOKEN = "session-token-" + "y" * 20
VAULT_TOKEN = "hvs.vault-token-" + "z" * 20


def credentials_json(expires_in: float) -> dict:
    expiration = (datetime.now(UTC) + timedelta(seconds=expires_in)).isoformat()
    return {
        "s3": {
            "access_key_id": "AKIASESSIONTEST",
            "secret_access_key": SECRET_KEY,
            "session_token": SESSION_TOKEN,
            "expiration": expiration,
            "endpoint": "http://127.0.0.1:9",
            "region": "eu-west-3",
            "bucket": "user-alice",
            "prefix": None,
        },
        "vault": {
            "token": VAULT_TOKEN,
            "expiration": expiration,
            "addr": "http://127.0.0.1:9",
            "mount": "secret",
            "top_dir": "users/alice",
            "renewable": False,
        },
        "warnings": [],
    }


def test_the_extension_is_enabled_by_default_and_its_settings_have_help():
    config = json.loads((REPO / "jupyter-config/jupyter_server_config.d/jupyter_s3_ext.json").read_text())
    assert config["ServerApp"]["jpserver_extensions"]["jupyter_s3_ext"] is True
    traits = DatalabExtensionApp.class_own_traits(config=True)
    assert "refresh_fraction" in traits and "vault_token_file" in traits
    assert all(t.help for t in traits.values())


def test_bad_refresh_fraction_is_refused_with_its_name():
    with pytest.raises(Exception, match="refresh_fraction must be between 0.1 and 0.9, got 1.5"):
        DatalabExtensionApp(refresh_fraction=1.5)


def test_unreachable_hub_keeps_credentials_and_reports_the_error(tmp_path: Path):
    creds = tmp_path / "credentials.json"
    creds.write_text(json.dumps(credentials_json(expires_in=40)))
    creds.chmod(0o600)
    dead_hub = f"http://127.0.0.1:{free_port()}/hub/api"
    env = {
        "DATALAB_CREDENTIALS_FILE": str(creds),
        "JUPYTERHUB_API_URL": dead_hub,
        "JUPYTERHUB_API_TOKEN": "session-api-token-value",
        "AWS_ACCESS_KEY_ID": "STATIC-KEY-THAT-WOULD-GO-STALE",  # removed by the extension
        "AWS_SECRET_ACCESS_KEY": "static-secret-that-would-go-stale",
    }
    # Renew at 10% of the 40 s life: the first attempt comes about 4 s after start.
    args = ["--DatalabExtensionApp.refresh_fraction=0.1", "--DatalabExtensionApp.retry_initial_delay=1"]
    with run_session(tmp_path / "session", env, args) as session:
        assert session.get("/datalab/credentials/status", authenticated=False).status_code == 403

        status = session.wait_status(lambda s: s["renewal"]["consecutive_failures"] >= 2, timeout=60)
        assert (
            "could not reach" in status["renewal"]["last_error"]
            and dead_hub in status["renewal"]["last_error"]
        )
        assert status["renewal"]["last_renewal"] is None
        s3, vault = status["s3"], status["vault"]
        assert s3["configured"] and not s3["expired"] and s3["bucket"] == "user-alice"
        assert s3["endpoint"] == "http://127.0.0.1:9" and s3["temporary"]
        assert vault["configured"] and vault["top_dir"] == "users/alice"

        # What a kernel inherits: the non-secret variables, no static secret.
        kernel = session.kernel()
        env = json.loads(kernel.run("import os, json; print(json.dumps(dict(os.environ)))"))
        cache = session.runtime_dir / "datalab-credentials" / "credentials.json"
        assert env["AWS_CONFIG_FILE"] == str(cache.parent / "aws-config")
        assert env["DATALAB_CREDENTIALS_CACHE"] == str(cache)
        assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9" and env["AWS_S3_ENDPOINT"] == "127.0.0.1:9"
        assert env["AWS_DEFAULT_REGION"] == "eu-west-3" and env["DATALAB_S3_BUCKET"] == "user-alice"
        assert env["VAULT_ADDR"] == "http://127.0.0.1:9" and env["VAULT_TOP_DIR"] == "users/alice"
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "VAULT_TOKEN"):
            assert key not in env

        # A terminal inherits the same (its shell runs the AWS CLI's way: the config file, no static key).
        # "$((6 * 7))" expands to 42 in the output only, never in the echoed command line.
        command = 'echo "cfg=$AWS_CONFIG_FILE key=${AWS_ACCESS_KEY_ID:-none} $((6 * 7))"'
        out = session.terminal_output(command, until=" 42")
        assert f"cfg={cache.parent / 'aws-config'} key=none 42" in out, out

        # The current credentials are still served to tools: credential_process, env lines, token file.
        out = subprocess.run(
            [VENV_BIN / "datalab-credentials", "aws"], env=env, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        process = json.loads(out.stdout)
        assert process["Version"] == 1 and process["AccessKeyId"] == "AKIASESSIONTEST"
        assert process["SecretAccessKey"] == SECRET_KEY and process["SessionToken"] == SESSION_TOKEN
        exports = subprocess.run(
            [VENV_BIN / "datalab-credentials", "env"], env=env, capture_output=True, text=True, timeout=60
        ).stdout
        assert f"export VAULT_TOKEN={VAULT_TOKEN}" in exports
        assert "export AWS_ACCESS_KEY_ID=AKIASESSIONTEST" in exports

        home = session.home
        assert (home / ".vault-token").read_text() == VAULT_TOKEN
        for secret_file in (home / ".vault-token", cache):
            assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(cache.parent.stat().st_mode) == 0o700
        aws_config = (cache.parent / "aws-config").read_text()
        assert "credential_process = " in aws_config and "datalab-credentials aws" in aws_config
        assert "endpoint_url = http://127.0.0.1:9" in aws_config

        # No secret in the status or the server's log.
        text = json.dumps(session.status()) + session.log()
        for secret in (SECRET_KEY, SESSION_TOKEN, VAULT_TOKEN, "session-api-token-value", "static-secret"):
            assert secret not in text

    # Stopped, the server leaves no secret behind in the (possibly persistent) home.
    assert not cache.exists() and not (home / ".vault-token").exists()


def test_linking_the_extension_selects_the_s3_contents_manager():
    # jupyter_server_config.d only carries jpserver_extensions, so the extension picks the manager itself.
    from jupyter_server.serverapp import ServerApp

    server = ServerApp()
    DatalabExtensionApp()._link_jupyter_server_extension(server)
    assert server.contents_manager_class.__name__ == "S3MountContentsManager"


def test_an_explicit_contents_manager_is_kept():
    from jupyter_server.serverapp import ServerApp
    from traitlets.config import Config

    chosen = "jupyter_server.services.contents.largefilemanager.AsyncLargeFileManager"
    server = ServerApp(config=Config({"ServerApp": {"contents_manager_class": chosen}}))
    DatalabExtensionApp()._link_jupyter_server_extension(server)
    assert server.contents_manager_class.__name__ == "AsyncLargeFileManager"


def test_the_sessions_access_log_has_no_query_string(tmp_path: Path):
    """A URL of the session may carry a secret in its query (an app's own token, a presigned link)."""
    values = ["q1-" + "a" * 16, "q2-" + "b" * 16, "q3-" + "c" * 16]
    with run_session(tmp_path / "session", {}, ["--ServerApp.log_level=DEBUG"]) as session:
        assert session.get(f"/api/status?presigned={values[0]}").status_code == 200
        assert session.get(f"/api/contents/nowhere?signature={values[1]}").status_code == 404
        referer = f"{session.url}/lab?X-Amz-Signature={values[2]}"
        r = requests.get(
            f"{session.url}/api/nope?x=1",
            headers={"Authorization": f"token {session.token}", "Referer": referer},
            timeout=30,
        )
        assert r.status_code == 404
        deadline = time.monotonic() + 30  # a request's line is logged just after its answer is sent
        while "GET /api/nope" not in (log := session.log()) and time.monotonic() < deadline:
            time.sleep(0.1)
    assert "GET /api/status?[query removed]" in log and "GET /api/contents/nowhere?[query removed]" in log
    assert "referer=" + session.url + "/lab?[query removed]" in log
    assert not [v for v in values if v in log], log[-2000:]
