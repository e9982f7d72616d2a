"""The S3 folder's settings: defaults from what the hub put in the session's environment (pure)."""

from __future__ import annotations

import json
import logging

from jupyter_s3_ext.contents.mounts import build_table
from jupyter_s3_ext.contents.settings import S3Settings, env_projects, project_mounts


def test_defaults_come_from_the_session_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_S3_ENDPOINT", "minio.example.org")  # Onyxia's: a bare host name
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    monkeypatch.setenv("JUPYTERHUB_SERVER_NAME", "gpu")
    monkeypatch.setenv("DATALAB_S3_BUCKET", "user-alice")
    s = S3Settings()
    assert (s.endpoint_url, s.region, s.own_bucket) == (
        "https://minio.example.org",
        "eu-west-3",
        "user-alice",
    )
    # Named servers of one user share the home: each keeps its own upload journal.
    assert s.upload_journal == str(tmp_path / "datalab" / "s3-uploads-gpu.json")
    assert s.s3_checkpoints_dir == str(tmp_path / "datalab" / "s3-checkpoints")


def test_without_credentials_there_is_no_s3_side(monkeypatch):
    monkeypatch.delenv("DATALAB_CREDENTIALS_FILE", raising=False)
    assert S3Settings(own_bucket="user-alice").build_s3_side() is None


def test_the_hubs_projects_become_group_folders():
    hub_env = json.dumps([
        {"name": "demo", "bucket": "project-demo", "prefix": "", "folder": "project-demo"},
        {"name": "b", "bucket": "projects", "prefix": "b/", "folder": "project-b"},
    ])  # fmt: skip
    table, problems = build_table(
        own_bucket="user-alice", group_buckets=project_mounts(env_projects(hub_env, None))
    )
    assert problems == []
    assert [(m.name, m.bucket, m.prefix, m.kind) for m in table] == [
        ("user-alice", "user-alice", "", "own"),
        ("project-demo", "project-demo", "", "group"),
        ("project-b", "projects", "b/", "group"),
    ]
    assert env_projects("{not json", logging.getLogger("test")) == [] == env_projects("", None)


def test_the_hubs_event_datasets_become_read_only_folders():
    hub_env = json.dumps([{"name": "census", "bucket": "events", "prefix": "hack/census", "read_only": True}])
    table, problems = build_table(datasets=env_projects(hub_env, logging.getLogger("t"), "DATALAB_DATASETS"))
    assert problems == []
    assert [(m.name, m.bucket, m.prefix, m.writable, m.kind) for m in table] == [
        ("census", "events", "hack/census/", False, "dataset")
    ]
