"""`datalab up` end to end, in a temporary state directory on free ports: real IdP, SeaweedFS, OpenBao,
proxy and hub with the local backend. Up, status, a user's data in S3, Vault and their home, SIGTERM stops
everything within 15 s leaving no process behind, and a restart keeps users, objects, secrets and homes.
"""

from __future__ import annotations

import json
import os
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

import hvac
import pytest
import requests
from botocore.exceptions import ClientError

from hub.stack.layout import Layout, merge_ports
from hub.stack.supervisor import marked_pids, stack_id
from hub.stack.users import UserError, add_user
from tests.support.datalab import Datalab, User, credentials, free_ports, gone, s3_client, sign_in
from tests.support.idp import node_available
from tests.support.procs import VENV_BIN, free_port

pytestmark = pytest.mark.skipif(not node_available(), reason="the IdP's npm packages are not installed")


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
    bob = User(lab, "bob", passwords["bob"])
    bob.start({"service": "jupyter-python"})
    token, h = bob.admin_token, bob.headers
    r = requests.put(
        f"{lab.url}/user/bob/api/contents/notes.txt",
        json={"type": "file", "format": "text", "content": "kept across restarts"}, headers=h,
    )  # fmt: skip
    assert r.status_code in (200, 201), r.text
    # A process bob starts without the stack's mark in its environment still ends with the datalab.
    escaped = bob.run(
        "import subprocess\nprint(subprocess.Popen(['env', '-i', 'sleep', '600'], start_new_session=True).pid)"
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
