"""A page of a shared server cannot act on the hub as its visitor (issue 18, item 5), in headless Chromium
against a real hub and proxy routing by host, as the Helm values set it up (`subdomain_host`).

Carol shares her server with bob; an app of hers (behind jupyter-server-proxy, `/user/carol/proxy/<port>/`)
serves a page that, in bob's browser, tries what the attack did: read bob's xsrf token from the hub's home
page, create a token for bob with the credentials scope, and call the renewal endpoint with bob's cookie.
With the hub on its own host none of it works; without `subdomain_host` (checked by hand before the fix)
the page created a token for bob and got his credentials with it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.hub import run_hub
from tests.support.procs import free_port, wait_for_port

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (/usr/bin/chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

CONFIG = """
import hub
hub.configure(c)
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {homes!r} + "/{{username}}"
c.JupyterHub.subdomain_host = c.JupyterHub.bind_url.rstrip("/").replace("127.0.0.1", "hub.localhost")
"""

# The page carol's app serves. Every attempt records what it got; `done` when all are over.
EVIL = """<!doctype html><html><body><script>
const hubs = [HUB, location.origin];  // the hub's host, and this page's own host (the hub answers there too)
const results = {};
async function attempt(name, f) {
  try { results[name] = await f(); } catch (e) { results[name] = "blocked: " + e; }
}
(async () => {
  for (const hub of hubs) {
    let xsrf = null;
    await attempt(hub + " home", async () => {
      const r = await fetch(hub + "/hub/home", {credentials: "include"});
      const m = (await r.text()).match(/xsrf_token:\\s*"([^"]+)"/);
      xsrf = m ? m[1] : null;
      return {status: r.status, url: r.url, signed_in: new URL(r.url).pathname === "/hub/home"};
    });
    await attempt(hub + " credentials", async () => {
      const r = await fetch(hub + "/hub/api/datalab/credentials",
                            {credentials: "include", headers: xsrf ? {"X-XSRFToken": xsrf} : {}});
      return {status: r.status, body: (await r.text()).slice(0, 200)};
    });
    await attempt(hub + " token", async () => {
      const r = await fetch(hub + "/hub/api/users/bob/tokens", {
        method: "POST", credentials: "include",
        headers: Object.assign({"Content-Type": "application/json"}, xsrf ? {"X-XSRFToken": xsrf} : {}),
        body: JSON.stringify({scopes: ["custom:datalab-credentials:read!user"], note: "evil"}),
      });
      const text = await r.text();
      let token = null;
      try { token = JSON.parse(text).token || null; } catch (e) {}
      let creds = null;
      if (token) {
        const c = await fetch(hub + "/hub/api/datalab/credentials", {headers: {Authorization: "token " + token}});
        creds = c.status;
      }
      return {status: r.status, token: token, credentials: creds};
    });
  }
  window.results = results;
  window.done = true;
})();
</script></body></html>
"""


@pytest.fixture
def hub(tmp_path):
    homes = tmp_path / "homes"
    homes.mkdir()
    with run_hub(tmp_path / "hub", CONFIG.format(homes=str(homes)), host_routing=True) as handle:
        handle.homes = homes
        yield handle


def test_a_shared_servers_page_cannot_use_the_visitors_hub_session(hub, tmp_path):
    port = hub.url.rsplit(":", 1)[1]
    hub_origin = f"http://hub.localhost:{port}"
    assert hub.api("POST", "/users", json={"usernames": ["carol", "bob"]}).status_code == 201
    assert hub.api("POST", "/users/carol/server").status_code in (201, 202)
    hub.wait_server("carol")
    r = hub.api("POST", "/shares/carol/", json={"user": "bob"})
    assert r.status_code in (200, 201), r.text
    site = hub.homes / "carol" / "site"
    site.mkdir(parents=True)
    (site / "evil.html").write_text(EVIL.replace("HUB", json.dumps(hub_origin)))
    app_port = free_port()
    app = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(app_port), "--bind", "127.0.0.1", "--directory", str(site)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port("127.0.0.1", app_port, timeout=20)
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
            try:
                results = _visit_as_bob(browser, hub_origin, f"http://carol.hub.localhost:{port}", app_port)
            finally:
                browser.close()
    finally:
        app.terminate()
        app.wait(timeout=10)
    assert len(results) == 6, results
    # Every attempt failed: blocked by the browser (another origin), or answered as nobody.
    for name, got in results.items():
        if isinstance(got, dict):
            assert not got.get("signed_in"), (name, got)  # the hub's home as bob: where his xsrf token is
            assert not got.get("token"), (name, got)
            assert got.get("status") != 200 or "credentials" not in name, (name, got)
    tokens = hub.api("GET", "/users/bob/tokens").json()["api_tokens"]
    assert not [t for t in tokens if t["note"] == "evil"], "the page created a token for bob"
    assert hub.alive()


def _visit_as_bob(browser, hub_origin: str, carol_origin: str, app_port: int) -> dict:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(hub_origin + "/hub/login")
    page.fill("#username_input", "bob")
    page.fill("#password_input", "password")
    page.click("#login_submit")
    page.wait_for_url(f"{hub_origin}/hub/**")
    page.goto(f"{carol_origin}/user/carol/proxy/{app_port}/evil.html")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "/oauth2/authorize" in page.url:
        page.click("form input[type=submit], form button[type=submit]")  # JupyterHub's consent screen
        page.wait_for_load_state()
    page.wait_for_function("window.done === true")
    return page.evaluate("window.results")
