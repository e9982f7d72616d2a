"""The whole datalab in a browser: `datalab up` (real IdP, SeaweedFS, OpenBao, hub, local backend) driven
by headless Debian Chromium through Playwright. Screenshots of every step go to test-artifacts/e2e/.

bob signs in at the IdP's form, picks jupyter-python (2 CPUs, PostgreSQL) in the catalog, JupyterLab
opens with his S3 location in the `s3` folder; a CSV uploaded through the file browser is read with
pandas from s3://, his Vault secret with hvac.Client(), the session's PostgreSQL with psycopg; he stops
the server from the hub's home page, then starts vscode-python as a named server and VS Code loads.
alice, an admin, sees bob's server in the admin panel.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import hvac
import pytest

from tests.support.browser import CHROMIUM, Steps, sign_in_with_datalab
from tests.support.idp import node_available
from tests.support.procs import REPO

ARTIFACTS = REPO / "test-artifacts" / "e2e"
CODE_SERVER = REPO / ".datalab-tools" / "node_modules" / ".bin" / "code-server"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
    pytest.mark.skipif(not node_available(), reason="the IdP's npm packages are not installed"),
    pytest.mark.skipif(
        not CODE_SERVER.exists(), reason="code-server is not installed (scripts/bootstrap.sh)"
    ),
]


def entry(page, name: str):
    """An item of JupyterLab's file browser, by its exact name."""
    return page.locator(".jp-DirListing-content").get_by_text(name, exact=True)


def run_cell(page, index: int, code: str, timeout_ms: int = 60_000) -> str:
    """Type `code` into cell `index` of the open notebook, run it, return its output text."""
    cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(index)
    cell.locator(".cm-content").click()
    page.keyboard.insert_text(code)
    page.keyboard.press("Shift+Enter")
    prompt = cell.locator(".jp-InputPrompt")
    deadline = time.monotonic() + timeout_ms / 1000
    while not re.search(r"\[\d+\]", prompt.inner_text()):
        assert time.monotonic() < deadline, f"cell {index} did not run"
        time.sleep(0.1)
    return cell.locator(".jp-OutputArea").inner_text()


def test_bob_in_the_browser_and_alice_in_the_admin_panel(lab, browser, tmp_path):
    try:
        scenario(lab, browser, tmp_path)
    except BaseException:
        for i, context in enumerate(browser.contexts):  # the screen each user was on when it failed
            for j, page in enumerate(context.pages):
                page.screenshot(path=str(ARTIFACTS / f"failed-{i}-{j}.png"))
        raise


def scenario(lab, browser, tmp_path):
    url = lab.url
    keys = json.loads((lab.state / "vault" / "init.json").read_text())
    ports = json.loads((lab.state / "ports.json").read_text())
    vault = hvac.Client(url=f"http://127.0.0.1:{ports['vault']}", token=keys["root_token"], timeout=10)
    vault.secrets.kv.v2.create_or_update_secret(
        path="users/bob/demo", secret={"greeting": "hello bob"}, mount_point="secret"
    )

    bob = Steps(browser, "bob", ARTIFACTS)
    page = bob.page
    sign_in_with_datalab(page, url, "bob", lab.passwords["bob"], bob.shot)

    # The catalog: jupyter-python with 2 CPUs and PostgreSQL.
    page.goto(url + "/hub/spawn")
    page.wait_for_selector("#datalab-cards")
    assert "RStudio is not available on this machine" in page.content()
    page.check("input[name=service][value=jupyter-python]")
    page.click("#datalab-tab-jupyter-python-resources")  # the card's options are in tabs
    page.fill("#jupyter-python--cpu", "2")
    page.click("#datalab-tab-jupyter-python-database")
    page.check("#jupyter-python--postgres")
    bob.shot("catalog")
    page.click("form button[type=submit], form input[type=submit]")
    page.wait_for_url(re.compile(r"/user/bob/lab"), timeout=120_000)
    page.wait_for_selector(".jp-DirListing-content", timeout=60_000)
    page.wait_for_selector(
        ".jp-DirListing-item[title*='s3'], .jp-DirListing-itemText:text-is('s3')", timeout=30_000
    )
    bob.shot("jupyterlab")

    # The s3 folder holds bob's location; a CSV uploaded there through the file browser.
    entry(page, "s3").dblclick()
    entry(page, "user-bob").wait_for(timeout=30_000)
    bob.shot("s3-folder")
    entry(page, "user-bob").dblclick()
    page.wait_for_selector(".jp-BreadCrumbs:has-text('user-bob')", timeout=30_000)
    csv = tmp_path / "measures.csv"
    csv.write_text("x,y\n1,2\n3,4\n5,6\n")
    with page.expect_file_chooser() as chooser:
        page.click(".jp-FileBrowser [data-jp-item-name='uploader'] jp-button")
    chooser.value.set_files(str(csv))
    entry(page, "measures.csv").wait_for(timeout=60_000)
    bob.shot("csv-uploaded-to-s3")
    # A file of a part (8 MiB) or more goes from Chromium straight to SeaweedFS, whose CORS admits this page.
    parts = []
    page.on("request", lambda r: parts.append(r) if "partNumber=" in r.url else None)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 * 2**20))
    done = lambda r: r.request.method == "PUT" and "/datalab/direct-upload/" in r.url  # noqa: E731
    with page.expect_response(done, timeout=60_000) as completed:
        with page.expect_file_chooser() as chooser:
            page.click(".jp-FileBrowser [data-jp-item-name='uploader'] jp-button")
        chooser.value.set_files(str(big))
    assert completed.value.status == 201  # S3 assembled the parts the session signed
    entry(page, "big.bin").wait_for(timeout=30_000)
    assert [r.response().status for r in parts] == [200, 200], [r.url[:80] for r in parts]
    assert not any(r.url.startswith(url) for r in parts)  # not through the hub's proxy

    # A notebook: pandas reads the CSV from S3, hvac reads bob's secret, psycopg queries the database.
    page.goto(url + "/user/bob/lab?reset")
    page.locator(".jp-LauncherCard[title*='Python 3']").first.click()
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell .cm-content", timeout=60_000)
    page.wait_for_selector("text=/Python 3 \\(ipykernel\\) \\| Idle/", timeout=90_000)
    out = run_cell(
        page, 0, 'import pandas as pd\nprint(pd.read_csv("s3://user-bob/measures.csv")["x"].sum())'
    )
    assert out.strip() == "9", out
    out = run_cell(page, 1, (
        "import hvac, os\nc = hvac.Client()\n"
        "r = c.secrets.kv.v2.read_secret_version(path=os.environ['VAULT_TOP_DIR'] + '/demo',\n"
        "    mount_point=os.environ['VAULT_MOUNT'], raise_on_deleted_version=True)\n"
        "print(r['data']['data']['greeting'])"
    ))  # fmt: skip
    assert out.strip() == "hello bob", out
    out = run_cell(
        page,
        2,
        "import psycopg\nwith psycopg.connect() as conn:\n    print(conn.execute('select 6 * 7').fetchone()[0])",
    )
    assert out.strip() == "42", out
    bob.shot("notebook")

    # bob stops the server from My services, the hub's home page.
    page.goto(url + "/hub/home")
    page.click("#stop")
    page.wait_for_selector("#stop", state="detached", timeout=60_000)
    page.wait_for_selector("#datalab-server-default[data-status=stopped] #start", timeout=60_000)
    bob.shot("stopped")

    # ... and starts vscode-python as a named server (its own options form): VS Code's workbench loads.
    page.goto(url + "/hub/spawn/bob/code")
    page.wait_for_selector("#datalab-cards", timeout=60_000)
    page.check("input[name=service][value=vscode-python]")
    bob.shot("catalog-vscode")
    page.click("form button[type=submit], form input[type=submit]")
    page.wait_for_url(re.compile(r"/user/bob/code/"), timeout=120_000)
    page.wait_for_selector(".monaco-workbench", timeout=120_000)
    bob.shot("vscode")

    # alice, an admin, sees bob's server in the admin panel.
    alice = Steps(browser, "alice", ARTIFACTS)
    alice_page = alice.page
    sign_in_with_datalab(alice_page, url, "alice", lab.passwords["alice"])
    alice_page.goto(url + "/hub/admin")
    row = alice_page.locator("tr", has_text="code").filter(has_text="bob").first
    row.wait_for(timeout=60_000)
    alice.shot("admin-panel")
    assert "Stop Server" in row.inner_text()  # bob's named server is running, and alice can stop it
