"""CatalogSpawner's manifests, built by the real spawner object (no API server needed to build them).

Every manifest the spawner can produce for the built-in services, with and without each option, must
pass kubernetes-validate in strict mode; no secret value may appear in a pod.
"""

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import kubernetes_validate
import pytest
from traitlets.config import Config

from spawner.catalog import default_catalog_dir, load_catalog, resolve
from spawner.errors import SpawnException
from spawner.kube.offline import build_manifests, make_spawner, offline_kube_config
from spawner.plan import SessionCredentials

K8S_VERSION = "1.33"
GROUPS = ["datalab-users", "datalab-gpu"]
CATALOG = load_catalog(default_catalog_dir())
OFFERS = {o.service: o for o in resolve(CATALOG, GROUPS, datetime.now(UTC))}
CREDENTIALS = SessionCredentials(
    env={"AWS_S3_ENDPOINT": "https://s3.example.org", "VAULT_ADDR": "https://vault.example.org"},
    secret_files={"credentials.json": json.dumps({"s3": {"secret_access_key": "S3-SECRET-KEY-abcdef"}})},
    warnings=("Vault: not reachable, no Vault token in this session",),
)


def _fmt(x):
    return str(int(x)) if float(x).is_integer() else str(x)


def variants():
    """(id, service, user_options, with_credentials) covering each option of each built-in service."""
    assert set(OFFERS) == {"jupyter-python", "jupyter-r", "rstudio", "vscode-python", "jupyter-python-gpu"}
    for service, offer in sorted(OFFERS.items()):
        o = offer.options
        yield f"{service}-defaults", service, {"service": service}, False
        yield f"{service}-credentials", service, {"service": service}, True
        maxed = {
            "service": service,
            "cpu": _fmt(o["cpu"].max),
            "memory": o["memory"].max,
            "storage": o["storage"].max,
        }
        yield f"{service}-max", service, maxed, False
        mins = {
            "service": service,
            "cpu": o["cpu"].min,
            "memory": o["memory"].min,
            "storage": _fmt(o["storage"].min),
        }
        yield f"{service}-min", service, mins, False
        if o["gpu"].max > 0:
            yield f"{service}-gpu-max", service, {"service": service, "gpu": int(o["gpu"].max)}, False
        if o["postgres"].allowed:
            yield f"{service}-postgres", service, {"service": service, "postgres": True}, False
            yield f"{service}-postgres-off", service, {"service": service, "postgres": "false"}, False
        if o["git_repository"].editable:
            git = {"service": service, "git_repository": "https://github.com/org/repo.git"}
            yield f"{service}-git", service, git, False
        for choice in o["image"].choices[1:]:
            yield (
                f"{service}-image-{choice.image.rsplit(':', 1)[-1]}",
                service,
                {**{"service": service}, "image": choice.image},
                False,
            )
        if o["image"].allow_custom:
            custom = o["image"].default.rsplit(":", 1)[0] + ":2027.01"
            yield f"{service}-custom-image", service, {"service": service, "image": custom}, False
        everything = {"service": service, "git_repository": "https://example.org/x/all.git"}
        if o["postgres"].allowed:
            everything["postgres"] = True
        yield f"{service}-everything", service, everything, True


VARIANTS = list(variants())


async def manifests_for(
    user_options, *, credentials=None, groups=GROUPS, username="alice", server_name="", config=None
):
    with offline_kube_config():
        spawner = make_spawner(
            username=username,
            groups=groups,
            server_name=server_name,
            user_options=user_options,
            credentials=credentials,
            api_token="HUB-API-TOKEN-0123456789abcdef",
            config=config,
        )
        return spawner, await build_manifests(spawner)


@pytest.mark.parametrize(
    ("service", "user_options", "with_credentials"), [v[1:] for v in VARIANTS], ids=[v[0] for v in VARIANTS]
)
async def test_every_manifest_is_strictly_valid_and_secret_free(service, user_options, with_credentials):
    spawner, m = await manifests_for(user_options, credentials=CREDENTIALS if with_credentials else None)
    for manifest in (m.pod, m.secret, m.pvc):
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    pod_text = json.dumps(m.pod)
    assert m.secret_values, "the Secret holds at least the API token"
    for key, value in m.secret_values.items():
        assert value not in pod_text, f"secret {key} appears in the pod"
    assert "HUB-API-TOKEN" not in pod_text and "S3-SECRET-KEY" not in pod_text
    labels = m.pod["metadata"]["labels"]
    assert labels["datalab.io/service"] == service
    assert labels["datalab.io/profile-list"] == OFFERS[service].list_name
    # everything the pod references exists in the Secret
    refs = {
        e["valueFrom"]["secretKeyRef"]["key"]
        for c in m.pod["spec"]["containers"] + m.pod["spec"].get("initContainers", [])
        for e in c.get("env", [])
        if "valueFrom" in e
    }
    assert refs <= set(m.secret["data"])


async def test_main_container_follows_the_options():
    _, m = await manifests_for({"service": "jupyter-python", "cpu": "2.5", "memory": 8, "storage": 20})
    main = m.pod["spec"]["containers"][0]
    assert main["image"] == OFFERS["jupyter-python"].options["image"].default
    assert main["resources"]["limits"] == {"cpu": 2.5, "memory": 8 * 1024**3}
    assert main["resources"]["requests"] == {"cpu": 2.5, "memory": 8 * 1024**3}
    env = {e["name"]: e for e in main["env"]}
    assert env["JUPYTERHUB_DEFAULT_URL"]["value"] == "/lab"
    assert m.pvc["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert m.pvc["metadata"]["name"] == m.pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]


@pytest.mark.parametrize(
    ("service", "url"), [("rstudio", "/rstudio"), ("vscode-python", "/vscode"), ("jupyter-r", "/lab")]
)
async def test_default_url_by_kind(service, url):
    _, m = await manifests_for({"service": service})
    env = {e["name"]: e for e in m.pod["spec"]["containers"][0]["env"]}
    assert env["JUPYTERHUB_DEFAULT_URL"]["value"] == url


async def test_api_token_only_by_secret_reference():
    spawner, m = await manifests_for({"service": "jupyter-python"})
    env = {e["name"]: e for e in m.pod["spec"]["containers"][0]["env"]}
    secret_name = m.secret["metadata"]["name"]
    for name in ("JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN"):
        assert env[name] == {
            "name": name,
            "valueFrom": {"secretKeyRef": {"name": secret_name, "key": "jupyterhub-api-token"}},
        }
    assert base64.b64decode(m.secret["data"]["jupyterhub-api-token"]).decode() == spawner.api_token
    assert m.secret["metadata"]["ownerReferences"][0]["kind"] == "Pod"
    assert m.secret["metadata"]["ownerReferences"][0]["name"] == m.pod["metadata"]["name"]


async def test_gpu_service_gets_limit_node_selector_and_tolerations():
    _, m = await manifests_for({"service": "jupyter-python-gpu", "gpu": "2"})
    main = m.pod["spec"]["containers"][0]
    assert main["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert m.pod["spec"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in m.pod["spec"][
        "tolerations"
    ]
    _, cpu_only = await manifests_for({"service": "jupyter-python"})
    assert "nvidia.com/gpu" not in cpu_only.pod["spec"]["containers"][0]["resources"]["limits"]
    assert "nodeSelector" not in cpu_only.pod["spec"] and "tolerations" not in cpu_only.pod["spec"]


async def test_credentials_env_files_and_warnings():
    spawner, m = await manifests_for({"service": "jupyter-python"}, credentials=CREDENTIALS)
    env = {e["name"]: e.get("value") for e in m.pod["spec"]["containers"][0]["env"]}
    assert env["AWS_S3_ENDPOINT"] == "https://s3.example.org"
    assert env["DATALAB_CREDENTIALS_FILE"] == "/var/run/datalab/credentials.json"
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "VAULT_TOKEN"} & set(env)
    mount = next(
        v for v in m.pod["spec"]["containers"][0]["volumeMounts"] if v["mountPath"] == "/var/run/datalab"
    )
    assert mount["readOnly"] is True
    assert "credentials.json" in m.secret["data"]
    assert any("Vault: not reachable" in msg for msg in spawner._progress_messages)


async def test_operator_config_is_kept_and_not_accumulated():
    """The plan is laid over KubeSpawner's config for each build only: a second plan starts clean."""
    c = Config()
    c.KubeSpawner.volumes = [{"name": "shared", "emptyDir": {}}]
    c.KubeSpawner.volume_mounts = [{"name": "shared", "mountPath": "/shared"}]
    c.KubeSpawner.extra_labels = {"team": "stats"}
    c.KubeSpawner.uid = 1000
    c.KubeSpawner.fs_gid = 100
    spawner, m = await manifests_for({"service": "jupyter-python", "postgres": True}, config=c)
    names = [v["name"] for v in m.pod["spec"]["volumes"]]
    assert names[0] == "shared" and "datalab-home" in names
    assert m.pod["spec"]["containers"][1]["securityContext"]["runAsUser"] == 1000, (
        "the database is the user's"
    )
    assert m.pod["metadata"]["labels"]["team"] == "stats"
    assert m.pod["spec"]["securityContext"] == {"fsGroup": 100}
    # second spawn of the same server without postgres, as the hub runs it: no sidecar left over
    spawner.clear_state()
    spawner.user_options = {"service": "jupyter-r"}
    spawner.run_pre_spawn_hook()
    await spawner.load_user_options()
    pod = spawner.api.api_client.sanitize_for_serialization(await spawner.get_pod_manifest())
    assert [c["name"] for c in pod["spec"]["containers"]] == ["notebook"]
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["shared", "datalab-home"]
    assert spawner.volumes == [{"name": "shared", "emptyDir": {}}]  # config untouched
    spawner.clear_state()


async def test_named_servers_get_their_own_pod_secret_and_home():
    _, a = await manifests_for({"service": "jupyter-python"}, server_name="analysis")
    _, b = await manifests_for({"service": "rstudio"}, server_name="teaching")
    assert a.pod["metadata"]["name"] != b.pod["metadata"]["name"]
    assert a.secret["metadata"]["name"] != b.secret["metadata"]["name"]
    assert a.pvc["metadata"]["name"] != b.pvc["metadata"]["name"]


@pytest.mark.parametrize(
    ("user_options", "status", "words"),
    [
        ({"service": "jupyter-python", "cpu": 64}, 400, ["cpu", "between 0.5 and 4"]),
        ({"service": "jupyter-python", "memory": "lots"}, 400, ["memory"]),
        ({"service": "jupyter-python", "image": "evil.example.org/miner:1"}, 400, ["image"]),
        ({"service": "jupyter-python", "unexpected": 1}, 400, ["unknown option 'unexpected'"]),
        (
            {"service": "jupyter-python", "git_repository": "https://user:tok@github.com/a/b.git"},
            400,
            ["git_repository"],
        ),
        ({"service": "jupyter-python-gpu"}, 403, ["jupyter-python-gpu", "not offered"]),
        ({"service": "no-such-service"}, 403, ["no-such-service"]),
    ],
)
async def test_invalid_options_fail_the_spawn_with_the_field_and_range(user_options, status, words):
    with pytest.raises(SpawnException) as info:
        await manifests_for(user_options, groups=["datalab-users"])
    assert info.value.status_code == status
    for word in words:
        assert word in info.value.message


async def test_user_without_granting_group_is_offered_nothing():
    with pytest.raises(SpawnException) as info:
        await manifests_for({}, groups=["somebody-else"])
    assert info.value.status_code == 403


async def test_profile_list_comes_from_the_catalog_for_the_user():
    with offline_kube_config():
        spawner = make_spawner(username="bob", groups=["datalab-users"])
        profiles = spawner.profile_list(spawner)
    assert [p["slug"] for p in profiles] == ["jupyter-python", "jupyter-r", "rstudio", "vscode-python"]
    assert profiles[0]["default"] is True


async def test_catalog_edits_are_picked_up_and_a_broken_edit_keeps_the_last_valid_one(tmp_path):
    import shutil

    directory = tmp_path / "profiles"
    shutil.copytree(Path(default_catalog_dir()), directory)
    config = Config()
    config.CatalogSpawner.catalog_dir = str(directory)
    config.CatalogSpawner.catalog_check_interval = 0  # check the files at every use (default: every 5 s)
    with offline_kube_config():
        spawner = make_spawner(username="carol", groups=["datalab-users"], config=config)
        assert "rstudio" in [o.service for o in spawner.offers()]
        default_list = directory / "lists" / "default.yaml"
        default_list.write_text(default_list.read_text().replace("  rstudio: {}\n", ""))
        assert "rstudio" not in [o.service for o in spawner.offers()]
        default_list.write_text("services: [this is not valid\n")
        assert "rstudio" not in [o.service for o in spawner.offers()]  # last valid catalog still served
        assert "jupyter-python" in [o.service for o in spawner.offers()]


async def test_image_registry_setting_replaces_the_catalogs_registry():
    c = Config()
    c.CatalogSpawner.image_registry = "registry.internal:5000/lab"
    _, m = await manifests_for({"service": "jupyter-python", "postgres": True}, config=c)
    images = [ctr["image"] for ctr in m.pod["spec"]["containers"]]
    assert images == [
        "registry.internal:5000/lab/datalab-python:2026.11",
        "registry.internal:5000/lab/postgres:16.6",
    ]
