"""Chunked uploads into S3: several parts in flight keep the bytes in order; a cut-off upload leaves nothing.

A user uploading a file sees either the whole file or none of it: an upload that stops half-way (the tab
closed, the network gone) or whose chunk is refused never leaves a partial object, nor an incomplete
multipart upload that the bucket would keep (and bill) for good.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import time

import pytest

from tests.jupyter_s3_ext.contents.conftest import s3_settings
from tests.jupyter_s3_ext.contents.harness import run_jupyter
from tests.jupyter_s3_ext.contents.test_uploads_left_behind import open_uploads, send_chunks

IDLE = 3.0


@pytest.fixture(scope="module")
def server(seaweed, tmp_path_factory):
    settings = {**s3_settings(seaweed.endpoint), "upload_parts_in_flight": 4, "upload_idle_timeout": IDLE}
    with run_jupyter(tmp_path_factory.mktemp("uploads"), settings) as jp:
        yield jp


def put_chunk(jp, path: str, n: int, content: str):
    return jp.api("PUT", path, body={"type": "file", "format": "base64", "chunk": n, "content": content})


def stored(seaweed, key: str) -> bytes | None:
    try:
        return seaweed.client().get_object(Bucket="work", Key=key)["Body"].read()
    except seaweed.client().exceptions.NoSuchKey:
        return None


def test_parts_in_flight_keep_the_bytes_in_order(server, seaweed):
    """23 MiB in chunks that straddle the 5 MiB parts, four parts sent at once: the same SHA-256."""
    d = "order-" + secrets.token_hex(4)
    data = os.urandom(23 * 2**20 + 12345)
    size = 1_300_007  # not a divisor of the part size: chunks are split between two parts
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    for i, piece in enumerate(pieces, start=1):
        r = put_chunk(
            server, f"s3/mine/{d}/big.bin", -1 if i == len(pieces) else i, base64.b64encode(piece).decode()
        )
        assert r.status_code in (200, 201), r.text
    assert r.json()["size"] == len(data)
    assert hashlib.sha256(stored(seaweed, f"{d}/big.bin")).digest() == hashlib.sha256(data).digest()
    assert open_uploads(seaweed, d) == []


def test_an_upload_cut_off_half_way_is_aborted_once_idle(server, seaweed):
    d = "cut-" + secrets.token_hex(4)
    path = f"s3/mine/{d}/big.bin"
    send_chunks(server, path, 6)  # past one 5 MiB part: a multipart upload is open, then nothing more
    assert len(open_uploads(seaweed, d)) == 1
    deadline = time.monotonic() + IDLE + 30
    while open_uploads(seaweed, d):
        assert time.monotonic() < deadline, server.log()[-3000:]
        time.sleep(0.5)
    assert stored(seaweed, f"{d}/big.bin") is None
    assert server.api("GET", path, params={"content": 0}).status_code == 404
    late = put_chunk(server, path, 7, base64.b64encode(b"x" * 2**20).decode())
    assert late.status_code == 400 and "chunk" in late.json()["message"]  # JupyterLab says it failed


def test_a_refused_chunk_aborts_the_upload_at_once(server, seaweed):
    d = "bad-" + secrets.token_hex(4)
    path = f"s3/mine/{d}/big.bin"
    send_chunks(server, path, 6)
    r = put_chunk(server, path, 7, "not base64!" * 1000)
    assert r.status_code == 400 and "Encoding error" in r.json()["message"]
    assert open_uploads(seaweed, d) == [] and stored(seaweed, f"{d}/big.bin") is None
    assert put_chunk(server, path, -1, base64.b64encode(b"end").decode()).status_code == 400
