"""Checkpoints of S3 files, kept in the session's own storage, never in the user's bucket.

A checkpoint written next to the file (`.ipynb_checkpoints/` in the bucket) is seen by every other tool
reading that bucket. So the copy lives under `root` (default: Jupyter's data dir in the home), keyed by
bucket and key: `<root>/<bucket>/<folder>.d/.../<name>.ckpt`. Folder segments end in `.d` and files in
`.ckpt`, so a key `a` and a key `a/b` never collide, and no segment can be `.`, `..` or empty. Folders
keep their layout, so deleting or renaming an S3 folder deletes or moves its files' checkpoints.

One checkpoint per file (id "checkpoint") with the file manager's restore behaviour. The S3 side copies
the bytes (a streamed download, a streamed upload at restore); this module only knows the local files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from tornado.web import HTTPError

CHECKPOINT_ID = "checkpoint"
_MAX_SEGMENT = 200  # bytes: file names are at most 255 bytes on common file systems


def _segment(name: str, suffix: str) -> str:
    raw = name.encode("utf-8", "surrogatepass")
    if len(raw) > _MAX_SEGMENT or "\x00" in name:
        name = "h-" + hashlib.sha256(raw).hexdigest()
    return name + suffix


def folder_path(root: Path, bucket: str, prefix: str) -> Path:
    """The local folder holding the checkpoints of every key under `prefix` ('' or ending with '/')."""
    parts = [_segment(p, ".d") for p in prefix.split("/")[:-1]] if prefix else []
    return Path(root, _segment(bucket, ""), *parts)


def checkpoint_path(root: Path, bucket: str, key: str) -> Path:
    """The local file holding the checkpoint of `key` (pure)."""
    parent, _, name = key.rpartition("/")
    return folder_path(root, bucket, parent + "/" if parent else "") / _segment(name, ".ckpt")


def check_id(checkpoint_id: str) -> None:
    if checkpoint_id != CHECKPOINT_ID:
        raise HTTPError(404, f"no checkpoint {checkpoint_id!r}")


def model(path: Path) -> dict | None:
    """{"id", "last_modified"} of an existing checkpoint file, else None (blocking: call in a thread)."""
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    return {"id": CHECKPOINT_ID, "last_modified": datetime.fromtimestamp(mtime, UTC)}


def _prune(path: Path, root: Path) -> None:
    """Remove the empty folders left above `path`, up to (not including) `root`."""
    for parent in path.parents:
        if parent == root or root not in parent.parents:
            return
        try:
            parent.rmdir()
        except OSError:
            return


def delete(path: Path, root: Path) -> bool:
    """Delete one checkpoint file; whether there was one (blocking)."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    _prune(path, Path(root))
    return True


def delete_folder(root: Path, bucket: str, prefix: str) -> None:
    """Delete the checkpoints of every key under `prefix` (blocking)."""
    folder = folder_path(root, bucket, prefix)
    if prefix and folder.is_dir():
        shutil.rmtree(folder, ignore_errors=True)
        _prune(folder, Path(root))


def move(src: Path, dst: Path, root: Path) -> None:
    """Move a checkpoint file or folder to follow its file or folder (blocking; nothing to move is fine)."""
    if not src.exists():
        return
    dst.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if dst.is_dir():
        shutil.rmtree(dst, ignore_errors=True)
    os.replace(src, dst)
    _prune(src, Path(root))
