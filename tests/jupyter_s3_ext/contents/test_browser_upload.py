"""Uploads through JupyterLab's file browser, in headless Chromium: into the S3 folder the file goes as its raw
bytes in one `PUT …/datalab/upload/…` (Datalab's labextension), elsewhere through JupyterLab's contents API.

A jupyter-server with JupyterLab and the extension, S3 mounted on this package's SeaweedFS (no hub: the
token logs the browser in, the `_xsrf` cookie goes with every call); screenshots in test-artifacts/.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
import urllib.parse

import pytest
from playwright.sync_api import expect

from tests.jupyter_s3_ext.contents.conftest import s3_settings
from tests.jupyter_s3_ext.contents.harness import run_jupyter
from tests.jupyter_s3_ext.contents.test_uploads import stored
from tests.support.browser import ARTIFACTS, Steps, launched
from tests.support.procs import REPO

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(240),
    pytest.mark.skipif(
        not (REPO / "jupyter_s3_ext" / "labextension" / "package.json").exists(),
        reason="the JupyterLab extension is not built (scripts/bootstrap.sh builds it)",
    ),
]

SHOTS = ARTIFACTS / "s3-upload"
STREAMED = re.compile(r"/datalab/upload/s3/mine/")
LAB = "c.ServerApp.jpserver_extensions = {'jupyter_s3_ext': True, 'jupyterlab': True}\n"


@pytest.fixture(scope="module")
def lab(seaweed, tmp_path_factory):
    with run_jupyter(tmp_path_factory.mktemp("lab"), s3_settings(seaweed.endpoint), extra=LAB) as jp:
        yield jp


@pytest.fixture(scope="module")
def browser():
    with launched(SHOTS) as b:
        yield b


@pytest.fixture
def steps(browser, request):
    with Steps(browser, request.node.name[5:40], SHOTS) as s:
        yield s


def open_folder(page, lab, path: str, make: bool = True) -> None:
    """JupyterLab with its file browser in `path` (made first through the contents API, when `make`)."""
    if make:
        assert lab.api("PUT", path, body={"type": "directory"}).status_code in (200, 201)
    page.goto(f"{lab.url}/lab{'/tree/' + path if path else ''}?reset&token={lab.token}")
    page.locator(".jp-BreadCrumbs").filter(has_text=path.rsplit("/", 1)[-1]).wait_for()
    page.locator(".jp-DirListing-content").wait_for()


def upload(page, file) -> None:
    with page.expect_file_chooser() as chooser:
        page.click(".jp-FileBrowser [data-jp-item-name='uploader'] jp-button")
    chooser.value.set_files(str(file))


def listed(page, name: str):
    return page.locator(".jp-DirListing-itemText").filter(has_text=re.compile(rf"^{re.escape(name)}$"))


def contents_puts(page) -> list[tuple[str, int]]:
    """(API path, status) of each contents API PUT the page has an answer to, from now on."""
    seen: list[tuple[str, int]] = []

    def answered(r):
        if r.request.method == "PUT" and "/api/contents/" in r.url:
            seen.append((urllib.parse.unquote(r.url.split("/api/contents/")[1].split("?")[0]), r.status))

    page.on("response", answered)
    return seen


def chunks_answered(page, seen: list, n: int, timeout: float = 60) -> None:
    """Waits until `n` chunks of JupyterLab's upload are answered (the file is whole after the last)."""
    deadline = time.monotonic() + timeout
    while len(seen) < n and time.monotonic() < deadline:
        page.wait_for_timeout(100)  # lets Playwright deliver the page's events
    assert len(seen) == n and all(status in (200, 201) for _, status in seen), seen


def a_file(tmp_path, name: str, size: int):
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def sha256_in_s3(seaweed, key: str) -> str | None:
    data = stored(seaweed, key)
    return None if data is None else hashlib.sha256(data).hexdigest()


def test_an_upload_into_s3_is_one_streamed_put_and_an_existing_name_asks_first(lab, seaweed, steps, tmp_path):
    page, d = steps.page, "browser-" + secrets.token_hex(4)
    open_folder(page, lab, f"s3/mine/{d}")
    chunked = contents_puts(page)
    file, digest = a_file(tmp_path, "measures 1.bin", 3 * 2**20 + 4321)
    with page.expect_request(lambda r: r.method == "PUT" and STREAMED.search(r.url)) as put:
        upload(page, file)
    assert put.value.url.endswith(f"/datalab/upload/s3/mine/{d}/measures%201.bin")
    assert put.value.response().status == 201
    listed(page, file.name).wait_for()
    steps.shot("uploaded")
    assert sha256_in_s3(seaweed, f"{d}/{file.name}") == digest
    assert chunked == []

    # The same name again: JupyterLab's question first, then the new bytes replace the old.
    file.write_bytes(os.urandom(2**20 + 7))
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    upload(page, file)
    dialog = page.locator(".jp-Dialog").filter(has_text="already exists")
    dialog.wait_for()
    steps.shot("overwrite-question")
    with page.expect_response(lambda r: r.request.method == "PUT" and STREAMED.search(r.url)) as answer:
        dialog.get_by_role("button", name="Overwrite").click()
    assert answer.value.status == 201
    assert sha256_in_s3(seaweed, f"{d}/{file.name}") == digest
    assert chunked == []


def test_a_proxy_refusing_the_body_size_leaves_it_to_jupyterlabs_chunked_upload(
    lab, seaweed, steps, tmp_path
):
    page, d = steps.page, "limited-" + secrets.token_hex(4)
    refused = []

    def body_limit(route):
        if route.request.method != "PUT":
            return route.continue_()
        refused.append(route.request.url)
        route.fulfill(status=413, content_type="text/html", body="<h1>413 Request Entity Too Large</h1>")

    page.route(STREAMED, body_limit)
    warnings = []
    page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    open_folder(page, lab, f"s3/mine/{d}")
    chunked = contents_puts(page)
    file, digest = a_file(tmp_path, "big.bin", 3 * 2**20 + 99)
    upload(page, file)
    chunks_answered(page, chunked, 4)
    listed(page, file.name).wait_for()
    assert page.locator(".jp-Dialog").count() == 0  # no error shown
    steps.shot("uploaded-in-chunks")
    assert len(refused) == 1 and refused[0].endswith(f"/s3/mine/{d}/big.bin")
    assert {path for path, _ in chunked} == {f"s3/mine/{d}/big.bin"}
    assert sha256_in_s3(seaweed, f"{d}/big.bin") == digest
    assert any("HTTP 413" in w and "chunked" in w for w in warnings), warnings


def test_a_refusal_is_told_with_the_servers_message(lab, seaweed, steps, tmp_path):
    page = steps.page
    open_folder(page, lab, "s3/rodata", make=False)  # a dataset declared read-only
    file, _ = a_file(tmp_path, "nope.bin", 3 * 2**20)  # refused before its body is read: sent on anyway
    with page.expect_response(lambda r: "/datalab/upload/s3/rodata/" in r.url) as answer:
        upload(page, file)
    assert answer.value.status == 403
    dialog = page.locator(".jp-Dialog").filter(has_text="Upload Error")
    dialog.wait_for()
    steps.shot("refused")
    expect(dialog.locator(".jp-Dialog-body")).to_have_text(
        "s3/rodata/nope.bin is in the read-only dataset 'rodata'"
    )
    assert seaweed.client().list_objects_v2(Bucket="rodata", Prefix="nope.bin").get("KeyCount", 0) == 0


def test_a_home_folder_upload_is_jupyterlabs_own(lab, steps, tmp_path):
    page = steps.page
    streamed = []
    page.on("request", lambda r: streamed.append(r.url) if "/datalab/upload/" in r.url else None)
    open_folder(page, lab, "", make=False)
    chunked = contents_puts(page)
    file, digest = a_file(tmp_path, f"home-{secrets.token_hex(3)}.bin", 2 * 2**20 + 5)
    upload(page, file)
    chunks_answered(page, chunked, 3)
    listed(page, file.name).wait_for()
    assert hashlib.sha256((lab.root / file.name).read_bytes()).hexdigest() == digest
    assert streamed == []
