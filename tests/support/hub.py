"""A real JupyterHub 6 with a real configurable-http-proxy on free 127.0.0.1 ports, for end-to-end tests.

The proxy is started here (not by the hub, which would put it in its own session where stop() could miss
it), so both processes are ManagedProcess groups and stop() kills them for sure. The hub gets a sqlite db
and cookie secret in the workdir and an admin API service token; `config` is appended after the base.
"""

from __future__ import annotations

import os
import secrets
import time
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support.log_secrets import register_secret
from tests.support.procs import (
    NODE_BIN,
    VENV_BIN,
    ManagedProcess,
    free_port,
    tool_env,
    wait_for_http,
    wait_for_port,
)

ADMIN_SERVICE = "test-admin"

# A catalog hub on the Kubernetes spawner, configured by hub.configure (the test's KUBECONFIG says where).
KUBE_CATALOG_CONFIG = """
import hub
c.JupyterHub.spawner_class = "catalog"
c.KubeSpawner.namespace = "default"
c.KubeSpawner.start_timeout = 60
c.KubeSpawner.http_timeout = 60
hub.configure(c)
"""

BASE_CONFIG = """\
# Base written by tests/support/hub.py; the test's own config follows.
c = get_config()  # noqa
c.JupyterHub.bind_url = {public_url!r}
c.JupyterHub.hub_bind_url = {hub_url!r}
c.JupyterHub.db_url = {db_url!r}
c.JupyterHub.cookie_secret_file = {cookie_file!r}
c.JupyterHub.pid_file = {pid_file!r}
c.JupyterHub.cleanup_servers = True
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = {proxy_api!r}
c.ConfigurableHTTPProxy.auth_token = {proxy_token!r}
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.services = [{{"name": {service!r}, "api_token": {admin_token!r}}}]
c.JupyterHub.load_roles = [{{"name": "admin", "services": [{service!r}]}}]
# Local spawners only: KubeSpawner keeps the image's command (the emulator's kubelet maps it).
c.LocalProcessSpawner.cmd = [{singleuser!r}]
c.LocalProcessSpawner.args = {local_args!r}
c.Spawner.http_timeout = 60
c.Spawner.start_timeout = 90
"""


class HubHandle:
    """A running hub + proxy. `.url` is the public (proxy) URL, `.hub_api` the hub's REST API base."""

    def __init__(
        self, workdir: Path, hub: ManagedProcess, proxy: ManagedProcess, *, url, hub_url, admin_token
    ):
        self.workdir = workdir
        self.hub_proc = hub
        self.proxy_proc = proxy
        self.url = url
        self.hub_url = hub_url
        self.hub_api = f"{hub_url}/hub/api"
        self.admin_token = admin_token
        self.session = requests.Session()

    def api(self, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
        """Call the hub REST API (path relative to /hub/api), as the admin service unless `token` is given."""
        headers = dict(kwargs.pop("headers", None) or {})
        headers.setdefault("Authorization", f"token {token or self.admin_token}")
        kwargs.setdefault("timeout", 60)
        return self.session.request(method, self.hub_api + path, headers=headers, **kwargs)

    def get(self, path: str, token: str | None = None, **kwargs) -> requests.Response:
        """GET a public URL through the proxy (e.g. /user/alice/api/status), as the admin by default."""
        headers = dict(kwargs.pop("headers", None) or {})
        headers.setdefault("Authorization", f"token {token or self.admin_token}")
        kwargs.setdefault("timeout", 30)
        return self.session.get(self.url + path, headers=headers, **kwargs)

    def login(self, user: str, password: str = "password") -> requests.Session:
        """A browser-like session logged in through the hub's login form (pages refuse API tokens)."""
        browser = requests.Session()
        browser.get(self.url + "/hub/login", timeout=30).raise_for_status()
        form = {"username": user, "password": password, "_xsrf": browser.cookies.get("_xsrf", "")}
        r = browser.post(self.url + "/hub/login", data=form, allow_redirects=False, timeout=30)
        if r.status_code not in (302, 303):
            raise RuntimeError(f"login as {user} failed: {r.status_code} {r.text[:500]}")
        return browser

    def log(self) -> str:
        return self.hub_proc.log()

    def server(self, user: str, name: str = "") -> dict | None:
        """The user's server model from the REST API (None when it does not exist)."""
        r = self.api("GET", f"/users/{user}")
        r.raise_for_status()
        return r.json().get("servers", {}).get(name)

    def spawn(self, user: str, options: dict, name: str = "") -> requests.Response:
        """Ask the REST API to start the user's server (`name` for a named one) with these user_options."""
        path = f"/users/{user}/servers/{name}" if name else f"/users/{user}/server"
        return self.api("POST", path, json=options)

    def wait_server(
        self, user: str, name: str = "", *, ready: bool = True, timeout: float = 90.0
    ) -> dict | None:
        """Poll until the server is ready (or gone, with ready=False); raise with the hub log tail if not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.server(user, name)
            if ready and model and model.get("ready"):
                return model
            if ready and model is None:
                raise RuntimeError(f"server {user}/{name!r} went away while starting:\n{self.log()[-3000:]}")
            if not ready and model is None:
                return None
            time.sleep(0.2)
        raise TimeoutError(
            f"server {user}/{name!r} not {'ready' if ready else 'stopped'}:\n{self.log()[-3000:]}"
        )

    def alive(self) -> bool:
        return self.hub_proc.alive() and self.proxy_proc.alive()

    def stop(self) -> None:
        """Stop the hub (it stops its servers first), then the proxy; both process groups are killed."""
        try:
            self.hub_proc.stop(timeout=30)
        finally:
            self.proxy_proc.stop()
            self.session.close()


def _proxy(
    workdir: Path, public_port: int, api_port: int, hub_port: int, token: str, host_routing: bool = False
) -> ManagedProcess:
    argv = [
        NODE_BIN / "configurable-http-proxy",
        "--ip", "127.0.0.1", "--port", public_port,
        "--api-ip", "127.0.0.1", "--api-port", api_port,
        "--error-target", f"http://127.0.0.1:{hub_port}/hub/error",
        "--log-level", "warn",
        *(["--host-routing"] if host_routing else []),
    ]  # fmt: skip
    proc = ManagedProcess(
        argv, log_path=workdir / "proxy.log", env=tool_env({"CONFIGPROXY_AUTH_TOKEN": token})
    )
    return proc


def start_hub(
    workdir: Path, config: str, *, env: dict | None = None, timeout: float = 60.0, host_routing: bool = False
) -> HubHandle:
    """Start proxy then hub; return once /hub/health answers through the proxy.

    `host_routing`: the proxy routes by host too, as JupyterHub's own proxy does with `subdomain_host`
    (which the config then sets)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    public_port, api_port, hub_port = free_port(), free_port(), free_port()
    admin_token, proxy_token = secrets.token_hex(32), secrets.token_hex(32)
    register_secret(admin_token, proxy_token)
    public_url, hub_url = f"http://127.0.0.1:{public_port}", f"http://127.0.0.1:{hub_port}"
    base = BASE_CONFIG.format(
        public_url=public_url + "/",
        hub_url=hub_url,
        db_url=f"sqlite:///{workdir / 'jupyterhub.sqlite'}",
        cookie_file=str(workdir / "jupyterhub_cookie_secret"),
        pid_file=str(workdir / "jupyterhub.pid"),
        proxy_api=f"http://127.0.0.1:{api_port}",
        proxy_token=proxy_token,
        service=ADMIN_SERVICE,
        admin_token=admin_token,
        singleuser=str(VENV_BIN / "jupyterhub-singleuser"),
        local_args=["--allow-root"] if os.geteuid() == 0 else [],
    )
    config_file = workdir / "jupyterhub_config.py"
    config_file.write_text(base + "\n" + config)
    proxy = _proxy(workdir, public_port, api_port, hub_port, proxy_token, host_routing)
    hub = None
    try:
        wait_for_port("127.0.0.1", api_port, timeout=timeout, proc=proxy)
        hub = ManagedProcess(
            [VENV_BIN / "jupyterhub", "-f", config_file],
            log_path=workdir / "hub.log",
            env=tool_env(env),
            cwd=workdir,
            name="jupyterhub",
        )
        wait_for_http(f"{public_url}/hub/health", timeout=timeout, proc=hub)
    except BaseException:
        if hub is not None:
            hub.stop()
        proxy.stop()
        raise
    return HubHandle(workdir, hub, proxy, url=public_url, hub_url=hub_url, admin_token=admin_token)


@contextmanager
def run_hub(
    workdir: Path, config: str, *, env: dict | None = None, timeout: float = 60.0, host_routing: bool = False
):
    """Context manager around start_hub(): yields a HubHandle, stops hub and proxy on exit."""
    handle = start_hub(workdir, config, env=env, timeout=timeout, host_routing=host_routing)
    try:
        yield handle
    finally:
        handle.stop()
