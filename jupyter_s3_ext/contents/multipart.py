"""Stream bytes into one S3 object with bounded memory: multipart parts sent while the next ones fill.

Why it is shaped so (measured with benchmarks/s3_upload.py):
- Several parts in flight (`parts_in_flight`, default 2): receiving chunks and sending parts overlap,
  and S3 is given parts concurrently, as boto3's own transfer manager does from threads. A part is
  sent as soon as it is full; then the writer waits while more than `parts_in_flight` are in flight.
- Each part's checksum is computed in a thread and sent as a signed `x-amz-checksum-*` header, which
  S3 verifies. botocore would otherwise hash every part on the event loop to sign the payload
  (`UNSIGNED-PAYLOAD` is signed instead: the client disables payload signing, see client.py), and the
  loop stays free. Which checksum (`checksum_for`): SHA-256 where the bytes cross a network in plain
  HTTP, since anyone altering a part there could match a CRC (and SeaweedFS does not check a signed
  payload's hash, boto3's default there: test_upload_integrity.py); CRC32C, 16x cheaper here, where
  TLS or the loopback already stops tampering, as AWS SDKs default to a CRC. On 2 cores SHA-256 cost
  the server and SeaweedFS about 0.13 CPU-s per 100 MiB (benchmarks/s3_upload.py).
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
import ipaddress
from urllib.parse import urlsplit

import crc32c

MIN_PART = 5 * 1024 * 1024
CHECKSUMS = ("SHA256", "CRC32C")  # S3's ChecksumAlgorithm names


def checksum_for(endpoint_url: str | None) -> str:
    """SHA-256 for plain HTTP to another machine; CRC32C over TLS (no endpoint: AWS) or the loopback."""
    parts = urlsplit(endpoint_url or "https://s3.amazonaws.com")
    if parts.scheme == "https":
        return "CRC32C"
    host = parts.hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    return "CRC32C" if loopback else "SHA256"


def browser_checksum_for(endpoint_url: str | None) -> str | None:
    """For parts a browser sends straight to S3: SHA-256 where it stops tampering (plain HTTP to another
    machine), else none, S3 checking each part's signed length. Over TLS or the loopback a CRC would only
    catch corruption that TLS and TCP already catch, and hashing reads every part into the page: 100 MiB
    from Chromium on 2 cores took 1.87x raw boto3's time with CRC32C, 1.45-1.55x without
    (benchmarks/s3_upload_browser.py)."""
    return "SHA256" if checksum_for(endpoint_url) == "SHA256" else None


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


def checksum_b64(algorithm: str, *pieces) -> str:
    """The base64 checksum S3 expects in x-amz-checksum-<algorithm> (both release the GIL: run in a thread)."""
    if algorithm == "CRC32C":
        crc = 0
        for piece in pieces:
            crc = crc32c.crc32c(piece, crc)
        return base64.b64encode(crc.to_bytes(4, "big")).decode("ascii")
    h = hashlib.sha256()
    for piece in pieces:
        h.update(piece)
    return base64.b64encode(h.digest()).decode("ascii")


async def put_checked(client, bucket: str, key: str, body, checksum: str = "SHA256") -> None:
    """One PutObject whose body S3 checks against a checksum computed off the event loop."""
    value = await asyncio.to_thread(checksum_b64, checksum, body) if len(body) else None
    extra = {f"Checksum{checksum}": value} if value else {}
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
        checksum: str = "SHA256",
    ):
        self.client, self.bucket, self.key = client, bucket, key
        self.checksum = checksum
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
                Bucket=self.bucket, Key=self.key, ChecksumAlgorithm=self.checksum
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
        field = f"Checksum{self.checksum}"
        checksum = {field: await asyncio.to_thread(checksum_b64, self.checksum, *pieces)}
        r = await self.client.upload_part(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=n,
            Body=PartBody(pieces),
            **checksum,
        )
        self.parts[n - 1].update(ETag=r["ETag"], **checksum)
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
            await put_checked(self.client, self.bucket, self.key, body, self.checksum)
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
