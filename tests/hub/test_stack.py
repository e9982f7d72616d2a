"""`datalab up` end to end, in a temporary state directory on free ports: real IdP, SeaweedFS, OpenBao,
proxy and hub with the local backend. Up, status, a user's data in S3, Vault and their home, SIGTERM stops
everything within 15 s leaving no process behind, and a restart keeps users, objects, secrets and homes.
"""

from __future__ import annotations

import atexit
import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import boto3
import hvac
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from hub.stack.layout import DEFAULT_PORTS, Layout, merge_ports
from hub.stack.supervisor import marked_pids, stack_id
from hub.stack.users import UserError, add_user
from tests.spawner.test_local import run_code
from tests.support.idp import login, node_available
from tests.support.procs import VENV_BIN, ManagedProcess, free_port, tool_env

pytestmark = pytest.mark.skipif(not node_available(), reason="the IdP's npm packages are not installed")


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
        self.proc = ManagedProcess([VENV_BIN / "datalab", "up"], log_path=log, env=env, name="datalab")

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
    return r.json()


@pytest.fixture(scope="module")
def stack_dir():
    top = Path(tempfile.mkdtemp(prefix="datalab-stack-", dir="/tmp"))
    os.chmod(top, 0o711)  # homes inside must be reachable by the users' accounts
    state = top / "state"
    state.mkdir()
    (state / "ports.json").write_text(json.dumps(free_ports()))
    procs: list[Datalab] = []
    accounts = "dls" + uuid.uuid4().hex[:5] + "-{username}"
    try:
        yield top, state, free_port(), procs, accounts
    finally:
        for p in procs:
            p.proc.stop(timeout=20)
        for name in ("alice", "bob", "carol"):
            subprocess.run(["userdel", accounts.format(username=name)], capture_output=True)
        shutil.rmtree(top, ignore_errors=True)


def test_up_status_stop_and_restart_keeps_data(stack_dir):
    top, state, port, procs, accounts = stack_dir
    lab = Datalab(state, port, top / "up1.log", accounts)
    procs.append(lab)
    lab.wait_up()
    out = lab.output()
    passwords = dict(re.findall(r"^\s+(alice|bob)\s+password (\S+)", out, re.M))
    assert set(passwords) == {"alice", "bob"}
    assert "this setup is for one machine" in out and lab.url in out
    for secret_file in (state / "passwords.txt", state / "vault" / "init.json"):
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600

    status = lab.cli("status")
    assert status.returncode == 0, status.stdout + status.stderr
    for part in ("idp", "seaweedfs", "openbao", "proxy", "jupyterhub"):
        assert re.search(rf"^\s+{part}\s+up\s+http://127\.0\.0\.1:\d+\s+\S", status.stdout, re.M), (
            status.stdout
        )
    assert "OpenBao 2." in status.stdout and "SeaweedFS 4." in status.stdout
    assert re.search(r"sessions can use: code-server .*, postgresql 1\d\.\d+, rstudio-server", status.stdout)

    # A second `datalab up` on the same state directory is refused and leaves the first one alone.
    second = subprocess.run(
        [VENV_BIN / "datalab", "up"], env=lab.env, capture_output=True, text=True, timeout=60
    )
    assert second.returncode == 1 and "another `datalab up` is running" in second.stdout, second.stdout
    assert lab.cli("status").returncode == 0

    # bob signs in through the IdP, starts a session; his credentials reach his bucket and Vault folder only.
    token = sign_in(lab.url, "bob", passwords["bob"])
    h = {"Authorization": f"token {token}"}
    r = requests.post(f"{lab.url}/hub/api/users/bob/server", json={"service": "jupyter-python"}, headers=h)
    assert r.status_code in (201, 202), r.text
    deadline = time.monotonic() + 120
    while not (requests.get(f"{lab.url}/hub/api/users/bob", headers=h).json()["servers"].get("") or {}).get(
        "ready"
    ):
        assert time.monotonic() < deadline, "bob's server did not start"
        time.sleep(0.5)
    r = requests.put(
        f"{lab.url}/user/bob/api/contents/notes.txt",
        json={"type": "file", "format": "text", "content": "kept across restarts"}, headers=h,
    )  # fmt: skip
    assert r.status_code in (200, 201), r.text
    # A process bob starts without the stack's mark in its environment still ends with the datalab.
    bob_api = SimpleNamespace(url=lab.url, admin_token=token, session=requests.Session())
    bob_api.get = lambda path, **kw: requests.get(lab.url + path, headers=h, timeout=30)
    escaped = run_code(
        bob_api,
        "bob",
        "import subprocess\nprint(subprocess.Popen(['env', '-i', 'sleep', '600'], start_new_session=True).pid)",
    )
    escaped_pid = int(escaped.strip())
    creds = credentials(lab.url, token)
    s3 = s3_client(creds)
    s3.put_object(Bucket="user-bob", Key="data/hello.csv", Body=b"a,b\n1,2\n")
    with pytest.raises(ClientError):
        s3.put_object(Bucket="user-alice", Key="intrusion.txt", Body=b"no")
    vault = hvac.Client(url=creds["vault"]["addr"], token=creds["vault"]["token"], timeout=10)
    vault.secrets.kv.v2.create_or_update_secret(
        path=f"{creds['vault']['top_dir']}/db",
        secret={"password": "s3cr3t"},
        mount_point=creds["vault"]["mount"],
    )

    # A part that dies is restarted (OpenBao is unsealed again) and bob's secret is still there.
    before = json.loads((state / "stack.json").read_text())["parts"]["openbao"]["pid"]
    os.kill(before, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:
        try:
            health = requests.get(creds["vault"]["addr"] + "/v1/sys/health", timeout=2).status_code
        except requests.RequestException:
            health = None
        if health == 200:
            break
        assert time.monotonic() < deadline, lab.output()[-3000:]
        time.sleep(0.3)
    assert "openbao exited" in lab.output()
    deadline = time.monotonic() + 30
    while lab.cli("status").returncode != 0:  # the status file follows the restarted process
        assert time.monotonic() < deadline, lab.cli("status").stdout
        time.sleep(0.3)
    fresh = credentials(lab.url, token)["vault"]["token"]
    read = hvac.Client(url=creds["vault"]["addr"], token=fresh, timeout=10).secrets.kv.v2.read_secret_version(
        path=f"{creds['vault']['top_dir']}/db",
        mount_point=creds["vault"]["mount"],
        raise_on_deleted_version=True,
    )
    assert read["data"]["data"] == {"password": "s3cr3t"}

    # A user added while it runs can sign in at once.
    added = lab.cli("users", "add", "carol", "--groups", "datalab-users")
    assert added.returncode == 0, added.stdout + added.stderr
    carol_password = re.search(r"password: (\S+)", added.stdout).group(1)
    sign_in(lab.url, "carol", carol_password)

    # SIGTERM stops everything, sessions included, within 15 s; nothing is left.
    assert Path(f"/proc/{escaped_pid}").exists()
    assert lab.terminate() < 15
    assert marked_pids(stack_id(state)) == []
    assert gone(escaped_pid)
    assert lab.cli("status").returncode == 3
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))  # nothing listens on the public port any more

    # Restart: same users and passwords, S3 object, Vault secret, home.
    lab = Datalab(state, port, top / "up2.log", accounts)
    procs.append(lab)
    lab.wait_up()
    assert not any(pw in lab.output() for pw in passwords.values())  # passwords are printed once only
    token = sign_in(lab.url, "bob", passwords["bob"])
    creds = credentials(lab.url, token)
    body = s3_client(creds).get_object(Bucket="user-bob", Key="data/hello.csv")["Body"].read()
    assert body == b"a,b\n1,2\n"
    vault = hvac.Client(url=creds["vault"]["addr"], token=creds["vault"]["token"], timeout=10)
    secret = vault.secrets.kv.v2.read_secret_version(
        path=f"{creds['vault']['top_dir']}/db",
        mount_point=creds["vault"]["mount"],
        raise_on_deleted_version=True,
    )
    assert secret["data"]["data"] == {"password": "s3cr3t"}
    assert (
        state / "homes" / accounts.format(username="bob") / "notes.txt"
    ).read_text() == "kept across restarts"
    sign_in(lab.url, "carol", carol_password)
    assert lab.terminate() < 15
    assert marked_pids(stack_id(state)) == []


def test_bad_ports_file_and_user_names_are_named(tmp_path):
    with pytest.raises(ValueError, match="ports.json: s3 must be a port number, not 'x'"):
        merge_ports({"s3": "x"})
    with pytest.raises(ValueError, match="unknown port name 'sftp'"):
        merge_ports({"sftp": 22})
    layout = Layout(tmp_path)
    with pytest.raises(UserError, match="invalid user name 'Bob Smith'"):
        add_user(layout, "Bob Smith", ["datalab-users"])
    add_user(layout, "dana", ["datalab-users"])
    with pytest.raises(UserError, match="already exists"):
        add_user(layout, "dana", ["datalab-users"])
