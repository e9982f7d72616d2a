"""Bytes altered between this server and S3 are never stored: each part carries a SHA-256 that S3 checks.

Payloads are not signed (client.py: hashing them to sign would run on the event loop), so the checksum
header, which the signature covers, is what stops an altered part. SeaweedFS checks it; it does not check
a signed payload's hash (boto3's default over plain HTTP), so dropping the checksum would leave nothing.
"""

from __future__ import annotations

import os
import secrets

import pytest
from aiobotocore.credentials import AioCredentials
from botocore.exceptions import ClientError

from jupyter_s3_ext.contents.client import S3Client
from jupyter_s3_ext.contents.multipart import MultipartWriter
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


async def test_a_part_altered_on_the_way_to_s3_is_refused_and_nothing_is_stored(s3, seaweed):
    key = f"altered-{secrets.token_hex(4)}/big.bin"
    s3.meta.events.register("before-send.s3.UploadPart", alter_parts)
    writer = MultipartWriter(s3, "work", key, PART)
    with pytest.raises(ClientError) as refused:
        await writer.write(os.urandom(PART + 1234))  # one full part, sent at once
        await writer.close()
    assert refused.value.response["Error"]["Code"] == "BadDigest"
    await writer.abort()
    admin = seaweed.client()
    assert admin.list_objects_v2(Bucket="work", Prefix=key).get("KeyCount") == 0
    assert not admin.list_multipart_uploads(Bucket="work", Prefix=key).get("Uploads")
