"""Datalab inside JupyterLab, as alice sees it in her browser, on the real one-machine datalab.

`datalab up` (real IdP, SeaweedFS with STS, OpenBao, hub, local backend) driven by headless Debian Chromium
through Playwright; screenshots of every step go to test-artifacts/jupyterlab/ (not committed).

alice starts jupyter-python with a git repository that cannot be cloned: JupyterLab opens with a notification
saying so, whose "Show details" opens ~/GIT-CLONE-FAILED.txt with git's own words. The status bar says her S3
and Vault credentials are valid, with a countdown. A click on it opens Connection details: her bucket and
its s3:// URL. She copies the boto3 snippet with its Copy button, pastes it into a notebook cell, and it lists
the object put in her bucket, through nothing but what the session wired (no key in the snippet). The panel
in the dark theme is looked at too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support.browser import CHROMIUM, Steps, sign_in_with_datalab
from tests.support.datalab import credentials, s3_client
from tests.support.datalab import sign_in as api_sign_in
from tests.support.idp import node_available
from tests.support.procs import REPO

ARTIFACTS = REPO / "test-artifacts" / "jupyterlab"
SEC = 1000
SERVER = "lab"
OBJECT = "from-the-test/greeting.txt"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(420),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
    pytest.mark.skipif(not node_available(), reason="the IdP's npm packages are not installed"),
    pytest.mark.skipif(
        not (REPO / "jupyter_s3_ext" / "labextension" / "package.json").exists(),
        reason="the JupyterLab extension is not built (scripts/bootstrap.sh builds it)",
    ),
]


def hub_api(page, url: str, method: str, path: str, **kwargs):
    """The hub's REST API with the browser's own login (its cookie and XSRF token)."""
    xsrf = next(c["value"] for c in page.context.cookies() if c["name"] == "_xsrf")
    return page.request.fetch(
        f"{url}/hub/api{path}",
        method=method,
        headers={"X-XSRFToken": xsrf, "Referer": url + "/hub/"},
        **kwargs,
    )


def start_lab(page, url: str, options: dict) -> None:
    r = hub_api(page, url, "POST", f"/users/alice/servers/{SERVER}", data=options)
    assert r.status in (201, 202), r.text()
    page.goto(f"{url}/hub/spawn-pending/alice/{SERVER}")
    page.wait_for_url(re.compile(rf"/user/alice/{SERVER}/lab"), timeout=180 * SEC)
    page.goto(f"{url}/user/alice/{SERVER}/lab?reset")


def test_alice_sees_her_credentials_connection_details_and_the_failed_clone(lab, browser):
    url = lab.url
    # An object in alice's bucket, put with her own credentials, for the snippet to list.
    token = api_sign_in(url, "alice", lab.passwords["alice"])
    s3_client(credentials(url, token)).put_object(Bucket="user-alice", Key=OBJECT, Body=b"hello")

    with Steps(browser, "alice", ARTIFACTS) as steps:
        steps.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
        try:
            scenario(steps.page, steps, url, lab.passwords["alice"])
        finally:
            hub_api(steps.page, url, "DELETE", f"/users/alice/servers/{SERVER}", data={"remove": True})


def scenario(page, steps: Steps, url: str, password: str) -> None:
    sign_in_with_datalab(page, url, "alice", password)
    # A repository the session cannot clone: a host that cannot exist (RFC 2606's .invalid).
    broken = "https://git.datalab.invalid/team/analysis.git"
    start_lab(page, url, {"service": "jupyter-python", "git_repository": broken})

    config = page.evaluate("JSON.parse(document.getElementById('jupyter-config-data').textContent)")
    assert "jupyterlab-datalab" in [e["name"] for e in config["federated_extensions"]]
    # The notice, on opening: a notification that stays, and the file at the top of the home.
    toast = page.locator(".Toastify__toast").filter(has_text="The git clone of")
    toast.wait_for(timeout=120 * SEC)
    expect(toast).to_contain_text(broken)
    expect(toast).to_contain_text("started without ~/analysis")
    page.locator(".jp-DirListing-itemText").filter(has_text="GIT-CLONE-FAILED.txt").wait_for()
    steps.shot("git-clone-failed-notice")
    toast.get_by_role("button", name="Show details").click()
    editor = page.locator(".jp-FileEditor .cm-content")
    expect(editor).to_contain_text("What git said:", timeout=60 * SEC)
    expect(editor).to_contain_text(f"git clone {broken} ~/analysis")
    steps.shot("git-clone-failed-file")

    # The status bar: S3 and Vault valid, with the soonest expiry counting down.
    item = page.locator(".datalab-CredentialsStatus")
    expect(item).to_have_class(re.compile(r"datalab-mod-ok"), timeout=60 * SEC)
    expect(item).to_have_text(re.compile(r"^S3 · Vault · (\d+ h \d\d min|\d+ min|\d+:\d\d)$"))
    assert "Renewed automatically" in item.get_attribute("title")
    steps.shot("status-bar")

    # A click opens Connection details: alice's bucket, its s3:// URL, the snippets.
    item.click()
    panel = page.locator(".datalab-ConnectionPanel")
    location = panel.locator(".datalab-Location").filter(has_text="user-alice")
    location.wait_for()
    expect(location).to_contain_text("s3://user-alice/")
    expect(panel.locator(".datalab-Banner")).to_contain_text("Valid, and renewed automatically")
    expect(panel).to_contain_text("VAULT_TOP_DIR")
    steps.shot("connection-details")
    code = panel.locator("pre[data-snippet=python-boto3]").inner_text()
    assert "Bucket='user-alice'" in code and "secret" not in code.lower()
    panel.locator(".datalab-Snippets-body .datalab-CopyButton").first.click()
    expect(panel.locator(".datalab-Snippets-body .datalab-CopyButton").first).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.strip() == code.strip()

    # Pasted into a notebook, it lists the object in alice's bucket.
    page.locator(".lm-TabBar-tab").filter(has_text="Launcher").first.click()
    page.locator(".jp-Launcher .jp-LauncherCard[title*='Python 3']").first.click()
    page.locator(".jp-StatusBar-TextItem").filter(has_text=re.compile(r"\| Idle$")).wait_for(
        timeout=120 * SEC
    )
    cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").first
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+V")
    expect(cell.locator(".cm-content")).to_contain_text("list_objects_v2")
    page.keyboard.press("Shift+Enter")
    expect(cell.locator(".jp-OutputArea")).to_contain_text(f"{OBJECT} 5", timeout=120 * SEC)
    steps.shot("snippet-run-in-a-notebook")

    # The panel in the dark theme (JupyterLab's theme variables only), then back to the light one.
    page.click("text=Settings")
    page.click(".lm-Menu-itemLabel:text-is('Theme')")
    page.click(".lm-Menu-itemLabel:text-is('JupyterLab Dark')")
    page.wait_for_function("document.body.dataset.jpThemeLight === 'false'", timeout=60 * SEC)
    page.locator(".lm-TabBar-tab").filter(has_text="Connection details").click()
    panel.locator(".datalab-Location").first.wait_for()
    steps.shot("connection-details-dark")
    page.click("text=Settings")
    page.click(".lm-Menu-itemLabel:text-is('Theme')")
    page.click(".lm-Menu-itemLabel:text-is('JupyterLab Light')")
    page.wait_for_function("document.body.dataset.jpThemeLight === 'true'", timeout=60 * SEC)
