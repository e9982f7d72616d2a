"""The credentials seam: with no keys in config, the manager uses the session's credentials file.

The file is a credentials document (jupyter_s3_ext.credentials.document); the manager reads it through
`jupyter_s3_ext.credentials.aio_refreshable_credentials`, ahead of any (stale) AWS_* variables.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.jupyter_s3_ext.contents.conftest import USER_KEY, USER_SECRET
from tests.jupyter_s3_ext.contents.harness import run_jupyter


def test_session_credentials_file_is_used(seaweed, tmp_path):
    creds = tmp_path / "credentials.json"
    expires = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    creds.write_text(
        json.dumps(
            {
                "s3": {
                    "access_key_id": USER_KEY,
                    "secret_access_key": USER_SECRET,
                    "session_token": None,
                    "expiration": expires,
                    "endpoint": seaweed.endpoint,
                    "region": "us-east-1",
                    "bucket": "work",
                    "prefix": "",
                },
                "vault": None,
                "warnings": [],
            }
        )
    )
    creds.chmod(0o600)
    env = {
        "DATALAB_CREDENTIALS_FILE": str(creds),
        "DATALAB_CREDENTIALS_CACHE": str(tmp_path / "cache.json"),
        "DATALAB_S3_BUCKET": "work",
        "AWS_ENDPOINT_URL": seaweed.endpoint,
        "AWS_ACCESS_KEY_ID": "STALE-STATIC-KEY",  # must not win over the session's credentials
        "AWS_SECRET_ACCESS_KEY": "stale-static-secret",
    }
    with run_jupyter(tmp_path / "jp", None, env=env) as jp:
        names = {e["name"] for e in jp.api("GET", "s3").json()["content"]}
        assert names == {"work"}
        body = {"type": "file", "format": "text", "content": "via session credentials"}
        assert jp.api("PUT", "s3/work/session.txt", body=body).status_code == 201
        assert jp.api("GET", "s3/work/session.txt").json()["content"] == "via session credentials"
        assert USER_SECRET not in jp.log()
