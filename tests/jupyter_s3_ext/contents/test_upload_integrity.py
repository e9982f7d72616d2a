"""Bytes altered between this server and S3 are never stored: each part carries a checksum that S3 checks.

Payloads are not signed (client.py: hashing them to sign would run on the event loop), so the checksum
header, which the signature covers, is what stops an altered part. SeaweedFS checks it; it does not check
a signed payload's hash (boto3's default over plain HTTP), so dropping the checksum would leave nothing.
SHA-256 where plain HTTP crosses a network (a CRC could be matched by whoever alters the part), CRC32C
over TLS or the loopback (multipart.checksum_for).
"""

from __future__ import annotations

import os
import secrets

import pytest
from aiobotocore.credentials import AioCredentials
from botocore.exceptions import ClientError

from jupyter_s3_ext.contents.client import S3Client
from jupyter_s3_ext.contents.multipart import (
    CHECKSUMS,
    MultipartWriter,
    browser_checksum_for,
    checksum_for,
    put_checked,
)
from tests.jupyter_s3_ext.contents.conftest import USER_KEY, USER_SECRET

PART = 5 * 2**20


@pytest.fixture
async def s3(seaweed):
    client = S3Client(
        endpoint_url=seaweed.endpoint,
        region="us-east-1",
        credentials=lambda: AioCredentials(USER_KEY, USER_SECRET),
        connect_timeout=2.0,
        read_timeout=10.0,
    )
    yield await client.get()
    await client.close()


def alter_parts(request, **_):
    """One bit flipped in every part on its way out, after the server computed its checksum."""
    if "partNumber=" in request.url:
        request.body.seek(0)
        data = bytearray(request.body.read())
        data[len(data) // 2] ^= 1
        request.body = bytes(data)


@pytest.mark.parametrize("checksum", CHECKSUMS)
async def test_a_part_altered_on_the_way_to_s3_is_refused_and_nothing_is_stored(s3, seaweed, checksum):
    key = f"altered-{secrets.token_hex(4)}/big.bin"
    s3.meta.events.register("before-send.s3.UploadPart", alter_parts)
    writer = MultipartWriter(s3, "work", key, PART, checksum=checksum)
    with pytest.raises(ClientError) as refused:
        await writer.write(os.urandom(PART + 1234))  # one full part, sent at once
        await writer.close()
    assert refused.value.response["Error"]["Code"] == "BadDigest"
    await writer.abort()
    admin = seaweed.client()
    assert admin.list_objects_v2(Bucket="work", Prefix=key).get("KeyCount") == 0
    assert not admin.list_multipart_uploads(Bucket="work", Prefix=key).get("Uploads")


@pytest.mark.parametrize("checksum", CHECKSUMS)
async def test_a_whole_file_altered_on_the_way_is_refused_and_the_old_one_kept(s3, seaweed, checksum):
    key = f"altered-{secrets.token_hex(4)}.txt"
    await put_checked(s3, "work", key, b"saved before", checksum)

    def alter(request, **_):
        request.body.seek(0)
        request.body = request.body.read()[:-1] + b"?"

    s3.meta.events.register("before-send.s3.PutObject", alter)
    with pytest.raises(ClientError) as refused:
        await put_checked(s3, "work", key, b"saved after!", checksum)
    assert refused.value.response["Error"]["Code"] == "BadDigest"
    assert seaweed.client().get_object(Bucket="work", Key=key)["Body"].read() == b"saved before"


@pytest.mark.parametrize(
    ("endpoint", "checksum"),
    [
        ("http://minio.storage.svc:9000", "SHA256"),  # plain HTTP over the cluster's network
        ("http://10.0.0.5:9000", "SHA256"),
        ("https://minio.example.org", "CRC32C"),  # TLS already stops tampering
        (None, "CRC32C"),  # AWS: HTTPS
        ("", "CRC32C"),
        ("http://127.0.0.1:8333", "CRC32C"),  # the one-machine datalab's SeaweedFS
        ("http://localhost:8333", "CRC32C"),
        ("http://[::1]:8333", "CRC32C"),
        ("http://127.0.0.1.example.org", "SHA256"),
    ],
)
def test_sha256_where_plain_http_crosses_a_network(endpoint, checksum):
    assert checksum_for(endpoint) == checksum
    # parts from the browser: SHA-256 where it stops tampering, else none (hashing in a page is costly)
    assert browser_checksum_for(endpoint) == (checksum if checksum == "SHA256" else None)
