"""A session started while Vault and S3's STS are down: it says what is missing, then heals by itself.

The real stack: the development IdP, a real JupyterHub with Datalab's authenticator, broker (both
integrations optional) and renewal endpoint. OpenBao and SeaweedFS have their addresses but are not
running when alice's server starts. Before the fix the session got no token and no S3 credentials and
asked again only at its next planned look (an hour later); its S3 folder answered 500 "Unhandled error".
Now: the status endpoint says what is missing and when the next try is, the contents API answers 503
naming the missing S3 credentials, and once both services are up the session gets its credentials
within seconds (retry backoff 2 s doubling to 60 s) with no user action.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from tests.jupyter_s3_ext.credentials.test_expiry import sts_config
from tests.support.credentials_hub import HUB_CLIENT_ID, ROLE, run_credentials_hub, run_hub_idp, signed_in
from tests.support.openbao import run_openbao
from tests.support.seaweedfs import run_seaweedfs

pytestmark = pytest.mark.e2e

USERS = {"alice": {"password": "alice-pw", "groups": ["datalab-users"], "email": "alice@example.org"}}


def test_a_session_started_while_vault_and_sts_are_down_heals_itself(tmp_path):
    audience = HUB_CLIENT_ID
    sessions = tmp_path / "sessions"
    with (
        run_hub_idp(tmp_path, USERS) as (idp, secret),
        run_openbao(tmp_path / "bao", start=False) as bao,
        run_seaweedfs(tmp_path / "s3", iam=sts_config(idp.issuer, audience), start=False) as sw,
    ):
        broker = {
            "s3_mode": "optional",
            "s3_endpoint": sw.endpoint,
            "s3_role_arn": ROLE,
            "s3_duration_seconds": 900,
            "vault_mode": "optional",
            "vault_addr": bao.addr,
            "timeout": 5.0,
        }
        extension = (
            "\nc.SimpleLocalProcessSpawner.args = [*c.SimpleLocalProcessSpawner.args, "
            "\"--ServerApp.jpserver_extensions={'jupyter_s3_ext': True}\"]\n"
        )
        with run_credentials_hub(tmp_path, idp, secret, broker=broker, extra=extension) as hub:
            signed_in(hub, "alice", "alice-pw")
            r = hub.api("POST", "/users/alice/server")
            assert r.status_code in (201, 202), r.text
            hub.wait_server("alice", timeout=120)

            status = hub.get("/user/alice/datalab/credentials/status").json()
            assert status["state"] == "waiting", status
            assert "no S3 and Vault credentials yet" in status["message"], status
            deadline = time.monotonic() + 60
            while not status["renewal"]["consecutive_failures"]:  # the session's own first try
                assert time.monotonic() < deadline, status
                time.sleep(0.5)
                status = hub.get("/user/alice/datalab/credentials/status").json()
            assert {m["part"] for m in status["missing"]} == {"s3", "vault"}
            assert status["s3"]["expected"] and not status["s3"]["configured"]
            assert "no S3 and Vault credentials yet" in status["message"], status
            assert 0 <= status["renewal"]["next_attempt_in_seconds"] <= 60, status
            next_try = datetime.fromisoformat(status["renewal"]["next_check"])
            assert (next_try - datetime.now(UTC)).total_seconds() <= 61

            # The S3 folder is there (the hub named the bucket) but says what is missing: 503, not 500.
            folder = hub.get("/user/alice/api/contents/s3/user-alice")
            assert folder.status_code == 503, folder.text
            message = folder.json()["message"]
            assert "no S3 credentials yet" in message and "/datalab/credentials/status" in message
            assert hub.get("/user/alice/api/contents").status_code == 200  # the home works meanwhile

            # Vault and S3 come up; nobody touches the session.
            bao.start()
            bao.configure_jwt(issuer=idp.issuer, audience=audience)
            bao.write_user_secret("alice", "env", {"K": "v"})
            sw.start()
            sw.make_bucket("user-alice")
            started = time.monotonic()
            deadline = started + 90
            while (status := hub.get("/user/alice/datalab/credentials/status").json())["state"] != "ready":
                assert time.monotonic() < deadline, status
                time.sleep(1)
            healed_in = time.monotonic() - started
            assert status["missing"] == [] and status["s3"]["configured"] and status["vault"]["configured"]
            assert healed_in < 75, healed_in  # the backoff is capped at 60 s

            body = {"type": "file", "format": "text", "content": "healed"}
            assert hub.get("/user/alice/api/contents/s3/user-alice").status_code == 200
            put = hub.session.put(
                f"{hub.url}/user/alice/api/contents/s3/user-alice/note.txt",
                json=body,
                headers={"Authorization": f"token {hub.admin_token}"},
                timeout=30,
            )
            assert put.status_code == 201, put.text
            assert sw.client().get_object(Bucket="user-alice", Key="note.txt")["Body"].read() == b"healed"
            token = (sessions / "alice" / ".vault-token").read_text()
            secret_read = bao.client(token).secrets.kv.v2.read_secret_version(
                path="users/alice/env", mount_point="secret", raise_on_deleted_version=True
            )
            assert secret_read["data"]["data"] == {"K": "v"}
