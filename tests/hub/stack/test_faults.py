"""Faults of the one-machine datalab (issue 15), on the real stack: SeaweedFS killed and restarted under
reads, a truncated volume, `datalab up` killed with -9, a stale stack.json, a copy of the state directory
started next to the original.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from hub.stack.supervisor import marked_pids, stack_id
from spawner.local import firewall
from tests.support.datalab import Datalab, User, free_ports, gone, remove_accounts, sign_in
from tests.support.idp import node_available
from tests.support.procs import free_port

pytestmark = pytest.mark.skipif(not node_available(), reason="the IdP's npm packages are not installed")


@pytest.fixture
def place():
    top = Path(tempfile.mkdtemp(prefix="datalab-faults-", dir="/tmp"))
    os.chmod(top, 0o711)  # homes inside must be reachable by the users' accounts
    labs: list[Datalab] = []
    accounts = "dlf" + uuid.uuid4().hex[:5] + "-{username}"
    try:
        yield top, labs, accounts
    finally:
        for lab in labs:
            lab.proc.stop(timeout=20)
        for lab in labs:  # a killed `datalab up` leaves its parts (ours, by the stack's mark) and its table
            for pid in marked_pids(stack_id(lab.state)):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if os.geteuid() == 0 and firewall.nft_path():
                firewall.apply(firewall.removal(firewall.table_name(stack_id(lab.state))))
        remove_accounts(accounts)
        shutil.rmtree(top, ignore_errors=True)


def new_state(top: Path, name: str) -> Path:
    state = top / name
    state.mkdir()
    (state / "ports.json").write_text(json.dumps(free_ports()))
    return state


def up(place, state: Path, port: int, log: str) -> Datalab:
    """`datalab up` on `state`, once it is up; stopped with the test's others at its end."""
    top, labs, accounts = place
    lab = Datalab(state, port, top / log, accounts)
    labs.append(lab)
    lab.wait_up()
    return lab


def admin_s3(state: Path, read_timeout: float = 20):
    secrets = state / "secrets"
    port = json.loads((state / "ports.json").read_text())["s3"]
    return boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="admin-" + (secrets / "s3_admin_key").read_text().strip(),
        aws_secret_access_key=(secrets / "s3_admin_secret").read_text().strip(),
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=read_timeout),
    )


def part_pid(state: Path, part: str) -> int | None:
    try:
        return json.loads((state / "stack.json").read_text())["parts"][part]["pid"]
    except (OSError, ValueError, KeyError):
        return None


def test_s3_restarts_and_a_truncated_volume(place):
    top, labs, accounts = place
    state = new_state(top, "state")
    port = free_port()
    lab = up(place, state, port, "up1.log")
    s3 = admin_s3(state)
    bodies = {f"data/part-{i:02d}.bin": os.urandom(40_000 + i) for i in range(30)}
    for key, body in bodies.items():
        s3.put_object(Bucket="user-bob", Key=key, Body=body)
    s3.put_object(Bucket="user-alice", Key="keep.txt", Body=b"alice's")

    # SeaweedFS killed: once the datalab has it back (stack.json names the new process), S3 reads and
    # writes at once, every time.
    for round_ in range(3):
        before = part_pid(state, "seaweedfs")
        os.kill(before, signal.SIGKILL)
        deadline = time.monotonic() + 120
        while part_pid(state, "seaweedfs") in (before, None):
            assert time.monotonic() < deadline, lab.output()[-3000:]
            time.sleep(0.05)
        for key, body in bodies.items():
            assert s3.get_object(Bucket="user-bob", Key=key)["Body"].read() == body, (round_, key)
        s3.put_object(Bucket="user-bob", Key=f"after-restart-{round_}", Body=b"x")
    assert lab.terminate() < 15

    # A volume file cut short while the datalab is stopped: the next start names the unreadable objects.
    data = state / "s3" / "data"
    volume = max(data.glob("user-bob_*.dat"), key=lambda p: p.stat().st_size)
    os.truncate(volume, volume.stat().st_size // 2)
    lab = up(place, state, port, "up2.log")
    out = lab.output()
    assert re.search(r"WARNING: S3 volume \d+ \(bucket user-bob, .*\) is truncated", out), out
    named = set(re.findall(r"user-bob/data/part-\d\d\.bin", out))
    assert named and named <= {f"user-bob/{k}" for k in bodies}, out
    assert "user-alice/keep.txt" not in out
    unreadable = [k for k in bodies if f"user-bob/{k}" in named]
    slow_s3 = admin_s3(state, read_timeout=60)
    with pytest.raises((ClientError, BotoCoreError)):  # really unreadable: the report is no guess
        slow_s3.get_object(Bucket="user-bob", Key=unreadable[0])["Body"].read()
    assert s3.get_object(Bucket="user-alice", Key="keep.txt")["Body"].read() == b"alice's"
    status = lab.cli("status")
    assert status.returncode == 0, status.stdout
    assert f"user-bob/{unreadable[0]}" in status.stdout, status.stdout
    assert lab.terminate() < 15
    status = lab.cli("status")  # stopped: still said, until those objects read again or are deleted
    assert f"user-bob/{unreadable[0]}" in status.stdout, status.stdout


def start_bobs_session(lab: Datalab) -> tuple[dict[str, str], str]:
    """Sign bob in, start his JupyterLab · Python and wait until it is ready; his API headers, password."""
    password = re.search(r"^\s+bob\s+password (\S+)", lab.output(), re.M).group(1)
    bob = User(lab, "bob", password)
    bob.start({"service": "jupyter-python"})
    h = bob.headers
    return h, password


def session_cgroups(accounts: str) -> list[Path]:
    """The session cgroups left on this machine for this test's accounts (v1: one per controller)."""
    prefix = accounts.split("{username}")[0]
    root = Path("/sys/fs/cgroup")
    return sorted([*root.glob(f"datalab/{prefix}*"), *root.glob(f"*/datalab/{prefix}*")])


def test_kill_9_of_up_leaves_leftovers_the_next_start_stops(place):
    top, labs, accounts = place
    state = new_state(top, "state")
    port = free_port()
    lab = up(place, state, port, "up1.log")
    _, password = start_bobs_session(lab)
    in_cgroups = session_cgroups(accounts)
    # `datalab up` killed with -9: its parts run on unsupervised, and status says so honestly.
    hub_pid = part_pid(state, "jupyterhub")
    os.kill(lab.proc.pid, signal.SIGKILL)
    lab.proc.proc.wait(10)
    status = lab.cli("status")
    assert status.returncode == 3, status.stdout
    assert "not running, leftovers found" in status.stdout, status.stdout
    assert str(hub_pid) in status.stdout
    # The next start stops those leftovers first, then starts on the same ports.
    lab = up(place, state, port, "up3.log")
    assert re.search(r"stopped \d+ process\(es\) left over", lab.output()), lab.output()
    assert gone(hub_pid)
    assert lab.cli("status").returncode == 0
    # bob's session was one of the leftovers: the hub knows it stopped, and its cgroup is gone too.
    h = {"Authorization": f"token {sign_in(lab.url, 'bob', password)}"}
    assert not requests.get(f"{lab.url}/hub/api/users/bob", headers=h, timeout=30).json()["servers"]
    if os.geteuid() == 0 and in_cgroups:
        assert session_cgroups(accounts) == [], "a stopped session's cgroup was left behind"
    assert lab.terminate() < 15
    assert marked_pids(stack_id(state)) == []

    # A stale stack.json naming an unrelated process is not a running datalab.
    (state / "stack.json").write_text(json.dumps({"pid": 1, "parts": {}}))
    status = lab.cli("status")
    assert status.returncode == 3
    assert "not running" in status.stdout and "running (pid 1" not in status.stdout, status.stdout
    assert "stack.json is stale" in status.stdout


def test_copy_of_state_never_adopts_the_original_sessions(place):
    top, labs, accounts = place
    state = new_state(top, "original")
    lab = up(place, state, free_port(), "original.log")
    h, password = start_bobs_session(lab)

    # A copy of the whole state directory, started on other ports on the same machine.
    copy = top / "copy"
    subprocess.run(["cp", "-a", str(state), str(copy)], check=True)
    (copy / "ports.json").write_text(json.dumps(free_ports()))
    twin = up(place, copy, free_port(), "copy.log")
    twin_token = sign_in(twin.url, "bob", password)
    th = {"Authorization": f"token {twin_token}"}
    servers = requests.get(f"{twin.url}/hub/api/users/bob", headers=th, timeout=30).json()["servers"]
    assert not servers, servers  # the copy does not claim bob's running session
    assert twin.terminate() < 15
    # ... and stopping the copy left the original's session alone.
    r = requests.get(f"{lab.url}/user/bob/api/status", headers=h, timeout=30)
    assert r.status_code == 200, r.text
    model = requests.get(f"{lab.url}/hub/api/users/bob", headers=h, timeout=30).json()["servers"][""]
    assert model["ready"]
    assert lab.terminate() < 15
