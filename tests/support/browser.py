"""Headless Chromium for page tests: Debian's /usr/bin/chromium through Playwright, signed in through the
hub's login form, screenshots under test-artifacts/ (gitignored)."""

from __future__ import annotations

from contextlib import contextmanager
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
