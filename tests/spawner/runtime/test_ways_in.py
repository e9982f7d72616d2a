"""One table of options, through every way in (REST API, the spawn form, JupyterHub's /hub/spawn query,
launch links), against both backends (CatalogSpawner on the Kubernetes emulator, LocalCatalogSpawner):
the same options are refused the same way, with the same message, and nothing starts; valid ones start.

Real JupyterHub + configurable-http-proxy; the Kubernetes emulator in fast mode (pods answer HTTP without
running a session); the local backend starts real sessions (as system accounts when run as root).
"""

from __future__ import annotations

import html
import ipaddress
import os
import shutil
import socket
import sqlite3
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.support.environments import ensure_session_environments
from tests.support.hub import KUBE_CATALOG_CONFIG, run_hub
from tests.support.kube import KubeEmulator
from tests.support.procs import wait_until

pytestmark = pytest.mark.e2e


LOCAL_CONFIG = """
import hub
c.JupyterHub.spawner_class = "local-catalog"
c.LocalCatalogSpawner.state_dir = {state!r}
c.LocalCatalogSpawner.account_template = {template!r}
c.LocalCatalogSpawner.single_user = "ana"
c.LocalCatalogSpawner.machine_cpus = 8.0  # the catalog's own bounds, as on a cluster (not capped to this machine)
c.LocalCatalogSpawner.cmd = ["jupyterhub-singleuser"]  # the session environment's
c.LocalProcessSpawner.interrupt_timeout = 3
c.LocalProcessSpawner.term_timeout = 2
hub.configure(c)
"""

USER = "ana"  # in datalab-users: the default list offers jupyter-python (cpu 0.5 to 4), not the GPU one

REFUSED = [
    ({"service": "jupyter-python", "cpu": "99"}, 400, "cpu: 99 is not allowed; allowed: between 0.5 and 4"),
    ({"service": "jupyter-python", "bogus": "x"}, 400, "unknown option 'bogus'"),
    # KubeSpawner's own knobs and environment variables are no options, whichever way they come in.
    (
        {"service": "jupyter-python", "kubespawner_override": "{}"},
        400,
        "unknown option 'kubespawner_override'",
    ),
    ({"service": "jupyter-python", "environment": "LD_PRELOAD=x"}, 400, "unknown option 'environment'"),
    ({"service": "jupyter-python-gpu"}, 403, "service 'jupyter-python-gpu' is not offered to you"),
    ({"service": "jupyter-python", "git_repository": "file:///etc"}, 400, "only https:// repository URLs"),
    # The session would knock on this machine's (or the cluster's) own services.
    (
        {"service": "jupyter-python", "git_repository": "https://127.0.0.1:1/x.git"},
        400,
        "is a loopback address",
    ),
    (
        {"service": "jupyter-python", "git_repository": "https://2130706433/x.git"},
        400,
        "is a loopback address",
    ),
    ({"service": "jupyter-python", "git_repository": "https://169.254.169.254/x.git"}, 400, "link-local"),
]
WAYS = ["rest", "form", "query", "launch"]
CARD_OPTIONS = ("image", "cpu", "memory", "storage", "gpu", "git_repository", "postgres")


@pytest.fixture(scope="module", params=["kube", "local"])
def hub(request, tmp_path_factory):
    work = tmp_path_factory.mktemp(request.param)
    if request.param == "kube":
        with KubeEmulator(fast=True, workdir=work / "kube") as emu:
            env = {"KUBECONFIG": str(emu.write_kubeconfig(work / "kubeconfig"))}
            with run_hub(work / "hub", KUBE_CATALOG_CONFIG, env=env) as handle:
                yield _with_user(handle)
        return
    # Homes must be reachable by the session accounts: not under pytest's 0700 temporary directory.
    top = Path(tempfile.mkdtemp(prefix="datalab-ways-", dir="/tmp"))
    os.chmod(top, 0o711)
    template = "dlt" + uuid.uuid4().hex[:5] + "-{username}"
    try:
        ensure_session_environments()
        config = LOCAL_CONFIG.format(state=str(top / "state"), template=template)
        with run_hub(work / "hub", config) as handle:
            yield _with_user(handle)
    finally:
        if os.geteuid() == 0:
            import subprocess

            subprocess.run(["userdel", template.format(username=USER)], capture_output=True)
        shutil.rmtree(top, ignore_errors=True)


def _with_user(handle):
    assert handle.api("POST", f"/users/{USER}").status_code == 201
    assert handle.api("POST", "/groups/datalab-users", json={"users": [USER]}).status_code in (200, 201)
    handle.browser = handle.login(USER)
    return handle


def form_fields(options: dict) -> dict:
    """What the spawn form posts for these options: the card's fields are `<service>--<option>`."""
    service = options["service"]
    fields = {"service": service}
    for key, value in options.items():
        if key != "service":
            fields[f"{service}--{key}" if key in CARD_OPTIONS else key] = value
    return fields


def attempt(hub, way: str, options: dict):
    """(status, text the user is shown) for a spawn of USER's default server through `way`."""
    b = hub.browser
    xsrf = b.cookies.get("_xsrf", "")
    if way == "rest":
        r = hub.api("POST", f"/users/{USER}/server", json=options)
        return r.status_code, (r.json().get("message", "") if r.content else "")
    if way == "form":
        data = {**form_fields(options), "_xsrf": xsrf}
        r = b.post(f"{hub.url}/hub/spawn/{USER}", data=data, allow_redirects=False, timeout=60)
    elif way == "query":
        r = b.get(f"{hub.url}/hub/spawn/{USER}?{urlencode(options)}", allow_redirects=False, timeout=60)
    else:
        query = urlencode({**options, "autostart": "1"})
        r = b.get(f"{hub.url}/hub/datalab/launch?{query}", allow_redirects=False, timeout=60)
    return r.status_code, html.unescape(r.text)


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize(("options", "status", "message"), REFUSED)
def test_refused_the_same_way_everywhere(hub, way, options, status, message):
    got, text = attempt(hub, way, options)
    assert got == status and message in text, (got, text[-2000:])
    server = hub.server(USER)
    assert not server or not (server.get("ready") or server.get("pending")), server


@pytest.mark.parametrize("way", WAYS)
def test_valid_options_start_through_every_way(hub, way):
    got, _ = attempt(hub, way, {"service": "jupyter-python", "cpu": "1", "memory": "2"})
    assert got in (201, 202, 302, 303), got
    model = hub.wait_server(USER, timeout=120)
    assert model["user_options"]["service"] == "jupyter-python"
    assert float(model["user_options"]["cpu"]) == 1.0
    assert hub.api("DELETE", f"/users/{USER}/server").status_code in (202, 204)
    wait_until(lambda: not hub.server(USER), timeout=60, what="the server to stop")


def test_a_repository_host_resolving_to_this_machine_is_refused(hub):
    """Names are resolved too (at spawn, off the event loop): the machine's own name is loopback here."""
    name = socket.gethostname()
    try:
        found = {info[4][0] for info in socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)}
    except OSError:
        found = set()
    if not found or not all(ipaddress.ip_address(a).is_loopback for a in found):
        pytest.skip(f"this machine's name {name!r} does not resolve to loopback only")
    options = {"service": "jupyter-python", "git_repository": f"https://{name}:1/x.git"}
    got, text = attempt(hub, "rest", options)
    assert got == 400 and f"{name} (" in text and "is a loopback address" in text, (got, text)
    assert "git_allowed_hosts" in text
    server = hub.server(USER)
    assert not server or not (server.get("ready") or server.get("pending")), server


@pytest.mark.parametrize("name", ["environment", "kubespawner_override", "env", "cmd"])
def test_the_form_refuses_a_card_field_that_is_no_option(hub, name):
    """`<card>--<name>` fields that no card has are refused like any unknown option, never dropped."""
    b = hub.browser
    data = {"service": "jupyter-python", f"jupyter-python--{name}": "x", "_xsrf": b.cookies.get("_xsrf", "")}
    r = b.post(f"{hub.url}/hub/spawn/{USER}", data=data, allow_redirects=False, timeout=60)
    assert r.status_code == 400 and "unknown option" in html.unescape(r.text), r.status_code
    server = hub.server(USER)
    assert not server or not (server.get("ready") or server.get("pending")), server


def test_a_refused_spawn_stores_nothing_and_its_message_quotes_little(hub):
    """A key with a line break forged a line of JupyterHub's log; refused options stayed in its database."""
    forged = "FORGED-" + uuid.uuid4().hex
    options = {
        "service": "jupyter-python",
        f"evil\n{forged} admin in": "x" * 1500,
    }
    got, text = attempt(hub, "rest", options)
    assert got == 400 and "unknown option 'evil\\n" in text and len(text) < 400, (got, text)
    assert not [line for line in hub.log().splitlines() if line.startswith(forged)]
    assert "x" * 100 not in hub.log()
    model = hub.api("GET", f"/users/{USER}", params={"include_stopped_servers": "1"}).json()
    stored = (model.get("servers", {}).get("") or {}).get("user_options") or {}
    assert not [k for k in stored if k.startswith("evil")], stored
    with sqlite3.connect(hub.workdir / "jupyterhub.sqlite") as db:  # what JupyterHub keeps, not only shows
        saved = [row[0] or "" for row in db.execute("SELECT user_options FROM spawners")]
    assert not [o for o in saved if "evil" in o or "x" * 100 in o], [o[:200] for o in saved]
    # A value too long for any option is refused before anything looks into it.
    got, text = attempt(hub, "rest", {"service": "jupyter-python", "image": "r" * 60_000})
    assert got == 400 and "60000 characters; at most 2048" in text and len(text) < 400, (got, text[:400])
    server = hub.server(USER)
    assert not server or not (server.get("ready") or server.get("pending")), server
