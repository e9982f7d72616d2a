"""The Datalab pages on the whole datalab, in a browser: `datalab up` (real IdP, SeaweedFS, OpenBao, hub,
local backend) driven by headless Debian Chromium through Playwright. Screenshots of every step go to
test-artifacts/pages-journey/ (gitignored).

bob signs in from the landing page (one click, then the IdP's form), finds the catalog grid, submits a
git URL the catalog refuses (the form comes back with every value and the message at its field),
then starts jupyter-python with PostgreSQL and a git repository that cannot be cloned: the progress bar
only moves forward and says, step by step, that the credentials, the database and the failed clone went
as they did. My services shows the server with its service and resources; restarting it keeps its
options. alice, an admin, sees it on the Services page.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.browser import CHROMIUM, Steps, sign_in_with_datalab
from tests.support.idp import node_available
from tests.support.procs import REPO

ARTIFACTS = REPO / "test-artifacts" / "pages-journey"
SEC = 1000
BAD_GIT = "https://git.invalid/nobody/nothing.git"  # a public-looking name that never resolves

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(400),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
    pytest.mark.skipif(not node_available(), reason="the IdP's npm packages are not installed"),
]

# Kept across the progress page's reloads (same origin, same tab): every percentage and message shown.
RECORD_PROGRESS = """
(() => {
  if (!location.pathname.includes("/spawn-pending/")) { return; }
  const seen = JSON.parse(sessionStorage.getItem("datalab-progress") || "[]");
  const save = () => sessionStorage.setItem("datalab-progress", JSON.stringify(seen));
  new MutationObserver(() => {
    const bar = document.getElementById("progress-bar"), msg = document.getElementById("progress-message");
    if (!bar) { return; }
    const entry = [Number(bar.getAttribute("aria-valuenow")), msg ? msg.textContent : ""];
    const last = seen[seen.length - 1];
    if (!last || last[0] !== entry[0] || last[1] !== entry[1]) { seen.push(entry); save(); }
  }).observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
})();
"""


def progress_seen(page) -> list[list]:
    return json.loads(page.evaluate("sessionStorage.getItem('datalab-progress') || '[]'"))


def test_catalog_progress_my_services_and_the_admins_view(lab, browser):
    url = lab.url
    with Steps(browser, "bob", ARTIFACTS, RECORD_PROGRESS, full_page=True) as bob:
        page = bob.page
        sign_in_with_datalab(page, url, "bob", lab.passwords["bob"], bob.shot)
        page.goto(url + "/hub/spawn/bob/pages")
        cards = page.locator("#datalab-grid .datalab-card")
        assert cards.count() >= 3
        rstudio = page.locator("#datalab-card-rstudio")
        assert "datalab-off" in rstudio.get_attribute("class")  # no RStudio Server here: greyed, with why
        assert "not available on this machine" in rstudio.inner_text()
        bob.shot("catalog")

        # A refused value: the form comes back with every value and the message at the field.
        page.check("#datalab-service-jupyter-python")
        page.click("#datalab-tab-jupyter-python-resources")
        page.fill("#jupyter-python--cpu", "2")  # one core under the cgroup is slow to start on 2 busy cores
        page.fill("#jupyter-python--memory", "3")
        page.click("#datalab-tab-jupyter-python-database")
        page.check("#jupyter-python--postgres")
        page.click("#datalab-tab-jupyter-python-git")
        page.fill("#jupyter-python--git_repository", BAD_GIT.replace("https://", "http://"))
        page.click("#datalab-start")
        page.wait_for_selector("#jupyter-python--git_repository-error")
        bob.shot("refused")
        assert "SpawnException" not in page.inner_text(".spawn-error-msg")
        assert "only https://" in page.inner_text("#jupyter-python--git_repository-error")
        assert page.is_visible("#jupyter-python--git_repository-error")  # its tab is the one shown
        assert page.input_value("#jupyter-python--cpu") == "2"
        assert page.input_value("#jupyter-python--memory") == "3"
        assert page.is_checked("#jupyter-python--postgres")

        # Corrected: it starts, with PostgreSQL and a repository that cannot be cloned.
        page.fill("#jupyter-python--git_repository", BAD_GIT)
        page.click("#datalab-start")
        page.wait_for_url(re.compile(r"/user/bob/pages/"), timeout=240 * SEC)
        seen = progress_seen(page)
        values = [v for v, _ in seen]
        messages = [m for _, m in seen]
        assert values and values == sorted(values), seen  # never backwards
        assert any(m.startswith("Credentials: ") for m in messages), messages
        assert any(m.startswith("PostgreSQL: ready") for m in messages), messages
        assert any(m.startswith(f"Git: could not clone {BAD_GIT}") for m in messages), messages

        # My services: the server, its service and resources.
        page.goto(url + "/hub/home")
        server = page.locator("#datalab-server-pages")
        assert server.get_attribute("data-status") == "running"
        assert "JupyterLab · Python" in server.inner_text()
        resources = server.locator(".datalab-resources").inner_text()
        assert resources.startswith("2 CPU · 3 GiB memory"), resources
        assert server.locator(".datalab-postgres").inner_text() == "yes"
        assert server.locator(".datalab-git").inner_text() == BAD_GIT
        assert "valid until" in server.locator(".datalab-credentials").inner_text()
        bob.shot("my-services")

        server.locator(".datalab-restart").click()  # restart with the same options
        page.wait_for_url(re.compile(r"/user/bob/pages/"), timeout=240 * SEC)
        page.goto(url + "/hub/home")
        again = page.locator("#datalab-server-pages")
        assert again.get_attribute("data-status") == "running"
        assert again.locator(".datalab-resources").inner_text() == resources
        assert again.locator(".datalab-postgres").inner_text() == "yes"
        bob.shot("my-services-restarted")

    with Steps(browser, "alice", ARTIFACTS, RECORD_PROGRESS, full_page=True) as alice:
        sign_in_with_datalab(alice.page, url, "alice", lab.passwords["alice"], alice.shot)
        alice.page.click("#datalab-nav-services")
        row = alice.page.locator('#datalab-admin-table tr[data-server="bob/pages"]')
        row.wait_for()
        assert "JupyterLab · Python" in row.inner_text() and "CPU" in row.inner_text()
        alice.shot("admin-services")
