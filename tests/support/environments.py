"""The session environments the local backend runs, built once per content for every test run on this
machine (the same cache `datalab up` uses, outside the work tree): free when nothing changed."""

from __future__ import annotations

import functools
import sys

from hub.stack.environments import build_for_catalog
from spawner.catalog import default_catalog_dir
from spawner.local.environments import default_cache_dir


@functools.cache
def ensure_session_environments() -> dict[str, float]:
    """Build (or find) what the built-in catalog needs; {name: seconds}. Progress goes to stderr."""
    return build_for_catalog(
        default_catalog_dir(), default_cache_dir(), say=lambda line: print(line, file=sys.stderr)
    )
