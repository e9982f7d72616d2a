"""One `datalab up` of the tests: a temporary state directory, free ports, per-run system account names,
and the calls tests make against it (sign in through the IdP, credentials, S3)."""

from __future__ import annotations

import atexit
import os
import pwd
import signal
import subprocess
import time
import uuid
from pathlib import Path

import boto3
import requests
from botocore.config import Config

from hub.stack.layout import DEFAULT_PORTS
from tests.support.environments import ensure_session_environments
from tests.support.idp import login
from tests.support.log_secrets import register_credentials, register_log, register_secret
from tests.support.procs import VENV_BIN, ManagedProcess, free_port, tool_env


def free_ports() -> dict[str, int]:
    ports = {name: free_port() for name in DEFAULT_PORTS if name != "admin_grpc"}
    while ports["admin"] + 10000 > 65535:  # SeaweedFS' worker dials the admin port + 10000
        ports["admin"] = free_port()
    ports["admin_grpc"] = ports["admin"] + 10000
    return ports


def remove_accounts(template: str) -> None:
    """Delete the system accounts a datalab created from `template` (as root; none exist otherwise)."""
    prefix = template.split("{username}")[0]
    if os.geteuid() != 0 or not prefix:
        return
    for entry in pwd.getpwall():
        if entry.pw_name.startswith(prefix) and entry.pw_gecos.startswith("Datalab session account"):
            subprocess.run(["userdel", entry.pw_name], capture_output=True)


class Datalab:
    """One `datalab up` process on a state directory."""

    def __init__(self, state: Path, port: int, log: Path, accounts: str | None = None):
        self.state, self.port, self.log_path = state, port, log
        self.url = f"http://127.0.0.1:{port}"
        # system account names of this run's users: unique on the machine (another datalab may run here)
        accounts = accounts or "dlt" + uuid.uuid4().hex[:5] + "-{username}"
        self.accounts = accounts
        atexit.register(remove_accounts, accounts)  # whoever uses this class, no account outlives the tests
        env = tool_env(
            {
                "DATALAB_STATE_DIR": str(state),
                "DATALAB_PORT": str(port),
                "DATALAB_ACCOUNT_TEMPLATE": accounts,
                "PYTHONUNBUFFERED": "1",
            }
        )
        self.env = env
        ensure_session_environments()  # built once for the whole run, not inside `datalab up`'s start timeout
        self.proc = ManagedProcess([VENV_BIN / "datalab", "up"], log_path=log, env=env, name="datalab")
        register_log(state / "logs")  # the logs of the services it runs

    def output(self) -> str:
        return self.proc.log()

    def wait_up(self, timeout: float = 150) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "Datalab is up" in self.output():
                return
            if not self.proc.alive():
                raise RuntimeError(f"datalab up exited:\n{self.output()[-4000:]}")
            time.sleep(0.2)
        raise TimeoutError(f"datalab not up after {timeout}s:\n{self.output()[-4000:]}")

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [VENV_BIN / "datalab", *args], env=self.env, capture_output=True, text=True, timeout=60
        )

    def terminate(self) -> float:
        """SIGTERM to `datalab up` itself (as a service manager would); seconds until it exited."""
        t0 = time.monotonic()
        self.proc.proc.send_signal(signal.SIGTERM)
        self.proc.proc.wait(30)
        return time.monotonic() - t0


def gone(pid: int, wait: float = 5.0) -> bool:
    """The process has ended (a zombie waiting for its reaper counts as ended)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except (OSError, IndexError):
            return True
        time.sleep(0.1)
    return False


def sign_in(url: str, user: str, password: str) -> str:
    """Log in through the IdP's form; an API token of the user."""
    s = requests.Session()
    r = login(s, user, password, start_url=url + "/hub/oauth_login?next=/hub/home")
    assert r.status_code == 200 and r.url.endswith("/hub/home"), r.url
    r = s.post(
        f"{url}/hub/api/users/{user}/tokens",
        json={"note": "test", "expires_in": 3600},
        headers={"X-XSRFToken": s.cookies.get("_xsrf") or ""},
    )
    assert r.status_code == 201, r.text
    register_secret(r.json()["token"])
    return r.json()["token"]


def s3_client(creds: dict):
    s3 = creds["s3"]
    return boto3.client(
        "s3", endpoint_url=s3["endpoint"], region_name=s3["region"], aws_access_key_id=s3["access_key_id"],
        aws_secret_access_key=s3["secret_access_key"], aws_session_token=s3["session_token"],
        config=Config(retries={"max_attempts": 1}),
    )  # fmt: skip


def credentials(url: str, token: str) -> dict:
    r = requests.get(
        f"{url}/hub/api/datalab/credentials", headers={"Authorization": f"token {token}"}, timeout=60
    )
    assert r.status_code == 200, r.text
    register_credentials(r.json())
    return r.json()
