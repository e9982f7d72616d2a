"""Direct uploads: the browser sends the parts straight to S3 on URLs the server signs (`/datalab/direct-upload/...`).

The test client plays the browser: it starts, has each part signed, PUTs the part to S3 with `requests`
(no cookie, no token: the URL is the authorisation) and completes. A user sees the whole file or nothing;
S3 itself refuses a part that is not exactly what was signed.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
import urllib.parse

import pytest
import requests

from jupyter_s3_ext.contents.multipart import checksum_b64
from tests.jupyter_s3_ext.contents.conftest import s3_settings
from tests.jupyter_s3_ext.contents.harness import run_jupyter
from tests.jupyter_s3_ext.contents.test_uploads import stored
from tests.jupyter_s3_ext.contents.test_uploads_left_behind import open_uploads

MiB = 2**20
PART = 5 * MiB  # conftest's part_size_mb


def browser_endpoint(seaweed) -> str:
    """SeaweedFS under another name than the server's endpoint: the URLs must be on this one."""
    return seaweed.endpoint.replace("127.0.0.1", "localhost")


@pytest.fixture(scope="module")
def direct(seaweed, tmp_path_factory):
    """Parts checked by CRC32C (set: on the loopback, auto signs the parts' length only)."""
    settings = {
        **s3_settings(seaweed.endpoint),
        "browser_endpoint_url": browser_endpoint(seaweed),
        "upload_checksum": "CRC32C",
    }
    with run_jupyter(tmp_path_factory.mktemp("direct"), settings) as jp:
        yield jp


@pytest.fixture(scope="module")
def length_only(seaweed, tmp_path_factory):
    """upload_checksum auto, S3 for browsers on the loopback: no checksum, the parts' length signed."""
    settings = {**s3_settings(seaweed.endpoint), "browser_endpoint_url": browser_endpoint(seaweed)}
    with run_jupyter(tmp_path_factory.mktemp("length-only"), settings) as jp:
        yield jp


def call(jp, method: str, path: str, body=None, **kw) -> requests.Response:
    url = f"/datalab/direct-upload/{urllib.parse.quote(path)}"
    return jp.raw(method, url, data=None if body is None else json.dumps(body), **kw)


def start(jp, path: str, size: int) -> dict:
    r = call(jp, "POST", path, {"size": size})
    assert r.status_code == 201, r.text
    return r.json()


def sign(jp, path: str, upload: str, part: int, data: bytes, algorithm: str = "CRC32C") -> dict:
    r = call(jp, "POST", path, {"id": upload, "part": part, "checksum": checksum_b64(algorithm, data)})
    assert r.status_code == 200, r.text
    return r.json()


def to_s3(signed: dict, data: bytes, url: str | None = None) -> requests.Response:
    """The browser's PUT of one part: a fresh session, no Jupyter cookie or token."""
    return requests.put(url or signed["url"], data=data, headers=signed["headers"], timeout=60)


def pieces(data: bytes, part_size: int) -> list[bytes]:
    return [data[i : i + part_size] for i in range(0, len(data), part_size)]


def send_parts(jp, path: str, upload: str, data: bytes, part_size: int) -> list[str]:
    etags = []
    for n, piece in enumerate(pieces(data, part_size), 1):
        r = to_s3(sign(jp, path, upload, n, piece), piece)
        assert r.status_code == 200, r.text
        etags.append(r.headers["ETag"])
    return etags


def complete(jp, path: str, upload: str, etags) -> requests.Response:
    return call(jp, "PUT", path, {"id": upload, "etags": etags})


def journal(jp) -> list:
    """The open uploads the server has journaled (none before its first)."""
    path = jp.root.parent / "data" / "datalab" / "s3-uploads.json"
    return json.loads(path.read_text()) if path.exists() else []


def no_secret_in(log: str) -> bool:
    return all(s not in log for s in ("X-Amz-Signature", "X-Amz-Credential", "uploadId="))


def test_a_file_sent_in_parts_straight_to_s3_is_stored_whole(direct, seaweed):
    d = "direct-" + secrets.token_hex(4)
    path = f"s3/mine/{d}/big file.bin"
    data = os.urandom(3 * PART + 12345)
    started = start(direct, path, len(data))
    assert {k: started[k] for k in ("part_size", "parts", "checksum")} == {
        "part_size": PART,
        "parts": 4,
        "checksum": "CRC32C",
    }
    assert [e["key"] for e in journal(direct)] == [f"{d}/big file.bin"]  # a killed server's is swept
    signed = sign(direct, path, started["id"], 1, data[:PART])
    url = urllib.parse.urlsplit(signed["url"])
    query = urllib.parse.parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}" == browser_endpoint(seaweed)
    assert query["X-Amz-SignedHeaders"] == ["content-length;host;x-amz-checksum-crc32c"]
    assert query["X-Amz-Expires"] == ["300"]
    assert signed["headers"] == {"x-amz-checksum-crc32c": checksum_b64("CRC32C", data[:PART])}
    etags = send_parts(direct, path, started["id"], data, PART)
    assert open_uploads(seaweed, d) != [] and stored(seaweed, f"{d}/big file.bin") is None  # not yet visible
    r = complete(direct, path, started["id"], etags)
    assert r.status_code == 201, r.text
    model = r.json()
    assert (model["path"], model["name"], model["type"], model["size"]) == (
        path,
        "big file.bin",
        "file",
        len(data),
    )
    assert hashlib.sha256(stored(seaweed, f"{d}/big file.bin")).digest() == hashlib.sha256(data).digest()
    assert open_uploads(seaweed, d) == [] and journal(direct) == []
    assert complete(direct, path, started["id"], etags).status_code == 404  # finished: the ID is gone
    assert "bytes, direct)" in direct.log() and no_secret_in(direct.log())


def test_on_the_loopback_auto_signs_each_parts_length_and_no_checksum(length_only, seaweed):
    jp, d = length_only, "length-" + secrets.token_hex(4)
    path = f"s3/mine/{d}/data.bin"
    data = os.urandom(PART + 777)
    started = start(jp, path, len(data))
    assert (started["parts"], started["checksum"]) == (2, None)
    with_checksum = call(jp, "POST", path, {"id": started["id"], "part": 1, "checksum": "AAAAAA=="})
    assert with_checksum.status_code == 400 and "takes no checksum" in with_checksum.json()["message"]
    r = call(jp, "POST", path, {"id": started["id"], "part": 1})
    assert r.status_code == 200, r.text
    signed = r.json()
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(signed["url"]).query)
    assert query["X-Amz-SignedHeaders"] == ["content-length;host"] and signed["headers"] == {}
    assert to_s3(signed, data[: PART - 1]).status_code == 403  # S3 refuses another length
    first = to_s3(signed, data[:PART])
    assert first.status_code == 200, first.text
    r = call(jp, "POST", path, {"id": started["id"], "part": 2, "checksum": None})
    second = to_s3(r.json(), data[PART:])
    assert second.status_code == 200, second.text
    r = complete(jp, path, started["id"], [first.headers["ETag"], second.headers["ETag"]])
    assert r.status_code == 201 and r.json()["size"] == len(data), r.text
    assert hashlib.sha256(stored(seaweed, f"{d}/data.bin")).digest() == hashlib.sha256(data).digest()
    assert open_uploads(seaweed, d) == []


def test_a_file_smaller_than_a_part_is_one_part(direct, seaweed):
    key = f"direct-small-{secrets.token_hex(4)}.txt"
    started = start(direct, f"s3/mine/{key}", 11)
    assert started["parts"] == 1
    etags = send_parts(direct, f"s3/mine/{key}", started["id"], b"hello world", PART)
    assert complete(direct, f"s3/mine/{key}", started["id"], etags).status_code == 201
    assert stored(seaweed, key) == b"hello world"


def test_the_upload_endpoint_says_whether_direct_uploads_are_on(direct, jupyter):
    assert direct.raw("GET", "/datalab/upload").json() == {"folder": "s3", "direct": {"part_size": PART}}
    assert jupyter.raw("GET", "/datalab/upload").json() == {"folder": "s3", "direct": None}
    r = call(jupyter, "POST", "s3/mine/off.bin", {"size": 10 * MiB})
    assert r.status_code == 404 and "direct uploads are off" in r.json()["message"]


@pytest.mark.parametrize(
    ("path", "size", "status", "says"),
    [
        ("s3/rodata/x.bin", 6 * MiB, 403, "read-only dataset"),
        ("s3/x.bin", 6 * MiB, 404, "no S3 location named"),
        ("s3/mine", 6 * MiB, 403, "is an S3 location"),
        ("s3/secret/x.bin", 6 * MiB, 403, "secret"),  # S3 refuses the identity at the start
        ("s3/mine/.hidden/x.bin", 6 * MiB, 400, "hidden"),
        ("s3/mine/refused.bin", 0, 400, "at least 1"),
        ("s3/mine/refused.bin", -5, 400, "at least 1"),
        ("s3/mine/refused.bin", "12", 400, "length in bytes"),
        ("s3/mine/refused.bin", 1.5, 400, "length in bytes"),
        ("s3/mine/refused.bin", None, 400, "length in bytes"),
        ("s3/mine/refused.bin", 5 * 1024**4 + 1, 413, "5 TiB"),
    ],
)
def test_a_refused_start_says_why_and_opens_nothing(direct, seaweed, path, size, status, says):
    r = call(direct, "POST", path, {"size": size})
    assert r.status_code == status, r.text
    assert says in r.json()["message"]
    admin = seaweed.client()
    for bucket in ("work", "rodata", "secret"):
        assert not admin.list_multipart_uploads(Bucket=bucket).get("Uploads"), bucket
    assert stored(seaweed, "refused.bin") is None and journal(direct) == []


def test_the_folder_itself_and_an_anonymous_request_are_refused(direct):
    assert direct.raw("POST", "/datalab/direct-upload/s3", data='{"size": 10}').status_code == 404
    anonymous = requests.post(f"{direct.url}/datalab/direct-upload/s3/mine/anon.bin", data='{"size": 10}')
    assert anonymous.status_code == 403
    assert journal(direct) == []


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"part": 0}, 400, "from 1 to 2"),
        ({"part": 3}, 400, "from 1 to 2"),
        ({"part": "1"}, 400, "from 1 to 2"),
        ({"checksum": "not base64!"}, 400, "base64 of the part's CRC32C"),
        ({"checksum": "AAAAAAA="}, 400, "base64 of the part's CRC32C"),  # 5 bytes
        ({"checksum": checksum_b64("SHA256", b"x")}, 400, "base64 of the part's CRC32C"),
        ({"checksum": 1234}, 400, "base64 of the part's CRC32C"),
        ({"id": "made-up"}, 404, "no direct upload"),
        ({"id": None}, 404, "no direct upload"),
        ({"path": "s3/mine/other.bin"}, 404, "no direct upload"),  # the ID of another path's upload
    ],
)
def test_a_refused_signature_says_why(direct, seaweed, body, status, says):
    d = "direct-sign-" + secrets.token_hex(4)
    path = f"s3/mine/{d}/x.bin"
    upload = start(direct, path, PART + 10)["id"]
    ask = {"id": upload, "part": 1, "checksum": checksum_b64("CRC32C", b"x"), **body}
    r = call(direct, "POST", ask.pop("path", path), ask)
    assert r.status_code == status, r.text
    assert says in r.json()["message"] and "X-Amz" not in r.text
    assert call(direct, "DELETE", path, params={"id": upload}).status_code == 204
    assert open_uploads(seaweed, d) == [] and journal(direct) == []


def replayed(url: str, what: str) -> str:
    return {
        "part": url.replace("partNumber=1", "partNumber=2"),
        "key": url.replace("/x.bin?", "/y.bin?"),
    }[what]


@pytest.mark.parametrize(
    ("attack", "code"),
    [
        ("altered", "BadDigest"),  # same length, one bit flipped after signing
        ("shorter", "SignatureDoesNotMatch"),
        ("longer", "SignatureDoesNotMatch"),
        ("no checksum header", "SignatureDoesNotMatch"),
        ("part", "SignatureDoesNotMatch"),  # the URL replayed for another part number
        ("key", "SignatureDoesNotMatch"),  # ... or for another key
    ],
)
def test_s3_refuses_a_part_that_is_not_what_was_signed(direct, seaweed, attack, code):
    d = "direct-attack-" + secrets.token_hex(4)
    path = f"s3/mine/{d}/x.bin"
    data = os.urandom(PART + 1000)
    upload = start(direct, path, len(data))["id"]
    signed = sign(direct, path, upload, 1, data[:PART])
    body, url = data[:PART], signed["url"]
    if attack == "altered":
        body = bytearray(body)
        body[12345] ^= 1
        body = bytes(body)
    elif attack == "shorter":
        body = body[:-1]
    elif attack == "longer":
        body = body + b"!"
    elif attack == "no checksum header":
        signed = {**signed, "headers": {}}
    else:
        url = replayed(url, attack)
    r = to_s3(signed, body, url)
    assert r.status_code in (400, 403) and f"<Code>{code}</Code>" in r.text, r.text
    admin = seaweed.client()
    uploads = open_uploads(seaweed, d)
    assert [u["Key"] for u in uploads] == [f"{d}/x.bin"]
    parts = admin.list_parts(Bucket="work", Key=f"{d}/x.bin", UploadId=uploads[0]["UploadId"])
    assert not parts.get("Parts") and stored(seaweed, f"{d}/y.bin") is None
    assert call(direct, "DELETE", path, params={"id": upload}).status_code == 204
    assert open_uploads(seaweed, d) == [] and no_secret_in(direct.log())


@pytest.mark.parametrize("wrong", ["etag", "missing etag", "one etag short", "re-signed"])
def test_a_completion_s3_refuses_aborts_and_keeps_the_old_file(direct, seaweed, wrong):
    d = "direct-complete-" + secrets.token_hex(4)
    path = f"s3/mine/{d}/x.bin"
    seaweed.client().put_object(Bucket="work", Key=f"{d}/x.bin", Body=b"the old file")
    data = os.urandom(PART + 1000)
    upload = start(direct, path, len(data))["id"]
    etags = send_parts(direct, path, upload, data, PART)
    if wrong == "etag":
        etags[0] = '"0123456789abcdef0123456789abcdef"'
    elif wrong == "missing etag":
        etags[1] = ""
    elif wrong == "one etag short":
        etags = etags[:1]  # S3 itself would store the first part alone
    else:  # part 1 signed again with another checksum, never sent: not the part S3 holds
        sign(direct, path, upload, 1, data[1 : PART + 1])
    r = complete(direct, path, upload, etags)
    assert r.status_code == 400, r.text
    assert str(d) in r.json()["message"]
    assert open_uploads(seaweed, d) == [] and journal(direct) == []
    assert stored(seaweed, f"{d}/x.bin") == b"the old file"
    assert complete(direct, path, upload, etags).status_code == 404  # aborted: the ID is gone


def test_a_deleted_upload_is_aborted(direct, seaweed):
    d = "direct-delete-" + secrets.token_hex(4)
    path = f"s3/mine/{d}/x.bin"
    data = os.urandom(PART + 10)
    upload = start(direct, path, len(data))["id"]
    send_parts(direct, path, upload, data[:PART], PART)
    assert call(direct, "DELETE", path, params={"id": "made-up"}).status_code == 404
    assert call(direct, "DELETE", "s3/mine/other.bin", params={"id": upload}).status_code == 404
    assert len(open_uploads(seaweed, d)) == 1
    assert call(direct, "DELETE", path, params={"id": upload}).status_code == 204
    assert open_uploads(seaweed, d) == [] and journal(direct) == []
    assert call(direct, "DELETE", path, params={"id": upload}).status_code == 404
    r = call(direct, "POST", path, {"id": upload, "part": 2, "checksum": checksum_b64("CRC32C", b"x")})
    assert r.status_code == 404 and stored(seaweed, f"{d}/x.bin") is None


def test_an_idle_upload_is_aborted(seaweed, tmp_path):
    d = "direct-idle-" + secrets.token_hex(4)
    path = f"s3/mine/{d}/x.bin"
    settings = {
        **s3_settings(seaweed.endpoint),
        "browser_endpoint_url": seaweed.endpoint,
        "upload_checksum": "CRC32C",
    }
    with run_jupyter(tmp_path, {**settings, "upload_idle_timeout": 2.0}) as jp:
        upload = start(jp, path, 2 * PART)["id"]
        signed = sign(jp, path, upload, 1, b"a" * PART)  # a request re-arms the timer
        # (not asserted open here: on a loaded machine the 2 s may already be over; the log says it was)
        deadline = time.monotonic() + 30
        while open_uploads(seaweed, d):
            assert time.monotonic() < deadline, jp.log()[-3000:]
            time.sleep(0.2)
        assert journal(jp) == [] and "aborting the idle direct upload" in jp.log()
        assert to_s3(signed, b"a" * PART).status_code == 404  # the URL is good for nothing now
        r = call(jp, "POST", path, {"id": upload, "part": 2, "checksum": checksum_b64("CRC32C", b"a")})
        assert r.status_code == 404


def test_a_clean_stop_aborts_the_open_direct_uploads(seaweed, tmp_path):
    d = "direct-stop-" + secrets.token_hex(4)
    settings = {
        **s3_settings(seaweed.endpoint),
        "browser_endpoint_url": seaweed.endpoint,
        "upload_checksum": "CRC32C",
    }
    with run_jupyter(tmp_path, settings) as jp:
        for name in ("a.bin", "b.bin"):
            start(jp, f"s3/mine/{d}/{name}", 3 * PART)
        assert len(open_uploads(seaweed, d)) == 2
    assert open_uploads(seaweed, d) == []  # stopped with SIGTERM, as the hub and Kubernetes stop it
    assert journal(jp) == []
