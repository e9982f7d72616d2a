"""One aiobotocore S3 client for the contents manager, and S3 errors turned into clear HTTP errors.

Why aiobotocore rather than boto3 in an executor: every request is a coroutine on the server's own loop
(no thread pool to exhaust, no blocked loop), streaming bodies are read chunk by chunk, and the
session-credentials side already offers aiobotocore credentials that refresh themselves.

The credentials seam: `credentials` is a zero-argument callable returning botocore/aiobotocore
credentials (static `AioCredentials`, or `AioRefreshableCredentials` from
`jupyter_s3_ext.credentials.aio_refreshable_credentials`), or None for "no S3 here". It is asked once;
refreshable credentials then renew themselves before each request as needed.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable
from contextlib import asynccontextmanager

from aiobotocore.session import AioSession
from botocore.config import Config
from botocore.credentials import CredentialProvider
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from tornado.web import HTTPError

from ..credentials.document import CredentialsError
from ..session_env import DEFAULT_REGION
from . import listing

log = logging.getLogger(__name__)

FORBIDDEN = {"AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"}
MISSING_BUCKET = {"NoSuchBucket"}
MISSING = {"NoSuchKey", "NotFound", "404", "NoSuchUpload"}


class _Provider(CredentialProvider):
    """Puts the given credentials first in aiobotocore's chain (never the environment's static keys)."""

    METHOD = "datalab-contents"
    CANONICAL_NAME = "DatalabContents"

    def __init__(self, factory: Callable):
        super().__init__()
        self._factory = factory

    async def load(self):
        # The factory reads the credential cache and may ask the hub (blocking): keep it off the loop.
        return await asyncio.to_thread(self._factory)


class S3Client:
    """Lazily opens one client, shared by all requests; `close()` at shutdown."""

    def __init__(
        self,
        *,
        endpoint_url,
        region,
        credentials: Callable,
        connect_timeout,
        read_timeout,
        max_attempts=2,
        signature_version: str | None = None,
    ):
        """`signature_version`: botocore's default unless given ("s3v4": presigned URLs in SigV4, direct_upload.py)."""
        self.endpoint_url = endpoint_url or None
        self.region = region or DEFAULT_REGION
        self._credentials = credentials
        self._config = Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            # Payloads are not hashed on the event loop to be signed: bodies carry a signed SHA-256
            # checksum header computed in a thread instead (multipart.py), which S3 verifies.
            s3={"addressing_style": "path", "payload_signing_enabled": False},
            max_pool_connections=20,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            signature_version=signature_version,
        )
        self._client = None
        self._ctx = None
        self._lock = asyncio.Lock()

    async def get(self):
        """The client; 503 naming what is missing while the session has no S3 credentials (retried later)."""
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    session = AioSession()
                    resolver = session.get_component("credential_provider")
                    resolver.insert_before("env", _Provider(self._credentials))
                    ctx = session.create_client(
                        "s3", endpoint_url=self.endpoint_url, region_name=self.region, config=self._config
                    )
                    try:
                        client = await ctx.__aenter__()  # asks the credentials
                    except CredentialsError as e:
                        raise no_credentials(e) from None
                    listing.install(client)
                    self._ctx, self._client = ctx, client
        return self._client

    def current(self):
        """The client if one was made (None: nothing was ever sent to S3 by this server)."""
        return self._client

    async def close(self):
        if self._ctx is not None:
            ctx, self._ctx, self._client = self._ctx, None, None
            await ctx.__aexit__(None, None, None)


def no_credentials(e: CredentialsError) -> HTTPError:
    return HTTPError(
        503,
        f"S3 is unavailable: this session has {e}; it asks for them again by itself "
        "(state: /datalab/credentials/status)",
    )


def error_code(e: ClientError) -> str:
    err = e.response.get("Error", {})
    return str(err.get("Code") or e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


SHOWN = 300  # characters of a path (user input) quoted in an error, which tornado also logs


def shown(what: str) -> str:
    """A path for a message or a log line: bounded, and escaped (repr) when it holds control characters."""
    what = what if len(what) <= SHOWN else what[:SHOWN] + "..."
    return what if what.isprintable() else repr(what)


def to_http_error(e: Exception, what: str) -> HTTPError:
    """An HTTPError saying what failed, never with a secret (botocore messages name no keys)."""
    if isinstance(e, HTTPError):
        return e
    what = shown(what)
    if isinstance(e, ClientError):
        code = error_code(e)
        if code in FORBIDDEN:
            return HTTPError(403, f"S3 denied access to {what} ({code}): you may not do this here")
        if code in MISSING_BUCKET:
            return HTTPError(404, f"{what}: the S3 bucket does not exist")
        if code in MISSING:
            return HTTPError(404, f"{what}: no such file or directory")
        if code in {"EntityTooLarge", "InvalidArgument", "InvalidRequest", "KeyTooLongError"}:
            return HTTPError(400, f"S3 refused {what} ({code})")
        return HTTPError(502, f"S3 error on {what} ({code})")
    if isinstance(e, CredentialsError):
        return no_credentials(e)
    if isinstance(e, NoCredentialsError):
        return HTTPError(503, f"S3 is unavailable for {what}: no S3 credentials in this session")
    if isinstance(e, EndpointConnectionError | BotoConnectionError | HTTPClientError | OSError):
        return HTTPError(503, f"S3 is unavailable for {what}: the S3 endpoint cannot be reached")
    if isinstance(e, asyncio.TimeoutError | TimeoutError):
        return HTTPError(503, f"S3 is unavailable for {what}: the S3 endpoint did not answer in time")
    if isinstance(e, BotoCoreError):
        return HTTPError(503, f"S3 is unavailable for {what}: {type(e).__name__}")
    log.error("unexpected error on S3 %s", what, exc_info=e)
    return HTTPError(500, f"unexpected error on S3 for {what}: {type(e).__name__}")


async def isolated(coro):
    """Await `coro` in a task with an empty context.

    Jupyter keeps the request handler in a context variable; every timer or task created during an S3
    call (our upload timers and background parts, aiohttp's keep-alive handles) copies the current
    context and would keep the handler, with its request body, alive long after the request. Measured
    on a 100 MiB chunked upload: tens of MB held; with this, the server's peak stays about two parts.
    """
    return await asyncio.get_running_loop().create_task(coro, context=contextvars.Context())


@asynccontextmanager
async def s3_errors(what: str):
    """Turn any S3/transport failure inside the block into an HTTPError naming `what`."""
    try:
        yield
    except HTTPError:
        raise
    except Exception as e:  # every failure becomes a clear HTTP error
        raise to_http_error(e, what) from e
