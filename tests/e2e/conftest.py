"""Browser end-to-end tests share one datalab and one Chromium for this package: starting `datalab up`
costs ~15 s on 2 cores. Package scope, not session: Playwright's sync API keeps an event loop running in
the main thread while it is open, which breaks every asyncio test that would run after it.
Tests that use these fixtures must not assume a fresh datalab (use their own file names, secrets,
tables); the restart test (test_browser_journey.py) runs last by file order and leaves the datalab
running again, its runs in `lab.runs`.
"""

from __future__ import annotations

import pytest

from tests.support.browser import ARTIFACTS, launched
from tests.support.datalab import running


@pytest.fixture(scope="package")
def lab():
    """`datalab up` in a temporary state directory on free ports (tests.support.datalab.running): `.passwords`
    of alice and bob; `.runs` every `datalab up` started on that state directory (all stopped at the end)."""
    with running("datalab-browser-") as first:
        yield first


@pytest.fixture(scope="package")
def browser():
    """Debian's Chromium, headless, driven by Playwright (never `playwright install`: no download here)."""
    with launched(ARTIFACTS) as b:
        yield b
