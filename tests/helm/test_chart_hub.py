"""A hub started the way the chart's hub pod starts it: the chart's own jupyterhub_config.py over our merged
values, the Deployment's environment, the hub's Role, then a spawn through it onto the Kubernetes emulator.

alice signs in through the development IdP (hub/idp, its groups synced). Test-only values, each for a reason
a cluster does not have here: 127.0.0.1 addresses (no cluster DNS for `hub`, `proxy-api`, the IdP), an admin
service token (the test reads the REST API), credentials off (no S3 or Vault here: tests/hub covers them).
"""

from __future__ import annotations

import secrets

import pytest
import requests

from tests.helm import values as chart
from tests.helm.hubpod import ETC, HubPod, can_run
from tests.support.hub import _proxy
from tests.support.idp import login, node_available, run_idp
from tests.support.kube import KubeEmulator
from tests.support.procs import VENV_BIN, ManagedProcess, free_port, wait_for_http, wait_for_port, wait_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not chart.chart_available(), reason=f"the chart's files are not at {chart.CHART_DIR}"),
    pytest.mark.skipif(can_run() is not None, reason=str(can_run())),
    pytest.mark.skipif(not node_available(), reason="the development IdP needs Node and its npm packages"),
]
CLIENT_SECRET = secrets.token_urlsafe(24)
SECRETS = {"datalab-hub": {"oidc-client-secret": CLIENT_SECRET, "crypt-key": "c" * 64}}
USERS = {"alice": {"password": "alice-pw", "groups": ["datalab-users"], "email": "alice@example.org"}}
HUB_TOKEN = "hub-service-account-token"


class ChartHub:
    def __init__(self, url: str, admin_token: str, emu: KubeEmulator, pod: HubPod, hub: ManagedProcess):
        self.url, self.admin_token, self.emu, self.pod, self.hub = url, admin_token, emu, pod, hub

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"token {self.admin_token}"}
        return requests.request(method, f"{self.url}/hub/api{path}", headers=headers, timeout=60, **kwargs)

    def server(self, user: str, name: str = "") -> dict | None:
        return self.api("GET", f"/users/{user}").json().get("servers", {}).get(name)


@pytest.fixture(scope="module")
def chart_hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("chart-hub")
    hub_port, api_port, public_port = free_port(), free_port(), free_port()
    callback = f"http://127.0.0.1:{public_port}/hub/oauth_callback"
    client = {"client_id": "datalab-hub", "client_secret": CLIENT_SECRET, "redirect_uris": [callback]}
    with run_idp(root / "idp", users=USERS, clients=[client]) as idp:
        yield from _chart_hub(root, idp.issuer, callback, hub_port, api_port, public_port)


def _chart_hub(root, issuer, callback, hub_port, api_port, public_port):
    admin_token = secrets.token_hex(32)
    hub_url = f"http://127.0.0.1:{hub_port}"
    overlay = {
        "hub": {
            "config": {
                "JupyterHub": {
                    "hub_bind_url": hub_url,
                    "hub_connect_url": hub_url,
                    # The values put users' servers on their own hosts under datalab.example.org
                    # (tests/hub/credentials/test_shared_page.py runs that); here all is on 127.0.0.1.
                    "subdomain_host": "",
                },
                "DatalabOAuthenticator": {"oidc_issuer": issuer, "oauth_callback_url": callback},
                "ConfigurableHTTPProxy": {"api_url": f"http://127.0.0.1:{api_port}"},
                "CredentialBroker": {"s3_mode": "off", "vault_mode": "off"},
                "KubeSpawner": {"http_timeout": 120},
            },
            "services": {"test-admin": {"apiToken": admin_token}},
            "loadRoles": {
                "test-admin": {"scopes": ["admin:users", "admin:servers"], "services": ["test-admin"]}
            },
        },
        "singleuser": {"startTimeout": 180},
    }
    values = chart.merged_values(chart.VALUES, overlay=overlay)
    assert chart.schema_errors(values) == []
    configmaps = {name: chart.configmap(name) for name in chart.CONFIGMAP_COMMANDS}
    services = {"hub": hub_port, "proxy-api": api_port, "proxy-public": public_port}
    pod = HubPod.lay_out(values, SECRETS, configmaps, root / "pod", services=services)
    with KubeEmulator(workdir=root / "kube", namespaces=(chart.NAMESPACE,)) as emu:
        emu.grant(HUB_TOKEN, chart.hub_role(), namespace=chart.NAMESPACE)
        kubeconfig = emu.write_kubeconfig(root / "kubeconfig", chart.NAMESPACE, token=HUB_TOKEN)
        token = pod.secret["hub.config.ConfigurableHTTPProxy.auth_token"]
        proxy = _proxy(root, public_port, api_port, hub_port, token)
        srv = root / "srv"
        srv.mkdir()
        hub = None
        try:
            wait_for_port("127.0.0.1", api_port, timeout=60, proc=proxy)
            argv = [VENV_BIN / "jupyterhub", "--config", f"{ETC}/jupyterhub_config.py", "--upgrade-db"]
            hub = ManagedProcess(
                pod.command([str(a) for a in argv]),
                log_path=root / "hub.log",
                env=pod.process_env({"KUBECONFIG": str(kubeconfig)}),
                cwd=srv,
                name="jupyterhub",
            )
            url = f"http://127.0.0.1:{public_port}"
            wait_for_http(f"{url}/hub/health", timeout=120, proc=hub)
            yield ChartHub(url, admin_token, emu, pod, hub)
        finally:
            if hub is not None:
                hub.stop(timeout=30)
            proxy.stop()


def test_the_chart_configured_hub_spawns_a_session_on_the_cluster(chart_hub):
    hub = chart_hub
    assert "Loading extra config: 10-datalab" in hub.hub.log(), "the chart ran our hub.extraConfig"
    # the hub watches its namespace's pods and events from its start (spawner/kube/watchers.py), not from
    # the first spawn; that spawn uses the same watcher (KubeSpawner logs this line once per watcher)
    watching = f"Watching pods and events in namespace {chart.NAMESPACE} since hub start"
    wait_until(lambda: watching in hub.hub.log(), timeout=30, what="the hub watching pods and events")
    browser = requests.Session()
    login(browser, "alice", USERS["alice"]["password"], start_url=f"{hub.url}/hub/oauth_login")
    assert hub.api("GET", "/users/alice").json()["groups"] == ["datalab-users"], "groups from the IdP"
    form = {"_xsrf": browser.cookies.get("_xsrf", ""), "service": "jupyter-python"}
    form.update({"jupyter-python--cpu": "1", "jupyter-python--memory": "2"})
    r = browser.post(f"{hub.url}/hub/spawn/alice", data=form, timeout=120)
    assert r.status_code == 200, r.text[:2000]
    wait_until(lambda: (hub.server("alice") or {}).get("ready"), timeout=180, what="alice's server ready")

    [pod] = hub.emu.objects(
        "pods", namespace=chart.NAMESPACE, label_selector="hub.jupyter.org/username=alice"
    )
    assert hub.hub.log().count("watching for pods with label selector") == 1
    labels = pod["metadata"]["labels"]
    # set by the chart's jupyterhub_config.py (common labels), then ours (catalog) and our values (extraLabels)
    assert labels["helm.sh/chart"] == "jupyterhub-4.4.0" and labels["app.kubernetes.io/instance"] == "datalab"
    assert labels["datalab.io/service"] == "jupyter-python"
    assert labels["hub.jupyter.org/network-access-hub"] == "true"
    assert pod["spec"]["schedulerName"] == "user-scheduler"
    assert pod["spec"]["securityContext"]["fsGroup"] == 100
    # the session answers alice's browser through the proxy route the hub added, after the hub's OAuth
    lab = browser.get(f"{hub.url}/user/alice/lab", timeout=60)
    assert lab.status_code == 200 and lab.url.endswith("/user/alice/lab"), lab.url
    assert "jupyter-config-data" in lab.text, "JupyterLab's page, from the session"

    assert hub.api("DELETE", "/users/alice/server").status_code in (202, 204)
    wait_until(lambda: hub.server("alice") is None, timeout=90, what="alice's server stopped")
    wait_until(
        lambda: not hub.emu.objects("pods", namespace=chart.NAMESPACE), timeout=60, what="the pod deleted"
    )
    # the Secret goes with its owner, by garbage collection: a moment after the pod, as on a real cluster
    wait_until(
        lambda: not hub.emu.objects("secrets", namespace=chart.NAMESPACE),
        timeout=30,
        what="the Secret deleted",
    )
