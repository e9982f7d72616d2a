"""One contents-API suite, run on the home directory and on the S3 mount of the same real Jupyter server.

Each test gets a fresh folder under the parametrized root: `home` (the default file manager) or `s3`
(`s3/mine/...`, bucket `work` in SeaweedFS). Expected differences are spelled out where they occur and
documented in jupyter_s3_ext/README.md.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import secrets
import urllib.parse
from datetime import UTC, datetime, timedelta

import pytest

NB = {
    "cells": [{"cell_type": "markdown", "metadata": {}, "source": "# Title"}],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 5,
}


@pytest.fixture(params=["home", "s3"])
def where(request, jupyter, seaweed):
    """(jupyter, folder API path, kind) in a fresh folder."""
    name = "case-" + secrets.token_hex(4)
    folder = name if request.param == "home" else f"s3/mine/{name}"
    r = jupyter.api("PUT", folder, body={"type": "directory"})
    assert r.status_code == 201, r.text
    return jupyter, folder, request.param


def put_text(jp, path, text):
    return jp.api("PUT", path, body={"type": "file", "format": "text", "content": text})


def names(jp, folder):
    r = jp.api("GET", folder, params={"content": 1})
    assert r.status_code == 200, r.text
    return {e["name"]: e for e in r.json()["content"]}


def test_text_binary_and_notebook_roundtrip(where):
    jp, d, _ = where
    before = datetime.now(UTC) - timedelta(seconds=5)
    assert put_text(jp, f"{d}/a.txt", "héllo\n").status_code == 201
    blob = bytes(range(256)) * 4
    r = jp.api(
        "PUT",
        f"{d}/b.bin",
        body={"type": "file", "format": "base64", "content": base64.b64encode(blob).decode()},
    )
    assert r.status_code == 201, r.text
    assert jp.api("PUT", f"{d}/n.ipynb", body={"type": "notebook", "content": NB}).status_code == 201

    m = jp.api("GET", f"{d}/a.txt").json()
    assert (m["type"], m["format"], m["content"], m["size"], m["writable"]) == (
        "file",
        "text",
        "héllo\n",
        7,
        True,
    )
    assert datetime.fromisoformat(m["last_modified"]) >= before
    m = jp.api("GET", f"{d}/b.bin").json()
    assert m["format"] == "base64" and base64.b64decode(m["content"]) == blob
    assert jp.api("GET", f"{d}/b.bin", params={"format": "text"}).status_code == 400
    m = jp.api("GET", f"{d}/a.txt", params={"hash": 1, "content": 0}).json()
    assert (m["hash"], m["hash_algorithm"]) == (hashlib.sha256("héllo\n".encode()).hexdigest(), "sha256")
    m = jp.api("GET", f"{d}/n.ipynb").json()
    assert m["type"] == "notebook" and m["content"]["cells"][0]["source"] == "# Title"

    listing = names(jp, d)
    assert set(listing) == {"a.txt", "b.bin", "n.ipynb"}
    assert listing["n.ipynb"]["type"] == "notebook" and listing["b.bin"]["size"] == 1024
    # Overwrite keeps one object with the new content.
    assert put_text(jp, f"{d}/a.txt", "v2").status_code == 200
    assert jp.api("GET", f"{d}/a.txt").json()["content"] == "v2"


def test_an_invalid_notebook_is_saved_with_the_validation_message(where):
    """Both sides save a notebook that breaks the schema and say why, as Jupyter Server's file manager does."""
    jp, d, _ = where
    broken = {**NB, "cells": [{"cell_type": "markdown", "metadata": {}, "source": "# T", "bogus": 1}]}
    r = jp.api("PUT", f"{d}/broken.ipynb", body={"type": "notebook", "content": broken})
    assert r.status_code == 201, r.text
    message = r.json().get("message") or ""
    assert message.startswith("Notebook validation failed") and "bogus" in message, message
    assert "message" not in jp.api("PUT", f"{d}/fine.ipynb", body={"type": "notebook", "content": NB}).json()
    opened = jp.api("GET", f"{d}/broken.ipynb").json()
    assert opened["content"]["cells"][0]["source"] == "# T" and "bogus" in opened.get("message", "")


def test_new_untitled_and_folders(where):
    jp, d, _ = where
    made = [jp.api("POST", d, body={"type": "file", "ext": ".txt"}).json()["name"] for _ in range(2)]
    assert made == ["untitled.txt", "untitled1.txt"]
    assert jp.api("POST", d, body={"type": "notebook"}).json()["name"] == "Untitled.ipynb"
    r = jp.api("POST", d, body={"type": "directory"})
    assert r.status_code == 201 and r.json()["name"] == "Untitled Folder"
    listing = names(jp, d)
    assert listing["Untitled Folder"]["type"] == "directory"  # an empty folder stays visible
    assert names(jp, f"{d}/Untitled Folder") == {}
    nb = jp.api("GET", f"{d}/Untitled.ipynb").json()
    assert nb["content"]["nbformat"] == 4
    assert jp.api("POST", f"{d}/missing", body={"type": "file"}).status_code == 404


def test_rename_move_copy_delete(where):
    jp, d, _ = where
    assert jp.api("PUT", f"{d}/sub", body={"type": "directory"}).status_code == 201
    assert put_text(jp, f"{d}/sub/x.txt", "x").status_code == 201
    assert put_text(jp, f"{d}/y.txt", "y").status_code == 201
    # Rename a file, then refuse to rename onto an existing one.
    r = jp.api("PATCH", f"{d}/y.txt", body={"path": f"{d}/z.txt"})
    assert r.status_code == 200 and r.json()["path"] == f"{d}/z.txt"
    assert jp.api("GET", f"{d}/y.txt").status_code == 404
    assert jp.api("PATCH", f"{d}/z.txt", body={"path": f"{d}/sub/x.txt"}).status_code == 409
    # Move a file into a folder, rename the folder with its contents.
    assert jp.api("PATCH", f"{d}/z.txt", body={"path": f"{d}/sub/z.txt"}).status_code == 200
    assert jp.api("PATCH", f"{d}/sub", body={"path": f"{d}/moved"}).status_code == 200
    assert set(names(jp, f"{d}/moved")) == {"x.txt", "z.txt"}
    assert jp.api("GET", f"{d}/sub").status_code == 404
    # Copy: a new name beside the original.
    r = jp.api("POST", f"{d}/moved", body={"copy_from": f"{d}/moved/x.txt"})
    assert r.status_code == 201 and r.json()["name"] == "x-Copy1.txt"
    assert jp.api("GET", f"{d}/moved/x-Copy1.txt").json()["content"] == "x"
    r = jp.api("POST", d, body={"copy_from": f"{d}/moved"})  # folders are copied with their contents
    assert r.status_code == 201 and r.json()["name"] == "moved-Copy1"
    assert set(names(jp, f"{d}/moved-Copy1")) == {"x.txt", "z.txt", "x-Copy1.txt"}
    assert jp.api("DELETE", f"{d}/moved-Copy1").status_code == 204
    # Delete a file, then a non-empty folder (recursively).
    assert jp.api("DELETE", f"{d}/moved/x.txt").status_code == 204
    assert jp.api("DELETE", f"{d}/moved").status_code == 204
    assert jp.api("GET", f"{d}/moved").status_code == 404
    assert names(jp, d) == {}
    assert jp.api("DELETE", f"{d}/nothing.txt").status_code == 404


def test_checkpoints_revert(where, seaweed):
    jp, d, kind = where
    p = f"{d}/n.ipynb"
    assert jp.api("PUT", p, body={"type": "notebook", "content": NB}).status_code == 201
    r = jp.raw("POST", f"/api/contents/{p}/checkpoints")
    assert r.status_code == 201 and r.json()["id"] == "checkpoint"
    listed = jp.raw("GET", f"/api/contents/{p}/checkpoints").json()
    assert [c["id"] for c in listed] == ["checkpoint"]
    changed = {**NB, "cells": [{"cell_type": "markdown", "metadata": {}, "source": "changed"}]}
    jp.api("PUT", p, body={"type": "notebook", "content": changed})
    assert jp.raw("POST", f"/api/contents/{p}/checkpoints/checkpoint").status_code == 204
    assert jp.api("GET", p).json()["content"]["cells"][0]["source"] == "# Title"
    assert ".ipynb_checkpoints" not in names(jp, d)  # hidden on both
    if kind == "s3":  # and never in the user's bucket, where every other tool would see it
        keys = [o["Key"] for o in seaweed.client().list_objects_v2(Bucket="work").get("Contents", [])]
        assert not [k for k in keys if "checkpoint" in k], keys
    assert jp.raw("DELETE", f"/api/contents/{p}/checkpoints/checkpoint").status_code == 204
    assert jp.raw("GET", f"/api/contents/{p}/checkpoints").json() == []
    # Restoring a deleted checkpoint: 404 on S3; jupyter-server 2.21's file checkpoints answer 500 there.
    assert jp.raw("POST", f"/api/contents/{p}/checkpoints/checkpoint").status_code == (
        404 if kind == "s3" else 500
    )


def test_chunked_upload(where, seaweed):
    """JupyterLab 4's protocol: 1 MiB chunks, base64, chunk 1..N then -1."""
    jp, d, kind = where
    data = os.urandom(6 * 2**20 + 12345)  # > one 5 MiB part: a real multipart upload on S3
    chunks = [data[i : i + 2**20] for i in range(0, len(data), 2**20)]
    path = f"{d}/big file.bin"
    for i, c in enumerate(chunks, start=1):
        n = -1 if i == len(chunks) else i
        body = {"type": "file", "format": "base64", "chunk": n, "content": base64.b64encode(c).decode()}
        r = jp.api("PUT", path, body=body)
        assert r.status_code in (200, 201), r.text
        if i == 2 and kind == "s3":  # S3 difference: nothing visible before the last chunk
            assert "big file.bin" not in names(jp, d)
    m = jp.api("GET", path, params={"content": 0}).json()
    assert m["size"] == len(data)
    if kind == "s3":
        key = d.removeprefix("s3/mine/") + "/big file.bin"
        stored = seaweed.client().get_object(Bucket="work", Key=key)["Body"].read()
        # S3 difference: opening a file over max_open_mb (3 MiB here) is refused with a clear message.
        r = jp.api("GET", path)
        assert r.status_code == 413 and "MiB" in r.json()["message"]
        assert not seaweed.client().list_multipart_uploads(Bucket="work").get("Uploads")
    else:
        stored = (jp.root / d / "big file.bin").read_bytes()
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()


def test_a_big_save_sent_in_pieces_arrives_whole(where):
    """A 2 MB text save (escapes: parsed as plain JSON) sent with chunked transfer encoding, no
    Content-Length, in uneven pieces: the server reads the body as it comes (S3: handlers.py)."""
    jp, d, _ = where
    text = "".join(f'line {i} "quoted" \\ tab\t ünï ✓\n' for i in range(50_000))
    body = json.dumps({"type": "file", "format": "text", "content": text}).encode()
    cuts = [0, 1, 7, 65_536, 65_537, 300_000, 1_000_003, len(body)]
    pieces = (body[a:b] for a, b in itertools.pairwise(cuts))
    url = f"{jp.url}/api/contents/{urllib.parse.quote(d)}/big.txt"
    r = jp.http.put(url, data=pieces, timeout=60)  # a generator: requests sends it chunked
    assert r.status_code == 201, r.text
    assert r.request.headers.get("Transfer-Encoding") == "chunked"
    assert jp.api("GET", f"{d}/big.txt").json()["content"] == text


@pytest.mark.parametrize("name", ["with space.txt", "ünï cödé ✓.txt", "odd #%?&+=;'[]!.txt"])
def test_names_needing_encoding(where, name):
    jp, d, _ = where
    assert put_text(jp, f"{d}/{name}", name).status_code == 201
    assert jp.api("GET", f"{d}/{name}").json()["content"] == name
    assert name in names(jp, d)
    r = jp.api("PATCH", f"{d}/{name}", body={"path": f"{d}/renamed {name}"})
    assert r.status_code == 200, r.text
    assert set(names(jp, d)) == {f"renamed {name}"}


def nothing_escaped(jp, seaweed):
    assert not (jp.root.parent / "escape.txt").exists() and not (jp.root / "escape.txt").exists()
    for bucket in ("work", "locked"):
        keys = [o["Key"] for o in seaweed.client().list_objects_v2(Bucket=bucket).get("Contents", [])]
        assert not [k for k in keys if "escape" in k]


@pytest.mark.parametrize("bad", ["../../escape.txt", "x/../../../escape.txt", "../../../../escape.txt"])
def test_escapes_refused(where, bad, seaweed):
    """Paths climbing out of the storage root (home) or of the mount (S3) are refused on both."""
    jp, d, _ = where
    r = put_text(jp, f"{d}/{bad}", "nope")
    assert r.status_code in (400, 404), r.text
    assert jp.api("GET", f"{d}/{bad}").status_code in (400, 404)
    assert jp.api("DELETE", f"{d}/{bad}").status_code in (400, 404)
    nothing_escaped(jp, seaweed)


@pytest.mark.parametrize(
    "bad",
    ["s3/mine/../escape.txt", "s3/mine/./escape.txt", "s3/mine//escape.txt", "s3/mine/../locked/escape.txt"],
)
def test_s3_refuses_any_dot_segment(jupyter, seaweed, bad):
    """S3 difference: keys are not paths, so `.`, `..` and empty segments are refused outright (400)."""
    r = put_text(jupyter, bad, "nope")
    assert r.status_code in (400, 404), r.text
    assert jupyter.api("PATCH", "s3/mine", body={"path": bad}).status_code in (400, 403, 404)
    nothing_escaped(jupyter, seaweed)
