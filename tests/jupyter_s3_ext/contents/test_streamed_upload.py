"""Uploads sent as the file's raw bytes (`PUT /datalab/upload/<path>`, what Datalab's JupyterLab sends).

A user sees the whole file in S3 or nothing: refused before a byte is stored when they may not write
there, aborted when S3 refuses half-way or the browser goes away, and the server goes on serving.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
import time
import urllib.parse

import pytest

from jupyter_s3_ext.contents.streamed_upload import part_size_for
from tests.jupyter_s3_ext.contents.test_uploads import stored
from tests.jupyter_s3_ext.contents.test_uploads_left_behind import open_uploads


def upload(jp, path: str, body, **kw):
    return jp.raw("PUT", f"/datalab/upload/{urllib.parse.quote(path)}", data=body, **kw)


def nothing_of(seaweed, bucket: str, prefix: str) -> bool:
    c = seaweed.client()
    objects = c.list_objects_v2(Bucket=bucket, Prefix=prefix).get("KeyCount", 0)
    return objects == 0 and not c.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads")


def test_the_s3_folder_is_announced(jupyter):
    r = jupyter.raw("GET", "/datalab/upload")
    assert r.status_code == 200 and r.json() == {"folder": "s3", "direct": None}


def test_a_file_sent_as_its_bytes_is_stored_whole_in_parts(jupyter, seaweed):
    d = "stream-" + secrets.token_hex(4)
    data = os.urandom(12 * 2**20 + 12345)  # three 5 MiB parts, the last one short
    r = upload(jupyter, f"s3/mine/{d}/big file.bin", data)
    assert r.status_code == 201, r.text
    model = r.json()
    assert (model["path"], model["name"], model["type"], model["size"]) == (
        f"s3/mine/{d}/big file.bin",
        "big file.bin",
        "file",
        len(data),
    )
    assert hashlib.sha256(stored(seaweed, f"{d}/big file.bin")).digest() == hashlib.sha256(data).digest()
    assert open_uploads(seaweed, d) == []
    listing = jupyter.api("GET", f"s3/mine/{d}").json()["content"]
    assert [(e["name"], e["size"]) for e in listing] == [("big file.bin", len(data))]


@pytest.mark.parametrize("size", [0, 1000])
def test_small_and_empty_files_replace_what_was_there(jupyter, seaweed, size):
    key = f"small-{secrets.token_hex(4)}.bin"
    assert upload(jupyter, f"s3/mine/{key}", b"old content").status_code == 201
    data = os.urandom(size)
    r = upload(jupyter, f"s3/mine/{key}", data)
    assert r.status_code == 201 and r.json()["size"] == size, r.text
    assert stored(seaweed, key) == data


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("s3/rodata/x.bin", 403, "read-only dataset"),  # refused by us, before S3 is asked
        ("s3/x.bin", 404, "no S3 location named"),
        ("s3/secret/x.bin", 403, "secret"),  # S3 refuses the identity: at the first part
        ("s3/mine/.hidden/x.bin", 400, "hidden"),
    ],
)
def test_a_refused_upload_says_why_and_stores_nothing(jupyter, seaweed, path, status, says):
    r = upload(jupyter, path, os.urandom(6 * 2**20))
    assert r.status_code == status, r.text
    assert says in r.json()["message"]
    bucket, _, key = path.removeprefix("s3/").partition("/")
    bucket = {"mine": "work", "x.bin": "work"}.get(bucket, bucket)
    admin = seaweed.client()
    if bucket in ("work", "rodata", "secret"):
        assert not admin.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert upload(jupyter, f"s3/mine/after-{secrets.token_hex(3)}.txt", b"still up").status_code == 201


def test_s3_refusing_half_way_aborts_at_once_and_answers_the_error(jupyter, seaweed):
    """`locked` is writable on our side but read-only for the identity: S3 refuses the first part."""
    r = upload(jupyter, f"s3/locked/{secrets.token_hex(4)}.bin", os.urandom(11 * 2**20))
    assert r.status_code == 403, r.text
    assert "s3/locked/" in r.json()["message"]
    assert nothing_of(seaweed, "locked", "")


def test_a_body_without_length_or_credentials_is_refused(jupyter):
    chunked = upload(jupyter, "s3/mine/chunked.bin", iter([b"a" * 1000, b"b" * 1000]))
    assert chunked.status_code == 411 and "Content-Length" in chunked.json()["message"]
    anonymous = jupyter.http.__class__().put(f"{jupyter.url}/datalab/upload/s3/mine/anon.bin", data=b"x")
    assert anonymous.status_code == 403


def test_an_upload_cut_off_by_the_client_leaves_nothing(jupyter, seaweed):
    d = "gone-" + secrets.token_hex(4)
    host, port = urllib.parse.urlsplit(jupyter.url).netloc.split(":")
    with socket.create_connection((host, int(port))) as s:
        s.sendall(
            f"PUT /datalab/upload/s3/mine/{d}/big.bin HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: token {jupyter.token}\r\nContent-Length: {40 * 2**20}\r\n\r\n".encode()
        )
        for _ in range(12):  # two 5 MiB parts sent to S3, then the browser tab closes
            s.sendall(os.urandom(2**20))
        deadline = time.monotonic() + 30
        while not open_uploads(seaweed, d):
            assert time.monotonic() < deadline, jupyter.log()[-3000:]
            time.sleep(0.2)
    deadline = time.monotonic() + 30
    while not nothing_of(seaweed, "work", d):
        assert time.monotonic() < deadline, jupyter.log()[-3000:]
        time.sleep(0.2)
    assert "cut off by the client" in jupyter.log()


def test_part_size_grows_only_when_s3_would_need_more_than_10000_parts():
    assert part_size_for(100 * 2**20, 8 * 2**20) == 8 * 2**20
    assert part_size_for(0, 8 * 2**20) == 8 * 2**20
    big = part_size_for(200 * 2**30, 8 * 2**20)  # 200 GiB
    assert big % 2**20 == 0 and -(-200 * 2**30 // big) <= 10_000 and big < 22 * 2**20


def test_a_path_in_an_error_is_bounded_and_escaped(jupyter, seaweed):
    """`locked` refuses the identity's writes: the error quotes the path, which tornado also logs."""
    name = "line\nbreak-" + "x" * 400 + ".bin"
    r = upload(jupyter, f"s3/locked/{name}", os.urandom(6 * 2**20))
    assert r.status_code == 403, r.text
    message = r.json()["message"]
    assert "\n" not in message and "\\n" in message and len(message) < 500
    assert "\nbreak-" not in jupyter.log()
