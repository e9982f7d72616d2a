"""Launch links on a running hub: a link prefills the spawn form, or starts a default or named server at
once; a tampered link is refused with the same reason the REST API gives, and nothing starts."""

from __future__ import annotations

import html
import re

import pytest

from tests.hub.pages.support import pages_hub

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with pages_hub(tmp_path_factory.mktemp("launch")) as handle:
        yield handle


def error_message(page: str) -> str:
    match = re.search(r'class="spawn-error-msg[^"]*">(.*?)</p>', page, re.S)
    return html.unescape(match.group(1)).strip() if match else ""


def pod_of(hub, user: str, server: str = "") -> dict:
    pods = [
        p
        for p in hub.emu.objects("pods", label_selector=f"hub.jupyter.org/username={user}")
        if p["metadata"]["labels"].get("hub.jupyter.org/servername", "") == server
    ]
    assert len(pods) == 1, pods
    return pods[0]


def test_a_link_prefills_the_form_and_the_form_starts_with_those_options(hub):
    browser = hub.login("ann")
    page = browser.get(hub.url + "/hub/datalab/launch?service=jupyter-python&cpu=1.5&memory=2", timeout=30)
    assert page.status_code == 200, page.text[:500]
    assert hub.server("ann") is None  # only a form: nothing started
    text = page.text
    assert re.search(r'value="jupyter-python"[^>]*\bchecked', text)
    assert re.search(r'name="jupyter-python--cpu"[^>]*value="1.5"', text)
    assert re.search(r'name="jupyter-python--memory"[^>]*value="2"', text)
    assert "starter.git" in text  # the list's repository stays the default
    action = html.unescape(re.search(r'id="spawn_form"\s+action="([^"]+)"', text).group(1))
    assert action.startswith("/hub/spawn/ann?_xsrf=") or action.startswith("/hub/spawn/ann/?_xsrf=")

    # Submitting the prefilled form (what the Start button sends) starts the server with those values.
    fields = dict(re.findall(r'name="(jupyter-python--[a-z_]+)"[^>]*value="([^"]*)"', text))
    fields["service"] = "jupyter-python"
    r = browser.post(hub.url + action, data=fields, allow_redirects=False, timeout=60)
    assert r.status_code in (302, 303), r.text[:500]
    hub.wait_server("ann")
    limits = pod_of(hub, "ann")["spec"]["containers"][0]["resources"]["limits"]
    assert limits["cpu"] in ("1500m", "1.5") and limits["memory"] == "2Gi"
    assert hub.api("DELETE", "/users/ann/server").status_code in (202, 204)
    hub.wait_server("ann", ready=False)


def test_autostart_link_starts_a_named_server_at_once(hub):
    browser = hub.login("abe")
    url = "/hub/datalab/launch/workshop?service=rstudio&cpu=1&autostart=1"
    r = browser.get(hub.url + url, allow_redirects=False, timeout=60)
    assert r.status_code == 302, r.text[:500]
    assert r.headers["Location"].endswith("/hub/spawn-pending/abe/workshop")
    hub.wait_server("abe", "workshop")
    pod = pod_of(hub, "abe", "workshop")
    assert pod["metadata"]["labels"]["datalab.io/service"] == "rstudio"
    assert pod["metadata"]["labels"]["datalab.io/profile-list"] == "event-a"
    assert float(pod["spec"]["containers"][0]["resources"]["limits"]["cpu"]) == 1
    # the same link again: the server runs, so it just opens it
    again = browser.get(hub.url + url, allow_redirects=False, timeout=30)
    assert again.status_code == 302 and again.headers["Location"].endswith("/user/abe/workshop/")
    assert hub.api("DELETE", "/users/abe/servers/workshop").status_code in (202, 204)
    hub.wait_server("abe", "workshop", ready=False)

    # Embedded in another site's page (an image, a fetch): the form at most, never a start.
    embedded = browser.get(
        hub.url + url, headers={"Sec-Fetch-Mode": "no-cors"}, allow_redirects=False, timeout=30
    )
    assert embedded.status_code == 200 and 'id="spawn_form"' in embedded.text
    assert hub.server("abe", "workshop") is None


TAMPERED = {
    "unknown key": ({"service": "jupyter-python", "colour": "red"}, 400, "unknown option 'colour'"),
    "cpu above the list's max": ({"service": "jupyter-python", "cpu": "3"}, 400, "cpu"),
    "service not granted": ({"service": "vscode-python"}, 403, "vscode-python"),
    "bad git URL": ({"service": "jupyter-python", "git_repository": "ftp://example.org/x.git"}, 400, "git"),
}


@pytest.mark.parametrize("case", list(TAMPERED))
@pytest.mark.parametrize("autostart", [False, True], ids=["form", "autostart"])
def test_a_tampered_link_is_refused_with_the_reason_the_api_gives(hub, case, autostart):
    options, status, fragment = TAMPERED[case]
    browser = hub.login("ann")
    query = dict(options, **({"autostart": "1"} if autostart else {}))
    page = browser.get(hub.url + "/hub/datalab/launch", params=query, allow_redirects=False, timeout=30)
    assert page.status_code == status, page.text[:500]
    shown = error_message(page.text)
    assert shown.startswith("Not started: This launch link was refused: ")
    assert fragment in shown
    api = hub.spawn("ann", options)  # the REST API refuses the same options with the same reason
    assert api.status_code == status
    assert shown.endswith(api.json()["message"])
    assert '<form enctype="multipart/form-data"' in page.text  # the form is still there, with defaults
    assert hub.server("ann") is None
    assert not hub.emu.objects("pods", label_selector="hub.jupyter.org/username=ann")


def test_named_server_names_follow_the_running_jupyterhub(hub):
    """JupyterHub 6 accepts new named servers only with 'safe slug' names (1-30 of a-z, 0-9, '-', starting with
    a letter); 5.5 (the chart's) takes more. Launch links and the REST API follow the version that runs."""
    import jupyterhub

    browser = hub.login("abe")
    ok = browser.get(
        hub.url + "/hub/datalab/launch/team-2?service=rstudio&autostart=1", allow_redirects=False
    )
    assert ok.status_code == 302, ok.text[:500]
    hub.wait_server("abe", "team-2")
    assert hub.api("DELETE", "/users/abe/servers/team-2").status_code in (202, 204)
    hub.wait_server("abe", "team-2", ready=False)
    assert hub.api("DELETE", "/users/abe/servers/team-2", json={"remove": True}).status_code in (202, 204)

    slug_only = int(jupyterhub.__version__.split(".")[0]) >= 6
    page = browser.get(
        hub.url + "/hub/datalab/launch/Team_2?service=rstudio&autostart=1", allow_redirects=False
    )
    api = hub.spawn("abe", {"service": "rstudio"}, name="Team_3")
    if slug_only:
        assert page.status_code == 400 and "Invalid server_name" in page.text, page.text[:500]
        assert api.status_code == 400 and "Invalid server_name" in api.json()["message"]
        assert hub.server("abe", "Team_2") is None and hub.server("abe", "Team_3") is None
    else:
        assert page.status_code == 302 and api.status_code in (201, 202), (page.text[:300], api.text)
        for name in ("Team_2", "Team_3"):
            hub.wait_server("abe", name)
            assert hub.api("DELETE", f"/users/abe/servers/{name}", json={"remove": True}).status_code in (
                202,
                204,
            )
            hub.wait_server("abe", name, ready=False)
