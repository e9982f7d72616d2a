"""Moves and copies between the home directory and S3, streamed in parts (memory bounded by the part size).

A file goes through a MultipartWriter (aborted on failure) or is written to a temporary local file that
is renamed into place at the end; only then, for a move, is the source deleted.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from tornado.web import HTTPError

from . import store
from .client import s3_errors
from .mounts import dir_prefix, key_of
from .multipart import MultipartWriter

READ_SIZE = 1024 * 1024


async def upload_file(writer: MultipartWriter, os_path: str) -> None:
    f = await asyncio.to_thread(open, os_path, "rb")
    try:
        while data := await asyncio.to_thread(f.read, READ_SIZE):
            await writer.write(data)
        await writer.close()
    except BaseException:
        await writer.abort()
        raise
    finally:
        f.close()


def _walk(os_path: str) -> list[tuple[str, list[str], list[str]]] | None:
    """The visible tree under a local folder as (relative dir, dirs, files); None for a file."""
    if not os.path.isdir(os_path):
        return None
    out = []
    for root, dirs, files in os.walk(os_path):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        out.append((os.path.relpath(root, os_path).replace(os.sep, "/"), list(dirs), files))
    return out


async def local_to_s3(s3, os_path: str, dst_rel: str) -> None:
    """Upload a local file or folder (hidden entries, e.g. checkpoints, are left out)."""
    c = await s3.client.get()
    async with s3_errors(s3.api(dst_rel)):
        tree = await asyncio.to_thread(_walk, os_path)
        if tree is None:
            await upload_file(s3.writer(c, dst_rel), os_path)
            return
        mount, rest = s3.target(dst_rel, write=True)
        await c.put_object(Bucket=mount.bucket, Key=dir_prefix(mount, rest), Body=b"")
        for sub, dirs, files in tree:
            base = dst_rel if sub == "." else f"{dst_rel}/{sub}"
            for d in dirs:
                m, r = s3.target(f"{base}/{d}", write=True)
                await c.put_object(Bucket=m.bucket, Key=dir_prefix(m, r), Body=b"")
            for name in files:
                if not name.startswith("."):
                    await upload_file(s3.writer(c, f"{base}/{name}"), os.path.join(os_path, sub, name))


async def download(c, bucket: str, key: str, dest: Path) -> None:
    """Stream an object into `dest` through a temporary sibling, renamed into place at the end."""
    tmp = dest.with_name(f".{dest.name}.s3-partial")
    resp = await c.get_object(Bucket=bucket, Key=key)
    f = await asyncio.to_thread(open, tmp, "wb")
    try:
        async with resp["Body"] as body:
            async for data in body.iter_chunks(READ_SIZE):
                await asyncio.to_thread(f.write, data)
        f.close()
        os.replace(tmp, dest)
    except BaseException:
        f.close()
        tmp.unlink(missing_ok=True)
        raise


async def s3_to_local(s3, src_rel: str, os_path: str) -> None:
    """Download an S3 file or folder (every key under the prefix; markers become folders)."""
    mount, rest = s3.target(src_rel)
    kind = await s3._guess(src_rel)
    c = await s3.client.get()
    dest = Path(os_path)
    async with s3_errors(s3.api(src_rel)):
        if kind == "file":
            await download(c, mount.bucket, key_of(mount, rest), dest)
            return
        prefix = dir_prefix(mount, rest)
        await asyncio.to_thread(dest.mkdir)
        async for key, _ in store.list_keys(c, mount.bucket, prefix):
            sub = key[len(prefix) :]
            if not sub:  # the folder's own marker
                continue
            parts = sub.rstrip("/").split("/")
            if any(p in ("", ".", "..") for p in parts):
                raise HTTPError(400, f"S3 key {key!r} cannot be a local path")
            target = dest.joinpath(*parts)
            if sub.endswith("/"):
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                await download(c, mount.bucket, key, target)
