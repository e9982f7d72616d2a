"""Connection details: the pure answer (what it shows, that it never shows a secret), then a real Jupyter
server with the extension against a real SeaweedFS, whose Python snippets run in a kernel of that server
and reach the user's bucket through nothing but what the session wired."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from jupyter_s3_ext.connection.details import connection_details
from jupyter_s3_ext.contents.mounts import build_table
from jupyter_s3_ext.contents.settings import project_mounts
from jupyter_s3_ext.notices.projects import as_notice, unavailable_projects
from tests.jupyter_s3_ext.credentials.session import run_session
from tests.support.seaweedfs import seaweedfs  # noqa: F401

SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "static-secret-value-1",
    "AWS_SESSION_TOKEN": "static-session-token-2",
    "PGPASSWORD": "pg-password-value-3",
    "VAULT_TOKEN": "hvs.vault-token-value-4",
    "JUPYTERHUB_API_TOKEN": "hub-api-token-value-5",
}
SESSION_ENV = {
    "AWS_ENDPOINT_URL": "https://s3.example.org",
    "AWS_DEFAULT_REGION": "eu-west-3",
    "AWS_CONFIG_FILE": "/run/user/1000/datalab-credentials/aws-config",
    "DATALAB_S3_BUCKET": "user-alice",
    "VAULT_ADDR": "https://vault.example.org",
    "VAULT_MOUNT": "onyxia-kv",
    "VAULT_TOP_DIR": "alice",
    "PGHOST": "127.0.0.1",
    "PGPORT": "5432",
    "PGUSER": "datalab",
    "PGDATABASE": "datalab",
    "AWS_ACCESS_KEY_ID": "AKIASTATICKEY",
    **SECRETS,
}


def table():
    mounts, problems = build_table(
        own_bucket="user-alice",
        group_buckets=["grp-sales"],
        datasets=[{"name": "census", "bucket": "public-data", "prefix": "census/2024", "read_only": True}],
    )
    assert problems == []
    return mounts


def test_the_panel_lists_every_location_with_its_s3_url_and_folder():
    details = connection_details(table(), SESSION_ENV, s3_folder="s3")
    s3 = details["s3"]
    assert s3["endpoint"] == "https://s3.example.org" and s3["region"] == "eu-west-3" and s3["folder"] == "s3"
    got = [(x["name"], x["kind"], x["url"], x["browser_path"], x["writable"]) for x in s3["locations"]]
    assert got == [
        ("user-alice", "own", "s3://user-alice/", "s3/user-alice", True),
        ("grp-sales", "group", "s3://grp-sales/", "s3/grp-sales", True),
        ("census", "dataset", "s3://public-data/census/2024/", "s3/census", False),
    ]
    census = s3["locations"][2]
    assert census["bucket"] == "public-data" and census["prefix"] == "census/2024/"
    labels = [s["label"] for s in census["snippets"]]
    assert labels == ["Python · boto3", "Python · pandas / s3fs", "Python · DuckDB", "R · paws", "AWS CLI"]
    code = {s["id"]: s["code"] for s in census["snippets"]}
    assert "Bucket='public-data', Prefix='census/2024/'" in code["python-boto3"]
    assert "fs.ls('s3://public-data/census/2024/')" in code["python-pandas"]
    assert "ENDPOINT 's3.example.org'" in code["python-duckdb"] and "USE_SSL true" in code["python-duckdb"]
    assert 'Bucket = "public-data", Prefix = "census/2024/"' in code["r-paws"]
    assert code["aws-cli"].startswith("aws s3 ls s3://public-data/census/2024/\n")
    for snippet in census["snippets"]:
        if snippet["language"] == "python":
            compile(snippet["code"], snippet["id"], "exec")


def test_postgres_shows_its_variables_and_only_says_the_password_is_set():
    pg = connection_details([], SESSION_ENV)["postgres"]
    assert pg["variables"] == [
        {"name": "PGHOST", "value": "127.0.0.1"},
        {"name": "PGPORT", "value": "5432"},
        {"name": "PGUSER", "value": "datalab"},
        {"name": "PGDATABASE", "value": "datalab"},
        {"name": "PGPASSWORD", "value": None, "secret": True},
    ]
    assert [s["id"] for s in pg["snippets"]] == ["postgres-python", "postgres-r", "postgres-psql"]


def test_vault_shows_the_mount_and_the_users_folder():
    vault = connection_details([], SESSION_ENV)["vault"]
    assert vault["addr"] == "https://vault.example.org" and vault["path"] == "onyxia-kv/alice"
    assert vault["mount"] == "onyxia-kv" and vault["top_dir"] == "alice"
    cli = next(s["code"] for s in vault["snippets"] if s["id"] == "vault-cli")
    assert "vault kv get -mount=onyxia-kv alice/example" in cli


PROJECTS = [
    {"name": "demo", "group": "project-demo", "bucket": "project-demo", "prefix": "", "vault_dir": "projects/demo",
     "folder": "project-demo"},
]  # fmt: skip


def test_a_projects_location_names_its_vault_folder_and_the_vault_part_lists_it():
    mounts, _ = build_table(own_bucket="user-alice", group_buckets=project_mounts(PROJECTS))
    details = connection_details(mounts, SESSION_ENV, s3_folder="s3", projects=PROJECTS)
    own, demo = details["s3"]["locations"]
    assert (own["project"], own["vault_path"]) == (None, None)
    assert (demo["name"], demo["project"], demo["vault_path"]) == (
        "project-demo",
        "demo",
        "onyxia-kv/projects/demo",
    )
    assert details["vault"]["projects"] == [{"name": "demo", "path": "onyxia-kv/projects/demo"}]


def test_projects_the_session_goes_without_are_listed_with_why():
    text = json.dumps(
        [{"name": "ghost", "reason": "s3://project-ghost/ is not reachable (AccessDenied)\nforged"}]
    )
    unavailable = unavailable_projects(text)
    assert unavailable == [
        {"name": "ghost", "reason": "s3://project-ghost/ is not reachable (AccessDenied) forged"}
    ]
    assert connection_details([], SESSION_ENV, unavailable=unavailable)["unavailable_projects"] == unavailable
    notice = as_notice(unavailable[0])
    assert notice["kind"] == "project-unavailable" and "project ghost" in notice["message"]
    assert "AccessDenied" in notice["message"] and "\n" not in notice["message"]
    for broken in (
        "not json",
        "{}",
        '[{"reason": "no name"}]',
        json.dumps([{"name": "x" * 500, "reason": "y" * 5000}]),
    ):
        assert all(len(p["name"]) <= 64 and len(p["reason"]) <= 300 for p in unavailable_projects(broken))
    assert unavailable_projects("not json") == [] and unavailable_projects(None) == []


def test_no_secret_value_ever_reaches_the_answer():
    text = json.dumps(connection_details(table(), SESSION_ENV, s3_folder="s3"))
    for value in SECRETS.values():
        assert value not in text
    assert "AKIASTATICKEY" not in text  # not a secret by itself, but not the session's to show either
    names = [v["name"] for v in connection_details([], SESSION_ENV)["environment"]]
    assert names == [
        "AWS_CONFIG_FILE", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "DATALAB_S3_BUCKET", "VAULT_ADDR",
        "VAULT_MOUNT", "VAULT_TOP_DIR",
    ]  # fmt: skip


def test_a_session_without_s3_postgres_or_vault_says_so():
    details = connection_details([], {})
    assert details == {
        "s3": None,
        "postgres": None,
        "vault": None,
        "environment": [],
        "unavailable_projects": [],
    }


def test_odd_prefixes_are_quoted_for_each_language():
    mounts, _ = build_table(own_bucket="user-bob", own_prefix='it\'s "here"')
    details = connection_details(mounts, {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    for snippet in details["s3"]["locations"][0]["snippets"]:
        if snippet["language"] == "python":
            compile(snippet["code"], snippet["id"], "exec")
    cli = next(s["code"] for s in details["s3"]["locations"][0]["snippets"] if s["id"] == "aws-cli")
    assert cli.startswith("aws s3 ls 's3://user-bob/it'\"'\"'s \"here\"/'\n")


def credentials_document(s3) -> dict:
    expiration = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    return {
        "s3": {
            "access_key_id": s3.access_key,
            "secret_access_key": s3.secret_key,
            "session_token": None,
            "expiration": expiration,
            "endpoint": s3.endpoint,
            "region": s3.region,
            "bucket": "user-alice",
            "prefix": None,
        },
        "vault": None,
        "warnings": [],
    }


def test_the_sessions_python_snippets_reach_its_bucket_from_a_kernel(seaweedfs, tmp_path: Path):  # noqa: F811
    s3 = seaweedfs
    if "user-alice" not in [b["Name"] for b in s3.client().list_buckets()["Buckets"]]:
        s3.make_bucket("user-alice")
    s3.client().put_object(Bucket="user-alice", Key="snippet-check.csv", Body=b"x,y\n1,2\n")
    creds = tmp_path / "credentials.json"
    creds.write_text(json.dumps(credentials_document(s3)))
    creds.chmod(0o600)
    # What a spawn gives the session: the secret document's path and the non-secret variables.
    env = {
        "DATALAB_CREDENTIALS_FILE": str(creds),
        "DATALAB_S3_BUCKET": "user-alice",
        "AWS_ENDPOINT_URL": s3.endpoint,
    }
    manager = "jupyter_s3_ext.contents.S3MountContentsManager"
    with run_session(tmp_path / "session", env, contents_manager=manager) as session:
        assert session.get("/datalab/connection", authenticated=False).status_code == 403
        r = session.get("/datalab/connection")
        assert r.status_code == 200, r.text
        details = r.json()
        assert s3.secret_key not in r.text and s3.access_key not in r.text
        (own,) = details["s3"]["locations"]
        assert own["url"] == "s3://user-alice/" and own["browser_path"] == "s3/user-alice"
        assert details["s3"]["endpoint"] == s3.endpoint
        code = {s["id"]: s["code"] for s in own["snippets"]}
        kernel = session.kernel()
        assert "snippet-check.csv 8" in kernel.run(code["python-boto3"])
        assert "user-alice/snippet-check.csv" in kernel.run(code["python-pandas"])
