"""SeaweedFS (`weed mini`) for tests: S3 (+ optional STS) on 127.0.0.1, every port it opens pinned to a free one.

    with run_seaweedfs(tmp_path, identities=[identity("reader", "AKR", "SKR", ["Read", "List"])],
                       iam={"sts": {...}, "providers": [...], "roles": [...], "policies": [...]}) as s3:
        s3.endpoint, s3.access_key, s3.secret_key      # the admin identity (always present)
        s3.client()                                    # boto3 S3 client as admin (or other keys)
        s3.stop(hard=True); s3.start()                # "endpoint killed mid-test", same ports and data

The session-scoped pytest fixture `seaweedfs` serves tests that only need a shared admin endpoint:
import it in a conftest (`from tests.support.seaweedfs import seaweedfs  # noqa: F401`) and give each
test its own bucket. Pinning every port (gRPC too) matters: tests run in parallel on one machine and
`weed mini`'s defaults (8333, 9333, 8888, ...) would collide.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import time
from contextlib import closing, contextmanager
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from tests.support.log_secrets import register_secret
from tests.support.procs import VENV_BIN, ManagedProcess, free_port, tool_env, wait_for_http, wait_for_port

REGION = "us-east-1"
ADMIN_ACTIONS = ["Admin", "Read", "Write", "List", "Tagging"]


def identity(name: str, access_key: str, secret_key: str, actions: list[str]) -> dict:
    """One static identity for s3.json; actions like "Read", "Write", "List" or "Read:bucket"."""
    return {
        "name": name,
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": list(actions),
    }


def _port_pair_free(port: int) -> bool:
    for p in (port, port + 10000):
        with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                return False
    return True


def _admin_port() -> int:
    """A free port P below 55536 with P + 10000 free too: weed's worker dials admin + 10000 whatever
    `-admin.port.grpc` says, so the admin gRPC port is pinned to exactly that."""
    for _ in range(200):
        p = free_port()
        if p < 55536 and _port_pair_free(p):
            return p
    raise RuntimeError("no free port pair for the SeaweedFS admin server")


class SeaweedFS:
    """A `weed mini` with its own data dir, static identities (admin first) and an optional IAM/STS config."""

    def __init__(
        self,
        workdir: Path,
        *,
        identities: list[dict] | None = None,
        iam: dict | None = None,
        buckets: list[str] | tuple[str, ...] = (),
        start: bool = True,
    ):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.access_key = "admin" + secrets.token_hex(6)
        self.secret_key = secrets.token_hex(20)
        register_secret(self.secret_key)
        self.region = REGION
        self.identities = [identity("admin", self.access_key, self.secret_key, ADMIN_ACTIONS)]
        self.identities += list(identities or [])
        self.iam = iam
        self.buckets = list(buckets)
        admin = _admin_port()
        self.ports = {
            "s3": free_port(),
            "s3.grpc": free_port(),
            "master": free_port(),
            "master.grpc": free_port(),
            "volume": free_port(),
            "volume.grpc": free_port(),
            "filer": free_port(),
            "filer.grpc": free_port(),
            "admin": admin,
            "admin.grpc": admin + 10000,
            "webdav": free_port(),
        }
        self.endpoint = f"http://127.0.0.1:{self.ports['s3']}"
        self.proc: ManagedProcess | None = None
        if start:
            self.start()

    # -- process ---------------------------------------------------------------------------------------
    def argv(self) -> list[str]:
        (self.workdir / "s3.json").write_text(json.dumps({"identities": self.identities}, indent=1))
        flags: dict[str, object] = {
            "dir": self.workdir / "data",
            "ip": "127.0.0.1",
            "ip.bind": "127.0.0.1",
            "admin.ui": "false",
            "webdav": "false",
            "master.telemetry": "false",
            "s3.port.iceberg": 0,
            "s3.port.lance": 0,
            "debug.port": 0,
            "s3.debug.port": 0,
            "s3.config": self.workdir / "s3.json",
        }
        for name, port in self.ports.items():
            flags[name.replace(".grpc", ".port.grpc") if ".grpc" in name else f"{name}.port"] = port
        if self.iam is not None:
            (self.workdir / "iam.json").write_text(json.dumps(self.iam, indent=1))
            flags["s3.iam.config"] = self.workdir / "iam.json"
        (self.workdir / "data").mkdir(exist_ok=True)
        return [str(VENV_BIN / "weed"), "mini", *(f"-{k}={v}" for k, v in flags.items())]

    def start(self, timeout: float = 60.0) -> None:
        """Start (or restart after stop()) on the same ports and data dir; return when S3 answers."""
        if self.proc is not None and self.proc.alive():
            return
        env = tool_env({"HOME": str(self.workdir)})
        self.proc = ManagedProcess(
            self.argv(), log_path=self.workdir / "weed.log", env=env, cwd=self.workdir, name="weed"
        )
        try:
            wait_for_port("127.0.0.1", self.ports["s3"], timeout=timeout, proc=self.proc)
            # Any HTTP answer (403 for an anonymous list) means the S3 gateway is serving.
            wait_for_http(self.endpoint + "/", timeout=timeout, proc=self.proc, ok=(200, 403))
            self._wait_writable(timeout)
            self._make_buckets()
        except BaseException:
            self.proc.stop()
            raise

    def _wait_writable(self, timeout: float) -> None:
        """The gateway answers before the volume server registered: wait until a write succeeds."""
        c = self.client()
        probe = "datalab-probe-" + secrets.token_hex(4)
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                c.create_bucket(Bucket=probe)
                c.put_object(Bucket=probe, Key="probe", Body=b"ok")
                c.delete_object(Bucket=probe, Key="probe")
                c.delete_bucket(Bucket=probe)
                return
            except Exception as e:  # retried until the deadline, then reported
                last = e
                time.sleep(0.2)
        raise TimeoutError(f"SeaweedFS at {self.endpoint} not writable after {timeout}s: {last}")

    def _make_buckets(self) -> None:
        """Create the requested buckets before start() returns (weed's -bucket flag does it later)."""
        c = self.client()
        for b in self.buckets:
            try:
                c.create_bucket(Bucket=b)
            except c.exceptions.BucketAlreadyOwnedByYou:
                pass
            except c.exceptions.BucketAlreadyExists:
                pass

    def stop(self, *, hard: bool = False) -> None:
        """Stop gracefully, or with hard=True kill the group at once (a crashed endpoint)."""
        if self.proc is not None:
            if hard and self.proc.alive():
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.stop()

    def restart(self) -> None:
        self.stop()
        self.start()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def log(self) -> str:
        return self.proc.log() if self.proc else ""

    # -- clients ---------------------------------------------------------------------------------------
    def client(self, access_key: str | None = None, secret_key: str | None = None, session_token=None):
        """A boto3 S3 client (admin keys by default), short timeouts, path-style addressing."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            aws_session_token=session_token,
            config=Config(
                connect_timeout=5,
                read_timeout=30,
                retries={"max_attempts": 2},
                s3={"addressing_style": "path"},
            ),
        )

    def sts(self, access_key: str | None = None, secret_key: str | None = None):
        """A boto3 STS client pointed at the S3 endpoint (SeaweedFS serves STS there, as MinIO does)."""
        return boto3.client(
            "sts",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
        )

    def make_bucket(self, name: str | None = None) -> str:
        """Create a bucket with a fresh (or the given) name and return the name."""
        name = name or "t-" + secrets.token_hex(6)
        self.client().create_bucket(Bucket=name)
        return name


@contextmanager
def run_seaweedfs(workdir: Path, **kwargs):
    sw = SeaweedFS(workdir, **kwargs)
    try:
        yield sw
    finally:
        sw.stop()


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory):
    """One shared SeaweedFS (admin identity only) for the whole session; tests use their own buckets."""
    with run_seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as sw:
        yield sw
