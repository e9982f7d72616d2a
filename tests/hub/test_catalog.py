"""Hub configuration of the catalog: who sees which refused-change problems, and the startup check."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from traitlets.config import Config

from hub.catalog import AnnouncementWithProblems, configure_catalog, problems_for
from spawner.runtime.source import CatalogSource, forget_shared_sources
from tests.support.catalog import MAIN_LIST, SERVICE, write_catalog

ORGANISED = MAIN_LIST.replace("groups: [users]", "groups: [users]\norganiser_groups: [orga]")


@pytest.fixture(autouse=True)
def _no_shared_sources():
    forget_shared_sources()
    yield
    forget_shared_sources()


def person(name, groups=(), admin=False):
    return SimpleNamespace(name=name, admin=admin, groups=[SimpleNamespace(name=g) for g in groups])


@pytest.fixture
def refused(tmp_path):
    """A source whose list file and service file both got invalid changes after a valid start."""
    root = write_catalog(tmp_path, lists={"main": ORGANISED, "side": MAIN_LIST})
    source = CatalogSource(root, check_interval=0)
    source.get()
    (root / "lists" / "main.yaml").write_text(ORGANISED + "  ghost: {}\n")
    (root / "services" / "py.yaml").write_text(SERVICE.replace("max: 4", "max: 0.1"))
    source.get()
    return source


def test_admins_see_every_problem_organisers_their_lists_file_others_nothing(refused):
    everything = problems_for(person("root", admin=True), [refused])
    assert {p.file.rsplit("/", 2)[-2] for p in everything} == {"lists", "services"}
    mine = problems_for(person("olga", ["orga"]), [refused])
    assert mine and all(p.file.endswith("lists/main.yaml") for p in mine)
    assert problems_for(person("ursula", ["users"]), [refused]) == []
    assert problems_for(None, [refused]) == []


def test_a_new_broken_list_names_its_own_organisers(tmp_path):
    root = write_catalog(tmp_path)
    source = CatalogSource(root, check_interval=0)
    source.get()
    (root / "lists" / "event.yaml").write_text("display_name: E\ngroups: [g]\norganiser_groups: [neworga]\n")
    source.get()
    [problem] = problems_for(person("nina", ["neworga"]), [source])
    assert problem.file.endswith("lists/event.yaml") and "missing key 'services'" in problem.message


def test_configure_catalog_exits_1_on_an_invalid_catalog_listing_the_problems(tmp_path, capsys):
    root = write_catalog(tmp_path, lists={"main": MAIN_LIST + "  ghost: {}\n"})
    c = Config()
    c.CatalogSpawner.catalog_dir = str(root)
    with pytest.raises(SystemExit) as info:
        configure_catalog(c)
    assert info.value.code == 1
    assert "the hub does not start" in capsys.readouterr().err


def test_configure_catalog_keeps_the_operators_announcement(tmp_path):
    c = Config()
    c.CatalogSpawner.catalog_dir = str(write_catalog(tmp_path))
    c.JupyterHub.template_vars = {"announcement": "Maintenance on Sunday", "other": 1}
    catalog = configure_catalog(c)
    assert "main" in catalog.lists
    announcement = c.JupyterHub.template_vars["announcement"]
    assert isinstance(announcement, AnnouncementWithProblems) and c.JupyterHub.template_vars["other"] == 1
    assert announcement(person("root", admin=True)) == "Maintenance on Sunday"
