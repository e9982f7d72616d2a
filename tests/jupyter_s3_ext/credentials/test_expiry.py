"""Credentials that never go stale, end to end with real services and short lifetimes.

The real stack: the development IdP, SeaweedFS with STS (S3 credentials live 60 s), OpenBao (Vault
tokens live 40 s, at most 90 s), and a real JupyterHub with Datalab's authenticator, broker and renewal
endpoint. alice logs in through the IdP's form; the hub spawns her single-user server (with the
extension), which gets its first credentials in a 0600 file and renews them through the hub.

In a kernel started by that server, clients are made before the first credentials expire: a boto3
client, an s3fs filesystem and hvac.Client(). After the S3 credentials expired (proven: the first keys
are refused) the same clients still work, and so do pandas.read_csv("s3://..."), new hvac clients and
the `bao` CLI (after the Vault token reached its max TTL and was re-minted through the hub), with no
user action. The lifetimes overlap, so the whole story takes about 90 seconds.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from datetime import UTC, datetime

import botocore.exceptions
import hvac
import pytest

from tests.jupyter_s3_ext.credentials.session import Kernel
from tests.support.credentials_hub import (
    HUB_CLIENT_ID,
    ROLE,
    iam_config,
    run_credentials_hub,
    run_hub_idp,
    signed_in,
)
from tests.support.openbao import run_openbao
from tests.support.procs import VENV_BIN, tool_env
from tests.support.seaweedfs import run_seaweedfs

pytestmark = pytest.mark.e2e

USERS = {"alice": {"password": "alice-pw", "groups": ["datalab-users"], "email": "alice@example.org"}}
S3_LIFETIME = 60
VAULT_TTL, VAULT_MAX_TTL = 40, 90


def sts_config(issuer: str, audience: str) -> dict:
    """The hub tests' STS config (per-user bucket role), with short-lived credentials."""
    config = iam_config(issuer, audience)
    config["sts"]["tokenDuration"] = config["sts"]["maxSessionLength"] = f"{S3_LIFETIME}s"
    return config


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


SETUP = """
import hashlib, json, os, subprocess
import boto3, hvac, s3fs, pandas as pd
bucket, mount, top = os.environ["DATALAB_S3_BUCKET"], os.environ["VAULT_MOUNT"], os.environ["VAULT_TOP_DIR"]
def sha(t): return hashlib.sha256(t.encode()).hexdigest()
def access_key(client): return client._request_signer._credentials.get_frozen_credentials().access_key
def kv(client): return client.secrets.kv.v2.read_secret_version(
    path=top + "/env", mount_point=mount, raise_on_deleted_version=True)["data"]["data"]
s3 = boto3.client("s3")
s3.put_object(Bucket=bucket, Key="data/before.csv", Body=b"a,b\\n1,2\\n")
fs = s3fs.S3FileSystem()
fs.pipe(f"{bucket}/data/fs.txt", b"written by s3fs")
held = hvac.Client()
# What the S3 contents manager uses inside the server: botocore and aiobotocore credential sources.
from botocore.credentials import CredentialProvider
from aiobotocore.session import get_session
from jupyter_s3_ext.credentials import aio_refreshable_credentials, botocore_session, s3_client_kwargs
bc = botocore_session().create_client("s3", **s3_client_kwargs())
class Given(CredentialProvider):
    METHOD = CANONICAL_NAME = "given"
    def __init__(self, creds):
        super().__init__()
        self.creds = creds
    async def load(self):
        return self.creds
aio_session = get_session()
aio_session.get_component("credential_provider").insert_before("env", Given(aio_refreshable_credentials()))
async def aio_keys():
    async with aio_session.create_client("s3", **s3_client_kwargs()) as c:
        return sorted(o["Key"] for o in (await c.list_objects_v2(Bucket=bucket, Prefix="data/"))["Contents"])
print(json.dumps({"key": access_key(s3), "kv": kv(held), "token": sha(held.token),
                  "env": os.environ.get("ALICE_KEY"), "aio": await aio_keys(),
                  "bc": bc.get_object(Bucket=bucket, Key="data/before.csv")["Body"].read().decode()}))
"""

AFTER_S3_EXPIRY = """
s3.put_object(Bucket=bucket, Key="data/after.csv", Body=b"a,b\\n3,4\\n")
fs.invalidate_cache()
print(json.dumps({
    "key": access_key(s3),
    "listed": sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="data/")["Contents"]),
    "s3fs": fs.cat(f"{bucket}/data/fs.txt").decode(),
    "s3fs_ls": sorted(fs.ls(f"{bucket}/data/", refresh=True)),
    "pandas": pd.read_csv(f"s3://{bucket}/data/after.csv").to_dict("list"),
    "held_vault": kv(held),
    "aio": await aio_keys(),
    "bc": bc.get_object(Bucket=bucket, Key="data/after.csv")["Body"].read().decode(),
}))
"""

AFTER_VAULT_REMINT = """
fresh = hvac.Client()
bao = subprocess.run(["{bao}", "kv", "get", "-format=json", "-mount=" + mount, top + "/env"],
                     capture_output=True, text=True, timeout=60)
out = {{"new_vault": kv(fresh), "token": sha(fresh.token), "bao": bao.returncode, "bao_out": bao.stdout[-2000:],
       "bao_err": bao.stderr[-500:]}}
aws = "{aws}"
if aws:
    r = subprocess.run([aws, "s3", "ls", f"s3://{{bucket}}/data/"], capture_output=True, text=True, timeout=60)
    out["aws"] = [r.returncode, r.stdout, r.stderr[-500:]]
print(json.dumps(out))
"""


@pytest.fixture
def stack(tmp_path):
    sessions = tmp_path / "sessions"
    with (
        run_hub_idp(tmp_path, USERS) as (idp, client_secret),
        run_openbao(tmp_path / "bao") as bao,
        run_seaweedfs(tmp_path / "s3", iam=sts_config(idp.issuer, HUB_CLIENT_ID)) as sw,
    ):
        bao.configure_jwt(
            issuer=idp.issuer,
            audience=HUB_CLIENT_ID,
            token_ttl=f"{VAULT_TTL}s",
            token_max_ttl=f"{VAULT_MAX_TTL}s",
        )
        bao.write_user_secret("alice", "env", {"ALICE_KEY": "alice-value"})
        sw.make_bucket("user-alice")
        broker = {
            "s3_mode": "required",
            "s3_endpoint": sw.endpoint,
            "s3_role_arn": ROLE,
            "s3_duration_seconds": 900,
            "vault_mode": "required",
            "vault_addr": bao.addr,
            "timeout": 10.0,
        }
        # The single-user server loads the extension (the installed jupyter-config does this in images).
        extension = (
            "\nc.SimpleLocalProcessSpawner.args = [*c.SimpleLocalProcessSpawner.args, "
            "\"--ServerApp.jpserver_extensions={'jupyter_s3_ext': True}\", "
            "'--DatalabExtensionApp.vault_env_to_kernels=True']\n"
        )
        with run_credentials_hub(tmp_path, idp, client_secret, broker=broker, extra=extension) as hub:
            yield idp, bao, sw, hub, sessions


def test_clients_made_before_expiry_keep_working_after_it(stack):
    idp, bao, sw, hub, sessions = stack
    signed_in(hub, "alice", "alice-pw")
    r = hub.api("POST", "/users/alice/server")
    assert r.status_code in (201, 202), r.text
    hub.wait_server("alice", timeout=120)
    home = sessions / "alice"
    first = json.loads((home / "credentials.json").read_text())
    s3_end = datetime.fromisoformat(first["s3"]["expiration"])
    control = bao.client().auth.token.create(ttl=f"{VAULT_TTL}s")["auth"]["client_token"]  # never renewed

    status = hub.get("/user/alice/datalab/credentials/status").json()
    assert status["s3"]["configured"] and status["vault"]["configured"], status
    assert 0 < status["s3"]["expires_in_seconds"] <= S3_LIFETIME
    assert status["renewal"]["hub_endpoint"].endswith("/hub/api/datalab/credentials")

    k = hub.session.post(
        f"{hub.url}/user/alice/api/sessions",
        json={"path": "analysis.ipynb", "type": "notebook", "name": "", "kernel": {"name": "python3"}},
        headers={"Authorization": f"token {hub.admin_token}"},
        timeout=60,
    )
    assert k.status_code == 201, k.text
    runtime = home / ".local" / "share" / "jupyter" / "runtime"
    kernel = Kernel(runtime / f"kernel-{k.json()['kernel']['id']}.json")
    try:
        before = json.loads(kernel.run(SETUP, timeout=120))
        assert before["key"] == first["s3"]["access_key_id"]
        assert before["kv"] == {"ALICE_KEY": "alice-value"}
        assert before["token"] == sha(first["vault"]["token"])
        assert before["env"] == "alice-value"  # Vault <top>/env exported into the kernel (opt-in)
        assert before["aio"] == ["data/before.csv", "data/fs.txt"] and before["bc"] == "a,b\n1,2\n"

        # Past the first S3 credentials' end: they are refused now ...
        time.sleep(max(0.0, (s3_end - datetime.now(UTC)).total_seconds() + 3))
        stale = sw.client(
            first["s3"]["access_key_id"], first["s3"]["secret_access_key"], first["s3"]["session_token"]
        )
        with pytest.raises(botocore.exceptions.ClientError):
            stale.list_objects_v2(Bucket="user-alice")
        with pytest.raises(hvac.exceptions.Forbidden):
            bao.client(control).auth.token.lookup_self()  # an unrenewed token of the same TTL is dead
        # ... yet the clients made with them still work: they picked up renewed credentials themselves.
        after = json.loads(kernel.run(AFTER_S3_EXPIRY, timeout=120))
        assert after["key"] != first["s3"]["access_key_id"]
        assert after["listed"] == ["data/after.csv", "data/before.csv", "data/fs.txt"]
        assert after["s3fs"] == "written by s3fs" and len(after["s3fs_ls"]) == 3
        assert after["pandas"] == {"a": [3], "b": [4]}
        assert after["held_vault"] == {"ALICE_KEY": "alice-value"}  # its token was renewed past its TTL
        assert after["aio"] == after["listed"] and after["bc"] == "a,b\n3,4\n"

        # The Vault token reaches its max TTL: the session re-mints one through the hub into ~/.vault-token.
        deadline = time.monotonic() + 60
        while (home / ".vault-token").read_text() == first["vault"]["token"]:
            assert time.monotonic() < deadline, hub.get("/user/alice/datalab/credentials/status").text
            time.sleep(1)
        aws = shutil.which("aws") or ""
        code = AFTER_VAULT_REMINT.format(bao=VENV_BIN / "bao", aws=aws)
        later = json.loads(kernel.run(code, timeout=120))
        assert later["new_vault"] == {"ALICE_KEY": "alice-value"}
        assert later["token"] != before["token"]
        assert later["bao"] == 0, later["bao_err"]
        assert json.loads(later["bao_out"])["data"]["data"] == {"ALICE_KEY": "alice-value"}
        if aws:
            assert later["aws"][0] == 0 and "after.csv" in later["aws"][1], later["aws"]
    finally:
        kernel.close()

    # A process with only the spawn-time file (expired by now) renews through the hub by itself ...
    env = tool_env(
        {
            "DATALAB_CREDENTIALS_FILE": str(home / "credentials.json"),
            "DATALAB_CREDENTIALS_CACHE": str(home / "own-cache" / "credentials.json"),
            "JUPYTERHUB_API_URL": hub.hub_api,
            "JUPYTERHUB_API_TOKEN": (home / "api_token").read_text(),
        }
    )
    cli = [VENV_BIN / "datalab-credentials", "aws"]
    own = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=60)
    assert own.returncode == 0, own.stderr
    renewed = json.loads(own.stdout)
    assert renewed["AccessKeyId"] != first["s3"]["access_key_id"]
    fresh = sw.client(renewed["AccessKeyId"], renewed["SecretAccessKey"], renewed["SessionToken"])
    assert fresh.get_object(Bucket="user-alice", Key="data/after.csv")["Body"].read() == b"a,b\n3,4\n"
    # ... and a token that is not the session's own is refused, with an error that says so.
    env.update(
        JUPYTERHUB_API_TOKEN="not-the-session-token", DATALAB_CREDENTIALS_CACHE=str(home / "x" / "c.json")
    )
    refused = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "refused to renew credentials: HTTP 403" in refused.stderr, (
        refused.stderr
    )

    status = hub.get("/user/alice/datalab/credentials/status").json()
    assert status["renewal"]["last_renewal"] and status["renewal"]["consecutive_failures"] == 0
    assert not status["s3"]["expired"] and not status["vault"]["expired"]
    # No secret in the status nor in the hub's log (which holds the single-user server's output too).
    text = json.dumps(status) + hub.log()
    cache = json.loads((runtime / "datalab-credentials" / "credentials.json").read_text())
    for doc in (first, cache):
        for value in (doc["s3"]["secret_access_key"], doc["s3"]["session_token"], doc["vault"]["token"]):
            assert value not in text

    # Stopped by the hub (a local spawner interrupts it), the server leaves no secret in the home.
    hub.api("DELETE", "/users/alice/server")
    hub.wait_server("alice", ready=False)
    assert not (home / ".vault-token").exists()
    assert not (runtime / "datalab-credentials" / "credentials.json").exists()
