"""A file uploaded into the S3 folder as its raw bytes, in one request, streamed into S3 as it arrives.

Datalab's JupyterLab extension sends uploads into the S3 folder here (`PUT /datalab/upload/<api path>`,
the file as the body) instead of JupyterLab's chunked contents API (1 MiB slices, each base64 in a JSON
body): no base64 on either side, one request instead of one per MiB. Measured with
benchmarks/s3_upload.py, 100 MiB on 2 cores: raw boto3's wall time (medians 0.98-1.05x) against
1.33-1.38x chunked.
The contents API's chunked uploads still work unchanged (stock JupyterLab, API clients).

- The body is read as it comes (`stream_request_body`), in pieces of up to `READ_PIECE` (tornado's 64 KiB
  default cost a third of the server's CPU), and handed to a `MultipartWriter`, whose waiting while
  parts are in flight holds the reading back: memory stays at about (parts in flight + 1) parts.
- Authentication, XSRF and authorization are checked in `prepare`, before a byte is read, as the
  contents API would for a save (resource "contents", action "write").
- A failure while receiving (S3 refusing or down) aborts the S3 upload at once; the rest of the body is
  read and dropped, and the answer is the clear error. A client that goes away mid-way has the S3 upload
  aborted, once the piece being written is done (`_lock`: aborting under a write that is opening the S3
  upload would leave that upload behind); a server stopped mid-way aborts it from the journal
  (uploads.py). Nothing half-made is visible.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re

from jupyter_client.jsonutil import json_default
from tornado import web

from .client import isolated, s3_errors
from .multipart import MultipartWriter
from .upload_access import MAX_OBJECT, S3FolderRequest, part_size_for, too_big

READ_PIECE = 1024 * 1024  # bytes tornado reads at once from an upload's connection


def upload_routes(folder: str) -> list[tuple[str, type]]:
    """The routes below the base URL: where the S3 folder is, its files' uploads, streamed or direct."""
    from .direct_upload import DirectUploadHandler

    files = rf"(?P<path>/{re.escape(folder)}(?:/[^/]+)+)"
    return [
        (r"/datalab/upload/?", S3UploadHandler),
        (rf"/datalab/upload{files}", S3UploadHandler),
        (rf"/datalab/direct-upload{files}", DirectUploadHandler),
    ]


def read_in_bigger_pieces(connection, size: int) -> tuple | None:
    """Let tornado read this connection's body `size` bytes at a time; returns what to restore after."""
    params, stream = getattr(connection, "params", None), getattr(connection, "stream", None)
    if params is None or not hasattr(params, "chunk_size") or not hasattr(stream, "read_chunk_size"):
        return None  # not tornado's HTTP/1 connection: its defaults stay
    old = (params, stream.read_chunk_size)
    connection.params = copy.copy(params)  # the server shares one params object between connections
    connection.params.chunk_size = size
    stream.read_chunk_size = size
    return old


@web.stream_request_body
class S3UploadHandler(S3FolderRequest):
    _writer: MultipartWriter | None = None
    _lock: asyncio.Lock | None = None  # held while the writer writes, closes or aborts
    _failure: BaseException | None = None
    _restore: tuple | None = None
    _finished_upload = False

    async def prepare(self):
        await super().prepare()  # authenticated, may write (a PUT) or read
        if self.request.method != "PUT":
            return
        length = self.request.headers.get("Content-Length", "")
        if not length.isdigit():
            raise web.HTTPError(411, "an upload needs a Content-Length (the file is sent as the body)")
        length = int(length)
        if length > MAX_OBJECT:
            raise too_big(length)
        path, rel, _, _ = self.upload_target()
        client = await self.s3.client.get()
        writer = self.s3.writer(client, rel)
        writer.part_size = part_size_for(length, writer.part_size)
        self.request.connection.set_max_body_size(length)
        self._restore = read_in_bigger_pieces(self.request.connection, READ_PIECE)
        self._path, self._writer, self._lock = path, writer, asyncio.Lock()

    async def data_received(self, chunk: bytes):
        if self._writer is None or self._failure is not None:
            return  # refused before the body (the error is answered), or failed: the rest is dropped
        try:
            async with self._lock, s3_errors(self._path):
                await isolated(self._writer.write(chunk))
        except Exception as e:
            self._failure = e
            await self._abort()

    async def get(self, path=None):
        if path is not None:
            raise web.HTTPError(405)
        direct = self.s3.direct
        self.finish({"folder": self.s3.folder, "direct": direct and {"part_size": direct.part_size}})

    async def put(self, path):
        if self._failure is not None:
            raise self._failure
        try:
            async with self._lock, s3_errors(self._path):
                await isolated(self._writer.close())
        except BaseException:
            await self._abort()
            raise
        self._finished_upload = True
        self.log.info("uploaded %r (%d bytes, streamed)", path[:200], self._writer.size)
        model = await self.contents_manager.get(self._path, content=False, type="file")
        self.set_status(201)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(model, default=json_default))

    async def _abort(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        try:
            async with self._lock:
                await isolated(writer.abort())
        except Exception as e:  # best effort: the journal keeps it for the next sweep
            self.log.warning("could not abort the upload of %r: %s", self._path[:200], type(e).__name__)

    def on_connection_close(self):
        if self._writer is not None and not self._finished_upload:
            self.log.info("upload of %r cut off by the client: aborted", self._path[:200])
            asyncio.ensure_future(self._abort())

    def on_finish(self):
        if self._restore is not None:
            params, read_chunk_size = self._restore
            self.request.connection.params = params
            self.request.connection.stream.read_chunk_size = read_chunk_size
