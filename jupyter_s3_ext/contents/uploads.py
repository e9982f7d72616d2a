"""Chunked uploads (JupyterLab 4: chunk 1..N, then -1) streamed into S3 multipart uploads, and none left behind.

Memory per upload is bounded by the part size plus one chunk, whatever the file size. An upload that
fails, is restarted (a new chunk 1) or stops receiving chunks for `idle_timeout` seconds is aborted,
so no half-written object ever becomes visible. A clean stop aborts every upload this server has open
(`abort_all`); what a killed run left is aborted at the next start (`sweep`, from the journal).
"""

from __future__ import annotations

import asyncio
import logging
import time

from botocore.exceptions import ClientError

from .client import MISSING, error_code, isolated
from .journal import Entry, UploadJournal, due
from .multipart import MultipartWriter

log = logging.getLogger(__name__)

SWEEP_RETRY = (30.0, 600.0)  # seconds: first retry of a failed sweep, longest wait between retries


class Uploads:
    def __init__(
        self,
        part_size: int,
        idle_timeout: float,
        journal: UploadJournal | None = None,
        logger=None,
        parts_in_flight: int = 2,
        checksum: str = "SHA256",
    ):
        self.parts_in_flight = parts_in_flight
        self.checksum = checksum  # multipart.CHECKSUMS
        self.log = logger or log  # the server's log (module loggers have no handler in Jupyter)
        self.part_size = part_size
        self.idle_timeout = idle_timeout
        self.journal = journal or UploadJournal(None)
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
            self.log.info("aborting the interrupted upload of %r", path[:200])
            try:
                await writer.abort()
            except Exception as e:  # best effort; S3 lifecycle rules clean the rest
                self.log.warning("could not abort the upload of %r: %s", path[:200], type(e).__name__)

    async def chunk(self, path: str, client, bucket: str, key: str, data: bytes, chunk: int) -> bool:
        """Feed one chunk; returns True when the object was completed (last chunk).

        Runs isolated from the request's context (see `client.isolated`): the idle timer and the
        background part would otherwise keep every chunk's request body alive.
        """
        return await isolated(self._chunk(path, client, bucket, key, data, chunk))

    async def _chunk(self, path: str, client, bucket: str, key: str, data: bytes, chunk: int) -> bool:
        if chunk == 1:
            await self.abort(path)
            writer = MultipartWriter(
                client, bucket, key, self.part_size, self.journal, self.parts_in_flight, self.checksum
            )
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
                self.log.warning("could not abort the upload of %r: %s", path[:200], type(e).__name__)
            raise
        self._arm(path, writer)
        return False

    async def abort_all(self, client) -> None:
        """A clean stop: abort the chunked uploads in progress and every other upload this run opened."""
        for path in list(self._active):
            await self.abort(path)
        for entry in self.journal.own():  # transfers home -> S3 cut off by the stop
            await self._abort_entry(client, entry)

    async def _abort_entry(self, client, e: Entry) -> bool:
        try:
            await client.abort_multipart_upload(Bucket=e.bucket, Key=e.key, UploadId=e.upload_id)
        except ClientError as err:
            if error_code(err) not in MISSING:  # NoSuchUpload: already gone, strike it off
                self.log.warning(
                    "could not abort the upload of s3://%s/%s: %s", e.bucket, e.key[:200], error_code(err)
                )
                return False
        except Exception as err:  # S3 down: kept in the journal, tried again
            self.log.warning(
                "could not abort the upload of s3://%s/%s: %s", e.bucket, e.key[:200], type(err).__name__
            )
            return False
        await asyncio.to_thread(self.journal.remove, e.upload_id)
        return True

    async def sweep(self, get_client) -> None:
        """Abort the uploads an earlier run of this server left, each once idle for `idle_timeout`.

        A background task: waits for the ones not idle long enough yet, retries while S3 (or its
        credentials) is unavailable, ends when none is left.
        """
        retry = SWEEP_RETRY[0]
        while entries := self.journal.left_behind():
            ready, wait = due(entries, time.time(), self.idle_timeout)
            failed = False
            if ready:
                try:
                    client = await get_client()
                except Exception as e:  # no credentials yet, endpoint down: later
                    self.log.info(
                        "sweeping uploads left behind: S3 unavailable (%s), retrying", type(e).__name__
                    )
                    failed = True
                else:
                    for e in ready:
                        if await self._abort_entry(client, e):
                            self.log.info(
                                "aborted the upload of s3://%s/%s left by an earlier run",
                                e.bucket,
                                e.key[:200],
                            )
                        else:
                            failed = True
            if failed:
                wait, retry = min(wait or retry, retry), min(retry * 2, SWEEP_RETRY[1])
            if wait is not None:
                await asyncio.sleep(wait)
