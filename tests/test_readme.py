"""README's "Using it with JupyterHub" block, run as written in a real JupyterHub: the hub starts and has
the Datalab parts (catalog spawner, the credentials endpoint, the Datalab pages)."""

from __future__ import annotations

import re
import secrets

import pytest

from tests.support.hub import run_hub
from tests.support.procs import REPO

pytestmark = pytest.mark.e2e


def readme_block() -> str:
    text = (REPO / "README.md").read_text()
    section = text.split("## Using it with JupyterHub", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_configuration_runs_in_a_hub(tmp_path):
    block = readme_block()
    assert "hub.configure(c)" in block
    # auth_state (the users' tokens) is encrypted: the docs say JUPYTERHUB_CRYPT_KEY must be set.
    with run_hub(tmp_path, block, env={"JUPYTERHUB_CRYPT_KEY": secrets.token_hex(32)}) as hub:
        r = hub.api("GET", "/datalab/credentials")  # the admin service's token: not a user's
        assert r.status_code == 403 and "only given to a user's own token" in r.json()["message"]
        assert hub.session.get(hub.url + "/hub/datalab/launch", allow_redirects=False).status_code == 302
        assert "Sign in with Datalab" in hub.session.get(hub.url + "/hub/login").text
        assert "Using Spawner: spawner.kube.spawner.CatalogSpawner" in hub.log()
