"""Hackathon features on a running hub: hot reload (valid and refused changes, banner), capacity under
20 simultaneous spawns, window end, and the startup refusal of an invalid catalog.

Real JupyterHub + configurable-http-proxy + CatalogSpawner against the Kubernetes API emulator in fast
mode (pods become Running without processes). A session's only part the hub itself needs is an HTTP
answer at the pod's address, which the emulator's fast-mode stub gives: what is tested (the catalog, the
spawner, the hub's REST API) is all real.
"""

from __future__ import annotations

import html
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from spawner.catalog import default_catalog_dir
from tests.support.hub import run_hub, start_hub
from tests.support.kube import KubeEmulator
from tests.support.procs import wait_until

pytestmark = pytest.mark.e2e

CAPPED_LIST = """\
display_name: Capped
groups: [capped]
capacity: {servers_total: 10}
services:
  jupyter-python: {cpu: {default: 0.5}}
"""

EXTRA_LIST = """\
display_name: Extra
groups: [extra]
organiser_groups: [extra-orga]
services:
  rstudio: {}
"""

HUB_CONFIG = """
import hub
c.JupyterHub.spawner_class = "catalog"
c.JupyterHub.allow_named_servers = True
c.Authenticator.admin_users = {{"boss"}}
c.CatalogSpawner.catalog_dir = {catalog!r}
c.CatalogSpawner.catalog_check_interval = 0.5
c.CatalogSpawner.window_end_grace = 1
c.CatalogSpawner.window_check_interval = 0.5
c.KubeSpawner.namespace = "default"
c.KubeSpawner.start_timeout = 60
c.KubeSpawner.http_timeout = 30
c.KubeSpawner.k8s_api_request_timeout = 10
hub.configure(c)
"""


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("catalog") / "profiles"
    shutil.copytree(default_catalog_dir(), root)
    (root / "lists" / "capped.yaml").write_text(CAPPED_LIST)
    return root


@pytest.fixture(scope="module")
def hub(catalog, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("hub")
    with KubeEmulator(fast=True, workdir=workdir / "kube") as emu:
        kubeconfig = emu.write_kubeconfig(workdir / "kubeconfig")
        config = HUB_CONFIG.format(catalog=str(catalog))
        with run_hub(workdir, config, env={"KUBECONFIG": str(kubeconfig)}) as handle:
            handle.emu = emu
            yield handle


def add_users(hub, group: str, names: list[str]) -> None:
    r = hub.api("POST", "/users", json={"usernames": names})
    assert r.status_code in (201, 409), r.text
    r = hub.api("POST", f"/groups/{group}", json={"users": names})
    if r.status_code == 409:
        r = hub.api("POST", f"/groups/{group}/users", json={"users": names})
    assert r.status_code in (200, 201), r.text


def banner(hub, browser: requests.Session) -> str:
    page = browser.get(hub.url + "/hub/home", timeout=30)
    page.raise_for_status()
    match = re.search(r'<div class="datalab-catalog-problems".*?</div>', page.text, re.S)
    return html.unescape(match.group(0)) if match else ""


def test_capacity_20_simultaneous_spawns_against_a_cap_of_10_start_exactly_10(hub):
    users = [f"cap{i:02d}" for i in range(20)]
    add_users(hub, "capped", users)
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda u: hub.spawn(u, {"service": "jupyter-python"}), users))
    accepted = [u for u, r in zip(users, answers, strict=True) if r.status_code in (201, 202)]
    refused = [r for r in answers if r.status_code not in (201, 202)]
    assert len(accepted) == 10, [(r.status_code, r.text[:200]) for r in answers]
    for r in refused:
        assert r.status_code == 429, r.text
        assert "profile list 'capped' allows 10 servers in total; 10 are running" in r.json()["message"]
    for user in accepted:
        hub.wait_server(user, timeout=90)
    pods = hub.emu.objects("pods", label_selector="datalab.io/profile-list=capped")
    assert len(pods) == 10

    # A stopped server frees its place: one more participant can start.
    assert hub.api("DELETE", f"/users/{accepted[0]}/server").status_code in (202, 204)
    hub.wait_server(accepted[0], ready=False)
    late = next(u for u in users if u not in accepted)
    assert hub.spawn(late, {"service": "jupyter-python"}).status_code in (201, 202)
    hub.wait_server(late)
    assert hub.spawn(accepted[0], {"service": "jupyter-python"}).status_code == 429
    for user in [*accepted[1:], late]:
        hub.api("DELETE", f"/users/{user}/server")
    for user in [*accepted[1:], late]:
        hub.wait_server(user, ready=False)


def test_hot_reload_valid_change_is_used_and_invalid_change_refused_with_banner(hub, catalog):
    add_users(hub, "extra", ["rita"])
    add_users(hub, "extra-orga", ["olga"])
    hub.api("POST", "/users/boss")
    assert hub.spawn("rita", {"service": "rstudio"}).status_code == 403

    extra = catalog / "lists" / "extra.yaml"
    extra.write_text(EXTRA_LIST)
    r = wait_until(
        lambda: (r := hub.spawn("rita", {"service": "rstudio"})).status_code in (201, 202) and r,
        timeout=30,
        what="the new list is used",
    )
    assert r.status_code in (201, 202)
    hub.wait_server("rita")
    hub.api("DELETE", "/users/rita/server")
    hub.wait_server("rita", ready=False)

    # An invalid change: refused, logged once with FILE:LINE, the last valid catalog stays in force.
    extra.write_text(EXTRA_LIST.replace("rstudio: {}", "rstudio: {cpu: {max: 99}}"))
    line = f"{extra}:5: cpu: max 99 is above the service's maximum 4"
    wait_until(lambda: line in hub.log(), timeout=30, what="the refused change is logged")
    time.sleep(1.5)  # several more checks: still logged only once
    assert hub.log().count(line) == 1
    assert hub.spawn("rita", {"service": "rstudio"}).status_code in (201, 202)
    hub.wait_server("rita")

    assert line in banner(hub, hub.login("boss"))  # admin: every problem
    assert line in banner(hub, hub.login("olga"))  # the list's organiser
    assert banner(hub, hub.login("rita")) == ""  # a participant sees nothing

    extra.write_text(EXTRA_LIST)  # fixed: the banner goes away
    wait_until(lambda: not banner(hub, hub.login("boss")), what="the banner is gone")
    hub.api("DELETE", "/users/rita/server")
    hub.wait_server("rita", ready=False)


def test_window_end_stops_servers_and_refuses_new_ones(hub, catalog):
    add_users(hub, "shortwin", ["walt", "wendy"])
    now = datetime.now(UTC)
    end = now + timedelta(seconds=8)
    (catalog / "lists" / "shortwin.yaml").write_text(
        f"display_name: Short\ngroups: [shortwin]\n"
        f"window: {{start: {(now - timedelta(hours=1)).isoformat()}, end: {end.isoformat()}}}\n"
        "services:\n  jupyter-python: {}\n"
    )
    wait_until(
        lambda: (r := hub.spawn("walt", {"service": "jupyter-python"})).status_code in (201, 202) and r,
        what="the short list is offered",
    )
    hub.wait_server("walt")
    pods = hub.emu.objects("pods", label_selector="datalab.io/profile-list=shortwin")
    assert len(pods) == 1

    wait = (end - datetime.now(UTC)).total_seconds() + 1 + 20  # end + grace (1 s) + slack
    hub.wait_server("walt", ready=False, timeout=wait)
    assert datetime.now(UTC) >= end + timedelta(seconds=1)
    assert "Stopping walt's server (jupyter-python from profile list 'shortwin')" in hub.log()
    wait_until(
        lambda: not hub.emu.objects("pods", label_selector="datalab.io/profile-list=shortwin"),
        what="pod deleted",
    )
    late = hub.spawn("wendy", {"service": "jupyter-python"})
    assert late.status_code == 403, late.text


def test_hub_refuses_to_start_on_an_invalid_catalog(tmp_path):
    root = tmp_path / "profiles"
    shutil.copytree(default_catalog_dir(), root)
    broken = root / "lists" / "broken.yaml"
    broken.write_text("display_name: Broken\ngroups: [x]\nservices:\n  ghost: {}\n")
    config = HUB_CONFIG.format(catalog=str(root))
    with pytest.raises(RuntimeError, match="exited with 1"):
        start_hub(tmp_path / "hub", config, timeout=30)
    log = (tmp_path / "hub" / "hub.log").read_text()
    assert f"{broken}:4: unknown service 'ghost'" in log
    assert log.count("ghost") == 1, log
    assert "the hub does not start" in log and "Traceback" not in log
