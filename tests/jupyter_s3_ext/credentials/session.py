"""A real Jupyter server with the extension, in its own HOME, and real kernels started through it.

with run_session(tmp_path, env={...}) as session:
    session.status()                      # GET /datalab/credentials/status
    kernel = session.kernel()             # a kernel started by the server: it inherits the server's env
    kernel.run("print(1)")                # -> "1\n" (raises KernelError with the traceback on error)
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from contextlib import contextmanager
from pathlib import Path

import requests
from jupyter_client import BlockingKernelClient
from tornado.websocket import websocket_connect

from tests.support.procs import VENV_BIN, free_port, start_when_ready, tool_env

# Variables of the test runner that must not leak into the session under test.
SCRUBBED = ("AWS_", "VAULT_", "BAO_", "JUPYTERHUB_", "JPY_", "DATALAB_", "XDG_RUNTIME_DIR", "JUPYTER_")


class KernelError(AssertionError):
    pass


class Kernel:
    """A client of a kernel some Jupyter server started (found by its connection file)."""

    def __init__(self, connection_file: Path, kernel_id: str = ""):
        self.id = kernel_id
        deadline = time.monotonic() + 30
        while not Path(connection_file).exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.client = BlockingKernelClient(connection_file=str(connection_file))
        self.client.load_connection_file()
        self.client.start_channels()
        # Without a kernel manager the client judges by heartbeat, and a kernel still importing after 1 s
        # (a loaded machine) looks dead to it: ask again until the deadline.
        deadline = time.monotonic() + 90
        while True:
            try:
                self.client.wait_for_ready(timeout=max(deadline - time.monotonic(), 1))
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def run(self, code: str, timeout: float = 60) -> str:
        out: list[str] = []
        errors: list[str] = []

        def hook(msg):
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "error":
                errors.append("\n".join(content["traceback"]))

        reply = self.client.execute_interactive(code, timeout=timeout, output_hook=hook)
        if errors or reply["content"]["status"] != "ok":
            raise KernelError(f"kernel error running:\n{code}\n{''.join(errors)}\n{''.join(out)}")
        return "".join(out)

    def close(self) -> None:
        self.client.stop_channels()


PLAIN_CONTENTS = "jupyter_server.services.contents.largefilemanager.AsyncLargeFileManager"


class SessionServer:
    def __init__(self, workdir: Path, env: dict[str, str], args=(), contents_manager: str = PLAIN_CONTENTS):
        self.workdir = Path(workdir)
        self.home = self.workdir / "home"
        self.runtime_dir = self.workdir / "runtime"
        for d in (self.home, self.runtime_dir, self.workdir / "config", self.workdir / "root"):
            d.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_hex(16)
        base = {k: v for k, v in tool_env().items() if not k.startswith(SCRUBBED)}
        self.env = {
            **base,
            "HOME": str(self.home),
            "JUPYTER_RUNTIME_DIR": str(self.runtime_dir),
            "JUPYTER_CONFIG_DIR": str(self.workdir / "config"),
            **env,
        }
        argv = [
            VENV_BIN / "jupyter-server",
            f"--ServerApp.port={self.port}",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={self.token}",
            "--ServerApp.open_browser=False",
            f"--ServerApp.root_dir={self.workdir / 'root'}",
            "--ServerApp.jpserver_extensions={'jupyter_s3_ext': True, 'jupyter_server_terminals': True}",
            f"--ServerApp.contents_manager_class={contents_manager}",
            *(["--allow-root"] if os.geteuid() == 0 else []),
            *args,
        ]
        self.proc = start_when_ready(
            argv,
            f"{self.url}/api/status?token={self.token}",
            log_path=self.workdir / "server.log",
            env=self.env,
            name="jupyter-server",
            timeout=90,
        )
        self.kernels: list[Kernel] = []

    def get(self, path: str, *, authenticated: bool = True) -> requests.Response:
        headers = {"Authorization": f"token {self.token}"} if authenticated else {}
        return requests.get(self.url + path, headers=headers, timeout=30)

    def status(self) -> dict:
        r = self.get("/datalab/credentials/status")
        r.raise_for_status()
        return r.json()

    def wait_status(self, predicate, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        status = self.status()
        while not predicate(status):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"status never matched: {json.dumps(status, indent=1)}\n{self.log()[-3000:]}"
                )
            time.sleep(0.5)
            status = self.status()
        return status

    def kernel(self) -> Kernel:
        r = requests.post(
            f"{self.url}/api/kernels",
            json={"name": "python3"},
            headers={"Authorization": f"token {self.token}"},
        )
        r.raise_for_status()
        kernel_id = r.json()["id"]
        kernel = Kernel(self.runtime_dir / f"kernel-{kernel_id}.json", kernel_id)
        self.kernels.append(kernel)
        return kernel

    def terminal_output(self, command: str, until: str, timeout: float = 60) -> str:
        """Run `command` in a new terminal of the server; return its output once `until` appears."""
        r = requests.post(
            f"{self.url}/api/terminals", headers={"Authorization": f"token {self.token}"}, timeout=30
        )
        r.raise_for_status()
        name = r.json()["name"]

        async def talk() -> str:
            url = f"ws://127.0.0.1:{self.port}/terminals/websocket/{name}?token={self.token}"
            ws = await websocket_connect(url)
            ws.write_message(json.dumps(["stdin", command + "\r"]))
            out = ""
            deadline = time.monotonic() + timeout
            while until not in out and time.monotonic() < deadline:
                msg = await asyncio.wait_for(ws.read_message(), timeout)
                if msg is None:
                    break
                kind, *data = json.loads(msg)
                if kind == "stdout":
                    out += data[0]
            ws.close()
            return out

        try:
            return asyncio.run(talk())
        finally:
            requests.delete(
                f"{self.url}/api/terminals/{name}",
                headers={"Authorization": f"token {self.token}"},
                timeout=30,
            )

    def log(self) -> str:
        return self.proc.log()

    def stop(self) -> None:
        # Kernels run in their own sessions: shut them down through the server (they also exit when
        # their parent dies, through ipykernel's parent poller).
        for kernel in self.kernels:
            kernel.close()
            try:
                requests.delete(
                    f"{self.url}/api/kernels/{kernel.id}",
                    headers={"Authorization": f"token {self.token}"},
                    timeout=10,
                )
            except requests.RequestException:
                pass
        self.proc.stop()


@contextmanager
def run_session(workdir: Path, env: dict[str, str], args=(), contents_manager: str = PLAIN_CONTENTS):
    server = SessionServer(workdir, env, args, contents_manager)
    try:
        yield server
    finally:
        server.stop()
