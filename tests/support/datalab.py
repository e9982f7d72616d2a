"""One `datalab up` of the tests: a temporary state directory, free ports, per-run system account names,
and the calls tests make against it (sign in through the IdP, credentials, S3, a user's servers, kernels
and terminals)."""

from __future__ import annotations

import atexit
import functools
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import requests
from botocore.config import Config

from hub.stack.layout import DEFAULT_PORTS
from tests.support.environments import ensure_session_environments
from tests.support.idp import login
from tests.support.kernel import run_code
from tests.support.log_secrets import register_credentials, register_log, register_secret
from tests.support.procs import VENV_BIN, ManagedProcess, free_port, tool_env
from tests.support.terminal import run_in_terminal


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

    def __init__(
        self,
        state: Path,
        port: int,
        log: Path,
        accounts: str | None = None,
        env: dict[str, str] | None = None,
    ):
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
                **(env or {}),
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

    def add_user(self, name: str, groups: str = "datalab-users") -> str:
        """`datalab users add`; the new account's password."""
        added = self.cli("users", "add", name, "--groups", groups)
        assert added.returncode == 0, added.stdout + added.stderr
        return re.search(r"password: (\S+)", added.stdout).group(1)

    def terminate(self) -> float:
        """SIGTERM to `datalab up` itself (as a service manager would); seconds until it exited."""
        t0 = time.monotonic()
        self.proc.proc.send_signal(signal.SIGTERM)
        self.proc.proc.wait(30)
        return time.monotonic() - t0


@contextmanager
def running(
    prefix: str, accounts: str | None = None, before: Callable[[Path], None] | None = None
) -> Iterator[Datalab]:
    """`datalab up` in a new temporary state directory on free ports, once it is up: `.top` that directory,
    `.ports`, `.passwords` of the first users, `.runs` every `datalab up` started on its state (all stopped
    at the end, their accounts and files removed). `before(state)` runs before the first start."""
    top = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(top, 0o711)  # homes inside must be reachable by the users' accounts
    state = top / "state"
    state.mkdir()
    ports = free_ports()
    (state / "ports.json").write_text(json.dumps(ports))
    if before is not None:
        before(state)
    lab = Datalab(state, free_port(), top / "up.log", accounts)
    lab.top, lab.ports, lab.runs = top, ports, [lab]
    try:
        lab.wait_up()
        lab.passwords = dict(re.findall(r"^\s+(\w+)\s+password (\S+)", lab.output(), re.M))
        yield lab
    finally:
        for run in lab.runs:
            run.proc.stop(timeout=20)
        remove_accounts(lab.accounts)
        shutil.rmtree(top, ignore_errors=True)


class User:
    """A signed-in datalab user: API token, servers, code in their kernels and terminals; `browser` a
    session signed in with cookies, for the hub's HTML pages."""

    def __init__(self, lab: Datalab, name: str, password: str | None = None):
        self.name, self.url = name, lab.url
        self.password = password or lab.passwords[name]
        self.admin_token = sign_in(lab.url, name, self.password)  # the name run_code() expects
        self.headers = {"Authorization": f"token {self.admin_token}"}
        self.session = requests.Session()

    @functools.cached_property
    def browser(self) -> requests.Session:
        browser = requests.Session()
        r = login(browser, self.name, self.password, start_url=self.url + "/hub/oauth_login?next=/hub/home")
        assert r.status_code == 200 and r.url.endswith("/hub/home"), r.url
        return browser

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.url + path, headers=self.headers, timeout=60, **kwargs)

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(
            method, f"{self.url}/hub/api{path}", headers=self.headers, timeout=60, **kwargs
        )

    def server(self, name: str = "") -> dict:
        return self.api("GET", f"/users/{self.name}").json()["servers"].get(name) or {}

    def _server_path(self, server: str) -> str:
        return f"/users/{self.name}/" + (f"servers/{server}" if server else "server")

    def start(self, options: dict, server: str = "") -> None:
        r = self.api("POST", self._server_path(server), json=options)
        assert r.status_code in (201, 202), r.text
        deadline = time.monotonic() + 180
        while not self.server(server).get("ready"):
            assert time.monotonic() < deadline, f"{self.name}'s server {server!r} did not start"
            time.sleep(0.5)

    def stop(self, server: str = "") -> None:
        assert self.api("DELETE", self._server_path(server)).status_code in (202, 204)
        deadline = time.monotonic() + 60
        while self.server(server):
            assert time.monotonic() < deadline, f"{self.name}'s server {server!r} did not stop"
            time.sleep(0.5)

    def run(self, code: str, server: str = "", kernel: str = "python3", timeout: float = 120) -> str:
        return run_code(
            self, self.name, textwrap.dedent(code), server=server, timeout=timeout, kernel_name=kernel
        )

    def shell(self, command: str, server: str = "") -> str:
        return run_in_terminal(self, self.name, command, server=server)


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
