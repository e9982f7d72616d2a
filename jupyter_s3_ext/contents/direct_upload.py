"""Direct uploads: the browser sends an upload's parts straight to S3 on presigned URLs (issue 17).

Why: the streamed upload (streamed_upload.py) is at parity with raw boto3 because this server copies every
byte on its way to S3. Here the server only creates the multipart upload, signs each part and completes
it; a prototype sending 8 MiB parts straight to SeaweedFS (3 in flight) took 0.93x raw boto3's time with
CRC32C per part.

On `/datalab/direct-upload/<api path>`, after the checks every upload shares (upload_access.py):
- `POST {"size": N}` starts a multipart upload (the session's client, journaled so that a killed server's
  is swept) → 201 `{"id", "part_size", "parts", "checksum"}`; checksum is null when the parts carry none
  (multipart.browser_checksum_for: over TLS or the loopback, with `upload_checksum` auto).
- `POST {"id", "part": K, "checksum": <base64>}` signs part K → `{"url", "headers"}`: an UploadPart URL on
  `browser_endpoint_url`, SigV4 in its query, valid `EXPIRES` seconds, whose signed headers are the part's
  exact Content-Length and its checksum, if any. S3 itself then refuses another length, other bytes (with a
  checksum), or the URL used for another part or key; the server keeps the checksum it signed for the
  completion.
- `PUT {"id", "etags": [...]}` completes with exactly the n parts and the signed checksums → 201 and the
  contents model; S3 refusing aborts the upload (400: nothing stored).
- `DELETE ?id=` aborts → 204.
An ID belongs to one path: used on another, it is unknown (404). An upload without a request for
`upload_idle_timeout` seconds is aborted; a clean stop aborts every open one (`abort_all`). The URLs
carry the session's token: they are never logged.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import json
import secrets
from dataclasses import dataclass, field

from botocore.exceptions import ClientError
from jupyter_client.jsonutil import json_default
from tornado.web import HTTPError

from .client import FORBIDDEN, S3Client, error_code, isolated, s3_errors, shown
from .mounts import key_of
from .multipart import MIN_PART
from .upload_access import MAX_OBJECT, S3FolderRequest, part_size_for, too_big
from .uploads import Uploads

EXPIRES = 300  # seconds a signed part URL stays valid
DIGEST_BYTES = {"CRC32C": 4, "SHA256": 32}
ETAG_CHARS = 200  # longest ETag taken (S3's are 34-45 characters)


@dataclass
class Direct:
    """One open direct upload: where it goes, how it is cut, what was signed."""

    path: str  # the API path it was started for
    bucket: str
    key: str
    upload_id: str
    size: int
    part_size: int
    signed: dict[int, str | None] = field(default_factory=dict)  # part number -> the checksum signed
    timer: asyncio.TimerHandle | None = None

    @property
    def parts(self) -> int:
        return -(-self.size // self.part_size)

    def length(self, part: int) -> int:
        return min(part * self.part_size, self.size) - (part - 1) * self.part_size


def valid_checksum(algorithm: str, value) -> bool:
    """Whether `value` is the canonical base64 of a checksum of `algorithm`."""
    if not isinstance(value, str) or len(value) > 64:
        return False
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        return False
    return len(raw) == DIGEST_BYTES[algorithm] and base64.b64encode(raw).decode("ascii") == value


def whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class DirectUploads:
    """The open direct uploads by ID, each aborted once idle for the uploads' idle timeout."""

    def __init__(self, client: S3Client, presigner: S3Client, uploads: Uploads, checksum: str | None):
        self.client = client  # the session's, on the server's endpoint
        self.presigner = presigner  # the same credentials, on the endpoint as browsers reach it
        self.uploads = uploads  # part size, idle timeout, journal, log
        self.checksum = checksum  # one of multipart.CHECKSUMS, or None: the parts' length only
        self.log = uploads.log
        self._open: dict[str, Direct] = {}

    @property
    def part_size(self) -> int:
        return max(self.uploads.part_size, MIN_PART)

    def _journal(self, change: str, *args):
        return asyncio.to_thread(getattr(self.uploads.journal, change), *args)

    def _arm(self, upload: str, d: Direct) -> None:
        if d.timer is not None:
            d.timer.cancel()
        # An empty context: the timer must not keep the request that armed it alive (client.isolated).
        d.timer = asyncio.get_running_loop().call_later(
            self.uploads.idle_timeout, self._expire, upload, context=contextvars.Context()
        )

    def _expire(self, upload: str) -> None:
        d = self._open.pop(upload, None)
        if d is not None:
            self.log.info("aborting the idle direct upload of %r", d.path[:200])
            asyncio.ensure_future(self._abort(d, quiet=True))

    def find(self, upload, path: str) -> Direct:
        d = self._open.get(upload) if isinstance(upload, str) else None
        if d is None or d.path != path:
            raise HTTPError(
                404, f"no direct upload of {shown(path)} with this id (finished, aborted or idle too long)"
            )
        return d

    def _take(self, upload, path: str) -> Direct:
        d = self.find(upload, path)
        del self._open[upload]
        if d.timer is not None:
            d.timer.cancel()
        return d

    async def start(self, path: str, bucket: str, key: str, size) -> tuple[str, Direct]:
        if not whole(size) or size < 1:
            raise HTTPError(
                400, f"size must be the file's length in bytes, at least 1 (got {shown(repr(size))})"
            )
        if size > MAX_OBJECT:
            raise too_big(size)
        client = await self.client.get()
        algorithm = {"ChecksumAlgorithm": self.checksum} if self.checksum else {}
        r = await client.create_multipart_upload(Bucket=bucket, Key=key, **algorithm)
        d = Direct(path, bucket, key, r["UploadId"], size, part_size_for(size, self.part_size))
        try:
            await self._journal("add", bucket, key, d.upload_id)
        except BaseException:
            await self._abort(d, quiet=True)
            raise
        upload = secrets.token_urlsafe(24)
        self._open[upload] = d
        self._arm(upload, d)
        return upload, d

    async def sign(self, upload, path: str, part, checksum) -> dict:
        d = self.find(upload, path)
        if not whole(part) or not 1 <= part <= d.parts:
            raise HTTPError(400, f"part must be a part number from 1 to {d.parts} (got {shown(repr(part))})")
        if self.checksum is None and checksum is not None:
            raise HTTPError(400, "this upload takes no checksum: S3 checks each part's length only")
        if self.checksum is not None and not valid_checksum(self.checksum, checksum):
            raise HTTPError(
                400,
                f"checksum must be the base64 of the part's {self.checksum} ({DIGEST_BYTES[self.checksum]} bytes)",
            )
        self._arm(upload, d)
        presigner = await self.presigner.get()
        params = {"Bucket": d.bucket, "Key": d.key, "UploadId": d.upload_id, "PartNumber": part}
        params["ContentLength"] = d.length(part)
        headers = {}
        if self.checksum:
            params[f"Checksum{self.checksum}"] = checksum
            headers[f"x-amz-checksum-{self.checksum.lower()}"] = checksum
        url = await presigner.generate_presigned_url("upload_part", Params=params, ExpiresIn=EXPIRES)
        d.signed[part] = checksum
        await self._journal("touch", d.upload_id)
        return {"url": url, "headers": headers}

    async def complete(self, upload, path: str, etags) -> Direct:
        d = self._take(upload, path)
        try:
            parts = self._parts(d, etags)
            client = await self.client.get()
            await client.complete_multipart_upload(
                Bucket=d.bucket, Key=d.key, UploadId=d.upload_id, MultipartUpload={"Parts": parts}
            )
        except ClientError as e:
            await self._abort(d, quiet=True)
            code = error_code(e)
            if code in FORBIDDEN or e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400) >= 500:
                raise
            raise HTTPError(
                400,
                f"S3 refused to assemble {shown(path)} ({code}): a part is missing or not the one signed; "
                "nothing was stored",
            ) from None
        except BaseException:
            await self._abort(d, quiet=True)
            raise
        await self._journal("remove", d.upload_id)
        return d

    def _parts(self, d: Direct, etags) -> list[dict]:
        if not isinstance(etags, list) or len(etags) != d.parts:
            raise HTTPError(
                400, f"{shown(d.path)} has {d.parts} parts: complete it with their {d.parts} ETags"
            )
        parts = []
        for n, etag in enumerate(etags, 1):
            if not isinstance(etag, str) or not etag or len(etag) > ETAG_CHARS:
                raise HTTPError(400, f"the ETag of part {n} of {shown(d.path)} is missing or malformed")
            if n not in d.signed:
                raise HTTPError(400, f"part {n} of {shown(d.path)} was never signed")
            checksum = {f"Checksum{self.checksum}": d.signed[n]} if self.checksum else {}
            parts.append({"PartNumber": n, "ETag": etag, **checksum})
        return parts

    async def abort(self, upload, path: str) -> None:
        await self._abort(self._take(upload, path))

    async def _abort(self, d: Direct, *, quiet: bool = False) -> None:
        """Abort in S3, then strike off the journal (kept when S3 failed: tried again at the stop or next start)."""
        try:
            client = await self.client.get()
            await client.abort_multipart_upload(Bucket=d.bucket, Key=d.key, UploadId=d.upload_id)
        except Exception as e:
            if isinstance(e, ClientError) and error_code(e) == "NoSuchUpload":
                pass  # already gone
            elif quiet:
                self.log.warning(
                    "could not abort the direct upload of %r: %s", d.path[:200], type(e).__name__
                )
                return
            else:
                raise
        await self._journal("remove", d.upload_id)

    async def abort_all(self) -> None:
        """A clean stop: abort every open direct upload, then close the presigning client."""
        for upload in list(self._open):
            d = self._open.pop(upload)
            if d.timer is not None:
                d.timer.cancel()
            await self._abort(d, quiet=True)
        await self.presigner.close()


class DirectUploadHandler(S3FolderRequest):
    """The server's half of a direct upload (see the module's docstring)."""

    async def prepare(self):
        await super().prepare()  # authenticated, may write
        self.direct: DirectUploads | None = self.s3.direct
        if self.direct is None:
            raise HTTPError(
                404, "direct uploads are off in this session (no browser_endpoint_url): use /datalab/upload/"
            )
        self._path, _, mount, rest = self.upload_target()
        self._bucket, self._key = mount.bucket, key_of(mount, rest)

    def _body(self) -> dict:
        body = self.get_json_body()  # 400 for a body that is not JSON
        if not isinstance(body, dict):
            raise HTTPError(400, "the body must be a JSON object")
        return body

    def _answer(self, status: int, body: dict) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body, default=json_default))

    async def post(self, path):
        body = self._body()
        async with s3_errors(self._path):
            if "id" in body:
                signed = await isolated(
                    self.direct.sign(body["id"], self._path, body.get("part"), body.get("checksum"))
                )
                return self._answer(200, signed)
            upload, d = await isolated(
                self.direct.start(self._path, self._bucket, self._key, body.get("size"))
            )
        self.log.info("direct upload of %r started (%d bytes, %d parts)", self._path[:200], d.size, d.parts)
        self._answer(
            201, {"id": upload, "part_size": d.part_size, "parts": d.parts, "checksum": self.direct.checksum}
        )

    async def put(self, path):
        body = self._body()
        async with s3_errors(self._path):
            d = await isolated(self.direct.complete(body.get("id"), self._path, body.get("etags")))
        self.log.info("uploaded %r (%d bytes, direct)", self._path[:200], d.size)
        self._answer(201, await self.contents_manager.get(self._path, content=False, type="file"))

    async def delete(self, path):
        async with s3_errors(self._path):
            await isolated(self.direct.abort(self.get_query_argument("id", ""), self._path))
        self.log.info("direct upload of %r aborted by the client", self._path[:200])
        self.set_status(204)
        self.finish()
