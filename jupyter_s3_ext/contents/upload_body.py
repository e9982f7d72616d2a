"""The JSON body of a base64 save (each chunk of an upload), read without parsing its content as JSON.

Profiled on a 100 MiB chunked upload (benchmarks/s3_upload.py): decoding each 1.4 MB body to a str and
`json.loads` on it took more of the event loop than anything else but the base64 decode. The content of a
base64 model is one long JSON string with no escapes, so it is cut out of the body as it is (a view, not
a copy), the few remaining bytes are parsed as JSON, and base64 decodes the view directly. Any body this
cannot read unambiguously (escapes in the content, a second "content" key, not a base64 model) returns
None and is parsed the usual way.
"""

from __future__ import annotations

import json
import re

CONTENT_KEY = re.compile(rb'"content"[ \t\r\n]*:[ \t\r\n]*"')


def base64_model(body: bytes) -> dict | None:
    """The model with `content` as a memoryview of `body` (its base64 text), or None to parse as usual."""
    key = CONTENT_KEY.search(body)
    if key is None:
        return None
    start = key.end()
    end = body.find(b'"', start)
    if end < 0 or body.find(b"\\", start, end) >= 0 or CONTENT_KEY.search(body, end) is not None:
        return None
    try:
        model = json.loads(body[:start] + body[end:])  # the same JSON with the content emptied
    except ValueError:
        return None
    # Only one "content" key in the whole text: when the top level's is the emptied one, it was that.
    if not isinstance(model, dict) or model.get("content") != "" or model.get("format") != "base64":
        return None
    model["content"] = memoryview(body)[start:end]
    return model
