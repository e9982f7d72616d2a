"""The session's environment as every part of the extension reads it (pure)."""

from __future__ import annotations

from jupyter_s3_ext.session_env import endpoint_of, per_server, region_of


def test_the_endpoint_tools_use_wins_and_onyxias_bare_host_gets_https():
    assert endpoint_of({"AWS_ENDPOINT_URL": "http://s3:9000", "AWS_S3_ENDPOINT": "other"}) == "http://s3:9000"
    assert endpoint_of({"AWS_S3_ENDPOINT": "minio.example.org"}) == "https://minio.example.org"
    assert endpoint_of({}) == ""


def test_region_and_per_server_names():
    assert region_of({}) == "us-east-1" and region_of({"AWS_DEFAULT_REGION": "eu-west-3"}) == "eu-west-3"
    assert per_server("s3-uploads", {}) == "s3-uploads"
    assert per_server("s3-uploads", {"JUPYTERHUB_SERVER_NAME": "gpu"}) == "s3-uploads-gpu"
