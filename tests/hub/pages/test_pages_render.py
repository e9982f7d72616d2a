"""The Datalab pages render on the installed JupyterHub (6.1 here, 5.5 in `make test-z2jh`, which has no
browser): the landing page, the catalog, My services with a running server, the progress page, the
admins' Services page and a refused form, each inside JupyterHub's own page (nav bar, dark-mode toggle).
Plain HTTP on a real hub (CatalogSpawner on the Kubernetes emulator); the browser tests do the rest."""

from __future__ import annotations

import re

import pytest
import requests

from tests.hub.pages.support import pages_hub, stop_all

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with pages_hub(tmp_path_factory.mktemp("render")) as handle:
        yield handle
        stop_all(handle)


def jupyterhub_page(text: str) -> None:
    assert 'class="navbar' in text and "jupyterhub-logo" in text  # JupyterHub's page around ours
    assert "darkmode" in text or "data-bs-theme" in text or "theme" in text


def test_landing_catalog_and_a_refused_form(hub):
    anonymous = requests.get(hub.url + "/hub/login", timeout=30)
    assert anonymous.status_code == 200 and 'id="datalab-landing"' in anonymous.text
    assert "A catalog of services" in anonymous.text and 'id="username_input"' in anonymous.text
    jupyterhub_page(anonymous.text)
    browser = hub.login("ann")

    spawn = browser.get(hub.url + "/hub/spawn", timeout=30)
    assert spawn.status_code == 200
    jupyterhub_page(spawn.text)
    assert re.findall(r'id="datalab-card-([^"]+)"', spawn.text) == ["jupyter-python", "rstudio"]
    assert 'role="tab"' in spawn.text and "Start a service" in spawn.text

    form = {"_xsrf": browser.cookies.get("_xsrf", ""), "service": "jupyter-python",
            "jupyter-python--cpu": "1.5", "jupyter-python--git_repository": "ftp://example.org/x.git"}  # fmt: skip
    refused = browser.post(hub.url + "/hub/spawn/ann/refused", data=form, timeout=60)
    assert refused.status_code == 400
    assert "SpawnException" not in refused.text
    assert re.search(r'id="jupyter-python--git_repository-error"[^>]*>git_repository', refused.text)
    assert re.search(r'name="jupyter-python--cpu"[^>]*value="1.5"', refused.text)
    assert re.search(r'value="ftp://example.org/x.git"', refused.text)
    assert hub.server("ann", "refused") is None


def test_my_services_progress_and_the_admins_services(hub):
    assert hub.spawn("abe", {"service": "jupyter-python", "cpu": 2}).status_code in (201, 202)
    browser = hub.login("abe")
    pending = browser.get(hub.url + "/hub/spawn-pending/abe", allow_redirects=False, timeout=30)
    if pending.status_code == 200:  # still starting (else it redirects to the running server)
        assert "progress-bar" in pending.text and "Starting your server" in pending.text
    hub.wait_server("abe")
    home = browser.get(hub.url + "/hub/home", timeout=30)
    home.encoding = "utf-8"  # the page says so in its <meta>; JupyterHub 5.5's header does not
    assert home.status_code == 200
    jupyterhub_page(home.text)
    card = home.text[home.text.index('id="datalab-server-default"') :]
    card = card[: card.index("</article>")]
    assert 'data-status="running"' in home.text
    assert "JupyterLab · Python" in card, card
    assert "2 CPU · 4 GiB memory · 10 GiB home" in card, card
    assert 'action="/hub/datalab/services/restart"' in card

    boss = hub.login("boss")
    admin = boss.get(hub.url + "/hub/datalab/admin/services", timeout=30)
    assert admin.status_code == 200 and 'data-server="abe/"' in admin.text
    assert 'id="datalab-nav-services"' in admin.text
    assert browser.get(hub.url + "/hub/datalab/admin/services", timeout=30).status_code == 403
