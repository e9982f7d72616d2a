"""Stream bytes into one S3 object with bounded memory: multipart parts sent while the next ones fill.

Why it is shaped so (measured with benchmarks/s3_upload.py):
- Several parts in flight (`parts_in_flight`, default 2): receiving chunks and sending parts overlap,
  and S3 is given parts concurrently, as boto3's own transfer manager does from threads. A part is
  sent as soon as it is full; then the writer waits while more than `parts_in_flight` are in flight.
- Each part's SHA-256 is computed in a thread and sent as the signed `x-amz-checksum-sha256` header,
  which S3 verifies. botocore would otherwise hash every part on the event loop to sign the payload
  (`UNSIGNED-PAYLOAD` is signed instead: the client disables payload signing, see client.py), so the
  integrity guarantee is the same and the loop stays free. boto3's default over plain HTTP (a signed payload hash and a
  CRC32 checksum) costs SeaweedFS 5-10% less CPU, but SeaweedFS does not check that hash, leaving
  only CRC32, which anyone altering a part can match (test_upload_integrity.py).
- A part is the list of the written chunks themselves (views, never copied: each chunk is already a
  fresh bytes object, decoded from its request), streamed to S3 piece by piece (`PartBody`); memory
  stays at about (parts_in_flight + 1) x part_size.

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


class _Size:
    """What aiohttp asks of `getbuffer()`: a length, in a `with`."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self):
        return self.n

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class PartBody(io.BytesIO):
    """A part's pieces as one file, never joined: `read` answers views of them.

    A BytesIO to botocore (seek/tell for the length and retries) and to aiohttp (BytesIOPayload: the size
    from `getbuffer()`, then reads of 256 KiB that each wait for the socket, so the transport never
    holds a copy of the part).
    """

    def __init__(self, pieces: list[memoryview]):
        super().__init__()
        self._pieces = pieces
        self._size = sum(len(p) for p in pieces)
        self._pos = 0  # offset in the whole part
        self._at = (0, 0)  # (piece, offset in it) of _pos

    def getbuffer(self):
        return _Size(self._size)

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        pos = offset + (0, self._pos, self._size)[whence]
        self._pos = max(0, min(pos, self._size))
        i = 0
        left = self._pos
        while i < len(self._pieces) and left >= len(self._pieces[i]):
            left -= len(self._pieces[i])
            i += 1
        self._at = (i, left)
        return self._pos

    def read(self, n: int = -1):
        """At most `n` bytes, never across two pieces (a view of one); everything left, joined, for -1."""
        i, off = self._at
        if i >= len(self._pieces):
            return b""
        if n is None or n < 0:
            rest = b"".join([self._pieces[i][off:], *self._pieces[i + 1 :]])
            self.seek(0, 2)
            return rest
        piece = self._pieces[i]
        take = min(n, len(piece) - off)
        out = piece[off : off + take]
        self._pos += take
        self._at = (i + 1, 0) if off + take == len(piece) else (i, off + take)
        return out


def sha256_b64(*pieces) -> str:
    """The base64 SHA-256 S3 expects in x-amz-checksum-sha256 (hashlib releases the GIL: run in a thread)."""
    h = hashlib.sha256()
    for piece in pieces:
        h.update(piece)
    return base64.b64encode(h.digest()).decode("ascii")


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
        self._pieces: list[memoryview] = []  # the part being filled
        self._fill = 0
        self._inflight: set[asyncio.Task] = set()

    async def write(self, data) -> None:
        """Take `data` (bytes nobody changes later: it is kept, not copied, until its part is sent)."""
        view = memoryview(data).cast("B")
        while view:
            n = min(len(view), self.part_size - self._fill)
            self._pieces.append(view[:n])
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
        pieces, self._pieces, self._fill = self._pieces, [], 0
        n = len(self.parts) + 1
        self.parts.append({"PartNumber": n})
        # Sent at once (its bytes are in memory either way), then no more is taken in while more than
        # parts_in_flight are in flight: the same memory as waiting first, one more part reaching S3.
        self._inflight.add(asyncio.ensure_future(self._upload_part(n, pieces)))
        while len(self._inflight) > self.parts_in_flight:
            await self._wait_one()

    async def _upload_part(self, n: int, pieces: list[memoryview]) -> None:
        checksum = await asyncio.to_thread(sha256_b64, *pieces)
        r = await self.client.upload_part(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=n,
            Body=PartBody(pieces),
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
            body, self._pieces, self._fill = b"".join(self._pieces), [], 0
            await put_checked(self.client, self.bucket, self.key, body)
            return
        if self._fill:
            await self._send_part()
        while self._inflight:
            await self._wait_one()
        await self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
        )
        upload_id, self.upload_id = self.upload_id, None
        await self._note("remove", upload_id)

    async def abort(self) -> None:
        self._pieces, self._fill = [], 0
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
