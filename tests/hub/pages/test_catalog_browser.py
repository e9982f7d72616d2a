"""The catalog page in headless Chromium (Debian's /usr/bin/chromium through Playwright) on a real hub
(CatalogSpawner on the Kubernetes emulator): the grid of cards, a card's options in tabs reached with
the keyboard, sliders beside the number inputs, the readable custom-image hint, a refused submission
that keeps every value with the message at its field, and the plain form without JavaScript.
Screenshots go to test-artifacts/pages/ (gitignored)."""

from __future__ import annotations

import re

import pytest

from tests.hub.pages.support import pages_hub, shot, stop_all
from tests.support.browser import logins, require_chromium

pytestmark = pytest.mark.e2e

require_chromium()


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with pages_hub(tmp_path_factory.mktemp("catalog")) as handle:
        yield handle


@pytest.fixture
def login(hub, chromium):
    with logins(chromium, hub.url, width=1280) as as_user:
        yield as_user
    stop_all(hub)


def test_the_catalog_is_a_grid_of_cards_whose_options_are_in_tabs(hub, login):
    page = login("ann")
    page.goto(hub.url + "/hub/spawn")
    cards = page.locator("#datalab-grid .datalab-card")
    assert cards.count() == 2  # the event's list: jupyter-python and rstudio
    first = cards.first
    assert "JupyterLab · Python" in first.inner_text() and "Event A" in first.inner_text()
    boxes = [cards.nth(i).bounding_box() for i in range(2)]
    assert boxes[0]["y"] == boxes[1]["y"] and boxes[0]["x"] < boxes[1]["x"]  # side by side: a grid
    panel = page.locator("#datalab-panel-jupyter-python")
    assert panel.is_visible() and not page.locator("#datalab-panel-rstudio").is_visible()
    assert [t.strip() for t in panel.locator("[role=tab]").all_inner_texts()] == [
        "Service", "Resources", "Storage and data", "Git", "Database",
    ]  # fmt: skip
    hint = page.inner_text("#jupyter-python--custom_image-hint")
    assert "datalab-python:‹4 digits›.‹2 digits›" in hint and "\\." not in hint
    shot(page, "catalog-grid")

    # Keyboard only: the tab list with arrow keys, the slider moves the number input.
    page.focus("#datalab-tab-jupyter-python-service")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.id") == "datalab-tab-jupyter-python-resources"
    assert page.is_visible("#jupyter-python--cpu") and not page.is_visible("#jupyter-python--image")
    slider = page.locator('input[type=range][data-for="jupyter-python--cpu"]')
    assert slider.get_attribute("max") == "2"  # the event narrows cpu to 2
    slider.fill("2")
    assert page.input_value("#jupyter-python--cpu") == "2"
    assert "from 0.5 to 2 cores" in page.inner_text("#jupyter-python--cpu-hint")
    shot(page, "catalog-resources-tab")

    # Another card, chosen with the keyboard: its own options, the first card's are not sent.
    page.focus("#datalab-service-jupyter-python")
    page.keyboard.press("ArrowRight")
    assert page.is_checked("#datalab-service-rstudio")
    assert page.is_visible("#datalab-panel-rstudio") and not panel.is_visible()
    assert page.is_disabled("#jupyter-python--cpu")


def test_a_refused_submission_keeps_every_value_and_says_why_at_the_field(hub, login):
    page = login("abe")
    page.goto(hub.url + "/hub/spawn/abe/analysis")
    page.click("#datalab-tab-jupyter-python-resources")
    page.fill("#jupyter-python--cpu", "1.5")
    page.fill("#jupyter-python--memory", "6")
    page.click("#datalab-tab-jupyter-python-database")
    page.check("#jupyter-python--postgres")
    page.click("#datalab-tab-jupyter-python-service")
    page.fill("#jupyter-python--custom_image", "docker.io/someone/else:1")
    page.click("#datalab-start")
    page.wait_for_selector(".datalab-error")
    shot(page, "catalog-refused")
    assert hub.server("abe", "analysis") is None
    top = page.inner_text(".spawn-error-msg")
    assert "does not match the allowed custom images" in top and "SpawnException" not in top
    error = page.inner_text("#jupyter-python--custom_image-error")
    assert "docker.io/someone/else:1" in error and "does not match" in error
    assert page.is_visible("#jupyter-python--custom_image-error")  # its tab is the one shown
    assert page.evaluate("document.activeElement.id") == "jupyter-python--custom_image"
    assert page.input_value("#jupyter-python--custom_image") == "docker.io/someone/else:1"
    assert page.input_value("#jupyter-python--cpu") == "1.5"
    assert page.input_value("#jupyter-python--memory") == "6"
    assert page.is_checked("#jupyter-python--postgres")
    assert "datalab-tab-invalid" in page.get_attribute("#datalab-tab-jupyter-python-service", "class")

    # Corrected, the same form starts the named server with the values kept.
    page.fill("#jupyter-python--custom_image", "")
    page.click("#datalab-start")
    page.wait_for_url(re.compile(r".*/(spawn-pending|user)/abe/analysis.*"))
    server = hub.wait_server("abe", "analysis")
    assert server["ready"]
    options = hub.api("GET", "/users/abe").json()["servers"]["analysis"]["user_options"]
    assert (options["cpu"], options["memory"], options["postgres"]) == (1.5, 6, True)


def test_without_javascript_the_plain_form_starts_the_chosen_service(hub, login):
    page = login("ann", java_script_enabled=False)
    page.goto(hub.url + "/hub/spawn")
    assert page.is_visible("#datalab-panel-jupyter-python")  # CSS :has() shows the chosen card's options
    assert not page.is_visible("#datalab-panel-rstudio")
    page.check("#datalab-service-rstudio")
    assert page.is_visible("#datalab-panel-rstudio") and not page.is_visible("#datalab-panel-jupyter-python")
    page.fill("#rstudio--cpu", "1")
    shot(page, "catalog-no-javascript")
    page.click("#datalab-start")
    page.wait_for_load_state()
    server = hub.wait_server("ann")
    assert server["ready"] and server["user_options"]["service"] == "rstudio"
    assert server["user_options"]["cpu"] == 1


def test_dark_mode_keeps_the_pages_readable(hub, login):
    page = login("ben", color_scheme="dark")
    page.goto(hub.url + "/hub/spawn/ben/dark")
    assert page.get_attribute("html", "data-bs-theme") == "dark"  # JupyterHub's own dark mode
    assert "for the server “dark”" in page.inner_text("h1")
    colours = page.evaluate(
        """() => [".datalab-card", ".datalab-panel"].map(s => {
             const c = getComputedStyle(document.querySelector(s));
             return [c.backgroundColor, c.color];
           })"""
    )

    def brightness(rgb: str) -> float:
        r, g, b = (float(x) for x in re.findall(r"[\d.]+", rgb)[:3])
        return (r + g + b) / 3

    for background, text in colours:
        assert brightness(background) < 80 and brightness(text) > 160, colours  # light on dark
    shot(page, "catalog-dark")
