"""Uploads through JupyterLab's file browser, in headless Chromium: into the S3 folder a file of at least one
part (5 MiB here) goes straight to S3 on part URLs the server presigns (`…/datalab/direct-upload/…`), a
smaller one as its raw bytes in one `PUT …/datalab/upload/…` (Datalab's labextension); elsewhere through
JupyterLab's contents API.

A jupyter-server with JupyterLab and the extension, S3 mounted on this package's SeaweedFS, which the browser
reaches too (no hub: the token logs the browser in, the `_xsrf` cookie goes with every call), the parts'
length signed (auto on the loopback); a second one whose parts S3 checks by SHA-256; a third whose S3
endpoint for browsers is a closed port. Screenshots in test-artifacts/.
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
from tests.support.procs import REPO, free_port

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
DIRECT = re.compile(r"/datalab/direct-upload/s3/")
LAB = "c.ServerApp.jpserver_extensions = {'jupyter_s3_ext': True, 'jupyterlab': True}\n"
PART = 5 * 2**20  # s3_settings' part size: files of at least this go direct


def start_lab(tmp_path_factory, seaweed, browser_endpoint: str, **settings):
    s3 = {**s3_settings(seaweed.endpoint), "browser_endpoint_url": browser_endpoint, **settings}
    return run_jupyter(tmp_path_factory.mktemp("lab"), s3, extra=LAB)


@pytest.fixture(scope="module")
def lab(seaweed, tmp_path_factory):
    with start_lab(tmp_path_factory, seaweed, seaweed.endpoint) as jp:
        yield jp


@pytest.fixture(scope="module")
def lab_s3_unreachable(seaweed, tmp_path_factory):
    """A server that tells browsers an S3 endpoint where nothing listens (as if S3 were not reachable)."""
    with start_lab(tmp_path_factory, seaweed, f"http://127.0.0.1:{free_port()}") as jp:
        yield jp


@pytest.fixture(scope="module")
def lab_sha256(seaweed, tmp_path_factory):
    """A server whose parts S3 verifies with SHA-256 (as `auto` picks for plain HTTP to another machine)."""
    with start_lab(tmp_path_factory, seaweed, seaweed.endpoint, upload_checksum="SHA256") as jp:
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


def requests_to(page, pattern) -> list:
    """Each request of the page whose URL matches `pattern`, from now on."""
    seen: list = []
    page.on("request", lambda r: seen.append(r) if pattern.search(r.url) else None)
    return seen


def multipart_uploads_left(seaweed, prefix: str) -> list:
    return seaweed.client().list_multipart_uploads(Bucket="work", Prefix=prefix).get("Uploads", [])


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
    direct = requests_to(page, DIRECT)
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
    assert direct == []  # both below a part: streamed, though direct uploads are on


def test_a_file_of_several_parts_goes_straight_to_s3(lab, seaweed, steps, tmp_path):
    page, d = steps.page, "direct-" + secrets.token_hex(4)
    open_folder(page, lab, f"s3/mine/{d}")
    to_s3 = requests_to(page, re.compile("^" + re.escape(seaweed.endpoint) + "/"))
    to_server = requests_to(page, re.compile(r"/datalab/(direct-)?upload/"))
    file, digest = a_file(tmp_path, "big data.bin", 12 * 2**20 + 4321)  # parts of 5, 5 and 2 MiB
    with page.expect_response(lambda r: r.request.method == "PUT" and DIRECT.search(r.url)) as done:
        upload(page, file)
    assert done.value.status == 201
    listed(page, file.name).wait_for()
    steps.shot("uploaded-direct")
    assert sha256_in_s3(seaweed, f"{d}/{file.name}") == digest
    puts = [r for r in to_s3 if r.method == "PUT"]
    numbers = sorted(
        int(urllib.parse.parse_qs(urllib.parse.urlsplit(r.url).query)["partNumber"][0]) for r in puts
    )
    assert numbers == [1, 2, 3]
    for r in puts:
        assert r.response().status == 200
        headers = r.all_headers()
        assert not any(h.startswith("x-amz-checksum-") for h in headers)  # loopback: the length only
        assert not {"cookie", "authorization", "x-xsrftoken"} & set(headers), headers
    calls = [(r.method, urllib.parse.urlsplit(r.url).path.split("/datalab/")[1]) for r in to_server]
    path = f"direct-upload/s3/mine/{d}/big%20data.bin"
    assert calls == [("POST", path)] * 4 + [("PUT", path)], calls  # start, 3 signed parts, complete
    assert multipart_uploads_left(seaweed, d) == []


def test_parts_s3_verifies_with_sha256_are_hashed_by_the_browser(lab_sha256, seaweed, steps, tmp_path):
    page, d = steps.page, "sha256-" + secrets.token_hex(4)
    open_folder(page, lab_sha256, f"s3/mine/{d}")
    to_s3 = requests_to(page, re.compile("^" + re.escape(seaweed.endpoint) + "/"))
    file, digest = a_file(tmp_path, "hashed.bin", PART + 777)
    with page.expect_response(lambda r: r.request.method == "PUT" and DIRECT.search(r.url)) as done:
        upload(page, file)
    assert done.value.status == 201
    listed(page, file.name).wait_for()
    assert sha256_in_s3(seaweed, f"{d}/{file.name}") == digest
    puts = [r for r in to_s3 if r.method == "PUT"]
    assert len(puts) == 2
    for r in puts:  # S3 checked each part against the SHA-256 the server signed
        headers = r.all_headers()
        assert r.response().status == 200 and "x-amz-checksum-sha256" in headers, headers
        assert "x-amz-checksum-crc32c" not in headers
    assert multipart_uploads_left(seaweed, d) == []


def test_a_part_s3_refuses_is_told_with_its_message_and_nothing_is_left(lab_sha256, seaweed, steps, tmp_path):
    page, d = steps.page, "baddigest-" + secrets.token_hex(4)
    s3_puts = re.compile("^" + re.escape(seaweed.endpoint) + "/.*partNumber=2")

    def flip_a_bit(route):  # part 2's bytes changed on the way, after the server signed their checksum
        if route.request.method != "PUT":
            return route.continue_()
        body = bytearray(route.request.post_data_buffer)
        body[1000] ^= 1
        route.continue_(post_data=bytes(body))

    page.route(s3_puts, flip_a_bit)
    open_folder(page, lab_sha256, f"s3/mine/{d}")
    streamed = requests_to(page, STREAMED)
    direct = requests_to(page, DIRECT)
    file, _ = a_file(tmp_path, "flipped.bin", 2 * PART + 5)
    upload(page, file)
    dialog = page.locator(".jp-Dialog").filter(has_text="Upload Error")
    dialog.wait_for()
    steps.shot("part-refused")
    expect(dialog.locator(".jp-Dialog-body")).to_contain_text("S3 refused part 2 of the upload: ")
    said = dialog.locator(".jp-Dialog-body").inner_text()
    assert "http" not in said and "X-Amz" not in said, said
    assert direct[-1].method == "DELETE" and direct[-1].response().status == 204
    assert streamed == []
    assert sha256_in_s3(seaweed, f"{d}/flipped.bin") is None
    assert multipart_uploads_left(seaweed, d) == []


def test_s3_out_of_the_browsers_reach_leaves_the_file_to_the_streamed_upload(
    lab_s3_unreachable, seaweed, steps, tmp_path
):
    page, d = steps.page, "unreachable-" + secrets.token_hex(4)
    warnings = []
    page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    open_folder(page, lab_s3_unreachable, f"s3/mine/{d}")
    direct = requests_to(page, DIRECT)
    file, digest = a_file(tmp_path, "far.bin", 2 * PART + 99)
    with page.expect_response(lambda r: r.request.method == "PUT" and STREAMED.search(r.url)) as put:
        upload(page, file)
    assert put.value.status == 201
    listed(page, file.name).wait_for()
    assert page.locator(".jp-Dialog").count() == 0  # no error shown
    assert sha256_in_s3(seaweed, f"{d}/far.bin") == digest
    methods = [r.method for r in direct]
    assert methods[0] == "POST" and methods[-1] == "DELETE" and "PUT" not in methods, methods
    assert direct[-1].response().status == 204  # the started upload aborted
    assert multipart_uploads_left(seaweed, d) == []
    assert any("direct upload" in w and "streaming it" in w for w in warnings), warnings


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


@pytest.mark.parametrize(
    ("size", "route"),
    [(3 * 2**20, "upload"), (PART + 1, "direct-upload")],  # the streamed PUT's body is sent on anyway
    ids=["streamed", "direct"],
)
def test_a_refusal_is_told_with_the_servers_message(lab, seaweed, steps, tmp_path, size, route):
    page = steps.page
    open_folder(page, lab, "s3/rodata", make=False)  # a dataset declared read-only
    file, _ = a_file(tmp_path, "nope.bin", size)
    with page.expect_response(lambda r: f"/datalab/{route}/s3/rodata/" in r.url) as answer:
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
