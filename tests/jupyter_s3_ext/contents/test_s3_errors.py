"""S3-only behaviour: permissions, missing buckets, moves between home and S3, listing folders without markers."""

from __future__ import annotations

import base64
import secrets

import pytest


def put_text(jp, path, text):
    return jp.api("PUT", path, body={"type": "file", "format": "text", "content": text})


def test_mount_table_and_writability(jupyter):
    top = {e["name"]: e for e in jupyter.api("GET", "").json()["content"]}
    assert top["s3"]["type"] == "directory"
    mounts = {e["name"]: e["writable"] for e in jupyter.api("GET", "s3").json()["content"]}
    assert mounts == {"mine": True, "rodata": False, "locked": True, "secret": True, "gone": True}
    assert jupyter.api("GET", "s3/rodata").json()["writable"] is False


def test_read_only_dataset_refused_by_us(jupyter, seaweed):
    seaweed.client().put_object(Bucket="rodata", Key="table.csv", Body=b"a,b\n1,2\n")
    m = jupyter.api("GET", "s3/rodata/table.csv").json()
    assert m["content"] == "a,b\n1,2\n" and m["writable"] is False
    for r in (
        put_text(jupyter, "s3/rodata/new.txt", "x"),
        jupyter.api("DELETE", "s3/rodata/table.csv"),
        jupyter.api("PATCH", "s3/rodata/table.csv", body={"path": "s3/rodata/t2.csv"}),
        jupyter.api("POST", "s3/rodata", body={"type": "directory"}),
        jupyter.api("POST", "s3/rodata", body={"copy_from": "s3/rodata/table.csv"}),
    ):
        assert r.status_code == 403, r.text
        assert "read-only" in r.json()["message"]
    assert seaweed.client().get_object(Bucket="rodata", Key="table.csv")["Body"].read() == b"a,b\n1,2\n"


def test_access_denied_by_s3(jupyter, seaweed):
    """The identity may only read `locked` and nothing of `secret`: S3's AccessDenied becomes a clear 403."""
    seaweed.client().put_object(Bucket="locked", Key="keep.txt", Body=b"keep")
    assert jupyter.api("GET", "s3/locked/keep.txt").json()["content"] == "keep"
    for r in (
        put_text(jupyter, "s3/locked/new.txt", "x"),
        jupyter.api("DELETE", "s3/locked/keep.txt"),
        jupyter.api("GET", "s3/secret"),
        jupyter.api("GET", "s3/secret/anything.txt"),
    ):
        assert r.status_code == 403, r.text
        assert "denied" in r.json()["message"]
    assert jupyter.api("GET", "s3/gone").status_code == 404  # a bucket that does not exist
    assert jupyter.api("GET", "s3/nomount/x").status_code == 404
    # The rest keeps working.
    assert jupyter.api("GET", "").status_code == 200
    assert jupyter.api("GET", "s3/mine").status_code == 200


def test_folders_without_markers_are_listed(jupyter, seaweed):
    """Data written by other tools has no `prefix/` markers: every common prefix is a folder."""
    c = seaweed.client()
    base = "ext-" + secrets.token_hex(3)
    for k in (f"{base}/a/1.csv", f"{base}/a/deep/2.csv", f"{base}/b/3.csv", f"{base}/top.txt"):
        c.put_object(Bucket="work", Key=k, Body=b"1")
    listing = {e["name"]: e["type"] for e in jupyter.api("GET", f"s3/mine/{base}").json()["content"]}
    assert listing == {"a": "directory", "b": "directory", "top.txt": "file"}
    assert {e["name"] for e in jupyter.api("GET", f"s3/mine/{base}/a").json()["content"]} == {"1.csv", "deep"}
    # A new folder made from JupyterLab is a zero-byte marker (the S3 console's convention).
    assert jupyter.api("PUT", f"s3/mine/{base}/empty", body={"type": "directory"}).status_code == 201
    assert c.head_object(Bucket="work", Key=f"{base}/empty/")["ContentLength"] == 0


@pytest.mark.parametrize("what", ["file", "folder"])
def test_move_and_copy_between_home_and_s3(jupyter, seaweed, what):
    name = f"{what}-" + secrets.token_hex(3)
    payload = base64.b64encode(b"\x00\x01binary" * 1000).decode()
    if what == "file":
        body = {"type": "file", "format": "base64", "content": payload}
        assert jupyter.api("PUT", name, body=body).status_code == 201
    else:
        assert jupyter.api("PUT", name, body={"type": "directory"}).status_code == 201
        assert jupyter.api("PUT", f"{name}/inner", body={"type": "directory"}).status_code == 201
        assert put_text(jupyter, f"{name}/inner/n.txt", "nested").status_code == 201
    # home -> S3 (move), S3 -> S3 copy, S3 -> home (move back under another name)
    r = jupyter.api("PATCH", name, body={"path": f"s3/mine/{name}"})
    assert r.status_code == 200, r.text
    assert jupyter.api("GET", name).status_code == 404
    r = jupyter.api("POST", "", body={"copy_from": f"s3/mine/{name}"})  # S3 -> home copy
    assert r.status_code == 201, r.text
    assert jupyter.api("GET", f"s3/mine/{name}").status_code == 200  # copy keeps the source
    r = jupyter.api("PATCH", f"s3/mine/{name}", body={"path": f"{name}-back"})
    assert r.status_code == 200, r.text
    assert jupyter.api("GET", f"s3/mine/{name}").status_code == 404
    if what == "file":
        assert (jupyter.root / f"{name}-back").read_bytes() == base64.b64decode(payload)
        assert (jupyter.root / name).read_bytes() == base64.b64decode(payload)  # the copy
    else:
        assert jupyter.api("GET", f"{name}-back/inner/n.txt").json()["content"] == "nested"
        assert (jupyter.root / name / "inner" / "n.txt").read_text() == "nested"
    # Onto an existing name: refused, nothing lost.
    assert jupyter.api("PATCH", f"{name}-back", body={"path": name}).status_code == 409


def test_interrupted_chunked_upload_is_aborted(jupyter, seaweed):
    """A new chunk 1 for the same path aborts the unfinished multipart upload; nothing half-visible."""
    chunk = base64.b64encode(b"x" * 2**20).decode()
    path = "s3/mine/interrupted.bin"
    for n in range(1, 7):  # 6 MiB: the first 5 MiB part is already in S3's multipart upload
        r = jupyter.api("PUT", path, body={"type": "file", "format": "base64", "chunk": n, "content": chunk})
        assert r.status_code in (200, 201)
    assert seaweed.client().list_multipart_uploads(Bucket="work").get("Uploads")
    assert jupyter.api("GET", path).status_code == 404  # not visible
    r = jupyter.api("PUT", path, body={"type": "file", "format": "base64", "chunk": 1, "content": chunk})
    assert not seaweed.client().list_multipart_uploads(Bucket="work").get("Uploads")
    r = jupyter.api("PUT", path, body={"type": "file", "format": "base64", "chunk": -1, "content": chunk})
    assert r.status_code in (200, 201) and r.json()["size"] == 2 * 2**20
    bad = jupyter.api(
        "PUT", "s3/mine/orphan.bin", body={"type": "file", "format": "base64", "chunk": 3, "content": chunk}
    )
    assert bad.status_code == 400 and "chunk" in bad.json()["message"]
