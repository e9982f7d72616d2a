"""The hackathon pages in headless Chromium (Debian's /usr/bin/chromium through Playwright): the spawn
form's "Copy launch link" and the prefilled form it leads to, a tampered link, the organiser page's stop
button, the share page's share and revoke. Screenshots go to test-artifacts/pages/ (gitignored)."""

from __future__ import annotations

import re

import pytest

from tests.hub.pages.support import pages_hub, shot, stop_all
from tests.support.browser import logins, require_chromium

pytestmark = pytest.mark.e2e

require_chromium()


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with pages_hub(tmp_path_factory.mktemp("pages")) as handle:
        yield handle


@pytest.fixture
def login(hub, chromium):
    with logins(chromium, hub.url, width=1200) as as_user:
        yield as_user
    stop_all(hub)


def test_copy_launch_link_then_the_prefilled_form_and_a_tampered_link(hub, login):
    page = login("ann")
    page.goto(hub.url + "/hub/spawn/ann/event")
    page.check('input.datalab-service[value="jupyter-python"]')
    page.click("#datalab-tab-jupyter-python-resources")  # the card's options are in tabs
    page.fill("#jupyter-python--cpu", "1.5")
    page.click("#datalab-copy-link")
    link = page.input_value("#datalab-link")
    shot(page, "spawn-form-copy-link")
    assert link.startswith(hub.url + "/hub/datalab/launch/event?service=jupyter-python&")
    assert "cpu=1.5" in link and "autostart" not in link
    assert "git_repository=https%3A%2F%2Fgit.example.org%2Fevent-a%2Fstarter.git" in link
    page.check("#datalab-link-autostart")
    assert page.input_value("#datalab-link").endswith("&autostart=1")

    page.goto(link)  # the copied link: the form, prefilled, nothing started
    assert page.is_checked('input.datalab-service[value="jupyter-python"]')
    assert page.input_value("#jupyter-python--cpu") == "1.5"
    assert hub.server("ann", "event") is None
    shot(page, "launch-link-prefilled")
    page.click("#spawn_form button[type=submit]")  # Start
    page.wait_for_url(re.compile(r".*/user/ann/event/.*"))
    assert hub.wait_server("ann", "event")["ready"]

    page.goto(hub.url + "/hub/datalab/launch?service=jupyter-python&cpu=9&autostart=1")
    error = page.text_content(".spawn-error-msg")
    shot(page, "launch-link-tampered")
    assert "This launch link was refused" in error and "cpu" in error and "9" in error
    assert hub.server("ann") is None


def test_organiser_page_stops_a_server(hub, login):
    for user in ("ann", "abe"):
        assert hub.spawn(user, {"service": "jupyter-python"}).status_code in (201, 202)
        hub.wait_server(user)
    page = login("olga")
    page.goto(hub.url + "/hub/home")
    page.click("#datalab-nav-organise")  # organisers find their page in the navigation bar
    page.wait_for_selector("#datalab-organise-index")
    page.click('a[href$="/hub/datalab/organise/event-a"]')
    page.wait_for_selector("#datalab-servers")
    assert page.locator("#datalab-servers tr[data-server]").count() == 2
    assert page.locator("#datalab-participants li").all_text_contents() == ["abe", "ann"]
    shot(page, "organiser-page")
    page.click('tr[data-server="ann/"] button.datalab-stop')
    page.wait_for_selector(".datalab-stopped")
    hub.wait_server("ann", ready=False)  # a slow stop goes on after the page came back
    page.reload()
    assert page.locator("#datalab-servers tr[data-server]").count() == 1
    assert hub.server("abe")["ready"]
    shot(page, "organiser-page-after-stop")


def test_share_page_shares_and_revokes(hub, login):
    assert hub.spawn("ann", {"service": "jupyter-python"}).status_code in (201, 202)
    hub.wait_server("ann")
    page = login("ann")
    page.goto(hub.url + "/hub/home")
    assert page.locator("#datalab-nav-organise").count() == 0  # a participant organises nothing
    page.click("#datalab-nav-share")
    page.wait_for_selector("#datalab-share-form")
    page.fill("#datalab-share-name", "abe")
    page.click("#datalab-share-add")
    page.wait_for_selector('#datalab-shares tr[data-name="abe"]')
    shot(page, "share-page")
    shares = hub.api("GET", "/shares/ann/").json()["items"]
    assert [(s["user"]["name"], s["scopes"]) for s in shares] == [("abe", ["access:servers!server=ann/"])]

    page.select_option("#datalab-share-kind", "user")
    page.fill("#datalab-share-name", "nobody")
    page.click("#datalab-share-add")
    page.wait_for_selector("#datalab-share-error:not(.d-none)")
    assert "No such user: nobody" in page.text_content("#datalab-share-error")

    page.click('#datalab-shares tr[data-name="abe"] button.datalab-revoke')
    page.wait_for_selector(".datalab-no-shares")
    assert hub.api("GET", "/shares/ann/").json()["items"] == []
    shot(page, "share-page-revoked")
