"""Stream bytes into one S3 object with bounded memory: multipart parts sent while the next ones fill.

Why it is shaped so (measured with benchmarks/s3_upload.py):
- Several parts in flight (`parts_in_flight`, default 2): receiving chunks and sending parts overlap,
  and S3 is given parts concurrently, as boto3's own transfer manager does from threads.
- Each part's SHA-256 is computed in a thread and sent as the signed `x-amz-checksum-sha256` header,
  which S3 verifies. botocore would otherwise hash every part on the event loop to sign the payload
  (`UNSIGNED-PAYLOAD` is signed instead: the client disables payload signing, see client.py), so the
  integrity guarantee is the same and the loop stays free.
- A part fills a preallocated buffer, copied once into the part's body when full, then reused: no
  join, no allocation churn. Bodies are streamed (no copy in the transport's buffer), so memory stays
  at (parts_in_flight + 1) x part_size.

Small totals (one part or less) become a single PutObject at close. abort() cancels and removes the
upload, so a failed or interrupted transfer never leaves a half-written object visible. A `journal`
(journal.UploadJournal) records the open upload, so that a server killed mid-upload has it aborted at
its next start.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import io

MIN_PART = 5 * 1024 * 1024
CHECKSUM = "SHA256"


class PartBody(io.BytesIO):
    """A part's bytes as a file, never copied: BytesIO shares its initial bytes until something asks for a
    writable buffer, and aiohttp asks `getbuffer()` only for the size; a read-only view answers that.

    aiohttp then sends it in 64 KiB writes that wait for the socket, where a bytes body would be handed
    to the transport whole (which copies what the socket did not take at once).
    """

    def __init__(self, data: bytes):
        super().__init__(data)
        self._data = data

    def getbuffer(self):
        return memoryview(self._data)


def sha256_b64(data) -> str:
    """The base64 SHA-256 S3 expects in x-amz-checksum-sha256 (hashlib releases the GIL: run in a thread)."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


async def put_checked(client, bucket: str, key: str, body) -> None:
    """One PutObject whose body S3 checks against a SHA-256 computed off the event loop."""
    checksum = await asyncio.to_thread(sha256_b64, body) if len(body) else None
    extra = {"ChecksumSHA256": checksum} if checksum else {}
    await client.put_object(Bucket=bucket, Key=key, Body=body, **extra)


class MultipartWriter:
    def __init__(
        self,
        client,
        bucket: str,
        key: str,
        part_size: int = 8 * 1024 * 1024,
        journal=None,
        parts_in_flight: int = 2,
    ):
        self.client, self.bucket, self.key = client, bucket, key
        self.journal = journal
        self.part_size = max(part_size, MIN_PART)
        self.parts_in_flight = max(1, parts_in_flight)
        self.upload_id: str | None = None
        self.parts: list[dict] = []
        self.size = 0
        self._buf: bytearray | None = None  # the part being filled
        self._fill = 0
        self._spare: list[bytearray] = []  # the buffer, between two parts
        self._inflight: set[asyncio.Task] = set()

    async def write(self, data) -> None:
        view = memoryview(data)
        while view:
            if self._buf is None:
                self._buf = self._spare.pop() if self._spare else bytearray(self.part_size)
                self._fill = 0
            n = min(len(view), self.part_size - self._fill)
            self._buf[self._fill : self._fill + n] = view[:n]
            self._fill += n
            self.size += n
            view = view[n:]
            if self._fill == self.part_size:
                await self._send_part()

    async def _send_part(self) -> None:
        if self.upload_id is None:
            r = await self.client.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ChecksumAlgorithm=CHECKSUM
            )
            self.upload_id = r["UploadId"]
            await self._note("add", self.bucket, self.key, self.upload_id)
        while len(self._inflight) >= self.parts_in_flight:
            await self._wait_one()
        body = bytes(memoryview(self._buf)[: self._fill])  # the one copy; the buffer fills the next part
        self._spare.append(self._buf)
        self._buf, self._fill = None, 0
        n = len(self.parts) + 1
        self.parts.append({"PartNumber": n})
        self._inflight.add(asyncio.ensure_future(self._upload_part(n, body)))

    async def _upload_part(self, n: int, body: bytes) -> None:
        checksum = await asyncio.to_thread(sha256_b64, body)
        r = await self.client.upload_part(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=n,
            Body=PartBody(body),
            ChecksumSHA256=checksum,
        )
        self.parts[n - 1].update(ETag=r["ETag"], ChecksumSHA256=checksum)
        await self._note("touch", self.upload_id)

    async def _wait_one(self) -> None:
        done, _ = await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
        self._inflight -= done
        for task in done:
            task.result()  # re-raises the part's failure

    async def _note(self, change: str, *args) -> None:
        if self.journal is not None:
            await asyncio.to_thread(getattr(self.journal, change), *args)

    async def close(self) -> None:
        if self.upload_id is None:
            body = bytes(memoryview(self._buf)[: self._fill]) if self._buf is not None else b""
            self._buf, self._spare = None, []
            await put_checked(self.client, self.bucket, self.key, body)
            return
        if self._fill:
            await self._send_part()
        while self._inflight:
            await self._wait_one()
        self._buf, self._spare = None, []
        await self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
        )
        upload_id, self.upload_id = self.upload_id, None
        await self._note("remove", upload_id)

    async def abort(self) -> None:
        self._buf, self._fill, self._spare = None, 0, []
        tasks, self._inflight = self._inflight, set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        if self.upload_id is not None:
            upload_id, self.upload_id = self.upload_id, None
            await self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=upload_id)
            await self._note("remove", upload_id)  # kept when the abort failed: swept at the next start
