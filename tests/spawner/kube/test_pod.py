"""The pod layout from a launch plan (spawner.kube.pod): pure functions, no Kubernetes, no hub."""

import base64
import json
import subprocess

import pytest

from spawner.kube import clone, pod
from spawner.plan import LaunchPlan, PostgresSidecar, SessionCredentials

NAMES = pod.PodNames(
    pod="jupyter-alice", namespace="datalab", secret="jupyter-alice.datalab", pvc="claim-alice"
)


def make_plan(**changes) -> LaunchPlan:
    base = dict(
        username="alice",
        server_name="",
        service="jupyter-python",
        service_display_name="JupyterLab · Python",
        profile_list="default",
        kind="jupyter",
        image="registry.example.org/datalab/datalab-python:2026.11",
        default_url="/lab",
        cpu=1.5,
        memory_gib=4,
        storage_gib=10,
        labels={"datalab.io/service": "jupyter-python", "datalab.io/profile-list": "default"},
    )
    base.update(changes)
    return LaunchPlan(**base)


def env_by_name(env_list):
    return {e["name"]: e for e in env_list}


def test_main_container_settings_follow_the_plan():
    parts = pod.build_pod_parts(make_plan(), NAMES)
    assert parts.image == "registry.example.org/datalab/datalab-python:2026.11"
    assert parts.default_url == "/lab"
    assert parts.cpu_limit == 1.5 and parts.cpu_guarantee == 1.5
    assert parts.mem_limit == parts.mem_guarantee == 4 * 1024**3
    assert parts.extra_resource_limits == {}  # no GPU asked
    assert parts.labels == {"datalab.io/service": "jupyter-python", "datalab.io/profile-list": "default"}


def test_requests_can_be_a_fraction_of_limits():
    parts = pod.build_pod_parts(
        make_plan(cpu=2), NAMES, cpu_guarantee_fraction=0.25, mem_guarantee_fraction=0.5
    )
    assert (parts.cpu_limit, parts.cpu_guarantee) == (2, 0.5)
    assert parts.mem_guarantee == 2 * 1024**3


def test_gpu_adds_the_limit_node_selector_and_tolerations():
    toleration = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    plan = make_plan(gpu=2, node_selector={"nvidia.com/gpu.present": "true"}, tolerations=(toleration,))
    parts = pod.build_pod_parts(plan, NAMES)
    assert parts.extra_resource_limits == {"nvidia.com/gpu": "2"}
    assert parts.node_selector == {"nvidia.com/gpu.present": "true"}
    assert parts.tolerations == [toleration]


def test_persistent_home_is_the_named_pvc_of_the_chosen_size():
    parts = pod.build_pod_parts(make_plan(storage_gib=0.5), NAMES, home_mount_path="/home/jovyan/")
    assert parts.storage == "512Mi"
    assert {"name": "datalab-home", "persistentVolumeClaim": {"claimName": "claim-alice"}} in parts.volumes
    assert {"name": "datalab-home", "mountPath": "/home/jovyan"} in parts.volume_mounts


def test_no_storage_means_no_pvc_and_no_home_volume():
    parts = pod.build_pod_parts(make_plan(storage_gib=None), NAMES)
    assert parts.storage is None
    assert parts.volumes == [] and parts.volume_mounts == []


@pytest.mark.parametrize(
    ("gib", "quantity"), [(1, "1Gi"), (10, "10Gi"), (0.5, "512Mi"), (1.5, "1536Mi"), (0.25, "256Mi")]
)
def test_gib_quantities_are_exact(gib, quantity):
    assert pod.gib_quantity(gib) == quantity


def test_postgres_keeps_its_data_in_the_home_pvc_as_the_users_files():
    plan = make_plan(postgres=PostgresSidecar(image="postgres:16.6", storage_gib=2))
    names = pod.PodNames(**{**NAMES.__dict__, "pvc": "claim-alice--work", "server": "work"})
    parts = pod.build_pod_parts(plan, names, run_as=1000)
    (sidecar,) = parts.sidecars
    assert not [v for v in parts.volumes if v.get("emptyDir")], "nothing of the database is ephemeral"
    assert sidecar["volumeMounts"] == [{"name": "datalab-home", "mountPath": "/home/jovyan"}]
    home = {"name": "datalab-home", "persistentVolumeClaim": {"claimName": "claim-alice--work"}}
    assert home in parts.volumes
    side_env = env_by_name(sidecar["env"])
    assert side_env["PGDATA"]["value"] == "/home/jovyan/.datalab/postgres/work", "the local backend's folder"
    assert sidecar["securityContext"]["runAsUser"] == 1000, "its files are the user's, who can delete them"
    default = pod.build_pod_parts(plan, NAMES)
    assert env_by_name(default.sidecars[0]["env"])["PGDATA"]["value"].endswith("/.datalab/postgres/default")
    assert "runAsUser" not in default.sidecars[0]["securityContext"]


def test_postgres_without_a_home_gets_a_scratch_volume():
    plan = make_plan(postgres=PostgresSidecar(image="postgres:16.6", storage_gib=2), storage_gib=None)
    parts = pod.build_pod_parts(plan, NAMES)
    (sidecar,) = parts.sidecars
    assert {"name": "postgres-data", "emptyDir": {"sizeLimit": "2Gi"}} in parts.volumes
    assert sidecar["volumeMounts"] == [{"name": "postgres-data", "mountPath": "/var/lib/postgresql/data"}]


def test_postgres_sidecar_with_readiness_probe_and_pg_env():
    plan = make_plan(postgres=PostgresSidecar(image="postgres:16.6", storage_gib=2))
    parts = pod.build_pod_parts(plan, NAMES)
    (sidecar,) = parts.sidecars
    assert sidecar["image"] == "postgres:16.6"
    assert sidecar["readinessProbe"]["exec"]["command"][0] == "pg_isready"
    ref = {"valueFrom": {"secretKeyRef": {"name": NAMES.secret, "key": "postgres-password"}}}
    side_env = env_by_name(sidecar["env"])
    assert side_env["POSTGRES_PASSWORD"] == {"name": "POSTGRES_PASSWORD", **ref}
    assert side_env["POSTGRES_USER"]["value"] == "datalab" and side_env["POSTGRES_DB"]["value"] == "datalab"
    # the session gets libpq's variables; the password only as a Secret reference
    assert parts.env["PGHOST"] == "127.0.0.1" and parts.env["PGPORT"] == "5432"
    assert parts.env["PGUSER"] == "datalab" and parts.env["PGDATABASE"] == "datalab"
    assert parts.env["PGPASSWORD"] == ref
    assert "postgres-password" in parts.secret_keys


def test_without_postgres_no_sidecar_and_no_pg_env():
    parts = pod.build_pod_parts(make_plan(), NAMES)
    assert parts.sidecars == []
    assert not any(k.startswith("PG") for k in parts.env)


def test_git_init_container_clones_into_the_home_volume_without_token():
    plan = make_plan(git_repository="https://gitlab.example.org/team/analysis.git")
    parts = pod.build_pod_parts(plan, NAMES)
    (init,) = parts.init_containers
    env = env_by_name(init["env"])
    assert env["GIT_REPOSITORY"]["value"] == "https://gitlab.example.org/team/analysis.git"
    assert env["CLONE_DIR"]["value"] == "/home/jovyan/analysis"
    assert env["GIT_TERMINAL_PROMPT"]["value"] == "0"  # never waits for a password
    assert init["volumeMounts"] == [
        {"name": "datalab-home", "mountPath": "/home/jovyan"},
        {"name": "datalab-status", "mountPath": "/var/run/datalab-status"},
    ]
    assert (
        env["STATUS_DIR"]["value"] == "/var/run/datalab-status" and env["CLONE_FOLDER"]["value"] == "analysis"
    )
    # the session reads how the clone went from the same small volume
    assert {"name": "datalab-status", "emptyDir": {"sizeLimit": "1Mi"}} in parts.volumes
    assert {"name": "datalab-status", "mountPath": "/var/run/datalab-status", "readOnly": True} in (
        parts.volume_mounts
    )
    assert parts.env["DATALAB_STATUS_DIR"] == "/var/run/datalab-status"
    assert init["image"] == plan.image  # same user id as the session by default
    assert "$GIT_REPOSITORY" in init["command"][-1]  # the URL goes through env, not into the script
    assert "already exists" in init["command"][-1]


def test_git_init_container_image_can_be_configured():
    plan = make_plan(git_repository="https://example.org/r.git")
    (init,) = pod.build_pod_parts(plan, NAMES, git_image="alpine/git:2.45").init_containers
    assert init["image"] == "alpine/git:2.45"


def test_git_without_persistent_home_clones_into_an_emptydir_at_the_folder():
    plan = make_plan(storage_gib=None, git_repository="https://example.org/org/proj")
    parts = pod.build_pod_parts(plan, NAMES)
    assert {"name": "git-repository", "emptyDir": {}} in parts.volumes
    assert {"name": "git-repository", "mountPath": "/home/jovyan/proj"} in parts.volume_mounts
    (init,) = parts.init_containers
    assert init["volumeMounts"] == [
        {"name": "git-repository", "mountPath": "/home/jovyan/proj"},
        {"name": "datalab-status", "mountPath": "/var/run/datalab-status"},
    ]


@pytest.mark.parametrize(
    ("url", "folder"),
    [
        ("https://github.com/org/repo.git", "repo"),
        ("https://github.com/org/repo/", "repo"),
        ("https://example.org/a/b/My%20Repo.git", "My-20Repo"),
        ("git@github.com:org/thing.git", "thing"),
        ("https://example.org/", "repository"),
        ("https://example.org/..", "repository"),
    ],
)
def test_repository_folder(url, folder):
    assert pod.repository_folder(url) == folder


def test_git_clone_script_skips_existing_folder_and_never_fails(tmp_path):
    """Run the init container's script with a real shell and git: a second run keeps the folder; a failure
    is recorded in the status directory (tests/jupyter_s3_ext/test_notices.py reads it as the session does)."""
    import shutil
    import subprocess

    if not shutil.which("git"):
        pytest.skip("git is not installed")
    source = tmp_path / "source"
    subprocess.run(["git", "init", "-q", str(source)], check=True)
    (source / "README").write_text("hello\n")
    subprocess.run(["git", "-C", str(source), "add", "README"], check=True)
    subprocess.run(
        ["git", "-C", str(source), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"],
        check=True,
    )
    dest = tmp_path / "home" / "source"
    env = {
        "PATH": "/usr/bin:/bin",
        "GIT_REPOSITORY": str(source),
        "CLONE_DIR": str(dest),
        "CLONE_FOLDER": "source",
        "STATUS_DIR": str(tmp_path),
        "HOME": str(tmp_path),
        "TERMINATION_LOG": str(tmp_path / "outcome"),  # /dev/termination-log in the container
    }

    def outcome():  # what the pod's status carries to the hub, as clone_outcome reads it
        message = (tmp_path / "outcome").read_text()
        status = {"name": "git-clone", "state": {"terminated": {"exitCode": 0, "message": message}}}
        return clone.clone_outcome({"status": {"initContainerStatuses": [status]}})

    run = subprocess.run(["sh", "-c", clone.GIT_CLONE_SCRIPT], env=env, capture_output=True, text=True)
    assert run.returncode == 0 and (dest / "README").read_text() == "hello\n"
    assert outcome() == f"cloned {source} into ~/source"
    (dest / "README").write_text("my changes\n")
    again = subprocess.run(["sh", "-c", clone.GIT_CLONE_SCRIPT], env=env, capture_output=True, text=True)
    assert again.returncode == 0 and "already exists" in again.stdout
    assert outcome() == "source is already in your home: not cloned again"
    assert not (tmp_path / "git-clone-failed.txt").exists()
    assert (dest / "README").read_text() == "my changes\n"  # the user's work is kept
    env["GIT_REPOSITORY"] = str(tmp_path / "missing")
    env["CLONE_DIR"] = str(tmp_path / "home" / "missing")
    env["CLONE_FOLDER"] = "missing"
    failed = subprocess.run(["sh", "-c", clone.GIT_CLONE_SCRIPT], env=env, capture_output=True, text=True)
    assert failed.returncode == 0 and "could not clone" in failed.stderr  # the session still starts
    record = (tmp_path / "git-clone-failed.txt").read_text()
    assert record.startswith(f"repository: {tmp_path / 'missing'}\nfolder: missing\ntime: 20")
    assert "does not exist" in record.partition("\n\n")[2]  # git's own words
    said = outcome()
    assert said.startswith(f"could not clone {tmp_path / 'missing'}: ") and "does not exist" in said
    assert said.endswith("The session starts without it.")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["git-clone-failed.txt", "home", "outcome", "source"]
    assert clone.clone_outcome({"status": {"initContainerStatuses": [{"name": "git-clone"}]}}) is None
    assert clone.clone_outcome(None) is None


def test_the_clone_connects_only_to_the_addresses_the_hub_checked():
    plan = make_plan(git_repository="https://git.example.org/team/analysis.git")
    pin = {"http.curloptResolve": "git.example.org:443:203.0.113.7", "http.followRedirects": "false"}
    (init,) = pod.build_pod_parts(plan, NAMES, git_pin=pin).init_containers
    env = {k: v["value"] for k, v in env_by_name(init["env"]).items()}
    assert env["GIT_CONFIG_COUNT"] == "2" and env["GIT_CONFIG_VALUE_0"] == "git.example.org:443:203.0.113.7"
    assert "CLONE_REFUSED" not in env
    (unresolved,) = pod.build_pod_parts(plan, NAMES, git_pin=None).init_containers
    env = {k: v["value"] for k, v in env_by_name(unresolved["env"]).items()}
    assert "git.example.org did not resolve" in env["CLONE_REFUSED"] and "GIT_CONFIG_COUNT" not in env


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ({"CLONE_REFUSED": "h did not resolve when the session started: not cloned"}, "did not resolve"),
        ({"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.curloptResolve", "GIT_CONFIG_VALUE_0": "h:443:x"},
         "git version 2.30.1 cannot pin the address"),
    ],
)  # fmt: skip
def test_the_clone_script_refuses_what_it_cannot_pin(tmp_path, extra, said):
    """Unresolved at spawn, or a git too old to honour http.curloptResolve (it would ignore the key and
    resolve the name itself): nothing is cloned, the session is told why."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").write_text(
        '#!/bin/sh\n[ "$1" = version ] && { echo "git version 2.30.1"; exit 0; }\ntouch "$CLONE_DIR/CLONED"\n'
    )
    (bin_dir / "git").chmod(0o755)
    dest = tmp_path / "home" / "r"
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "GIT_REPOSITORY": "https://h/r.git",
        "CLONE_DIR": str(dest),
        "CLONE_FOLDER": "r",
        "STATUS_DIR": str(tmp_path),
        "HOME": str(tmp_path),
        "TERMINATION_LOG": str(tmp_path / "outcome"),
        "PINS_MAJOR": "2",
        "PINS_MINOR": "37",
        **extra,
    }
    run = subprocess.run(["sh", "-c", clone.GIT_CLONE_SCRIPT], env=env, capture_output=True, text=True)
    assert run.returncode == 0 and not (dest / "CLONED").exists()
    assert said in (tmp_path / "git-clone-failed.txt").read_text()
    assert (tmp_path / "outcome").read_text().startswith("could not clone https://h/r.git: ")


def test_credentials_files_are_mounted_read_only_and_named_in_env():
    creds = SessionCredentials(
        env={"AWS_S3_ENDPOINT": "https://s3.example.org"},
        secret_files={"credentials.json": '{"s3": {"secret_access_key": "xyz"}}'},
    )
    parts = pod.build_pod_parts(make_plan(), NAMES, creds)
    volume = next(v for v in parts.volumes if v["name"] == "datalab-secrets")
    assert volume["secret"]["secretName"] == NAMES.secret
    assert volume["secret"]["items"] == [
        {"key": "credentials.json", "path": "credentials.json"}
    ]  # not the token
    assert {
        "name": "datalab-secrets",
        "mountPath": "/var/run/datalab",
        "readOnly": True,
    } in parts.volume_mounts
    assert parts.env["DATALAB_CREDENTIALS_FILE"] == "/var/run/datalab/credentials.json"
    assert parts.env["AWS_S3_ENDPOINT"] == "https://s3.example.org"
    assert "xyz" not in json.dumps([parts.env, parts.volumes, parts.volume_mounts])


def test_no_credentials_files_means_no_secret_volume():
    parts = pod.build_pod_parts(make_plan(), NAMES, SessionCredentials())
    assert not any(v["name"] == "datalab-secrets" for v in parts.volumes)
    assert "DATALAB_CREDENTIALS_FILE" not in parts.env


@pytest.mark.parametrize("bad", ["../escape", "a/b", "jupyterhub-api-token", ""])
def test_bad_secret_file_names_are_refused(bad):
    with pytest.raises(ValueError, match="secret file name"):
        pod.build_pod_parts(make_plan(), NAMES, SessionCredentials(secret_files={bad: "x"}))


def test_secret_holds_every_referenced_key_and_is_owned_by_the_pod():
    plan = make_plan(postgres=PostgresSidecar(image="postgres:16"))
    creds = SessionCredentials(secret_files={"credentials.json": "{}"})
    parts = pod.build_pod_parts(plan, NAMES, creds)
    data = pod.build_secret_data(plan, "the-api-token", creds, postgres_password="pg-password-123")
    assert set(parts.secret_keys) == set(data)
    manifest = pod.secret_manifest(NAMES, data, owner_uid="uid-1", labels=parts.labels)
    assert manifest["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": "jupyter-alice",
            "uid": "uid-1",
            "blockOwnerDeletion": True,
            "controller": False,
        }
    ]
    assert base64.b64decode(manifest["data"]["jupyterhub-api-token"]).decode() == "the-api-token"
    assert base64.b64decode(manifest["data"]["postgres-password"]).decode() == "pg-password-123"
    redacted = pod.redact_secret(manifest)
    assert "the-api-token" not in json.dumps(redacted) and manifest["data"][
        "postgres-password"
    ] not in json.dumps(redacted)
    assert redacted["data"]["postgres-password"] == "<redacted: 15 bytes>"


def test_postgres_needs_a_password():
    with pytest.raises(ValueError, match="password"):
        pod.build_secret_data(make_plan(postgres=PostgresSidecar(image="postgres:16")), "t")


def test_postgres_without_an_image_is_a_clear_error():
    with pytest.raises(ValueError, match="no postgres image"):
        pod.build_pod_parts(make_plan(postgres=PostgresSidecar(image="")), NAMES)


def test_a_project_server_has_a_home_claim_of_its_own():
    from spawner.kube.spawner import project_claim

    assert project_claim("claim-bob", "demo") == "claim-bob--project-demo"
    assert project_claim("claim-bob--project-demo", "") == "claim-bob"  # back to the personal home
    assert project_claim("claim-bob--project-demo", "x") == "claim-bob--project-x"
