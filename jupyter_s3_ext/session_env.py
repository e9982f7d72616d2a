"""What the hub tells a session through its environment, read in one place for every part of the extension.

The extension (app.py), the S3 contents manager (contents/settings.py), the connection panel and the
credentials side each read the S3 endpoint and region, and name files per server the same way.
Plain functions of the environment, no import beyond the standard library: `datalab-credentials`
(run by AWS SDKs before their requests) uses this too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

DEFAULT_REGION = "us-east-1"
BROWSER_ENDPOINT_ENV = "DATALAB_S3_BROWSER_ENDPOINT"  # S3 as the user's browser reaches it; unset: not at all


def endpoint_of(env: Mapping[str, str]) -> str:
    """The S3 endpoint URL as tools see it (Onyxia's AWS_S3_ENDPOINT is a bare host name: https)."""
    url = env.get("AWS_ENDPOINT_URL") or env.get("AWS_S3_ENDPOINT") or ""
    if url and "://" not in url:
        url = "https://" + url
    return url


def region_of(env: Mapping[str, str]) -> str:
    return env.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def per_server(name: str, env: Mapping[str, str] = os.environ) -> str:
    """`name`, suffixed with the server's name for a named server: named servers of a user share a home."""
    server = env.get("JUPYTERHUB_SERVER_NAME", "")
    return name + (f"-{server}" if server else "")


def data_path(name: str) -> str:
    """<Jupyter data dir>/datalab/<name>: where the extension keeps its files in the home."""
    from jupyter_core.paths import jupyter_data_dir

    return os.path.join(jupyter_data_dir(), "datalab", name)
