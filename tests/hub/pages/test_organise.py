"""The organiser page on a running hub: an organiser sees and stops only the servers started from their
list (403 for another list, on the page and through the REST API), stops one or all, exports CSV, sees
the refused changes to their list's file, and the roles follow a catalog reload."""

from __future__ import annotations

import csv
import io
import re
import sqlite3

import pytest

from tests.hub.pages.support import EVENT_B, pages_hub, stop_all
from tests.support.procs import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with pages_hub(tmp_path_factory.mktemp("organise")) as handle:
        yield handle


@pytest.fixture
def servers(hub):
    """ann (default + named `two`) and abe from event-a, ben from event-b; all stopped afterwards."""
    started = [
        ("ann", "", {"service": "jupyter-python", "cpu": 2, "memory": 3}),
        ("ann", "two", {"service": "rstudio"}),
        ("abe", "", {"service": "jupyter-python"}),
        ("ben", "", {"service": "jupyter-python"}),
    ]
    for user, name, options in started:
        r = hub.spawn(user, options, name)
        assert r.status_code in (201, 202), r.text
    for user, name, _ in started:
        hub.wait_server(user, name)
    yield
    stop_all(hub)


def user_token(hub, user: str) -> str:
    r = hub.api("POST", f"/users/{user}/tokens", json={"note": "organise test", "expires_in": 600})
    r.raise_for_status()
    return r.json()["token"]


def post(browser, hub, path: str, data: dict):
    data = dict(data, _xsrf=browser.cookies.get("_xsrf", path="/hub/"))
    return browser.post(hub.url + path, data=data, allow_redirects=False, timeout=60)


def shown_servers(page: str) -> list[str]:
    return re.findall(r'<tr data-server="([^"]*)"', page)


def test_an_organiser_of_one_list_cannot_see_or_stop_another_lists_servers(hub, servers):
    olga = hub.login("olga")  # organises event-a
    page = olga.get(hub.url + "/hub/datalab/organise/event-a", timeout=30)
    assert page.status_code == 200
    assert sorted(shown_servers(page.text)) == ["abe/", "ann/", "ann/two"]
    assert "ben" not in page.text

    assert olga.get(hub.url + "/hub/datalab/organise/event-b", timeout=30).status_code == 403
    assert olga.get(hub.url + "/hub/datalab/organise/event-b/servers.csv", timeout=30).status_code == 403
    assert post(olga, hub, "/hub/datalab/organise/event-b/stop", {"all": "1"}).status_code == 403
    # ben's server through event-a's page: not started from event-a
    refused = post(olga, hub, "/hub/datalab/organise/event-a/stop", {"server": "ben/"})
    assert refused.status_code == 403
    # and through the REST API with olga's own token: JupyterHub's scopes refuse it
    token = user_token(hub, "olga")
    assert hub.api("DELETE", "/users/ben/server", token=token).status_code in (403, 404)
    # (every user may read other users' *names*, for sharing; not their servers)
    assert "servers" not in hub.api("GET", "/users/ben", token=token).json()
    assert hub.server("ben")["ready"]

    # the other organiser, the other way round; a participant is no organiser
    assert hub.login("oscar").get(hub.url + "/hub/datalab/organise/event-a", timeout=30).status_code == 403
    assert hub.login("ann").get(hub.url + "/hub/datalab/organise", timeout=30).status_code == 403
    index = olga.get(hub.url + "/hub/datalab/organise", timeout=30)
    assert "/hub/datalab/organise/event-a" in index.text and "/hub/datalab/organise/event-b" not in index.text


def test_the_organiser_role_is_a_jupyterhub_role_filtered_to_the_participants(hub, servers):
    token = user_token(hub, "olga")
    assert hub.api("GET", "/users/ann", token=token).json()["servers"][""]["ready"]
    assert "datalab-organise-event-a" in hub.api("GET", "/groups/event-a-orga").json()["roles"]
    with sqlite3.connect(hub.workdir / "jupyterhub.sqlite") as db:
        [(scopes,)] = db.execute(
            "SELECT scopes FROM roles WHERE name = 'datalab-organise-event-a'"
        ).fetchall()
    assert "delete:servers!group=event-a" in scopes and "event-b" not in scopes


def test_stop_one_then_all_and_export_csv(hub, servers):
    olga = hub.login("olga")
    export = olga.get(hub.url + "/hub/datalab/organise/event-a/servers.csv", timeout=30)
    assert export.status_code == 200 and export.headers["Content-Type"].startswith("text/csv")
    rows = {f"{r['user']}/{r['server']}": r for r in csv.DictReader(io.StringIO(export.text))}
    assert sorted(rows) == ["abe/", "ann/", "ann/two"]
    assert rows["ann/"]["service"] == "jupyter-python" and rows["ann/two"]["service"] == "rstudio"
    assert (rows["ann/"]["cpu"], rows["ann/"]["memory_gib"], rows["ann/"]["gpu"]) == ("2", "3", "0")
    assert rows["ann/"]["status"] == "running" and rows["ann/"]["started"].endswith("Z")
    assert rows["ann/"]["last_activity"]

    r = post(olga, hub, "/hub/datalab/organise/event-a/stop", {"server": "ann/two"})
    assert r.status_code == 302 and r.headers["Location"].endswith("?stopped=1")
    hub.wait_server("ann", "two", ready=False)  # a slow stop goes on after the page came back
    page = olga.get(hub.url + "/hub/datalab/organise/event-a", timeout=30).text
    assert sorted(shown_servers(page)) == ["abe/", "ann/"]

    r = post(olga, hub, "/hub/datalab/organise/event-a/stop", {"all": "1"})
    assert r.status_code == 302 and r.headers["Location"].endswith("?stopped=2")
    hub.wait_server("ann", ready=False)
    hub.wait_server("abe", ready=False)
    assert hub.server("ben")["ready"]  # another list's server is untouched
    page = olga.get(hub.url + "/hub/datalab/organise/event-a?stopped=2", timeout=30).text
    assert shown_servers(page) == [] and "Stopped 2 server(s)" in page
    assert not hub.emu.objects("pods", label_selector="datalab.io/profile-list=event-a")


def test_refused_changes_are_shown_and_roles_follow_a_reload(hub):
    olga = hub.login("olga")
    lists = hub.catalog / "lists"
    original_a = (lists / "event-a.yaml").read_text()
    try:
        (lists / "event-a.yaml").write_text(original_a.replace("cpu: {max: 2}", "cpu: {max: 99}"))
        line = f"{lists / 'event-a.yaml'}:6: cpu: max 99 is above"
        wait_until(lambda: line in hub.log(), what="the refused change is logged")
        page = olga.get(hub.url + "/hub/datalab/organise/event-a", timeout=30).text
        assert "datalab-list-problems" in page and line in page
        assert line not in hub.login("oscar").get(hub.url + "/hub/home", timeout=30).text
        (lists / "event-a.yaml").write_text(original_a)

        # event-b gets olga's group as organisers too: after the reload her role lets her in
        (lists / "event-b.yaml").write_text(EVENT_B.replace("[event-b-orga]", "[event-b-orga, event-a-orga]"))
        token = user_token(hub, "olga")
        wait_until(
            lambda: "servers" in hub.api("GET", "/users/ben", token=token).json(),
            what="the organiser role of event-b reaches olga",
        )
        assert olga.get(hub.url + "/hub/datalab/organise/event-b", timeout=30).status_code == 200
    finally:
        (lists / "event-a.yaml").write_text(original_a)
        (lists / "event-b.yaml").write_text(EVENT_B)
    token = user_token(hub, "olga")
    wait_until(lambda: "servers" not in hub.api("GET", "/users/ben", token=token).json(), what="role removed")
    assert olga.get(hub.url + "/hub/datalab/organise/event-b", timeout=30).status_code == 403
