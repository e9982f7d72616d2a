"""Contents-API answers for S3 folders and files written as they are read, never built whole in memory.

Jupyter's contents handler builds the whole model, then the whole JSON text, then its bytes: a folder
of 100,000 objects costs about six times its JSON in dicts and copies, and a 200 MB file opened as
base64 about five times its encoded size. Here the same JSON is produced piece by piece:
- a folder: its model, then each page of ListObjectsV2 (1,000 entries) as soon as it comes, while the
  next page is already being fetched;
- a file asked as base64: the object's body encoded chunk by chunk, its SHA-256 computed on the way
  (the `hash` key comes after the content: JSON objects have no order).

The first S3 request is made before anything is sent, so a missing folder, a denied access or S3 being
unreachable still answer a clean 404/403/503. A failure later can only cut the response short.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator

from jupyter_client.jsonutil import json_default
from tornado.web import HTTPError

from . import models, store
from .client import s3_errors
from .mounts import dir_prefix, key_of

READ_SIZE = 3 * 256 * 1024  # a multiple of 3: each piece encodes to base64 without padding


def _head(model: dict, last_key: str) -> str:
    """The model's JSON up to the value of `last_key` (left open, written piece by piece after it)."""
    rest = {k: v for k, v in model.items() if k != last_key}
    text = json.dumps(rest, default=json_default)
    return text[:-1] + (", " if rest else "") + json.dumps(last_key) + ": "


async def open_dir(s3, rel: str, mount, rest: str) -> AsyncIterator[str] | None:
    """The streamed model of a folder, or None when nothing is there (the first page is read now)."""
    c = await s3.client.get()
    prefix = dir_prefix(mount, rest)
    async with s3_errors(s3.api(rel)):
        page = await store.list_page(c, mount.bucket, prefix)
    if rest and not page.found:
        return None
    return _dir_pieces(s3, c, rel, mount, prefix, page)


async def _dir_pieces(s3, c, rel, mount, prefix, page) -> AsyncIterator[str]:
    base = s3.api(rel)
    model = models.dir_model(base, writable=mount.writable)
    model["format"] = "json"
    yield _head(model, "content") + "["
    first = True
    while True:
        following = (
            asyncio.ensure_future(store.list_page(c, mount.bucket, prefix, page.token))
            if page.token
            else None
        )
        kids = models.child_models(base, page.entries, mount.writable)
        if kids:
            yield ("" if first else ", ") + json.dumps(kids, default=json_default)[1:-1]
            first = False
        if following is None:
            break
        async with s3_errors(base):
            page = await following
    yield "]}"


async def open_file(s3, rel: str, mount, rest: str, require_hash: bool) -> AsyncIterator[str]:
    """The streamed model of a file, its content in base64 (413 over max_open_bytes, as unstreamed)."""
    c = await s3.client.get()
    path = s3.api(rel)
    async with s3_errors(path):
        resp = await c.get_object(Bucket=mount.bucket, Key=key_of(mount, rest))
    if resp["ContentLength"] > s3.max_open_bytes:
        resp["Body"].close()
        raise HTTPError(
            413,
            f"{path} is {resp['ContentLength'] / 2**20:.1f} MiB: files over {s3.max_open_bytes / 2**20:.0f} "
            "MiB in S3 cannot be opened here (read it from a kernel, e.g. with s3fs or pandas, instead)",
        )
    model = models.base_model(
        path, "file", writable=mount.writable, last_modified=resp["LastModified"], size=resp["ContentLength"]
    )
    model.update(format="base64", mimetype=models.mimetypes.guess_type(path)[0] or "application/octet-stream")
    return _file_pieces(model, resp["Body"], require_hash, path)


async def _file_pieces(model: dict, body, require_hash: bool, path: str) -> AsyncIterator[str]:
    digest = hashlib.sha256() if require_hash else None
    if require_hash:
        model.pop("hash"), model.pop("hash_algorithm")
    yield _head(model, "content") + '"'
    carry = b""
    async with body, s3_errors(path):
        async for data in body.iter_chunks(READ_SIZE):
            if digest is not None:
                digest.update(data)
            data = carry + data if carry else data
            cut = len(data) - len(data) % 3
            carry = data[cut:]
            if cut:
                yield base64.b64encode(memoryview(data)[:cut]).decode("ascii")
    tail = base64.b64encode(carry).decode("ascii") + '"'
    if digest is not None:
        tail += f', "hash": "{digest.hexdigest()}", "hash_algorithm": "sha256"'
    yield tail + "}"
