"""CatalogSpawner inside a real JupyterHub (+ proxy), against the Kubernetes API emulator:
the REST API and the spawn form refuse bad options with the status and a message naming the field,
the form offers only the user's services, and a refused spawn creates nothing."""

import re

import pytest

from tests.helm.values import hub_role
from tests.support.hub import run_hub
from tests.support.kube import KubeEmulator

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("catalog-hub")
    with KubeEmulator(fast=True) as kube:
        kube.grant(
            "hub-service-account", hub_role()
        )  # the chart's Role for the hub (templates/hub/rbac.yaml)
        kubeconfig = kube.write_kubeconfig(workdir / "kubeconfig", token="hub-service-account")
        config = f"""
c.JupyterHub.spawner_class = "catalog"
c.KubeSpawner.k8s_api_host = {kube.url!r}
c.KubeSpawner.namespace = "default"
c.JupyterHub.allow_named_servers = True
c.JupyterHub.load_groups = {{
    "datalab-users": {{"users": ["alice"]}},
    "datalab-gpu": {{"users": ["gpu-user"]}},
}}
"""
        with run_hub(workdir, config, env={"KUBECONFIG": str(kubeconfig)}) as handle:
            handle.kube = kube
            yield handle


def nothing_created(kube):
    return not any(kube.objects(kind) for kind in ("pods", "secrets", "persistentvolumeclaims"))


def test_rest_api_refuses_out_of_bounds_options_with_400(hub):
    r = hub.api("POST", "/users/alice/server", json={"service": "jupyter-python", "cpu": 64})
    assert r.status_code == 400, r.text
    message = r.json()["message"]
    assert "cpu" in message and "between 0.5 and 4" in message
    r = hub.api("POST", "/users/alice/servers/other", json={"service": "jupyter-python", "colour": "red"})
    assert r.status_code == 400 and "unknown option 'colour'" in r.json()["message"]
    assert nothing_created(hub.kube)
    assert hub.alive()


def test_rest_api_refuses_a_service_the_groups_do_not_grant_with_403(hub):
    r = hub.api("POST", "/users/alice/servers/gpu", json={"service": "jupyter-python-gpu"})
    assert r.status_code == 403, r.text
    assert "jupyter-python-gpu" in r.json()["message"] and "not offered" in r.json()["message"]
    assert nothing_created(hub.kube)


def test_form_offers_only_the_users_services_and_shows_validation_errors(hub):
    browser = hub.login("alice")
    page = browser.get(hub.url + "/hub/spawn", timeout=30)
    assert page.status_code == 200
    services = re.findall(r'id="datalab-card-([^"]+)"', page.text)
    assert services == ["jupyter-python", "jupyter-r", "rstudio", "vscode-python"]
    assert 'name="jupyter-python--cpu"' in page.text and 'max="4"' in page.text
    form = {
        "_xsrf": browser.cookies.get("_xsrf", ""),
        "service": "jupyter-python",
        "jupyter-python--cpu": "9",
        "jupyter-python--memory": "4",
    }
    r = browser.post(hub.url + "/hub/spawn/alice/formtest", data=form, timeout=60)
    assert r.status_code == 400
    assert "between 0.5 and 4" in r.text and 'data-service="jupyter-python"' in r.text  # the form again
    gpu_page = hub.login("gpu-user").get(hub.url + "/hub/spawn", timeout=30)
    assert re.findall(r'id="datalab-card-([^"]+)"', gpu_page.text) == ["jupyter-python-gpu"]
    assert nothing_created(hub.kube)
