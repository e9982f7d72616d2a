"""The contents API's GET for the S3 folder, streamed (streaming.py); every other request as Jupyter's own.

`S3ContentsHandler` is Jupyter's `ContentsHandler` registered for `/api/contents/<s3 folder>/...` only
(extension routes come before the server's own). A GET of a folder's content, or of a file asked as
`type=file&format=base64`, is written as it is read from S3; anything else (saves, renames, text and
notebooks, checkpoints and trust, which keep their own routes) goes to the inherited methods unchanged,
except that a base64 body (an upload chunk) is read without JSON-parsing its content (upload_body.py).

Request bodies are received piece by piece (`stream_request_body`) and joined once: tornado's own reading
grows a bytearray by reallocation, then copies it into bytes, which cost about a seventh of the server's
CPU on a 100 MiB chunked upload (benchmarks/s3_upload.py, A/B: 0.38-0.39 -> 0.32-0.34 CPU-s). The methods
still run once the whole body is there; it is never parsed as form arguments (the contents API takes
JSON; an `_xsrf` token comes as a header or query argument).
"""

from __future__ import annotations

import re

from jupyter_server.auth.decorator import authorized
from jupyter_server.services.contents.handlers import ContentsHandler
from tornado import web

from .models import EPOCH
from .upload_body import base64_model


def contents_route(folder: str) -> str:
    """The URL pattern (below the base URL) of the S3 folder's contents, minus the checkpoint and trust routes."""
    return (
        r"/api/contents(?!(?:/[^/]+)*/(?:checkpoints(?:/[\w-]+)?|trust)/?$)"
        rf"(?P<path>/{re.escape(folder)}(?:/[^/]+)*)/?"
    )


@web.stream_request_body
class S3ContentsHandler(ContentsHandler):
    _pieces: list[bytes] | None = None  # the body as received, joined once it is all there

    def data_received(self, chunk: bytes) -> None:
        if self._pieces is None:
            self._pieces = []
        self._pieces.append(chunk)

    def _request_body(self) -> bytes:
        if self._pieces is not None:
            self.request.body, self._pieces = b"".join(self._pieces), None
        return self.request.body

    def get_json_body(self):
        body = self._request_body()
        return (body and base64_model(body)) or super().get_json_body()

    @web.authenticated
    @authorized
    async def get(self, path=""):
        cm = self.contents_manager
        args = {k: self.get_query_argument(k, default=d) for k, d in (("type", None), ("format", None))}
        content, hashed = self.get_query_argument("content", "1"), self.get_query_argument("hash", "0")
        stream = None
        if (
            content == "1"
            and hashed in ("0", "1")
            and hasattr(cm, "open_stream")
            and not cm.is_hidden_path(path)
        ):
            stream = await cm.open_stream(path, require_hash=hashed == "1", **args)
        if stream is None:
            return await super().get(path)
        self.set_header("Content-Type", "application/json")
        self.set_header("Last-Modified", EPOCH)
        async for piece in stream:
            self.write(piece)
            await self.flush()  # waits for the socket: memory stays at one piece
        self.finish()
