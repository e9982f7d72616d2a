"""Upload chunk bodies are read without JSON-parsing their base64: same model, or the usual parse."""

from __future__ import annotations

import json

import pytest

from jupyter_s3_ext.contents.upload_body import base64_model


def test_a_chunk_as_jupyterlab_sends_it_gives_the_same_model_with_its_content_as_a_view():
    body = json.dumps({"type": "file", "format": "base64", "chunk": 3, "content": "QUJD", "path": "a b"})
    model = base64_model(body.encode())
    assert isinstance(model["content"], memoryview) and bytes(model["content"]) == b"QUJD"
    assert {**model, "content": "QUJD"} == json.loads(body)


@pytest.mark.parametrize(
    "body",
    [
        '{"type": "file", "format": "base64", "content": "QU\\/D"}',  # an escape: JSON decides
        '{"type": "file", "format": "text", "content": "abc"}',  # not base64
        '{"format": "base64", "x": {"content": "QUJD"}}',  # the only content key is nested
        '{"format": "base64", "content": "QUJD", "content": "RA=="}',  # JSON keeps the last
        '{"format": "base64", "content": "QUJD"',  # broken JSON: the usual 400
        '{"format": "base64", "name": "\\"content\\": \\"x", "content": "QUJD"}',
    ],
)
def test_bodies_it_cannot_read_unambiguously_are_left_to_json(body):
    model = base64_model(body.encode())
    assert model is None or bytes(model["content"]) == json.loads(body)["content"].encode()
