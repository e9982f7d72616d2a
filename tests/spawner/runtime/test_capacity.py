"""Capacity through the spawner (CatalogSpawner, shared code of every backend): the place reserved in
run_pre_spawn_hook with the spawn's one plan, refused with 429 beyond the cap, released by clear_state, restored from the state
after a hub restart. The 20-simultaneous-spawns case on a real hub is in test_hackathon_hub.py."""

from __future__ import annotations

import pytest
from traitlets.config import Config

from spawner.errors import SpawnException
from spawner.kube.offline import make_spawner, offline_kube_config
from spawner.runtime.capacity import servers_from
from spawner.runtime.source import forget_shared_sources
from tests.support.catalog import MAIN_LIST, write_catalog

LIST = (
    MAIN_LIST.replace("groups: [users]", "groups: [capspawn]")
    + "capacity: {servers_per_user: 1, cpu_total: 3}\n"
)


@pytest.fixture
def config(tmp_path):
    forget_shared_sources()
    c = Config()
    c.CatalogSpawner.catalog_dir = str(write_catalog(tmp_path, lists={"capspawn": LIST}))
    yield c
    for _, spawner in servers_from("capspawn"):
        spawner.release_capacity()
    forget_shared_sources()


def spawner_for(config, user, server="", cpu=1):
    return make_spawner(
        username=user,
        groups=["capspawn"],
        server_name=server,
        user_options={"service": "py", "cpu": cpu},
        config=config,
    )


async def test_reserve_refuse_release_and_restore(config):
    with offline_kube_config():
        first = spawner_for(config, "ann", cpu=2)
        first.run_pre_spawn_hook()
        assert [(u.user, u.cpu) for u, _ in servers_from("capspawn")] == [("ann", 2.0)]
        state = first.get_state()
        assert state["datalab_usage"]["list"] == "capspawn"

        second = spawner_for(config, "ann", server="other")
        with pytest.raises(SpawnException) as info:
            second.run_pre_spawn_hook()
        assert info.value.status_code == 429
        assert "profile list 'capspawn' allows 1 server per user; ann has 1 running" in info.value.message

        greedy = spawner_for(config, "bob", cpu=1.5)
        with pytest.raises(SpawnException) as info:
            greedy.run_pre_spawn_hook()
        assert "allows 3 CPU cores in total; 2 are in use" in info.value.message

        invalid = spawner_for(config, "cid", cpu=99)
        with pytest.raises(SpawnException) as info:  # validation first: 400, nothing reserved
            invalid.run_pre_spawn_hook()
        assert info.value.status_code == 400 and len(servers_from("capspawn")) == 1

        first.clear_state()  # the server stopped
        assert servers_from("capspawn") == []
        greedy.run_pre_spawn_hook()
        greedy.clear_state()

        restarted = spawner_for(config, "ann", cpu=2)  # a new hub process loads the saved state
        restarted.load_state(state)
        assert [u.user for u, _ in servers_from("capspawn")] == ["ann"]
        with pytest.raises(SpawnException):
            spawner_for(config, "ann", server="again").run_pre_spawn_hook()
