"""helm-values/ against the Zero to JupyterHub chart 4.4.0: schema, the hub configuration it yields, the
catalog the hub reads, and the pods the configured spawner would create.

The chart's defaults, schema and hub configuration come from ../shared/z2jh-4.4.0 (present in CI): the
chart's own jupyterhub_config.py is loaded in the hub pod's file layout (tests/helm/hubpod.py).
"""

from __future__ import annotations

import json
import os
from unittest import mock

import pytest
from traitlets import HasTraits

from tests.helm import values as chart
from tests.helm.hubpod import HubPod, can_run

pytestmark = pytest.mark.skipif(
    not chart.chart_available(), reason=f"the chart's files are not at {chart.CHART_DIR}"
)
needs_pod = pytest.mark.skipif(can_run() is not None, reason=str(can_run()))


def test_every_values_file_is_in_a_tested_combination():
    tested = {p.name for files in chart.COMBINATIONS.values() for p in files}
    assert tested == {p.name for p in chart.VALUES_DIR.glob("*.yaml")}


def test_helm_merge_follows_helm_rules():
    base = {"a": {"b": 1, "c": [1, 2], "d": {"e": 1}}, "f": 1}
    merged = chart.helm_merge(base, {"a": {"c": [3], "d": None, "g": 2}, "f": {"x": 1}})
    assert merged == {"a": {"b": 1, "c": [3], "g": 2}, "f": {"x": 1}}
    assert base["a"]["d"] == {"e": 1}, "the defaults are not modified"


@pytest.mark.parametrize("files", chart.COMBINATIONS.values(), ids=chart.COMBINATIONS.keys())
def test_values_pass_the_chart_schema(files):
    assert chart.schema_errors(chart.merged_values(*files)) == []


def test_the_schema_check_catches_a_typo():
    values = chart.merged_values(chart.VALUES)
    values["hub"]["allowNamedServer"] = True
    assert any("allowNamedServer" in e for e in chart.schema_errors(values))


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
    assert [k.hex() for k in keeper.keys] == chart.SECRETS["datalab-hub"]["crypt-key"].split(";")


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
    pod = HubPod.lay_out(values, chart.SECRETS, configmaps, tmp_path)
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
    with mock.patch.dict(os.environ, env):
        auth = DatalabOAuthenticator(config=_without_discovery(config))
        assert auth.client_secret == chart.SECRETS["datalab-hub"]["oidc-client-secret"]
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
