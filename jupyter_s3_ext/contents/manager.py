"""S3MountContentsManager: the home directory as usual, plus an `s3/` folder holding the user's S3 locations.

Everything outside the folder is the default async file manager (AsyncLargeFileManager); paths inside go
to `S3Side`, which the settings build (settings.py). With no S3 configured (no mounts, or no
credentials) the folder is absent and nothing changes. Moves and copies between home and S3 stream
through `transfer`. This module only routes each contents call to the side its path is on.
"""

from __future__ import annotations

import asyncio
import os
import shutil

import nbformat
from jupyter_core.utils import ensure_async
from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from jupyter_server.services.contents.manager import copy_pat
from tornado.web import HTTPError

from . import models, transfer
from .s3side import S3Side
from .settings import S3Settings


def _remove(os_path: str) -> None:
    (shutil.rmtree if os.path.isdir(os_path) else os.unlink)(os_path)


class S3MountContentsManager(AsyncLargeFileManager, S3Settings):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.s3: S3Side | None = self.build_s3_side()

    # -- start and stop (called by the extension: jupyter_s3_ext.app) -----------------------------------
    def start_background(self) -> None:
        if self.s3 is not None:
            self.s3.start()

    async def shutdown(self) -> None:
        if self.s3 is not None:
            await self.s3.shutdown()

    # -- routing ---------------------------------------------------------------------------------------
    def _rel(self, path: str) -> str | None:
        """The path relative to the S3 folder, or None when it is a home path."""
        if self.s3 is None:
            return None
        path = (path or "").strip("/")
        f = self.s3.folder
        if path == f:
            return ""
        return path[len(f) + 1 :] if path.startswith(f + "/") else None

    async def get(self, path, content=True, type=None, format=None, require_hash=False):
        rel = self._rel(path)
        if rel is not None:
            model = await self.s3.get(rel, content, type, format, require_hash)
            if model["type"] == "notebook" and model.get("content") is not None:
                self.validate_notebook_model(model)  # as the file manager does when it reads one
            return model
        model = await super().get(path, content=content, type=type, format=format, require_hash=require_hash)
        if self.s3 is not None and path.strip("/") == "" and content:
            model["content"] = [m for m in model["content"] if m["name"] != self.s3.folder]
            model["content"].append(self.s3._root(False))
        return model

    def run_pre_save_hooks(self, model, path, **kwargs):
        """Hooks see the content as a str, as JSON gives it (a base64 body arrives as a view: upload_body.py)."""
        if isinstance(model.get("content"), memoryview) and (self.pre_save_hook or self._pre_save_hooks):
            model["content"] = str(model["content"], "ascii", "replace")
        super().run_pre_save_hooks(model=model, path=path, **kwargs)

    async def save(self, model, path=""):
        rel = self._rel(path)
        if rel is None:
            return await super().save(model, path)
        path = path.strip("/")
        if "type" not in model:
            raise HTTPError(400, "No file type provided")
        chunk = model.get("chunk")
        if chunk is not None:
            if model["type"] != "file":
                raise HTTPError(400, f'File type "{model["type"]}" is not supported for large file transfer')
            if chunk == 1:
                self.run_pre_save_hooks(model=model, path=path)
            done = await self.s3.save_chunk(rel, lambda: models.encode_file(model, path), chunk)
            if not done:  # the object appears only with the last chunk
                m = models.base_model(path, "file", writable=True)
                m["mimetype"] = models.mimetypes.guess_type(path)[0]
                return m
            return await self.get(path, content=False, type="file")  # one HEAD, no probing
        self.run_pre_save_hooks(model=model, path=path)
        message = None
        if model["type"] == "directory":
            await self.s3.make_dir(rel)
        elif model["type"] == "notebook":
            if "content" not in model:
                raise HTTPError(400, "No file content provided")
            nb = nbformat.from_dict(model["content"])
            self.check_and_sign(nb, path)
            await self.s3.save_bytes(rel, models.notebook_bytes(nb))
        elif model["type"] == "file":
            await self.s3.save_bytes(rel, models.encode_file(model, path))
        else:
            raise HTTPError(400, f"Unhandled contents type: {model['type']}")
        out = await self.get(path, content=False)
        if model["type"] == "notebook":  # saved either way; the message says why it is invalid
            message = self.validate_notebook_model({"content": nb}).get("message")
        if message:
            out["message"] = message
        return out

    async def delete(self, path):
        rel = self._rel(path)
        if rel is None:
            return await super().delete(path)
        await self.s3.delete(rel)
        self.emit(data={"action": "delete", "path": path.strip("/")})

    async def delete_file(self, path):
        rel = self._rel(path)
        return await (self.s3.delete(rel) if rel is not None else super().delete_file(path))

    async def rename(self, old_path, new_path):
        if self._rel(old_path) is None and self._rel(new_path) is None:
            return await super().rename(old_path, new_path)
        await self.rename_file(old_path, new_path)
        self.emit(data={"action": "rename", "path": new_path, "source_path": old_path})

    async def rename_file(self, old_path, new_path):
        old, new = self._rel(old_path), self._rel(new_path)
        if old is None and new is None:
            return await super().rename_file(old_path, new_path)
        if old is not None and new is not None:
            return await self.s3.rename(old, new)
        await self._transfer(old_path, new_path, move=True)

    async def _transfer(self, src: str, dst: str, *, move: bool) -> None:
        """Home <-> S3, file or folder: copy fully first, delete the source only after."""
        if await ensure_async(self.exists(dst)):
            raise HTTPError(409, f"File already exists: {dst}")
        old, new = self._rel(src), self._rel(dst)
        if old is None:  # home -> S3
            os_path = self._get_os_path(src.strip("/"))
            if not await asyncio.to_thread(os.path.exists, os_path):
                raise HTTPError(404, f"No such file or directory: {src}")
            await transfer.local_to_s3(self.s3, os_path, new)
            if move:
                await asyncio.to_thread(_remove, os_path)
                await self.checkpoints.delete_all_checkpoints(src.strip("/"))
        else:  # S3 -> home
            os_path = self._get_os_path(dst.strip("/"))
            if not await asyncio.to_thread(os.path.isdir, os.path.dirname(os_path)):
                raise HTTPError(404, f"No such directory for {dst}")
            await transfer.s3_to_local(self.s3, old, os_path)
            if move:
                await self.s3.delete(old)

    async def copy(self, from_path, to_path=None):
        src = from_path.strip("/")
        if self._rel(src) is None and (to_path is None or self._rel(to_path) is None):
            return await super().copy(from_path, to_path)
        from_dir, _, from_name = src.rpartition("/")
        await self.get(
            src, content=False
        )  # 404 when missing; folders are copied too, as the file manager does
        dst = from_dir if to_path is None else to_path.strip("/")
        if await self.dir_exists(dst):
            name = await self.increment_filename(copy_pat.sub(".", from_name), dst, insert="-Copy")
            dst = f"{dst}/{name}" if dst else name
        elif to_path is None or not await self.dir_exists(dst.rpartition("/")[0]):
            raise HTTPError(404, f"No such directory to copy into: {dst}")
        old, new = self._rel(src), self._rel(dst)
        if old is not None and new is not None:
            await self.s3.copy_to(old, new)
        else:
            await self._transfer(src, dst, move=False)
        self.emit(data={"action": "copy", "path": dst, "source_path": from_path})
        return await self.get(dst, content=False)

    # -- existence -------------------------------------------------------------------------------------
    async def file_exists(self, path=""):
        rel = self._rel(path)
        if rel is None:
            return await super().file_exists(path)
        return await self._quiet(self.s3.is_file(rel))

    async def dir_exists(self, path):
        rel = self._rel(path)
        if rel is None:
            return await super().dir_exists(path)
        return await self._quiet(self.s3.is_dir(rel))

    def exists(self, path):
        """Sync for home paths (the file manager calls it without await), a coroutine for S3 paths."""
        rel = self._rel(path)
        if rel is None:
            return super().exists(path)
        return self._exists(rel)

    async def _exists(self, rel):
        return await self._kind(rel) is not None

    async def _kind(self, rel):
        try:
            return await self.s3.kind(rel)
        except HTTPError as e:
            if e.status_code in (400, 404):
                return None
            raise

    async def _quiet(self, check) -> bool:
        """An existence check: invalid paths and missing buckets simply do not exist."""
        try:
            return await check
        except HTTPError as e:
            if e.status_code in (400, 404):
                return False
            raise

    async def open_stream(self, path, *, type=None, format=None, require_hash=False):
        """A streamed GET answer (handlers.S3ContentsHandler) for an S3 folder's listing or a file asked
        as base64; None when this request is answered the usual way."""
        rel = self._rel(path)
        if rel is None or self.s3 is None:
            return None
        return await self.s3.open_stream(rel, type=type, format=format, require_hash=require_hash)

    def is_hidden_path(self, path) -> bool:
        """Hidden S3 paths are answered the usual way (404 unless allow_hidden)."""
        rel = self._rel(path)
        return rel is None or (not self.allow_hidden and any(p.startswith(".") for p in rel.split("/")))

    async def is_hidden(self, path):
        rel = self._rel(path)
        if rel is None:
            return await super().is_hidden(path)
        return any(p.startswith(".") for p in rel.split("/"))

    # -- checkpoints -----------------------------------------------------------------------------------
    async def create_checkpoint(self, path):
        rel = self._rel(path)
        return await (
            self.s3.checkpoint("create", rel) if rel is not None else super().create_checkpoint(path)
        )

    async def list_checkpoints(self, path):
        rel = self._rel(path)
        return await (self.s3.checkpoint("list", rel) if rel is not None else super().list_checkpoints(path))

    async def restore_checkpoint(self, checkpoint_id, path):
        rel = self._rel(path)
        if rel is None:
            return await super().restore_checkpoint(checkpoint_id, path)
        await self.s3.checkpoint("restore", rel, checkpoint_id)

    async def delete_checkpoint(self, checkpoint_id, path):
        rel = self._rel(path)
        if rel is None:
            return await super().delete_checkpoint(checkpoint_id, path)
        await self.s3.checkpoint("delete", rel, checkpoint_id)
