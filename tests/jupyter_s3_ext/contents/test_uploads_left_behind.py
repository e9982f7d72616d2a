"""No incomplete multipart upload stays in the bucket: aborted at a clean stop, swept after a kill.

Before: an upload cut off by a stop or a kill stayed in the bucket as an incomplete multipart upload for
good (stored, invisible to every listing). Now a clean stop (SIGTERM) aborts the uploads in flight, and
the next start of the same server aborts what a killed run left once idle for `upload_idle_timeout`,
and only that: another tool's upload in the same bucket is left alone.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import time

from tests.jupyter_s3_ext.contents.conftest import s3_settings
from tests.jupyter_s3_ext.contents.harness import run_jupyter


def send_chunks(jp, path: str, n: int) -> None:
    """The first `n` 1 MiB chunks of a bigger upload, as JupyterLab sends them (never the last one)."""
    for i in range(1, n + 1):
        body = {
            "type": "file",
            "format": "base64",
            "chunk": i,
            "content": base64.b64encode(os.urandom(2**20)).decode(),
        }
        r = jp.api("PUT", path, body=body)
        assert r.status_code in (200, 201), r.text


def open_uploads(seaweed, prefix: str) -> list[dict]:
    return seaweed.client().list_multipart_uploads(Bucket="work", Prefix=prefix).get("Uploads", [])


def test_a_clean_stop_aborts_the_uploads_in_flight(seaweed, tmp_path):
    d = "cut-" + secrets.token_hex(4)
    with run_jupyter(tmp_path, s3_settings(seaweed.endpoint)) as jp:
        send_chunks(jp, f"s3/mine/{d}/big.bin", 6)  # past one 5 MiB part: a multipart upload is open
        assert len(open_uploads(seaweed, d)) == 1
    assert open_uploads(seaweed, d) == []  # stopped with SIGTERM, as the hub and Kubernetes stop it
    journal = tmp_path / "data" / "datalab" / "s3-uploads.json"
    assert json.loads(journal.read_text()) == []


def test_uploads_a_killed_server_left_are_aborted_at_its_next_start(seaweed, tmp_path):
    d = "killed-" + secrets.token_hex(4)
    other = seaweed.client().create_multipart_upload(Bucket="work", Key=f"{d}/another-tool.bin")["UploadId"]
    settings = {**s3_settings(seaweed.endpoint), "upload_idle_timeout": 3.0}
    try:
        with run_jupyter(tmp_path, settings) as jp:
            send_chunks(jp, f"s3/mine/{d}/big.bin", 6)
            os.killpg(jp.proc.pid, signal.SIGKILL)
            jp.proc.proc.wait(10)
        keys = sorted(u["Key"] for u in open_uploads(seaweed, d))
        assert keys == [f"{d}/another-tool.bin", f"{d}/big.bin"]  # the kill left ours behind
        with run_jupyter(tmp_path, settings) as jp:  # the same server (same home) starts again
            deadline = time.monotonic() + 60
            while len(open_uploads(seaweed, d)) > 1:
                assert time.monotonic() < deadline, jp.log()[-3000:]
                time.sleep(0.5)
            assert "left by an earlier run" in jp.log()
        assert [u["UploadId"] for u in open_uploads(seaweed, d)] == [other]  # another tool's: untouched
    finally:
        seaweed.client().abort_multipart_upload(Bucket="work", Key=f"{d}/another-tool.bin", UploadId=other)
