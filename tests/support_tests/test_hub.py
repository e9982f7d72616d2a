"""The hub fixture starts a real hub + proxy that a user can spawn a real single-user server on."""

from __future__ import annotations

import pytest

from tests.support.hub import run_hub

pytestmark = pytest.mark.e2e


def test_spawned_server_answers_through_the_proxy_and_stop_kills_everything(tmp_path):
    with run_hub(tmp_path, 'c.JupyterHub.spawner_class = "simple"\n') as hub:
        assert hub.api("POST", "/users/alice").status_code == 201
        r = hub.api("POST", "/users/alice/server")
        assert r.status_code in (201, 202), r.text
        hub.wait_server("alice")

        status = hub.get("/user/alice/api/status")
        assert status.status_code == 200, status.text
        assert "started" in status.json()

        # Without a token the single-user server refuses (it is the real, authenticated server).
        anonymous = hub.session.get(hub.url + "/user/alice/api/status", allow_redirects=False, timeout=30)
        assert anonymous.status_code in (302, 403)

        assert hub.api("DELETE", "/users/alice/server").status_code in (202, 204)
        hub.wait_server("alice", ready=False)
        assert hub.get("/user/alice/api/status", allow_redirects=False).status_code != 200
        procs = (hub.hub_proc, hub.proxy_proc)
    assert not any(p.alive() for p in procs)
