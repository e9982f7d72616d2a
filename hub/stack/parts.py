"""The five processes of `datalab up`: IdP, SeaweedFS, OpenBao, proxy and hub, each with its command line,
environment, log, working directory and the answer that says it is ready. hub/stack/up.py starts them in
order and the supervisor (hub/stack/supervisor.py) keeps them running.
"""

from __future__ import annotations

import os

from . import seaweed, versions
from .layout import Layout, browser_origins, secret
from .supervisor import STACK_ENV, Part


def base_env(layout: Layout, mark: str) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(versions.VENV_BIN), str(versions.NODE_BIN), env.get("PATH", "/usr/bin:/bin")]
    env["PATH"] = os.pathsep.join(paths)
    env[STACK_ENV] = mark
    env["DATALAB_STATE_DIR"] = str(layout.root)
    return env


def parts(
    layout: Layout, ports: dict[str, int], mark: str, host: str, port: int, url: str, issuer: str
) -> dict[str, Part]:
    """The processes by name, for `datalab up` on `layout` with `ports`, public at `host`:`port` (`url`)."""
    lay, p, env = layout, ports, base_env(layout, mark)
    logs = lay.logs
    idp = Part(
        "idp",
        ["node", str(versions.IDP_JS), "--host", "127.0.0.1", "--port", str(p["idp"]), "--issuer",
         issuer, "--users", str(lay.users_file), "--clients", str(lay.idp / "clients.yaml"),
         "--state", str(lay.idp / "state")],
        logs / "idp.log", env, issuer,
        health_url=issuer + "/.well-known/openid-configuration",
    )  # fmt: skip
    s3 = Part(
        "seaweedfs",
        seaweed.argv(versions.tool("weed"), lay, p, browser_origins(host, port) or [url]),
        logs / "seaweedfs.log",
        env,
        f"http://127.0.0.1:{p['s3']}",
        health_url=f"http://127.0.0.1:{p['s3']}/",
        ready_codes=(200, 400, 403),
        cwd=lay.s3,  # where it reads security.toml
        umask=0o077,  # its unix sockets (some fixed in /tmp) for its own account only
    )
    vault = Part(
        "openbao",
        [versions.tool("bao"), "server", f"-config={lay.vault / 'config.hcl'}"],
        logs / "openbao.log",
        {**env, "HOME": str(lay.vault)},
        f"http://127.0.0.1:{p['vault']}",
        health_url=f"http://127.0.0.1:{p['vault']}/v1/sys/health",
        ready_codes=(200, 429, 472, 473, 501, 503),
        umask=0o077,
    )
    proxy_env = {**env, "CONFIGPROXY_AUTH_TOKEN": secret(lay, "proxy_token")}
    proxy = Part(
        "proxy",
        [versions.chp(), "--ip", host, "--port", str(port), "--api-ip", "127.0.0.1",
         "--api-port", str(p["proxy_api"]), "--error-target", f"http://127.0.0.1:{p['hub']}/hub/error",
         "--log-level", "warn"],
        logs / "proxy.log", proxy_env, url,
        health_url=f"http://127.0.0.1:{p['proxy_api']}/api/routes", ready_codes=(200, 401, 403),
    )  # fmt: skip
    hub_env = {**proxy_env, "JUPYTERHUB_CRYPT_KEY": secret(lay, "crypt_key")}
    hub = Part(
        "jupyterhub",
        [str(versions.VENV_BIN / "jupyterhub"), "-f", str(lay.hub / "jupyterhub_config.py")],
        logs / "jupyterhub.log",
        hub_env,
        f"http://127.0.0.1:{p['hub']}",
        health_url=f"{url}/hub/health",
        cwd=lay.hub,
        stop_timeout=7.0,
    )
    return {x.name: x for x in (idp, s3, vault, proxy, hub)}
