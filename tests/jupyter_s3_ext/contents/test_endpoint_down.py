"""Faults and absence: S3 killed mid-session (503, server alive, home fine), and no S3 configured at all."""

from __future__ import annotations

import pytest

from tests.jupyter_s3_ext.contents.conftest import s3_settings, user_identity
from tests.jupyter_s3_ext.contents.harness import run_jupyter
from tests.support.seaweedfs import run_seaweedfs


@pytest.fixture(scope="module")
def own_seaweed(tmp_path_factory):
    """A SeaweedFS of this module alone: the test kills it."""
    with run_seaweedfs(
        tmp_path_factory.mktemp("seaweed-down"), identities=[user_identity()], buckets=["work"]
    ) as sw:
        yield sw


def test_endpoint_killed_mid_session(own_seaweed, tmp_path):
    settings = s3_settings(own_seaweed.endpoint)
    settings["mounts"] = []
    settings["s3_max_attempts"] = 1
    with run_jupyter(tmp_path, settings) as jp:
        body = {"type": "file", "format": "text", "content": "before"}
        assert jp.api("PUT", "s3/mine/f.txt", body=body).status_code == 201
        assert jp.api("PUT", "home.txt", body=body).status_code == 201

        own_seaweed.stop(hard=True)
        for r in (
            jp.api("GET", "s3/mine"),
            jp.api("GET", "s3/mine/f.txt"),
            jp.api("PUT", "s3/mine/g.txt", body=body),
            jp.api("DELETE", "s3/mine/f.txt"),
        ):
            assert r.status_code == 503, r.text
            assert "cannot be reached" in r.json()["message"] or "did not answer" in r.json()["message"]
        # The server is alive and the home directory works as usual, S3 folder still listed.
        assert jp.proc.alive()
        top = {e["name"] for e in jp.api("GET", "").json()["content"]}
        assert {"home.txt", "s3"} <= top
        assert jp.api("GET", "home.txt").json()["content"] == "before"
        assert jp.api("PUT", "home2.txt", body=body).status_code == 201

        own_seaweed.start()  # back on the same port: the same client recovers
        assert jp.api("GET", "s3/mine/f.txt").json()["content"] == "before"


def test_no_s3_configured_is_plain_home(tmp_path):
    """Enabled with nothing configured (no bucket, no credentials): no s3 folder, home unchanged."""
    with run_jupyter(tmp_path, None) as jp:
        assert (
            jp.api("PUT", "a.txt", body={"type": "file", "format": "text", "content": "x"}).status_code == 201
        )
        assert {e["name"] for e in jp.api("GET", "").json()["content"]} == {"a.txt"}
        assert jp.api("GET", "s3").status_code == 404
        assert "no S3 location" in jp.log()
