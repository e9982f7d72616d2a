"""A real jupyter-server process with S3MountContentsManager, driven through its REST API (requests).

One server per test module (startup costs seconds on a busy machine); tests work in their own folders.
"""

from __future__ import annotations

import json
import secrets
import urllib.parse
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support.procs import VENV_BIN, ManagedProcess, free_port, tool_env, wait_for_http

MANAGER = "jupyter_s3_ext.contents.S3MountContentsManager"


class Jupyter:
    def __init__(self, url: str, token: str, proc: ManagedProcess, root: Path):
        self.url, self.token, self.proc, self.root = url, token, proc, root
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"token {token}"

    def api(self, method: str, path: str, *, params=None, body=None, timeout=60) -> requests.Response:
        """Call /api/contents/<path> (path is URL-encoded here, segment by segment)."""
        url = f"{self.url}/api/contents/{urllib.parse.quote(path, safe='/')}"
        req = self.http.prepare_request(
            requests.Request(method, url, params=params, data=None if body is None else json.dumps(body))
        )
        # requests removes `.` and `..` segments while preparing: send the path exactly as given.
        query = req.url.partition("?")[2]
        req.url = url + ("?" + query if query else "")
        return self.http.send(req, timeout=timeout)

    def raw(self, method: str, url_path: str, **kw) -> requests.Response:
        return self.http.request(method, f"{self.url}{url_path}", timeout=60, **kw)

    def log(self) -> str:
        return self.proc.log()


def server_config(s3: dict | None, *, extra: str = "", manager: str = MANAGER) -> str:
    section = manager.rsplit(".", 1)[-1]
    lines = [
        f"c.ServerApp.contents_manager_class = {manager!r}",
        "c.FileContentsManager.delete_to_trash = False",
        "c.FileContentsManager.always_delete_dir = True",
        # Our extension as in every session (it starts and stops the S3 side); another manager runs bare.
        f"c.ServerApp.jpserver_extensions = {{'jupyter_s3_ext': {manager == MANAGER}, 'jupyterlab': False}}",
    ]
    for k, v in (s3 or {}).items():
        lines.append(f"c.{section}.{k} = {v!r}")
    return "\n".join(lines) + "\n" + extra


@contextmanager
def run_jupyter(
    workdir: Path,
    s3: dict | None,
    *,
    env: dict | None = None,
    extra: str = "",
    manager: str = MANAGER,
    server_bin: Path | None = None,
):
    """A jupyter-server (ours by default; `server_bin` and `manager` let benchmarks run another one)."""
    workdir = Path(workdir)
    root = workdir / "home"
    root.mkdir(parents=True, exist_ok=True)
    (workdir / "jupyter_server_config.py").write_text(server_config(s3, extra=extra, manager=manager))
    port = free_port()
    token = secrets.token_hex(16)
    argv = [
        server_bin or VENV_BIN / "jupyter-server",
        f"--config={workdir / 'jupyter_server_config.py'}",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",
        "--no-browser",
        "--allow-root",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={token}",
    ]
    base_env = {
        "JUPYTER_CONFIG_DIR": str(workdir / "cfg"),
        "JUPYTER_DATA_DIR": str(workdir / "data"),
        "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"),
        "HOME": str(workdir),
    }
    full_env = tool_env(base_env)
    for k in (
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_S3_ENDPOINT",
        "DATALAB_S3_BUCKET",
        "DATALAB_S3_PREFIX",
        "DATALAB_CREDENTIALS_FILE",
        "DATALAB_S3_BROWSER_ENDPOINT",  # set only where a test turns direct uploads on
    ):
        full_env.pop(k, None)
    full_env.update(env or {})
    proc = ManagedProcess(argv, log_path=workdir / "jupyter.log", env=full_env, name="jupyter-server")
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/api/status?token={token}", timeout=90, proc=proc)
        yield Jupyter(url, token, proc, root)
    finally:
        proc.stop()
