"""Browser end-to-end tests share one datalab and one Chromium for this package: starting `datalab up`
costs ~15 s on 2 cores. Package scope, not session: Playwright's sync API keeps an event loop running in
the main thread while it is open, which breaks every asyncio test that would run after it.
Tests that use these fixtures must not assume a fresh datalab (use their own file names, secrets,
tables); the restart test (test_browser_journey.py) runs last by file order and leaves the datalab
running again, its runs in `lab.runs`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.support.datalab import Datalab, free_ports, remove_accounts
from tests.support.procs import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip


@pytest.fixture(scope="package")
def lab():
    """`datalab up` in a temporary state directory on free ports. `.passwords` of alice and bob; `.runs`
    every `datalab up` started on that state directory (all stopped at the end)."""
    top = Path(tempfile.mkdtemp(prefix="datalab-browser-", dir="/tmp"))
    os.chmod(top, 0o711)  # homes inside must be reachable by the users' accounts
    state = top / "state"
    state.mkdir()
    (state / "ports.json").write_text(json.dumps(free_ports()))
    first = Datalab(state, free_port(), top / "up1.log")
    first.runs = [first]
    try:
        first.wait_up()
        first.passwords = dict(re.findall(r"^\s+(alice|bob)\s+password (\S+)", first.output(), re.M))
        yield first
    finally:
        for run in first.runs:
            run.proc.stop(timeout=20)
        remove_accounts(first.accounts)
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope="package")
def browser():
    """Debian's Chromium, headless, driven by Playwright (never `playwright install`: no download here)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
