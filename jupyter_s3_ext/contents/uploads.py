"""Chunked uploads (JupyterLab 4: chunk 1..N, then -1) streamed into S3 multipart uploads.

Memory per upload is bounded by the part size plus one chunk, whatever the file size. An upload that
fails, is restarted (a new chunk 1) or stops receiving chunks for `idle_timeout` seconds is aborted,
so no half-written object ever becomes visible.
"""

from __future__ import annotations

import asyncio
import logging

from .client import isolated
from .store import MultipartWriter

log = logging.getLogger(__name__)


class Uploads:
    def __init__(self, part_size: int, idle_timeout: float):
        self.part_size = part_size
        self.idle_timeout = idle_timeout
        self._active: dict[str, tuple[MultipartWriter, asyncio.TimerHandle | None]] = {}

    def active(self, path: str) -> bool:
        """Whether a chunked upload to this API path is in progress (it then counts as existing)."""
        return path in self._active

    def _arm(self, path: str, writer: MultipartWriter) -> None:
        loop = asyncio.get_running_loop()
        handle = loop.call_later(self.idle_timeout, lambda: asyncio.ensure_future(self.abort(path)))
        self._active[path] = (writer, handle)

    def _take(self, path: str) -> MultipartWriter | None:
        entry = self._active.pop(path, None)
        if entry is None:
            return None
        writer, handle = entry
        if handle is not None:
            handle.cancel()
        return writer

    async def abort(self, path: str) -> None:
        writer = self._take(path)
        if writer is not None:
            log.info("aborting the interrupted upload of %s", path)
            try:
                await writer.abort()
            except Exception as e:  # best effort; S3 lifecycle rules clean the rest
                log.warning("could not abort the upload of %s: %s", path, type(e).__name__)

    async def chunk(self, path: str, client, bucket: str, key: str, data: bytes, chunk: int) -> bool:
        """Feed one chunk; returns True when the object was completed (last chunk).

        Runs isolated from the request's context (see `client.isolated`): the idle timer and the
        background part would otherwise keep every chunk's request body alive.
        """
        return await isolated(self._chunk(path, client, bucket, key, data, chunk))

    async def _chunk(self, path: str, client, bucket: str, key: str, data: bytes, chunk: int) -> bool:
        if chunk == 1:
            await self.abort(path)
            writer = MultipartWriter(client, bucket, key, self.part_size)
        else:
            writer = self._take(path)
            if writer is None:
                from tornado.web import HTTPError

                raise HTTPError(400, f"chunk {chunk} of {path} without an upload in progress (start at 1)")
        try:
            await writer.write(data)
            if chunk == -1:
                await writer.close()
                return True
        except BaseException:
            try:
                await writer.abort()
            except Exception as e:
                log.warning("could not abort the upload of %s: %s", path, type(e).__name__)
            raise
        self._arm(path, writer)
        return False

    async def abort_all(self) -> None:
        for path in list(self._active):
            await self.abort(path)
