"""End to end on the real KubeSpawner path: real JupyterHub + configurable-http-proxy + CatalogSpawner, talking
HTTP to the Kubernetes API emulator, whose kubelet runs each session's jupyterhub-singleuser as a process."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from spawner.kube.pod import postgres_data_dir
from tests.helm.values import hub_role
from tests.spawner.kube.gitserver import serve_repository
from tests.support.hub import run_hub
from tests.support.kube import KubeEmulator
from tests.support.procs import wait_until

pytestmark = pytest.mark.e2e

HUB_CONFIG = """
import json
import socket
from spawner.kube.spawner import CatalogSpawner
from spawner.plan import SessionCredentials

class E2ESpawner(CatalogSpawner):
    async def resolve_repository_host(self, host):
        # The test's DNS, as a rebinding attacker's would answer: at spawn, this machine's name is 127.0.0.2,
        # an address the operator allows; when the init container clones, the system resolver says 127.0.0.1.
        if host == socket.gethostname():
            return ["127.0.0.2"]
        return await super().resolve_repository_host(host)

    async def session_credentials(self):
        # A stand-in for the broker: a secret file the session must find at $DATALAB_CREDENTIALS_FILE.
        doc = {"s3": None, "vault": None, "warnings": [], "marker": "e2e-secret-" + self.user.name}
        return SessionCredentials(secret_files={"credentials.json": json.dumps(doc)})

c.JupyterHub.spawner_class = E2ESpawner
c.JupyterHub.allow_named_servers = True
c.KubeSpawner.namespace = "default"
c.KubeSpawner.start_timeout = 90
c.KubeSpawner.http_timeout = 90
c.KubeSpawner.k8s_api_request_timeout = 3
c.KubeSpawner.k8s_api_request_retry_timeout = 6
c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 30}
c.CatalogOptionsMixin.git_allowed_hosts = ["localhost", "127.0.0.2"]  # the test's git server, as an operator allows its own
"""


README = "# analysis\nThe repository the session's init container clones.\n"


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    with serve_repository(tmp_path_factory.mktemp("git"), {"README.md": README}) as repository:
        yield repository


@pytest.fixture(scope="module")
def emu(tmp_path_factory, repo):
    # the nodes' images trust the organisation's CA, which signs the git server's certificate
    node_env = {"GIT_SSL_CAINFO": str(repo.ca)}
    with KubeEmulator(workdir=tmp_path_factory.mktemp("kube"), node_env=node_env) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def hub(emu, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("hub")
    # the hub acts under the chart's Role (templates/hub/rbac.yaml): a verb it lacks fails here as in a cluster
    emu.grant("hub-service-account", hub_role())
    kubeconfig = emu.write_kubeconfig(workdir / "kubeconfig", token="hub-service-account")
    with run_hub(workdir, HUB_CONFIG, env={"KUBECONFIG": str(kubeconfig)}) as handle:
        for user in ("alice", "bob", "carol", "dave"):
            assert handle.api("POST", f"/users/{user}").status_code == 201
        r = handle.api("POST", "/groups/datalab-users", json={"users": ["alice", "bob", "carol", "dave"]})
        assert r.status_code in (201, 200), r.text
        yield handle


def user_token(hub, user: str) -> str:
    r = hub.api("POST", f"/users/{user}/tokens", json={"note": "e2e", "expires_in": 3600})
    r.raise_for_status()
    return r.json()["token"]


def pods_of(emu, user: str) -> list[dict]:
    return emu.objects("pods", label_selector=f"hub.jupyter.org/username={user}")


def test_spawn_jupyter_python_creates_pod_secret_pvc_and_is_reachable(hub, emu):
    token = user_token(hub, "alice")
    r = hub.spawn("alice", {"service": "jupyter-python", "cpu": 1, "memory": 2, "storage": 2})
    assert r.status_code in (201, 202), r.text
    hub.wait_server("alice")

    [pod] = pods_of(emu, "alice")
    labels = pod["metadata"]["labels"]
    assert labels["datalab.io/service"] == "jupyter-python"
    assert labels["datalab.io/profile-list"]
    main = pod["spec"]["containers"][0]
    assert main["resources"]["limits"]["memory"] == "2Gi"
    assert float(main["resources"]["limits"]["cpu"]) == 1
    assert "datalab-python" in main["image"]

    secret_name = f"{pod['metadata']['name']}.datalab"
    secret = emu.store.get("secrets", "default", secret_name)
    assert secret["metadata"]["ownerReferences"][0]["uid"] == pod["metadata"]["uid"]
    [pvc] = [
        p
        for p in emu.objects("persistentvolumeclaims")
        if p["metadata"]["name"] in json.dumps(pod["spec"]["volumes"])
    ]
    assert pvc["spec"]["resources"]["requests"]["storage"] == "2Gi"

    # No secret value of the session in clear in the stored pod; the API token comes by secretKeyRef.
    pod_text = json.dumps(pod)
    values = [base64.b64decode(v).decode() for v in secret["data"].values()]
    assert values and not [v for v in values if len(v) >= 8 and v in pod_text]
    env = {e["name"]: e for e in main["env"]}
    assert "value" not in env["JUPYTERHUB_API_TOKEN"]
    assert env["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == secret_name

    # The kubelet ran the session with the Secret resolved: the token by secretKeyRef, the credentials file
    # mounted (remapped to a local directory) where $DATALAB_CREDENTIALS_FILE says.
    runtime = emu.kubelet.runtimes[("default", pod["metadata"]["name"])]
    [process] = runtime.processes.values()
    environ = dict(
        item.split("=", 1)
        for item in Path(f"/proc/{process.pid}/environ").read_text().split("\0")
        if "=" in item
    )
    api_token = base64.b64decode(secret["data"]["jupyterhub-api-token"]).decode()
    assert environ["JUPYTERHUB_API_TOKEN"] == api_token
    credentials = json.loads(Path(environ["DATALAB_CREDENTIALS_FILE"]).read_text())
    assert credentials["marker"] == "e2e-secret-alice"
    assert "e2e-secret-alice" not in pod_text

    status = hub.get("/user/alice/api/status", token=token)
    assert status.status_code == 200, status.text
    assert "started" in status.json()

    assert hub.api("DELETE", "/users/alice/server").status_code in (202, 204)
    hub.wait_server("alice", ready=False)
    wait_until(lambda: not pods_of(emu, "alice"), what="pod deleted")
    wait_until(
        lambda: emu.store.find("secrets", "default", secret_name) is None, what="Secret garbage-collected"
    )
    assert emu.store.find("persistentvolumeclaims", "default", pvc["metadata"]["name"]), (
        "the home PVC is kept"
    )
    assert hub.get("/user/alice/api/status", token=token, allow_redirects=False).status_code != 200


def test_named_servers_run_side_by_side(hub, emu):
    token = user_token(hub, "bob")
    assert hub.spawn("bob", {"service": "jupyter-python"}, name="py").status_code in (201, 202)
    assert hub.spawn("bob", {"service": "jupyter-r"}, name="r").status_code in (201, 202)
    hub.wait_server("bob", "py")
    hub.wait_server("bob", "r")
    services = {p["metadata"]["labels"]["datalab.io/service"] for p in pods_of(emu, "bob")}
    assert services == {"jupyter-python", "jupyter-r"}
    ips = {p["status"]["podIP"] for p in pods_of(emu, "bob")}
    assert len(ips) == 2
    for name in ("py", "r"):
        assert hub.get(f"/user/bob/{name}/api/status", token=token).status_code == 200

    assert hub.api("DELETE", "/users/bob/servers/py").status_code in (202, 204)
    hub.wait_server("bob", "py", ready=False)
    wait_until(lambda: len(pods_of(emu, "bob")) == 1, what="one pod left")
    assert hub.get("/user/bob/r/api/status", token=token).status_code == 200
    assert hub.api("DELETE", "/users/bob/servers/r").status_code in (202, 204)
    hub.wait_server("bob", "r", ready=False)


def test_a_service_not_granted_is_hidden_and_refused(hub, emu):
    page = hub.login("carol").get(hub.url + "/hub/spawn/carol", timeout=30)
    assert page.status_code == 200 and "<form" in page.text
    assert "jupyter-python" in page.text and "jupyter-python-gpu" not in page.text

    r = hub.spawn("carol", {"service": "jupyter-python-gpu"})
    assert r.status_code == 403, r.text
    assert "jupyter-python-gpu" in r.json()["message"]
    assert hub.server("carol") is None
    assert not pods_of(emu, "carol")


def _objects_of(emu, user) -> set[str]:
    return {
        f"{plural}/{o['metadata']['name']}/{o['metadata']['uid']}"
        for plural in ("pods", "secrets", "persistentvolumeclaims")
        for o in emu.objects(plural, label_selector=f"hub.jupyter.org/username={user}")
    }


@pytest.mark.parametrize("fault", ["error", "hang", "secret"])
def test_api_failure_during_spawn_fails_clearly_and_leaves_nothing(hub, emu, fault):
    # What an earlier session left, e.g. its home PVC, which must stay; its pod's Secret is collected
    # shortly after the pod went, so wait for that first.
    wait_until(
        lambda: not any(o.startswith(("pods/", "secrets/")) for o in _objects_of(emu, "carol")),
        30,
        "the earlier session's pod and Secret gone",
    )
    existing = _objects_of(emu, "carol")
    if fault == "error":
        emu.fail("POST", r"/namespaces/default/pods$", count=1)
    elif fault == "secret":  # after the pod exists: the pod must go too
        emu.fail("POST", r"/namespaces/default/secrets$", count=1)
    else:
        rule = emu.hang("POST", r"/namespaces/default/pods$", seconds=20, count=-1)
    try:
        r = hub.spawn("carol", {"service": "jupyter-python", "storage": 1})
    finally:
        if fault == "hang":
            rule.count = 0
    # The REST caller gets a clear reason (slow_spawn_timeout is raised so the failure comes back in the answer).
    assert r.status_code >= 500, r.text
    message = r.json()["message"]
    assert "fault injection" not in message  # the API's body is not relayed
    expected = {
        "error": "answered 500",
        "hang": "Could not create pod default/jupyter-carol",
        "secret": "could not create Secret",
    }[fault]
    assert r.status_code == 503 and "Could not start the session" in message and expected in message, message
    assert hub.alive() and hub.api("GET", "/").status_code == 200
    try:
        wait_until(
            lambda: _objects_of(emu, "carol") == existing, 45, "no Secret/PVC/pod left by the failed spawn"
        )
    except AssertionError as e:
        now = _objects_of(emu, "carol")
        raise AssertionError(f"{e}: left {now - existing}, gone {existing - now}") from None

    # The hub works again once the API server does.
    assert hub.spawn("carol", {"service": "jupyter-python", "storage": 1}).status_code in (201, 202)
    hub.wait_server("carol")
    assert hub.api("DELETE", "/users/carol/server").status_code in (202, 204)
    hub.wait_server("carol", ready=False)


def test_api_server_restart_during_a_session(hub, emu):
    token = user_token(hub, "alice")
    assert hub.spawn("alice", {"service": "jupyter-python"}, name="kept").status_code in (201, 202)
    hub.wait_server("alice", "kept")

    emu.drop_connections(down_seconds=2)

    assert hub.alive()
    assert hub.server("alice", "kept")["ready"]
    assert hub.get("/user/alice/kept/api/status", token=token).status_code == 200
    assert hub.spawn("alice", {"service": "jupyter-python"}, name="after").status_code in (201, 202)
    hub.wait_server("alice", "after")
    assert hub.get("/user/alice/after/api/status", token=token).status_code == 200
    assert "never recovered" not in hub.log()
    for name in ("kept", "after"):
        hub.api("DELETE", f"/users/alice/servers/{name}")
    for name in ("kept", "after"):
        hub.wait_server("alice", name, ready=False)


def _psql(pod: dict, sql: str) -> str:
    """psql as the session would run it (its PG* variables point at the pod's own address here)."""
    env = {"PGHOST": pod["status"]["podIP"], "PGPORT": "5432", "PGUSER": "datalab", "PGDATABASE": "datalab"}
    out = subprocess.run(
        [shutil.which("psql") or "psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
        env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_a_repository_name_rebound_to_this_machine_after_the_check_is_not_cloned(hub, emu, repo):
    """DNS rebinding: the repository's name resolved to an allowed address when the hub checked it, and to
    127.0.0.1 (where the git server listens) when the init container ran. The clone connects to the address
    that was checked, so the repository never reaches the session."""
    machine = socket.gethostname()
    if {i[4][0] for i in socket.getaddrinfo(machine, None, type=socket.SOCK_STREAM)} != {"127.0.0.1"}:
        pytest.skip(f"this machine's name {machine!r} does not resolve to 127.0.0.1 only")
    rebound = repo.url.replace("//localhost:", f"//{machine}:")
    assert hub.spawn("carol", {"service": "jupyter-python", "git_repository": rebound}, name="rebound").ok
    hub.wait_server("carol", "rebound", timeout=150)
    [pod] = pods_of(emu, "carol")
    [clone] = pod["status"]["initContainerStatuses"]
    message = clone["state"]["terminated"]["message"]
    assert message.startswith(f"could not clone {rebound}: ") and "127.0.0.2" in json.dumps(pod), message
    assert hub.api("DELETE", "/users/carol/servers/rebound").status_code in (202, 204)
    hub.wait_server("carol", "rebound", ready=False)
    wait_until(lambda: not pods_of(emu, "carol"), what="pod deleted")


@pytest.mark.skipif(shutil.which("psql") is None, reason="Debian's postgresql client is not installed")
def test_clone_and_database_run_in_kubelet_order_and_the_database_survives_stop_and_start(hub, emu, repo):
    options = {"service": "jupyter-python", "postgres": True, "git_repository": repo.url, "storage": 1}
    assert hub.spawn("dave", options, name="db").status_code in (201, 202)
    hub.wait_server("dave", "db", timeout=150)
    [pod] = pods_of(emu, "dave")
    claim = next(v for v in pod["spec"]["volumes"] if "persistentVolumeClaim" in v)["persistentVolumeClaim"]
    home = emu.workdir / "pvcs" / "default" / claim["claimName"]
    # the init container cloned the repository into the home before the session started, and said so
    assert (home / "analysis" / "README.md").read_text() == README
    [clone] = pod["status"]["initContainerStatuses"]
    assert clone["state"]["terminated"]["message"] == f"cloned {repo.url} into ~/analysis"
    runtime = emu.kubelet.runtimes[("default", pod["metadata"]["name"])]
    assert set(runtime.processes) == {"notebook", "postgres"}, "the sidecar runs next to the session"
    assert pod["status"]["containerStatuses"][1]["ready"], "ready once pg_isready answered"

    _psql(pod, "CREATE TABLE results (city text, visits int); INSERT INTO results VALUES ('Lyon', 42)")
    data = home / postgres_data_dir("", "db").lstrip("/")
    assert (data / "PG_VERSION").is_file(), "the database lives in the home, where the form says"

    assert hub.api("DELETE", "/users/dave/servers/db").status_code in (202, 204)
    hub.wait_server("dave", "db", ready=False)
    wait_until(lambda: not pods_of(emu, "dave"), what="pod deleted")
    assert hub.spawn("dave", options, name="db").status_code in (201, 202)
    hub.wait_server("dave", "db", timeout=150)
    [again] = pods_of(emu, "dave")
    assert again["metadata"]["uid"] != pod["metadata"]["uid"]
    message = again["status"]["initContainerStatuses"][0]["state"]["terminated"]["message"]
    assert message == "analysis is already in your home: not cloned again"
    assert _psql(again, "SELECT city, visits FROM results") == "Lyon|42", "the table survived stop and start"
    assert hub.api("DELETE", "/users/dave/servers/db").status_code in (202, 204)
    hub.wait_server("dave", "db", ready=False)
