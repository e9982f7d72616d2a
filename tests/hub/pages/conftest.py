"""The browser the page modules drive: one headless Chromium per module."""

import pytest

from tests.hub.pages.support import ARTIFACTS
from tests.support.browser import launched


@pytest.fixture(scope="module")
def chromium():
    with launched(ARTIFACTS) as browser:
        yield browser
