"""The S3 half of the contents API: paths relative to the S3 folder, models with full API paths.

`S3Side` knows the mount table and one S3 client; the manager routes `s3/...` here. Every S3 call is
wrapped so that a failure becomes a clear 403/404/503 for that request only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from tornado.web import HTTPError

from . import checkpoints, models, store, streaming, transfer
from .client import S3Client, isolated, s3_errors
from .mounts import Mount, PathError, dir_prefix, key_of, split
from .multipart import MultipartWriter, put_checked
from .uploads import Uploads

SHUTDOWN_TIMEOUT = 10.0  # seconds a clean stop may spend aborting uploads


class S3Side:
    def __init__(
        self,
        *,
        folder: str,
        table: list[Mount],
        client: S3Client,
        max_open_bytes: int,
        uploads: Uploads,
        checkpoints_root: Path,
        direct=None,
    ):
        self.folder = folder
        self.checkpoints_root = Path(checkpoints_root)
        self.table = table
        self.client = client
        self.max_open_bytes = max_open_bytes
        self.uploads = uploads
        self.direct = direct  # direct_upload.DirectUploads, None: direct uploads are off
        self._sweeper: asyncio.Future | None = None

    # -- paths -----------------------------------------------------------------------------------------
    def api(self, rel: str) -> str:
        return f"{self.folder}/{rel}" if rel else self.folder

    def locate(self, rel: str) -> tuple[Mount | None, str]:
        try:
            return split(rel, self.table)
        except PathError as e:
            raise HTTPError(e.status, str(e)) from None

    def target(self, rel: str, *, write: bool = False) -> tuple[Mount, str]:
        """(mount, rest) for a path inside a mount; 403 on writes to read-only mounts."""
        mount, rest = self.locate(rel)
        if mount is None:
            if write:
                raise HTTPError(403, f"{self.folder}/ lists the S3 locations: it cannot be changed")
            raise HTTPError(400, f"{self.folder}/ is not a file")
        if write and not mount.writable:
            raise HTTPError(403, f"{self.api(rel)} is in the read-only dataset {mount.name!r}")
        if write and not rest:
            raise HTTPError(403, f"{self.api(rel)} is an S3 location: it cannot be renamed or deleted")
        return mount, rest

    # -- existence -------------------------------------------------------------------------------------
    async def kind(self, rel: str) -> str | None:
        """'directory', 'file' or None. One HEAD, then (if needed) one small listing."""
        mount, rest = self.locate(rel)
        if mount is None or not rest:
            return "directory"
        c = await self.client.get()
        async with s3_errors(self.api(rel)):
            if await store.head(c, mount.bucket, key_of(mount, rest)) is not None:
                return "file"
            if await store.prefix_exists(c, mount.bucket, dir_prefix(mount, rest)):
                return "directory"
        return None

    async def is_file(self, rel: str) -> bool:
        """One HEAD (none while a chunked upload to it is in progress: the handler asks at every chunk)."""
        mount, rest = self.locate(rel)
        if mount is None or not rest:
            return False
        if self.uploads.active(self.api(rel)):
            return True
        c = await self.client.get()
        async with s3_errors(self.api(rel)):
            return await store.head(c, mount.bucket, key_of(mount, rest)) is not None

    async def is_dir(self, rel: str) -> bool:
        """One small listing (MaxKeys=1): a folder exists when anything, even a marker, is under it."""
        mount, rest = self.locate(rel)
        if mount is None or not rest:
            return True
        c = await self.client.get()
        async with s3_errors(self.api(rel)):
            return await store.prefix_exists(c, mount.bucket, dir_prefix(mount, rest))

    # -- get -------------------------------------------------------------------------------------------
    async def get(self, rel, content=True, type=None, format=None, require_hash=False) -> dict:
        mount, rest = self.locate(rel)
        if mount is None:
            return self._root(content)
        if type is None and rest:
            # Probed in the likelier order (models.looks_like_file): one HEAD or one small listing first.
            c = await self.client.get()
            async with s3_errors(self.api(rel)):
                if models.looks_like_file(rest):
                    is_file = await store.head(c, mount.bucket, key_of(mount, rest)) is not None
                else:
                    is_file = not await store.prefix_exists(c, mount.bucket, dir_prefix(mount, rest))
            type = None if is_file else "directory"
        if type == "directory" or not rest:
            return await self._dir(rel, mount, rest, content)
        return await self._file(rel, mount, rest, content, type, format, require_hash)

    async def open_stream(self, rel, *, type=None, format=None, require_hash=False):
        """Streamed folder listings (at the request floor: folder-looking names are listed first) and
        base64 files; None for what is answered unstreamed."""
        mount, rest = self.locate(rel)
        if mount is None:
            return None
        if type == "directory" or not rest or (type is None and not models.looks_like_file(rest)):
            if require_hash:
                return None
            stream = await streaming.open_dir(self, rel, mount, rest)
            if stream is None and (type == "directory" or not rest):
                raise HTTPError(404, f"No such directory: {self.api(rel)}")
            return stream  # None: not a folder, maybe a file: answered unstreamed
        if type == "file" and format == "base64":
            return await streaming.open_file(self, rel, mount, rest, require_hash)
        return None

    async def _guess(self, rel: str) -> str:
        kind = await self.kind(rel)
        if kind is None:
            raise HTTPError(404, f"No such file or directory: {self.api(rel)}")
        return kind

    def _root(self, content: bool) -> dict:
        kids = (
            [models.dir_model(self.api(m.name), writable=m.writable) for m in self.table] if content else None
        )
        return models.dir_model(self.folder, writable=False, children=kids)

    async def _dir(self, rel, mount: Mount, rest: str, content: bool) -> dict:
        c = await self.client.get()
        prefix = dir_prefix(mount, rest)
        async with s3_errors(self.api(rel)):
            if content:
                entries, found = await store.list_dir(c, mount.bucket, prefix)
            else:  # existence only: one small listing
                entries, found = (
                    [],
                    await store.prefix_exists(c, mount.bucket, prefix),
                )  # a missing bucket: 404
        if rest and not found:
            raise HTTPError(404, f"No such directory: {self.api(rel)}")
        if not content:
            return models.dir_model(self.api(rel), writable=mount.writable)
        base = self.api(rel)
        return models.dir_model(
            base, writable=mount.writable, children=models.child_models(base, entries, mount.writable)
        )

    async def _file(self, rel, mount, rest, content, type, format, require_hash) -> dict:
        c = await self.client.get()
        key = key_of(mount, rest)
        path = self.api(rel)
        async with s3_errors(path):
            if not content and not require_hash:
                info = await store.head(c, mount.bucket, key)
                if info is None:
                    raise HTTPError(404, f"No such file: {path}")
                data = None
            else:
                resp = await c.get_object(Bucket=mount.bucket, Key=key)
                info = resp
                if resp["ContentLength"] > self.max_open_bytes:
                    resp["Body"].close()
                    raise HTTPError(
                        413,
                        f"{path} is {resp['ContentLength'] / 2**20:.1f} MiB: files over "
                        f"{self.max_open_bytes / 2**20:.0f} MiB in S3 cannot be opened here "
                        "(read it from a kernel, e.g. with s3fs or pandas, instead)",
                    )
                async with resp["Body"] as body:
                    data = await body.read()
        kind = models.file_type_of(rest, type)
        m = models.base_model(
            path,
            kind,
            writable=mount.writable,
            last_modified=info["LastModified"],
            size=info["ContentLength"],
        )
        if kind == "notebook":
            if data is not None and require_hash:
                models.fill_file(m, data, None, require_hash=True, content=False)
            m["mimetype"] = None
            if content:
                nb = models.read_notebook(data, path)
                m["content"], m["format"] = nb, "json"
            return m
        if data is None:
            m["mimetype"] = models.mimetypes.guess_type(path)[0]
            return m
        return models.fill_file(m, data, format, require_hash=require_hash, content=content)

    # -- save ------------------------------------------------------------------------------------------
    async def save_bytes(self, rel: str, data: bytes) -> None:
        mount, rest = self.target(rel, write=True)
        c = await self.client.get()
        async with s3_errors(self.api(rel)):
            await isolated(put_checked(c, mount.bucket, key_of(mount, rest), data, self.uploads.checksum))

    async def make_dir(self, rel: str) -> None:
        mount, rest = self.target(rel, write=True)
        c = await self.client.get()
        async with s3_errors(self.api(rel)):
            await c.put_object(Bucket=mount.bucket, Key=dir_prefix(mount, rest), Body=b"")

    async def save_chunk(self, rel: str, decode: Callable[[], bytes], chunk: int) -> bool:
        """Feed one chunk (`decode` gives its bytes); a chunk that cannot be decoded aborts the upload, so
        that the chunks after it can never complete a file with a hole."""
        try:
            data = decode()
        except BaseException:
            await isolated(self.uploads.abort(self.api(rel)))
            raise
        mount, rest = self.target(rel, write=True)
        c = await self.client.get()
        async with s3_errors(self.api(rel)):
            return await self.uploads.chunk(self.api(rel), c, mount.bucket, key_of(mount, rest), data, chunk)

    def writer(self, c, rel: str) -> MultipartWriter:
        mount, rest = self.target(rel, write=True)
        u = self.uploads
        return MultipartWriter(
            c, mount.bucket, key_of(mount, rest), u.part_size, u.journal, u.parts_in_flight, u.checksum
        )

    # -- start and stop --------------------------------------------------------------------------------
    def start(self) -> None:
        """Once the server runs: abort, in the background, the uploads an earlier run left behind."""
        if self._sweeper is None and self.uploads.journal.left_behind():
            self._sweeper = asyncio.ensure_future(isolated(self.uploads.sweep(self.client.get)))

    async def shutdown(self) -> None:
        """A clean stop: abort the uploads in flight (nothing half-made stays in the bucket), close the client."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        client = self.client.current()
        if client is not None:
            try:
                async with asyncio.timeout(SHUTDOWN_TIMEOUT):
                    if self.direct is not None:
                        await self.direct.abort_all()
                    await self.uploads.abort_all(client)
            except TimeoutError:
                pass  # left in the journal: aborted at the next start
        await self.client.close()

    # -- delete, rename, copy --------------------------------------------------------------------------
    async def delete(self, rel: str) -> None:
        mount, rest = self.target(rel, write=True)
        kind = await self._guess(rel)
        c = await self.client.get()
        async with s3_errors(self.api(rel)):
            if kind == "file":
                key = key_of(mount, rest)
                await c.delete_object(Bucket=mount.bucket, Key=key)
                await asyncio.to_thread(
                    checkpoints.delete, self._ck(mount.bucket, key), self.checkpoints_root
                )
            else:
                prefix = dir_prefix(mount, rest)
                await store.delete_prefix(c, mount.bucket, prefix)
                await asyncio.to_thread(
                    checkpoints.delete_folder, self.checkpoints_root, mount.bucket, prefix
                )

    async def rename(self, old: str, new: str) -> None:
        """Copy then delete (S3 has no rename); folders key by key, checkpoints follow their file."""
        await self.copy_to(old, new, move=True)

    async def copy_to(self, old: str, new: str, *, move: bool = False) -> None:
        m1, r1 = self.target(old, write=move)
        m2, r2 = self.target(new, write=True)
        if move and m1 == m2 and (r2 + "/").startswith(r1 + "/"):
            raise HTTPError(400, f"cannot move {self.api(old)} into itself")
        kind = await self._guess(old)
        if await self.kind(new) is not None:
            raise HTTPError(409, f"File already exists: {self.api(new)}")
        c = await self.client.get()
        async with s3_errors(f"{self.api(old)} -> {self.api(new)}"):
            if kind == "file":
                k1, k2 = key_of(m1, r1), key_of(m2, r2)
                await store.copy(c, m1.bucket, k1, m2.bucket, k2)
                if move:
                    await c.delete_object(Bucket=m1.bucket, Key=k1)
                    await self._move_checkpoints(self._ck(m1.bucket, k1), self._ck(m2.bucket, k2))
            else:
                p1, p2 = dir_prefix(m1, r1), dir_prefix(m2, r2)
                await store.copy_prefix(c, m1.bucket, p1, m2.bucket, p2)
                await c.put_object(Bucket=m2.bucket, Key=p2, Body=b"")
                if move:
                    await store.delete_prefix(c, m1.bucket, p1)
                    root = self.checkpoints_root
                    await self._move_checkpoints(
                        checkpoints.folder_path(root, m1.bucket, p1),
                        checkpoints.folder_path(root, m2.bucket, p2),
                    )

    # -- checkpoints (in the session's storage, never in the bucket: see checkpoints.py) ---------------
    def _ck(self, bucket: str, key: str) -> Path:
        return checkpoints.checkpoint_path(self.checkpoints_root, bucket, key)

    async def _move_checkpoints(self, src: Path, dst: Path) -> None:
        await asyncio.to_thread(checkpoints.move, src, dst, self.checkpoints_root)

    async def checkpoint(self, op: str, rel: str, checkpoint_id: str | None = None):
        mount, rest = self.target(rel, write=op != "list")
        key = key_of(mount, rest)
        path = self._ck(mount.bucket, key)
        if op == "list":
            found = await asyncio.to_thread(checkpoints.model, path)
            return [] if found is None else [found]
        if op != "create":
            checkpoints.check_id(checkpoint_id)
        if op == "delete":
            if not await asyncio.to_thread(checkpoints.delete, path, self.checkpoints_root):
                raise HTTPError(404, "checkpoint does not exist")
            return None
        c = await self.client.get()
        async with s3_errors(self.api(rel)):
            if op == "create":
                await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True, mode=0o700)
                await transfer.download(c, mount.bucket, key, path)
                return await asyncio.to_thread(checkpoints.model, path)
            if not await asyncio.to_thread(path.is_file):
                raise HTTPError(404, "checkpoint does not exist")
            await transfer.upload_file(self.writer(c, rel), str(path))
            return None
