"""helm-values/ against the Zero to JupyterHub chart 4.4.0: the catalog the hub pod reads, and the pods
the configured spawner creates from it (see test_values.py for the schema and the hub configuration).
"""

from __future__ import annotations

import copy
import os
from datetime import datetime
from pathlib import Path
from unittest import mock

import pytest
import yaml

from spawner.catalog import load_catalog, resolve
from tests.helm import values as chart

pytestmark = pytest.mark.skipif(
    not chart.chart_available(), reason=f"the chart's files are not at {chart.CHART_DIR}"
)


# ---- the catalog the hub reads ------------------------------------------------------------------------
def test_catalog_mounts_are_where_the_spawner_reads(hub_catalog):
    values, config, pod, catalog_dir = hub_catalog
    env, mounts = pod.env, pod.mounts
    assert env["DATALAB_CATALOG_DIR"] == catalog_dir, "the CLI in the hub pod reads the same catalog"
    assert f"{catalog_dir}/services" in mounts, "the services ConfigMap is the catalog's services/"
    for path in mounts:
        assert Path(path).is_relative_to(catalog_dir), f"{path} is outside {catalog_dir}"
    lists = [p for p in mounts if p.startswith(f"{catalog_dir}/lists/")]
    assert lists, "profile lists are mounted into lists/"


async def test_the_spawner_reads_the_mounted_catalog(hub_app, hub_catalog):
    from spawner.kube.offline import make_spawner, offline_kube_config

    values, config, pod, catalog_dir = hub_catalog
    with mock.patch.dict(os.environ, pod.env), offline_kube_config():
        spawner = make_spawner(username="alice", config=config, spawner_class=hub_app.spawner_class)
        assert spawner.catalog_dir == catalog_dir == "/etc/datalab/catalog"
        assert spawner.pvc_name == "claim-alice", "docs/operate.md names the default server's home so"
        without = type(config)(config)
        without.CatalogSpawner = type(config)(
            {k: v for k, v in config.CatalogSpawner.items() if k != "catalog_dir"}
        )
        default = make_spawner(username="alice", config=without, spawner_class=hub_app.spawner_class)
        assert default.catalog_dir == catalog_dir, "the hub's $DATALAB_CATALOG_DIR names the same place"


def test_the_mounted_catalog_is_valid_and_matches_the_repository(hub_catalog):
    values, config, pod, catalog_dir = hub_catalog
    catalog = load_catalog(pod.host(catalog_dir))
    repo = load_catalog(chart.REPO / "profiles")
    assert set(catalog.services) == set(repo.services)
    assert catalog.registry == repo.registry
    for name in ("default", "gpu"):
        mounted = yaml.safe_load((pod.host(catalog_dir) / "lists" / f"{name}.yaml").read_text())
        assert mounted == yaml.safe_load((chart.REPO / "profiles" / "lists" / f"{name}.yaml").read_text()), (
            f"helm-values' list {name} differs from profiles/lists/{name}.yaml"
        )


def test_every_group_of_a_list_may_log_in(hub_catalog):
    values, config, pod, catalog_dir = hub_catalog
    catalog = load_catalog(pod.host(catalog_dir))
    allowed = set(config.DatalabOAuthenticator.allowed_groups)
    for name, plist in catalog.lists.items():
        assert set(plist.groups) <= allowed, f"list {name}: its groups cannot log in"
        assert set(plist.organiser_groups) <= allowed, f"list {name}: its organisers cannot log in"


def test_hackathon_list_is_offered_to_its_group_in_its_window_only(hub_catalog):
    values, config, pod, catalog_dir = hub_catalog
    if "datalab-list-hackathon-2026" not in values["hub"]["extraFiles"]:
        pytest.skip("this combination has no hackathon list")
    catalog = load_catalog(pod.host(catalog_dir))
    during = datetime.fromisoformat("2026-12-02T10:00:00+01:00")
    offers = {o.service: o for o in resolve(catalog, ["hackathon-2026"], during)}
    assert set(offers) == {"jupyter-python", "rstudio", "vscode-python"}
    assert offers["jupyter-python"].options["cpu"].max == 2
    assert offers["jupyter-python"].options["git_repository"].editable is False
    assert resolve(catalog, ["hackathon-2026"], datetime.fromisoformat("2026-12-03T18:00:00+01:00")) == []
    assert resolve(catalog, ["hackathon-2026-orga"], during) == [], "organisers are not participants"
    # a datalab user in the event gets the event's narrower bounds (its list sorts first)
    both = {o.service: o for o in resolve(catalog, ["datalab-users", "hackathon-2026"], during)}
    assert both["jupyter-python"].list_name == "00-hackathon-2026"
    assert both["jupyter-r"].list_name == "default"


def test_pre_puller_pulls_the_catalogs_default_images(hub_catalog):
    values, config, pod, catalog_dir = hub_catalog
    catalog = load_catalog(pod.host(catalog_dir))
    pulled = {f"{values['singleuser']['image']['name']}:{values['singleuser']['image']['tag']}"}
    pulled |= {f"{i['name']}:{i['tag']}" for i in values["prePuller"]["extraImages"].values()}
    assert values["prePuller"]["hook"]["enabled"] and values["prePuller"]["continuous"]["enabled"]
    for offers in catalog.offers.values():
        for offer in offers:
            if offer.node_selector:
                continue  # GPU images: pulled on the GPU nodes only (values.yaml says why)
            assert offer.options["image"].default in pulled, f"{offer.service}: default image not pre-pulled"
            if offer.options["postgres"].allowed:
                assert offer.postgres_image in pulled


def test_hub_image_is_our_version_from_the_catalogs_registry(deployment):
    import tomllib

    values, _, _ = deployment
    version = tomllib.loads((chart.REPO / "pyproject.toml").read_text())["project"]["version"]
    registry = yaml.safe_load((chart.REPO / "profiles" / "catalog.yaml").read_text())["registry"]
    assert values["hub"]["image"] == {
        **values["hub"]["image"],
        "name": f"{registry}/datalab-hub",
        "tag": version,
    }


def test_network_policy_lets_sessions_reach_hub_s3_and_vault_only(deployment):
    values, _, _ = deployment
    policy = values["singleuser"]["networkPolicy"]
    assert policy["enabled"] and values["hub"]["networkPolicy"]["enabled"]
    rules = policy["egressAllowRules"]
    # no pod, node or service of the cluster (other users' sessions included), no cloud metadata
    assert rules["privateIPs"] is False and rules["cloudMetadataServer"] is False
    assert policy["ingress"] == [] and policy["allowedIngressPorts"] == []
    assert policy["interNamespaceAccessLabels"] == "ignore"
    ports = {(p["port"], p["protocol"]) for rule in policy["egress"] for p in rule["ports"]}
    assert ports == {(9000, "TCP"), (8200, "TCP")}, "in-cluster S3 (MinIO) and Vault only"
    # the chart lets pods with this label reach the hub; the culler's/proxy's label is not given out
    assert values["singleuser"]["extraLabels"]["hub.jupyter.org/network-access-hub"] == "true"


# ---- the pods the configured spawner creates -----------------------------------------------------------
SERVICES = ["jupyter-python", "jupyter-r", "rstudio", "vscode-python", "jupyter-python-gpu"]


@pytest.mark.parametrize("service", SERVICES)
async def test_pods_from_the_chart_configuration(service, hub_app, hub_catalog):
    import kubernetes_validate

    from spawner.kube.offline import build_manifests, make_spawner, offline_kube_config

    values, config, pod, catalog_dir = hub_catalog
    config = copy.deepcopy(config)  # the hub pod's catalog path, as laid out on this machine
    config.CatalogSpawner.catalog_dir = str(pod.host(catalog_dir))
    with mock.patch.dict(os.environ, pod.env), offline_kube_config():
        spawner = make_spawner(
            username="alice",
            groups=["datalab-users", "datalab-gpu"],
            server_name="work",
            user_options={"service": service, "postgres": True},
            config=config,
            spawner_class=hub_app.spawner_class,
        )
        from spawner.plan import SessionCredentials

        async def no_credentials():
            return SessionCredentials()

        spawner.session_credentials = no_credentials
        m = await build_manifests(spawner)
    for manifest in (m.pod, m.pvc):
        kubernetes_validate.validate(manifest, "1.33", strict=True)
    spec = m.pod["spec"]
    main = spec["containers"][0]
    homes = [vm for vm in main["volumeMounts"] if vm["mountPath"] == "/home/jovyan"]
    assert len(homes) == 1, "exactly one home volume (the spawner's own PVC)"
    assert m.pvc and m.pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    # docs/operate.md (backups) names the homes `claim-<user>--<server>`
    assert m.pvc["metadata"]["name"] == "claim-alice--work"
    assert "`claim-<user>--<server>`" in (chart.REPO / "docs" / "operate.md").read_text()
    labels = m.pod["metadata"]["labels"]
    assert labels["hub.jupyter.org/network-access-hub"] == "true", "the NetworkPolicy lets it reach the hub"
    assert labels["datalab.io/service"] == service
    assert "hub.jupyter.org/network-access-singleuser" not in labels, "sessions cannot reach other sessions"
    for c in spec.get("initContainers", []) + spec["containers"]:
        assert not (c.get("securityContext") or {}).get("privileged"), f"{c['name']} is privileged"
    run_as = (main.get("securityContext") or {}).get(
        "runAsUser", spec.get("securityContext", {}).get("runAsUser")
    )
    assert run_as == 1000
    assert main["image"].startswith("registry.example.org/datalab/")
    assert spec.get("schedulerName") == "user-scheduler", 'the chart names it with fullnameOverride: ""'
