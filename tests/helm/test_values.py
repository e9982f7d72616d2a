"""helm-values/ against the Zero to JupyterHub chart 4.4.0: schema, the hub configuration it yields, the
catalog the hub reads, and the pods the configured spawner would create.

The chart's defaults, schema and hub configuration come from ../shared/z2jh-4.4.0 (present in CI): the
chart's own jupyterhub_config.py is loaded in the hub pod's file layout (tests/helm/hubpod.py).
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from traitlets import HasTraits

from spawner.catalog import load_catalog, resolve
from tests.helm import values as chart
from tests.helm.hubpod import HubPod, can_run

pytestmark = pytest.mark.skipif(
    not chart.chart_available(), reason=f"the chart's files are not at {chart.CHART_DIR}"
)
needs_pod = pytest.mark.skipif(can_run() is not None, reason=str(can_run()))

SECRETS = {
    "datalab-hub": {
        "oidc-client-secret": "oidc-client-secret-for-tests",
        "crypt-key": "a" * 64 + ";" + "b" * 64,
    }
}
COMBINATIONS = {
    "values": [chart.VALUES],
    "values+hackathon": [chart.VALUES, chart.HACKATHON],
    "hackathon-alone": [chart.HACKATHON],
}
CONFIGMAP_NAMES = ("datalab-catalog-services", "datalab-catalog-icons")


@pytest.fixture(scope="module")
def configmaps():
    return {name: chart.configmap(name) for name in CONFIGMAP_NAMES}


def test_every_values_file_is_in_a_tested_combination():
    tested = {p.name for files in COMBINATIONS.values() for p in files}
    assert tested == {p.name for p in chart.VALUES_DIR.glob("*.yaml")}


def test_helm_merge_follows_helm_rules():
    base = {"a": {"b": 1, "c": [1, 2], "d": {"e": 1}}, "f": 1}
    merged = chart.helm_merge(base, {"a": {"c": [3], "d": None, "g": 2}, "f": {"x": 1}})
    assert merged == {"a": {"b": 1, "c": [3], "g": 2}, "f": {"x": 1}}
    assert base["a"]["d"] == {"e": 1}, "the defaults are not modified"


@pytest.mark.parametrize("files", COMBINATIONS.values(), ids=COMBINATIONS.keys())
def test_values_pass_the_chart_schema(files):
    assert chart.schema_errors(chart.merged_values(*files)) == []


def test_the_schema_check_catches_a_typo():
    values = chart.merged_values(chart.VALUES)
    values["hub"]["allowNamedServer"] = True
    assert any("allowNamedServer" in e for e in chart.schema_errors(values))


@contextmanager
def environment(env):
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module", params=["values", "values+hackathon"])
def hub_catalog(request, configmaps, tmp_path_factory):
    """The hub pod as the chart makes it: its files, and the config the chart's jupyterhub_config.py loads."""
    if reason := can_run():
        pytest.skip(reason)
    values = chart.merged_values(*COMBINATIONS[request.param])
    pod = HubPod.lay_out(values, SECRETS, configmaps, tmp_path_factory.mktemp("hubpod"))
    config = pod.load_config()
    return values, config, pod, config.CatalogSpawner.catalog_dir


@pytest.fixture(scope="module")
def deployment(hub_catalog):
    values, config, pod, _ = hub_catalog
    return values, config, pod.env


@pytest.fixture(scope="module")
def hub_app(deployment):
    from jupyterhub.app import JupyterHub

    _, config, _ = deployment
    return JupyterHub(config=config)


def test_jupyterhub_gets_our_spawner_and_authenticator(hub_app):
    from hub.auth import DatalabOAuthenticator
    from spawner import CatalogSpawner

    assert hub_app.spawner_class is CatalogSpawner
    assert hub_app.authenticator_class is DatalabOAuthenticator
    assert hub_app.allow_named_servers is True
    assert hub_app.named_server_limit_per_user == 5


def test_renewal_endpoint_roles_scopes_and_services(hub_app, deployment):
    from hub.credentials.api import SCOPE, CredentialsHandler

    _, config, _ = deployment
    assert [r"/api/datalab/credentials", CredentialsHandler] in [list(h) for h in hub_app.extra_handlers]
    assert SCOPE in hub_app.custom_scopes
    roles = {r["name"]: r for r in hub_app.load_roles}
    assert f"{SCOPE}!user" in roles["user"]["scopes"] and "self" in roles["user"]["scopes"]
    assert f"{SCOPE}!user" in config.Spawner.server_token_scopes
    # the chart's culler and our monitoring service keep their roles next to ours
    assert "delete:servers" in roles["jupyterhub-idle-culler"]["scopes"]
    assert roles["prometheus"]["scopes"] == ["read:metrics"]
    services = {s["name"]: s for s in hub_app.services}
    assert set(services) == {"jupyterhub-idle-culler", "prometheus"}
    assert services["prometheus"]["api_token"], "the chart gives the service its token"


def test_idle_culler_stops_but_keeps_named_servers(hub_app):
    cmd = next(s for s in hub_app.services if s["name"] == "jupyterhub-idle-culler")["command"]
    assert "--timeout=3600" in cmd and "--cull-every=300" in cmd
    assert "--remove-named-servers" not in cmd and "--cull-users" not in cmd


def test_auth_state_keys_come_from_our_secret_not_the_chart(hub_app):
    from jupyterhub.crypto import CryptKeeper

    keeper = CryptKeeper(config=hub_app.config)
    assert [k.hex() for k in keeper.keys] == SECRETS["datalab-hub"]["crypt-key"].split(";")


def test_organisers_of_a_list_get_its_role(hub_app, hub_catalog):
    values, *_ = hub_catalog
    roles = {r["name"]: r for r in hub_app.load_roles}
    if "datalab-list-hackathon-2026" not in values["hub"]["extraFiles"]:
        assert not [r for r in roles if r.startswith("datalab-organise-")]
        return
    role = roles["datalab-organise-00-hackathon-2026"]
    assert role["groups"] == ["hackathon-2026-orga"]
    assert "delete:servers!group=hackathon-2026" in role["scopes"]  # stop, not start (hub.pages.roles)


@needs_pod
def test_an_invalid_catalog_stops_the_hub(configmaps, tmp_path):
    values = chart.merged_values(chart.VALUES)
    values["hub"]["extraFiles"]["datalab-list-default"]["data"]["services"]["no-such-service"] = {}
    pod = HubPod.lay_out(values, SECRETS, configmaps, tmp_path)
    with pytest.raises(SystemExit, match="the service catalog in"):
        pod.load_config()


def test_without_the_secret_the_hub_pod_does_not_start(configmaps, tmp_path):
    values = chart.merged_values(chart.VALUES)
    with pytest.raises(LookupError, match="datalab-hub"):
        HubPod.lay_out(values, {}, configmaps, tmp_path)


def test_oidc_client_secret_comes_from_the_environment(deployment):
    from hub.auth import DatalabOAuthenticator

    values, config, env = deployment
    assert "client_secret" not in config.DatalabOAuthenticator, "no secret in the values"
    with environment(env):
        auth = DatalabOAuthenticator(config=_without_discovery(config))
        assert auth.client_secret == SECRETS["datalab-hub"]["oidc-client-secret"]
    assert auth.enable_auth_state and auth.manage_groups
    assert auth.oauth_callback_url == "https://datalab.example.org/hub/oauth_callback"


def _without_discovery(config):
    """Our config minus the issuer (its discovery would need the real Keycloak)."""
    from traitlets.config import Config

    copy = Config(json.loads(json.dumps(config, default=str)))
    copy.DatalabOAuthenticator.oidc_issuer = ""
    return copy


def _configurables(hub_app):
    from jupyterhub.crypto import CryptKeeper
    from jupyterhub.proxy import ConfigurableHTTPProxy

    from hub.credentials.broker import CredentialBroker
    from hub.projects.settings import Projects

    classes = [type(hub_app), CryptKeeper, ConfigurableHTTPProxy, CredentialBroker, Projects]
    for cls in (hub_app.spawner_class, hub_app.authenticator_class):
        classes += [k for k in cls.mro() if isinstance(k, type) and issubclass(k, HasTraits)]
    return {k.__name__: k for k in classes}


def test_every_configured_setting_exists_and_is_valid(hub_app, deployment):
    _, config, _ = deployment
    classes = _configurables(hub_app)
    for section, settings in config.items():
        assert section in classes, f"hub config section {section} configures nothing"
        traits = classes[section].class_traits(config=True)
        for name in settings:
            assert name in traits, f"{section}.{name} is not a setting of {section}"


def test_broker_settings_are_accepted(deployment):
    from hub.credentials.broker import CredentialBroker

    _, config, _ = deployment
    broker = CredentialBroker(config=config)
    assert broker.enabled and broker.s3_mode == "required"
    env = broker.session_env("alice")
    assert env["DATALAB_S3_BUCKET"] == "user-alice" and env["VAULT_TOP_DIR"] == "users/alice"


def test_projects_come_from_the_keycloak_groups_claim(deployment):
    import base64

    from hub.projects.settings import Projects

    _, config, _ = deployment
    projects = Projects(config=config)
    projects.check()  # what the hub does at start (hub.configure)
    claims = base64.urlsafe_b64encode(json.dumps({"groups": ["datalab-users", "project-Climate"]}).encode())
    [climate], refused = projects.of_token("e30." + claims.decode().rstrip("=") + ".sig")
    assert refused == [] and (climate.bucket, climate.vault_dir) == ("project-climate", "projects/climate")
    assert projects.session_role_arn(climate) == "arn:minio:iam:::role/datalab-project-climate"


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
    with environment(pod.env), offline_kube_config():
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
    import copy

    import kubernetes_validate

    from spawner.kube.offline import build_manifests, make_spawner, offline_kube_config

    values, config, pod, catalog_dir = hub_catalog
    config = copy.deepcopy(config)  # the hub pod's catalog path, as laid out on this machine
    config.CatalogSpawner.catalog_dir = str(pod.host(catalog_dir))
    with environment(pod.env), offline_kube_config():
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
