"""Checkpoints of S3 files stay out of the user's bucket (kept in the home) and follow their file.

Before: opening `cities.csv` in `s3/` wrote `.ipynb_checkpoints/cities-checkpoint.csv` into the bucket,
where every other tool sees it.
"""

from __future__ import annotations

import secrets

NB = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def put_text(jp, path, text):
    return jp.api("PUT", path, body={"type": "file", "format": "text", "content": text})


def bucket_keys(seaweed, prefix):
    return [
        o["Key"] for o in seaweed.client().list_objects_v2(Bucket="work", Prefix=prefix).get("Contents", [])
    ]


def checkpoint(jp, path, method="POST", suffix=""):
    return jp.raw(method, f"/api/contents/{path}/checkpoints{suffix}")


def test_checkpoints_never_land_in_the_bucket(jupyter, seaweed):
    d = "ck-" + secrets.token_hex(4)
    assert put_text(jupyter, f"s3/mine/{d}/cities.csv", "city\nLyon\n").status_code == 201
    assert checkpoint(jupyter, f"s3/mine/{d}/cities.csv").status_code == 201
    assert bucket_keys(seaweed, d) == [f"{d}/cities.csv"]  # nothing else in the user's data
    kept = list((jupyter.root.parent / "data" / "datalab" / "s3-checkpoints" / "work").rglob("*.ckpt"))
    assert [p.read_text() for p in kept if d in str(p)] == ["city\nLyon\n"]
    # Same restore behaviour as the home: revert brings the checkpointed bytes back.
    put_text(jupyter, f"s3/mine/{d}/cities.csv", "city\nParis\n")
    assert checkpoint(jupyter, f"s3/mine/{d}/cities.csv", suffix="/checkpoint").status_code == 204
    assert jupyter.api("GET", f"s3/mine/{d}/cities.csv").json()["content"] == "city\nLyon\n"
    assert bucket_keys(seaweed, d) == [f"{d}/cities.csv"]


def test_checkpoints_follow_renames_and_go_with_deletes(jupyter):
    d = "ck-" + secrets.token_hex(4)
    p = f"s3/mine/{d}/sub/n.ipynb"
    assert jupyter.api("PUT", p, body={"type": "notebook", "content": NB}).status_code == 201
    assert checkpoint(jupyter, p).status_code == 201
    # A renamed file keeps its checkpoint; so does a file in a renamed folder.
    assert jupyter.api("PATCH", p, body={"path": f"s3/mine/{d}/sub/m.ipynb"}).status_code == 200
    assert [c["id"] for c in checkpoint(jupyter, f"s3/mine/{d}/sub/m.ipynb", "GET").json()] == ["checkpoint"]
    assert checkpoint(jupyter, p, "GET").json() == []
    assert jupyter.api("PATCH", f"s3/mine/{d}/sub", body={"path": f"s3/mine/{d}/moved"}).status_code == 200
    moved = f"s3/mine/{d}/moved/m.ipynb"
    assert [c["id"] for c in checkpoint(jupyter, moved, "GET").json()] == ["checkpoint"]
    # Deleting the folder deletes its checkpoints: a new file there starts without one.
    assert jupyter.api("DELETE", f"s3/mine/{d}/moved").status_code == 204
    assert jupyter.api("PUT", moved, body={"type": "notebook", "content": NB}).status_code == 201
    assert checkpoint(jupyter, moved, "GET").json() == []
    root = jupyter.root.parent / "data" / "datalab" / "s3-checkpoints" / "work"
    assert not [p for p in root.rglob("*") if d in str(p)]  # nothing left behind in the home either
