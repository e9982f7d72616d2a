"""A real hub (JupyterHub + configurable-http-proxy + CatalogSpawner on the Kubernetes emulator) with the
hackathon pages (hub.configure) and two event lists, for tests/hub/pages/test_launch.py,
test_organise.py, test_sharing.py and test_pages_browser.py.

The emulator runs in fast mode (pods become Running with a stub answering HTTP) except while
`real_sessions(emu)` is active: then pods run a real jupyterhub-singleuser, which checks who calls it
(what sharing is about).
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path

from spawner.catalog import default_catalog_dir
from tests.support.browser import ARTIFACTS as BROWSER_ARTIFACTS
from tests.support.hub import run_hub
from tests.support.kube import KubeEmulator

EVENT_A = """\
display_name: Event A
groups: [event-a]
organiser_groups: [event-a-orga]
services:
  jupyter-python:
    cpu: {max: 2}
    git_repository: {default: "https://git.example.org/event-a/starter.git"}
  rstudio: {}
"""

EVENT_B = """\
display_name: Event B
groups: [event-b]
organiser_groups: [event-b-orga]
services:
  jupyter-python: {}
"""

HUB_CONFIG = """
import hub
c.JupyterHub.spawner_class = "catalog"
c.JupyterHub.allow_named_servers = True
c.Authenticator.admin_users = {{"boss"}}
c.CatalogSpawner.catalog_dir = {catalog!r}
c.CatalogSpawner.catalog_check_interval = 0.5
c.KubeSpawner.namespace = "default"
c.KubeSpawner.start_timeout = 60
c.KubeSpawner.http_timeout = 60
c.KubeSpawner.k8s_api_request_timeout = 10
# The page tests act as their users with tokens the admin mints for them; the guard that refuses those
# tokens the credentials scope by default has its own tests (tests/hub/test_request_guards.py).
c.CredentialBroker.allow_granting_to_others = True
hub.configure(c)
"""

# user -> groups
PEOPLE = {
    "ann": ["event-a"],
    "abe": ["event-a"],
    "ben": ["event-b"],
    "olga": ["event-a-orga"],
    "oscar": ["event-b-orga"],
    "boss": [],
}


def make_catalog(root: Path) -> Path:
    catalog = root / "profiles"
    shutil.copytree(default_catalog_dir(), catalog)
    (catalog / "lists" / "event-a.yaml").write_text(EVENT_A)
    (catalog / "lists" / "event-b.yaml").write_text(EVENT_B)
    return catalog


@contextmanager
def pages_hub(workdir: Path):
    """The hub (HubHandle with `.emu` and `.catalog`), its users and groups made."""
    catalog = make_catalog(workdir)
    with KubeEmulator(fast=True, workdir=workdir / "kube") as emu:
        kubeconfig = emu.write_kubeconfig(workdir / "kubeconfig")
        config = HUB_CONFIG.format(catalog=str(catalog))
        with run_hub(workdir / "hub", config, env={"KUBECONFIG": str(kubeconfig)}) as hub:
            hub.emu, hub.catalog = emu, catalog
            r = hub.api("POST", "/users", json={"usernames": list(PEOPLE)})
            assert r.status_code == 201, r.text
            groups: dict[str, list[str]] = {}
            for user, names in PEOPLE.items():
                for g in names:
                    groups.setdefault(g, []).append(user)
            for group, users in groups.items():
                r = hub.api("POST", f"/groups/{group}/users", json={"users": users})
                if r.status_code == 404:
                    r = hub.api("POST", f"/groups/{group}", json={"users": users})
                assert r.status_code in (200, 201), r.text
            yield hub


@contextmanager
def real_sessions(emu):
    """Pods started inside run a real jupyterhub-singleuser instead of the fast mode's stub."""
    emu.kubelet.fast = False
    try:
        yield
    finally:
        emu.kubelet.fast = True


def stop_all(hub) -> None:
    for user in PEOPLE:
        model = hub.api("GET", f"/users/{user}").json()
        for name in model.get("servers", {}):
            path = f"/users/{user}/servers/{name}" if name else f"/users/{user}/server"
            hub.api("DELETE", path)
            hub.wait_server(user, name, ready=False)


ARTIFACTS = BROWSER_ARTIFACTS / "pages"


def shot(page, name: str) -> None:
    """A full-page screenshot in test-artifacts/pages/."""
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
