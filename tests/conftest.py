"""Shared pytest configuration. Service fixtures live in tests/support and are imported where needed."""

import pytest

from tests.support.log_secrets import LOGS, SECRETS, leaks


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_log():
    """After the whole run: no log of a real service holds any secret value the suite registered."""
    yield
    found = leaks(LOGS, SECRETS)
    if found:
        shown = "\n".join(f"  {path}: {value}" for path, value in found[:50])
        pytest.fail(
            f"{len(found)} secret value(s) in service logs ({len(SECRETS)} secrets, {len(LOGS)} logs):\n{shown}"
        )
