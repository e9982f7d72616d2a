"""Big S3 folders and files opened as base64 are streamed: the same JSON as Jupyter's, written as read.

Through the real server's route for the S3 folder (the extension's S3ContentsHandler): a folder of
several ListObjectsV2 pages, a file with its SHA-256, and errors that still answer cleanly because the
first S3 request is made before anything is sent.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from concurrent.futures import ThreadPoolExecutor


def test_a_folder_of_several_pages_is_streamed_complete(jupyter, seaweed):
    d = "many-" + secrets.token_hex(4)
    c = seaweed.client()
    keys = [f"{d}/obj-{i:04d}.csv" for i in range(2300)] + [f"{d}/sub-{j}/in.txt" for j in range(3)]
    keys += [f"{d}/.hidden", f"{d}/n.ipynb"]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: c.put_object(Bucket="work", Key=k, Body=b"a,b\n"), keys))
    r = jupyter.api("GET", f"s3/mine/{d}", params={"content": 1})
    assert r.status_code == 200, r.text[:500]
    assert r.headers.get("Transfer-Encoding") == "chunked"  # written as the pages came
    model = r.json()
    assert (model["type"], model["format"], model["path"], model["name"]) == (
        "directory",
        "json",
        f"s3/mine/{d}",
        d,
    )
    entries = {e["name"]: e for e in model["content"]}
    assert len(entries) == 2300 + 3 + 1 and ".hidden" not in entries
    assert entries["obj-0042.csv"]["size"] == 4 and entries["obj-0042.csv"]["mimetype"] == "text/csv"
    assert entries["sub-1"]["type"] == "directory" and entries["n.ipynb"]["type"] == "notebook"
    assert entries["obj-2299.csv"]["path"] == f"s3/mine/{d}/obj-2299.csv"
    # Unstreamed answers are unchanged: without content, and with type=directory given.
    assert jupyter.api("GET", f"s3/mine/{d}", params={"content": 0}).json()["content"] is None
    typed = jupyter.api("GET", f"s3/mine/{d}/sub-2", params={"type": "directory"}).json()
    assert [e["name"] for e in typed["content"]] == ["in.txt"]


def test_a_file_asked_as_base64_is_streamed_with_its_hash(jupyter, seaweed):
    d = "blob-" + secrets.token_hex(4)
    data = os.urandom(2 * 2**20 + 7)  # not a multiple of 3, several read pieces
    seaweed.client().put_object(Bucket="work", Key=f"{d}/blob.bin", Body=data)
    params = {"type": "file", "format": "base64", "content": 1, "hash": 1}
    r = jupyter.api("GET", f"s3/mine/{d}/blob.bin", params=params)
    assert r.status_code == 200, r.text[:500]
    assert r.headers.get("Transfer-Encoding") == "chunked"
    m = r.json()
    assert base64.b64decode(m["content"]) == data and m["size"] == len(data)
    assert (m["hash"], m["hash_algorithm"]) == (hashlib.sha256(data).hexdigest(), "sha256")
    assert (m["format"], m["type"], m["mimetype"]) == ("base64", "file", "application/octet-stream")


def test_streamed_errors_are_still_clean_answers(jupyter, seaweed):
    assert jupyter.api("GET", "s3/mine/no-such-folder-" + secrets.token_hex(4)).status_code == 404
    r = jupyter.api("GET", "s3/secret/x", params={"content": 1})
    assert r.status_code == 403 and "denied" in r.json()["message"]
    missing = jupyter.api("GET", "s3/mine/nothing.bin", params={"type": "file", "format": "base64"})
    assert missing.status_code == 404
    big = "big-" + secrets.token_hex(4)
    seaweed.client().put_object(Bucket="work", Key=f"{big}/4mib.bin", Body=os.urandom(4 * 2**20))
    r = jupyter.api("GET", f"s3/mine/{big}/4mib.bin", params={"type": "file", "format": "base64"})
    assert r.status_code == 413 and "MiB" in r.json()["message"]  # max_open_mb is 3 here
