"""Headless Chromium for page tests: Debian's /usr/bin/chromium through Playwright, signed in through the
hub's login form or, on a whole datalab, through the IdP's; screenshots under test-artifacts/ (gitignored)."""

from __future__ import annotations

import re
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def require_chromium():
    """Playwright's sync API; skips the calling module when Chromium or Playwright is missing."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium)", allow_module_level=True)
    return pytest.importorskip("playwright.sync_api")


@contextmanager
def launched(artifacts: Path):
    """One headless browser (for a module-scoped fixture); `artifacts` is made for its screenshots."""
    sync_api = require_chromium()
    artifacts.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def logins(browser, hub_url: str, password: str = "password", width: int = 1280):
    """`as_user(name, **context_args)`: a page of a new browser context signed in as that user."""
    contexts = []

    def as_user(name: str, **context_args):
        context = browser.new_context(viewport={"width": width, "height": 900}, **context_args)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(hub_url + "/hub/login")
        page.fill("#username_input", name)
        page.fill("#password_input", password)
        page.click("#login_submit")
        page.wait_for_load_state()
        return page

    try:
        yield as_user
    finally:
        for context in contexts:
            context.close()


class Steps:
    """One user's page in a browser context of its own, with numbered screenshots in `artifacts`; used as a
    context manager, the screen a failing step was on is kept and the context closed."""

    def __init__(self, browser, who: str, artifacts: Path, init_script: str = "", full_page: bool = False):
        artifacts.mkdir(parents=True, exist_ok=True)
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(60_000)
        if init_script:
            self.context.add_init_script(init_script)
        self.page, self.who, self.n = self.context.new_page(), who, 0
        self.artifacts, self.full_page = artifacts, full_page

    def shot(self, name: str) -> None:
        self.n += 1
        path = self.artifacts / f"{self.who}-{self.n:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=self.full_page)

    def __enter__(self) -> Steps:
        return self

    def __exit__(self, kind, value, tb) -> None:
        if kind is not None:
            with suppress(Exception):  # a screen lost with the browser must not hide why the step failed
                self.shot("FAILED")
        self.context.close()


def sign_in_with_datalab(page, url: str, user: str, password: str, shot=lambda name: None) -> None:
    """As a user signs in to a whole datalab: the landing page's one button, then the IdP's form."""
    page.goto(url + "/hub/login")
    page.wait_for_selector("#datalab-landing")
    shot("landing")
    page.click("text=Sign in with Datalab")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    shot("idp-login-form")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(url) + r"/(hub|user)/"))
