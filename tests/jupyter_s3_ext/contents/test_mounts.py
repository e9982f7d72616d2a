"""The pure parts: the mount table, path mapping and its refusals, where checkpoints are kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_s3_ext.contents.checkpoints import checkpoint_path, folder_path
from jupyter_s3_ext.contents.mounts import PathError, build_table, dir_prefix, key_of, split


def test_table_order_names_and_problems():
    table, problems = build_table(
        own_bucket="user-alice",
        own_prefix="/home/alice/",
        group_buckets=["grp-sales"],
        datasets=[{"name": "census", "bucket": "open-data", "prefix": "census", "read_only": True}],
        extra=[{"bucket": "Bad_Bucket"}, {"name": "census", "bucket": "other"}],
    )
    assert [(m.name, m.bucket, m.prefix, m.writable, m.kind) for m in table] == [
        ("user-alice", "user-alice", "home/alice/", True, "own"),
        ("grp-sales", "grp-sales", "", True, "group"),
        ("census", "open-data", "census/", False, "dataset"),
    ]
    assert len(problems) == 2 and "Bad_Bucket" in problems[0] and "census" in problems[1]


def test_split_and_keys():
    table, _ = build_table(own_bucket="user-alice", own_prefix="p")
    m, rest = split("user-alice/a b/é.txt", table)
    assert key_of(m, rest) == "p/a b/é.txt" and dir_prefix(m, "a b") == "p/a b/"
    assert split("", table) == (None, "")
    assert dir_prefix(m, "") == "p/"


@pytest.mark.parametrize(
    "bad", ["user-alice/../x", "user-alice/./x", "user-alice//x", "/user-alice/x", "user-alice/a\\b"]
)
def test_escapes_refused(bad):
    table, _ = build_table(own_bucket="user-alice")
    with pytest.raises(PathError) as e:
        split(bad, table)
    assert e.value.status == 400


def test_unknown_mount_is_404():
    with pytest.raises(PathError) as e:
        split("nope/x", [])
    assert e.value.status == 404


@pytest.mark.parametrize(
    ("key", "ck"),
    [
        ("a/n.ipynb", "work/a.d/n.ipynb.ckpt"),
        ("n.ipynb", "work/n.ipynb.ckpt"),
        ("p/q/Makefile", "work/p.d/q.d/Makefile.ckpt"),
        ("a", "work/a.ckpt"),  # a file `a` and a folder `a/` never collide
        ("a/b", "work/a.d/b.ckpt"),
        ("x/../y", "work/x.d/...d/y.ckpt"),  # no segment can climb out
    ],
)
def test_checkpoint_paths(key, ck):
    path = checkpoint_path(Path("/r"), "work", key)
    assert path == Path("/r", ck)
    parent = key.rpartition("/")[0]
    assert folder_path(Path("/r"), "work", parent + "/" if parent else "") == path.parent


def test_checkpoint_path_of_a_long_name_stays_short():
    path = checkpoint_path(Path("/r"), "work", "d/" + "é" * 300)
    assert len(path.name.encode()) < 255 and path.parent == Path("/r/work/d.d")
