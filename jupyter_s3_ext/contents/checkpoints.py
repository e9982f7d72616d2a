"""Checkpoints of S3 files, kept next to them like the file manager's: `<dir>/.ipynb_checkpoints/<stem>-checkpoint<ext>`.

One checkpoint per file (id "checkpoint"), as FileCheckpoints does, so "Revert to checkpoint" behaves the
same on S3. The hidden `.ipynb_checkpoints/` prefix is not listed (hidden names are not shown). Copies are
server-side (CopyObject): no bytes pass through the Jupyter server.
"""

from __future__ import annotations

from tornado.web import HTTPError

from . import store
from .models import EPOCH

CHECKPOINT_ID = "checkpoint"
CHECKPOINT_DIR = ".ipynb_checkpoints"


def checkpoint_key(key: str) -> str:
    """The checkpoint's key for an object key (pure)."""
    parent, _, name = key.rpartition("/")
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    else:
        ext = "." + ext
    return f"{parent + '/' if parent else ''}{CHECKPOINT_DIR}/{stem}-checkpoint{ext}"


def _check_id(checkpoint_id: str) -> None:
    if checkpoint_id != CHECKPOINT_ID:
        raise HTTPError(404, f"no checkpoint {checkpoint_id!r}")


async def create(client, bucket: str, key: str) -> dict:
    if await store.head(client, bucket, key) is None:
        raise HTTPError(404, "no such file to checkpoint")
    ck = checkpoint_key(key)
    await store.copy(client, bucket, key, bucket, ck)
    info = await store.head(client, bucket, ck)
    return {"id": CHECKPOINT_ID, "last_modified": (info or {}).get("LastModified", EPOCH)}


async def list_(client, bucket: str, key: str) -> list[dict]:
    info = await store.head(client, bucket, checkpoint_key(key))
    return [] if info is None else [{"id": CHECKPOINT_ID, "last_modified": info["LastModified"]}]


async def restore(client, bucket: str, key: str, checkpoint_id: str) -> None:
    _check_id(checkpoint_id)
    ck = checkpoint_key(key)
    if await store.head(client, bucket, ck) is None:
        raise HTTPError(404, "checkpoint does not exist")
    await store.copy(client, bucket, ck, bucket, key)


async def delete(client, bucket: str, key: str, checkpoint_id: str) -> None:
    _check_id(checkpoint_id)
    ck = checkpoint_key(key)
    if await store.head(client, bucket, ck) is None:
        raise HTTPError(404, "checkpoint does not exist")
    await client.delete_object(Bucket=bucket, Key=ck)


async def delete_all(client, bucket: str, key: str) -> None:
    await client.delete_object(Bucket=bucket, Key=checkpoint_key(key))


async def rename(client, bucket: str, old: str, new_bucket: str, new: str) -> None:
    ck = checkpoint_key(old)
    if await store.head(client, bucket, ck) is not None:
        await store.copy(client, bucket, ck, new_bucket, checkpoint_key(new))
        await client.delete_object(Bucket=bucket, Key=ck)
