"""bob's work survives a restart of the whole datalab, as bob sees it in his browser.

`datalab up` (real IdP, SeaweedFS, OpenBao, hub, local backend) in a temporary state directory on free ports,
driven by headless Debian Chromium through Playwright; screenshots of every step go to
test-artifacts/browser-journey/.

Before: bob signs in at the IdP's form, starts jupyter-python with PostgreSQL from the catalog, uploads a CSV
into his S3 location through the file browser, and in a notebook saved in his home writes a Vault secret with
hvac.Client() and a row into the session's database. The datalab is then stopped (SIGTERM) and started
again on the same state directory. After: bob signs in with the same password, starts his server from the
hub's home page and finds the notebook with its outputs, the CSV in his `s3` folder, and in a new cell
reads the CSV from s3:// with pandas, his secret with hvac and the row with psycopg — so S3 data, the STS
setup, Vault storage and its JWT login, homes, the database and the IdP's users all come back.

tests/e2e/test_browser.py is the first-session journey (VS Code, the admin panel...);
tests/hub/stack/test_up.py proves the restart over HTTP, with SIGTERM timing and leftover processes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support.browser import CHROMIUM, Steps, sign_in_with_datalab
from tests.support.datalab import Datalab
from tests.support.idp import node_available
from tests.support.procs import REPO

ARTIFACTS = REPO / "test-artifacts" / "browser-journey"
SEC = 1000  # Playwright timeouts are in milliseconds
NOTEBOOK = "journey.ipynb"
CSV_NAME, CSV = "kept.csv", "x,y\n1,2\n3,4\n5,6\n"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(400),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
    pytest.mark.skipif(not node_available(), reason="the IdP's npm packages are not installed"),
]

WRITE_SECRET_AND_ROW = """\
import hvac, os, psycopg
hvac.Client().secrets.kv.v2.create_or_update_secret(path=os.environ["VAULT_TOP_DIR"] + "/journey",
    secret={"greeting": "hello bob"}, mount_point=os.environ["VAULT_MOUNT"])
with psycopg.connect() as conn:
    conn.execute("create table journey_notes (t text)")
    conn.execute("insert into journey_notes values ('kept')")
print("written")"""

READ_ALL_BACK = """\
import hvac, os, pandas, psycopg
secret = hvac.Client().secrets.kv.v2.read_secret_version(path=os.environ["VAULT_TOP_DIR"] + "/journey",
    mount_point=os.environ["VAULT_MOUNT"], raise_on_deleted_version=True)["data"]["data"]["greeting"]
total = pandas.read_csv("s3://user-bob/kept.csv")["x"].sum()
with psycopg.connect() as conn:
    row = conn.execute("select t from journey_notes").fetchone()[0]
print(secret, total, row)"""


def start_jupyter_with_postgres(steps: Steps, url: str) -> None:
    """On the catalog form: jupyter-python with its PostgreSQL; wait for JupyterLab's file browser."""
    page = steps.page
    page.check("input[name=service][value=jupyter-python]")
    page.click("#datalab-tab-jupyter-python-database")  # the card's options are in tabs
    page.check("#jupyter-python--postgres")
    steps.shot("catalog")
    page.click("form [type=submit]")
    page.wait_for_url(re.compile(r"/user/bob/lab"), timeout=180 * SEC)
    # A fresh layout: JupyterLab would restore the last session's tabs and folder (a notebook whose kernel
    # is gone asks which kernel to start), which other tests on this datalab may have left.
    page.goto(url + "/user/bob/lab?reset")
    item(page, "s3").wait_for(timeout=120 * SEC)


def item(page, name: str):
    """The file browser's entry called exactly `name`."""
    return page.locator(".jp-DirListing-itemText").filter(has_text=re.compile(f"^{re.escape(name)}$"))


def open_dir(page, name: str) -> None:
    item(page, name).dblclick()
    page.locator(".jp-BreadCrumbs-item").filter(has_text=re.compile(f"^{re.escape(name)}$")).wait_for()


def wait_idle(page) -> None:
    """JupyterLab's kernel status in the status bar says Idle: kernel up, its channels connected. (The
    notebook toolbar's indicator already says idle before a kernel is attached: a cell run then is lost.)"""
    status = page.locator(".jp-StatusBar-TextItem").filter(has_text=re.compile(r"\| Idle$"))
    status.wait_for(timeout=120 * SEC)


def run_cell(page, index: int, code: str) -> str:
    """Type `code` into cell `index` of the open notebook, run it with Shift+Enter, return its output."""
    cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(index)
    cell.locator(".cm-content").click()
    page.keyboard.insert_text(code)
    page.keyboard.press("Shift+Enter")
    expect(cell.locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[\d+\]"), timeout=120 * SEC)
    wait_idle(page)
    return cell.locator(".jp-OutputArea").inner_text().strip()


def bob_writes_his_work(bob: Steps, url: str, csv: Path) -> None:
    page = bob.page
    page.goto(url + "/hub/spawn")
    start_jupyter_with_postgres(bob, url)
    open_dir(page, "s3")
    open_dir(page, "user-bob")
    with page.expect_file_chooser() as chooser:  # the upload button's <input type=file>
        page.click(".jp-FileBrowser-toolbar jp-button[title='Upload Files']")
    chooser.value.set_files(str(csv))
    item(page, CSV_NAME).wait_for()
    bob.shot("csv-uploaded")

    page.click(".jp-BreadCrumbs-home")
    page.click(".jp-FileBrowser-toolbar jp-button[data-command='launcher:create']")
    page.click(".jp-LauncherCard[data-category='Notebook'][title*='Python 3'] >> visible=true")
    wait_idle(page)
    assert run_cell(page, 0, WRITE_SECRET_AND_ROW) == "written"
    page.keyboard.press("Control+s")  # the first save of an Untitled notebook asks for a name
    page.fill(".jp-Dialog input", NOTEBOOK)
    page.click(".jp-Dialog button:has-text('Rename and Save')")
    item(page, NOTEBOOK).wait_for()
    page.wait_for_selector(".lm-TabBar-tab.jp-mod-dirty", state="detached")
    bob.shot("notebook-saved")


def bob_finds_his_work(bob: Steps, url: str) -> None:
    page = bob.page
    page.goto(url + "/hub/home")
    page.click("#start")  # My services: "Start again", the catalog
    start_jupyter_with_postgres(bob, url)
    item(page, NOTEBOOK).wait_for()
    open_dir(page, "s3")
    open_dir(page, "user-bob")
    item(page, CSV_NAME).wait_for()
    bob.shot("csv-still-in-s3")

    page.click(".jp-BreadCrumbs-home")
    item(page, NOTEBOOK).dblclick()
    wait_idle(page)
    saved = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea").first
    expect(saved).to_have_text("written")  # the notebook came back with its output
    assert run_cell(page, 1, READ_ALL_BACK) == "hello bob 9 kept"
    bob.shot("all-read-back")


def test_bobs_work_survives_a_restart_of_the_datalab(lab, browser, tmp_path):
    csv = tmp_path / CSV_NAME
    csv.write_text(CSV)
    with Steps(browser, "bob-before", ARTIFACTS) as bob:
        sign_in_with_datalab(bob.page, lab.url, "bob", lab.passwords["bob"], bob.shot)
        bob_writes_his_work(bob, lab.url, csv)

    lab.terminate()  # as Ctrl-C or a service manager would; sessions are stopped with it
    again = Datalab(lab.state, lab.port, lab.log_path.with_name("up2.log"), lab.accounts)
    lab.runs.append(again)
    again.wait_up()

    with Steps(browser, "bob-after", ARTIFACTS) as bob:
        sign_in_with_datalab(
            bob.page, again.url, "bob", lab.passwords["bob"], bob.shot
        )  # the same account and password
        bob_finds_his_work(bob, again.url)
