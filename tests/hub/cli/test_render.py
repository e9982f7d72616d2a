"""`datalab profiles render`: the spawner's own manifests as YAML, secrets redacted, or the validation error."""

import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import yaml

from hub.cli import main
from spawner.catalog import default_catalog_dir
from spawner.kube.offline import build_manifests, make_spawner, offline_kube_config


def render(capsys, *argv):
    status = main(["profiles", "render", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_prints_pod_redacted_secret_and_pvc(capsys):
    status, out, err = render(
        capsys, "jupyter-python", "--user", "alice", "--option", "cpu=2", "--option", "postgres=true"
    )
    assert status == 0, err
    pod, secret, pvc = yaml.safe_load_all(out)
    assert (pod["kind"], secret["kind"], pvc["kind"]) == ("Pod", "Secret", "PersistentVolumeClaim")
    kubernetes_validate.validate(pod, "1.33", strict=True)
    kubernetes_validate.validate(pvc, "1.33", strict=True)
    assert pod["metadata"]["labels"]["datalab.io/service"] == "jupyter-python"
    assert pod["spec"]["containers"][0]["resources"]["limits"]["cpu"] == 2.0
    assert [c["name"] for c in pod["spec"]["containers"]] == ["notebook", "postgres"]
    assert set(secret["data"]) == {"jupyterhub-api-token", "postgres-password"}
    assert all(v.startswith("<redacted: ") for v in secret["data"].values())


def test_same_pod_as_the_spawner_builds(capsys):
    status, out, _ = render(capsys, "rstudio", "--user", "bob", "--server", "course", "--option", "memory=2")
    assert status == 0
    cli_pod = next(yaml.safe_load_all(out))

    async def spawner_pod():
        with offline_kube_config():
            spawner = make_spawner(
                username="bob",
                groups=["datalab-users"],
                server_name="course",
                user_options={"service": "rstudio", "memory": "2"},
            )
            return (await build_manifests(spawner)).pod

    import asyncio

    assert cli_pod == asyncio.run(spawner_pod())


def test_invalid_option_prints_the_field_and_range_and_exits_1(capsys):
    status, out, err = render(capsys, "jupyter-python", "--user", "alice", "--option", "cpu=64")
    assert status == 1 and out == ""
    assert "cpu" in err and "between 0.5 and 4" in err


def test_service_not_granted_to_the_groups_exits_1(capsys):
    status, _, err = render(capsys, "jupyter-python-gpu", "--user", "alice", "--groups", "datalab-users")
    assert status == 1 and "403" in err and "not offered" in err
    status, out, _ = render(
        capsys, "jupyter-python-gpu", "--user", "alice", "--groups", "datalab-users,datalab-gpu"
    )
    assert status == 0 and "nvidia.com/gpu" in out


def test_malformed_option_argument(capsys):
    status, _, err = render(capsys, "jupyter-python", "--user", "alice", "--option", "cpu")
    assert status == 2 and "KEY=VALUE" in err


def test_time_windows_and_config_file(capsys, tmp_path):
    catalog = tmp_path / "profiles"
    shutil.copytree(Path(default_catalog_dir()), catalog)
    (catalog / "lists" / "hackathon.yaml").write_text(
        "display_name: Hackathon\n"
        "groups: [hackers]\n"
        "window: {start: '2030-03-01T08:00:00Z', end: '2030-03-02T18:00:00Z'}\n"
        "services:\n"
        "  jupyter-python:\n"
        "    cpu: {max: 2}\n"
    )
    config = tmp_path / "jupyterhub_config.py"
    config.write_text("c.KubeSpawner.namespace = 'hackathon'\nc.KubeSpawner.uid = 1000\n")
    base = ["jupyter-python", "--user", "eve", "--groups", "hackers", "--catalog", str(catalog)]
    status, out, _ = render(capsys, *base, "--at", "2030-03-01T10:00Z", "--config", str(config))
    assert status == 0
    pod = next(yaml.safe_load_all(out))
    assert pod["metadata"]["namespace"] == "hackathon"
    assert pod["metadata"]["labels"]["datalab.io/profile-list"] == "hackathon"
    status, _, err = render(capsys, *base, "--at", "2030-03-01T10:00Z", "--option", "cpu=3")
    assert status == 1 and "between 0.5 and 2" in err
    status, _, err = render(capsys, *base, "--at", "2030-04-01T10:00Z")
    assert status == 1 and "403" in err


def test_console_script_runs():
    datalab = Path(sys.executable).parent / "datalab"
    run = subprocess.run(
        [str(datalab), "profiles", "render", "vscode-python", "--user", "zoe"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "datalab.io/service: vscode-python" in run.stdout
