"""One SeaweedFS (per session) and one Jupyter server (S3 mounted, per module) for the contents tests.

The server's S3 identity may read and write bucket `work`, only read `locked` and `rodata`, nothing of
`secret`; `rodata` is also declared a read-only dataset (refused by us, 403, before S3 is asked).
"""

from __future__ import annotations

import pytest

from tests.jupyter_s3_ext.contents.harness import run_jupyter
from tests.support.seaweedfs import identity, run_seaweedfs

USER_KEY, USER_SECRET = "AKCONTENTSUSER", "contents-user-secret-0123456789"
BUCKETS = ["work", "locked", "rodata", "secret"]


def user_identity() -> dict:
    actions = ["Read:work", "Write:work", "List:work", "Tagging:work"]
    actions += ["Read:locked", "List:locked", "Read:rodata", "List:rodata", "Read:gone", "List:gone"]
    return identity("contents-user", USER_KEY, USER_SECRET, actions)


def s3_settings(endpoint: str) -> dict:
    return {
        "endpoint_url": endpoint,
        "access_key_id": USER_KEY,
        "secret_access_key": USER_SECRET,
        "own_bucket": "work",
        "own_name": "mine",
        "mounts": [
            {"name": "locked", "bucket": "locked"},
            {"name": "secret", "bucket": "secret"},
            {"name": "gone", "bucket": "gone"},
        ],
        "datasets": [{"name": "rodata", "bucket": "rodata", "read_only": True}],
        "part_size_mb": 5,
        "max_open_mb": 3.0,
        "s3_connect_timeout": 2.0,
        "s3_read_timeout": 10.0,
    }


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory):
    with run_seaweedfs(
        tmp_path_factory.mktemp("seaweed"), identities=[user_identity()], buckets=BUCKETS
    ) as sw:
        yield sw


@pytest.fixture(scope="module")
def jupyter(seaweed, tmp_path_factory):
    with run_jupyter(tmp_path_factory.mktemp("jupyter"), s3_settings(seaweed.endpoint)) as jp:
        yield jp
