"""Run real services for tests: free 127.0.0.1 ports, processes that are always stopped, readiness waits.

Every service fixture (SeaweedFS, OpenBao, the IdP, the hub, the Kubernetes emulator's kubelet) builds on
these, so that nothing leaks between tests: each process gets its own process group and is killed with it.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import deque
from contextlib import closing
from pathlib import Path

from tests.support.log_secrets import register_log

REPO = Path(__file__).resolve().parents[2]
# The environment running the tests (.venv, or .venv-z2jh for `make test-z2jh`): its hub, its servers.
VENV_BIN = Path(sys.executable).parent
NODE_BIN = REPO / "node_modules" / ".bin"
# Where scripts/bootstrap.sh installs code-server (for VS Code sessions).
CODE_SERVER = REPO / ".datalab-tools" / "node_modules" / ".bin" / "code-server"


# Ports handed out come from below the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768
# and up by default): a port picked there and bound seconds later (a hub binds after its stack is up) can
# meanwhile become the local end of any outgoing connection on the machine, and the bind then fails.
# Each pytest-xdist worker draws from its own slice, so parallel workers do not pick the same port; a suite
# run beside another (`make test` runs the z2jh suite beside the main one) shifts its slices by
# DATALAB_TEST_PORT_SLICES.
PORT_LOW, PORT_HIGH, SLICES = 20000, 32767, 16
# The last ports handed out, not handed out again while their service may still be starting.
_handed_out: deque[int] = deque(maxlen=200)


def _port_slice() -> range:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    shift = int(os.environ.get("DATALAB_TEST_PORT_SLICES", "0"))
    index = ((int(worker) if worker.isdigit() else 0) + shift) % SLICES
    size = (PORT_HIGH - PORT_LOW) // SLICES
    return range(PORT_LOW + index * size, PORT_LOW + (index + 1) * size)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now, outside the ephemeral range, not handed out before."""
    candidates = list(_port_slice())
    random.shuffle(candidates)
    for port in candidates:
        if port in _handed_out:
            continue
        with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        _handed_out.append(port)
        return port
    raise RuntimeError(f"no free port left in {PORT_LOW}-{PORT_HIGH} for this worker")


def tool_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for child processes: the venv and node_modules first on PATH."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(VENV_BIN), str(NODE_BIN), env.get("PATH", "")])
    env.update(extra or {})
    return env


class ManagedProcess:
    """A child process in its own process group, its output in a log file, stopped for sure.

    Use as a context manager or call stop(); stop() terminates the whole group, waits, then kills.
    """

    def __init__(self, argv, *, log_path: Path, env=None, cwd=None, name: str | None = None):
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log_path)
        self.name = name or Path(self.argv[0]).name
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # closed in stop()
        register_log(self.log_path)  # scanned for secrets at the end of the run (log_secrets.py)
        self.proc = subprocess.Popen(
            self.argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env if env is not None else tool_env(),
            cwd=cwd,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        else:
            # The leader is gone; children it left in the group must go too.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def wait_for_port(host: str, port: int, timeout: float = 30.0, proc: ManagedProcess | None = None) -> None:
    """Wait until something accepts TCP connections on host:port (or the process died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited with {proc.proc.returncode}:\n{proc.log()[-4000:]}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    tail = proc.log()[-4000:] if proc else ""
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s\n{tail}")


def wait_for_http(url: str, timeout: float = 30.0, proc: ManagedProcess | None = None, ok=(200,)) -> None:
    """Wait until GET url answers with a status in `ok` (or the process died)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited with {proc.proc.returncode}:\n{proc.log()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status in ok:
                    return
                last = r.status
        except urllib.error.HTTPError as e:
            if e.code in ok:
                return
            last = e.code
        except OSError as e:
            last = e
        time.sleep(0.1)
    tail = proc.log()[-4000:] if proc else ""
    raise TimeoutError(f"{url} not ready after {timeout}s (last: {last})\n{tail}")


def wait_until(predicate, timeout: float = 30.0, what: str = "condition", interval: float = 0.1):
    """Poll `predicate` until it returns something truthy (returned); AssertionError naming `what` if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(interval)
    raise AssertionError(f"{what} not reached in {timeout}s")


def start_when_ready(
    argv,
    ready_url: str,
    *,
    log_path: Path,
    env=None,
    cwd=None,
    name: str | None = None,
    timeout: float = 60.0,
) -> ManagedProcess:
    """Start a ManagedProcess and return it once GET ready_url answers 200; stopped again if it never does."""
    proc = ManagedProcess(argv, log_path=log_path, env=env, cwd=cwd, name=name)
    try:
        wait_for_http(ready_url, timeout=timeout, proc=proc)
    except BaseException:
        proc.stop()
        raise
    return proc
