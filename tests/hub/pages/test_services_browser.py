"""My services (the hub's home) and the admins' Services page in headless Chromium on a real hub
(CatalogSpawner on the Kubernetes emulator): a card per server with its service, image, resources,
PostgreSQL, git repository and times; restart with the same options; a new named server goes straight
to the catalog; a failed start shows its reason, its steps and the pod's events; an admin sees every
user's services. Screenshots go to test-artifacts/pages/ (gitignored)."""

from __future__ import annotations

import re

import pytest

from tests.hub.pages.support import pages_hub, shot, stop_all
from tests.support.browser import logins, require_chromium

pytestmark = pytest.mark.e2e

require_chromium()


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with pages_hub(tmp_path_factory.mktemp("services")) as handle:
        yield handle


@pytest.fixture
def login(hub, chromium):
    with logins(chromium, hub.url, width=1280) as as_user:
        yield as_user
    hub.emu.faults.clear()
    stop_all(hub)


def card(page, server: str = ""):
    return page.locator(f"#datalab-server-{server or 'default'}")


def test_my_services_shows_each_server_and_restarts_it_with_the_same_options(hub, login):
    options = {"service": "jupyter-python", "cpu": 1.5, "memory": 3, "postgres": True}
    assert hub.spawn("ann", options).status_code in (201, 202)
    hub.wait_server("ann")
    page = login("ann")
    page.goto(hub.url + "/hub/home")
    default = card(page)
    assert default.get_attribute("data-status") == "running"
    text = default.inner_text()
    assert "JupyterLab · Python" in text and "Default server" in text
    assert default.locator(".datalab-resources").inner_text() == "1.5 CPU · 3 GiB memory · 10 GiB home"
    assert default.locator(".datalab-postgres").inner_text() == "yes"
    assert "datalab-python:2026.11" in default.locator(".datalab-image").inner_text()
    assert default.locator(".datalab-git").inner_text() == "https://git.example.org/event-a/starter.git"
    assert default.locator(".datalab-started").inner_text() in ("just now", "1 minute ago")
    assert default.locator("img").count() == 1  # the service's icon
    assert default.locator(".datalab-open").get_attribute("href").endswith("/user/ann/")
    assert default.locator(".datalab-share").count() == 1
    shot(page, "my-services")

    first_start = hub.server("ann")["started"]
    default.locator(".datalab-restart").click()
    page.wait_for_url(re.compile(r".*/(spawn-pending|user)/ann/.*"))
    server = hub.wait_server("ann")
    assert server["started"] != first_start  # a new start...
    kept = hub.api("GET", "/users/ann").json()["servers"][""]["user_options"]
    assert (kept["cpu"], kept["memory"], kept["postgres"]) == (1.5, 3, True)  # ...with the same options

    # A new named server: straight to the catalog.
    page.goto(hub.url + "/hub/home")
    page.fill("#datalab-new-name", "analysis")
    page.click("#datalab-new-start")
    page.wait_for_url(re.compile(r".*/hub/spawn/ann/analysis$"))
    assert page.locator("#datalab-grid .datalab-card").count() == 2


def test_a_failed_start_shows_its_reason_its_steps_and_the_pods_events(hub, login):
    hub.emu.faults.add(method="POST", path=r"/secrets", status=403, count=-1)
    r = hub.spawn("abe", {"service": "jupyter-python"}, name="broken")
    assert r.status_code in (201, 202, 503), r.text
    hub.wait_server("abe", "broken", ready=False)
    page = login("abe")
    page.goto(hub.url + "/hub/home")
    broken = card(page, "broken")
    assert broken.get_attribute("data-status") == "failed"
    failure = broken.locator(".datalab-failure").inner_text()
    assert "could not create Secret" in failure and "403" in failure
    steps = broken.locator(".datalab-steps li").all_inner_texts()
    assert steps[0].startswith("Options accepted: JupyterLab · Python from event-a")
    assert any(s.startswith("Creating the session's pod") for s in steps)
    shot(page, "my-services-failed")
    assert broken.locator(".datalab-delete").is_visible()
    page.on("dialog", lambda dialog: dialog.accept())
    broken.locator(".datalab-delete").click()
    page.wait_for_selector("#datalab-server-broken", state="detached")
    assert "broken" not in hub.api("GET", "/users/abe").json()["servers"]


def test_an_admin_sees_every_users_services(hub, login):
    assert hub.spawn("ben", {"service": "jupyter-python", "cpu": 2}).status_code in (201, 202)
    hub.wait_server("ben")
    assert login("ann").locator("#datalab-nav-services").count() == 0  # not an admin
    page = login("boss")
    page.click("#datalab-nav-services")
    row = page.locator('#datalab-admin-table tr[data-server="ben/"]')
    row.wait_for()
    cells = [c.strip() for c in row.locator("td").all_inner_texts()]
    assert cells[:3] == ["ben", "(default)", "JupyterLab · Python"]
    assert cells[3].startswith("2 CPU · 4 GiB memory")
    assert cells[4] == "running" and cells[5] in ("just now", "1 minute ago")
    shot(page, "admin-services")
    assert login("ann").goto(hub.url + "/hub/datalab/admin/services").status == 403
