"""Resolution: which services a user sees, from which list, with which bounds, at which moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from spawner.catalog import load_catalog, resolve
from tests.support.catalog import MAIN_LIST, write_catalog

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

EVENT = """\
display_name: Event
groups: [event]
organiser_groups: [event-orga]
window: {start: 2026-12-01T09:00:00+01:00, end: 2026-12-01T18:00:00+01:00}
services:
  py:
    cpu: {max: 2, default: 2}
    image: {choices: [reg.example/py:2], allow_custom: false}
    git_repository: {default: "https://git.example.org/event/starter.git", editable: false}
    postgres: {default: true}
"""


def services(offers):
    return [(o.service, o.list_name) for o in offers]


def test_groups_decide_which_lists_are_seen(tmp_path):
    catalog = load_catalog(write_catalog(tmp_path, lists={"main": MAIN_LIST, "event": EVENT}))
    assert services(resolve(catalog, ["users"], NOW)) == [("py", "main"), ("rs", "main")]
    assert services(resolve(catalog, ["event"], NOW)) == [("py", "event")]
    assert resolve(catalog, ["someone-else"], NOW) == []
    assert resolve(catalog, [], NOW) == []
    # Organisers manage the list; being an organiser does not grant its services.
    assert resolve(catalog, ["event-orga"], NOW) == []


def test_window_start_included_end_excluded(tmp_path):
    catalog = load_catalog(write_catalog(tmp_path, lists={"event": EVENT}))
    start = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # 09:00+01:00
    end = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
    tick = timedelta(seconds=1)
    assert resolve(catalog, ["event"], start - tick) == []
    assert services(resolve(catalog, ["event"], start)) == [("py", "event")]
    assert services(resolve(catalog, ["event"], end - tick)) == [("py", "event")]
    assert resolve(catalog, ["event"], end) == []
    # The same instant in another timezone, and a naive time taken as UTC.
    paris = timezone(timedelta(hours=1))
    assert services(resolve(catalog, ["event"], datetime(2026, 12, 1, 9, 0, tzinfo=paris))) == [
        ("py", "event")
    ]
    assert resolve(catalog, ["event"], datetime(2026, 12, 1, 7, 59)) == []


def test_overrides_narrow_the_offer(tmp_path):
    catalog = load_catalog(write_catalog(tmp_path, lists={"event": EVENT}))
    [offer] = resolve(catalog, ["event"], NOW)
    o = offer.options
    assert (o["cpu"].min, o["cpu"].max, o["cpu"].default) == (0.5, 2, 2)
    assert (o["memory"].min, o["memory"].max) == (1, 8)  # not overridden: the service's
    assert [c.image for c in o["image"].choices] == ["reg.example/py:2"]
    assert o["image"].default == "reg.example/py:2"  # the service's default is gone: first choice
    assert o["image"].allow_custom is False and not o["image"].custom_ok("reg.example/py:3")
    assert o["git_repository"].default == "https://git.example.org/event/starter.git"
    assert o["git_repository"].editable is False
    assert o["postgres"].allowed and o["postgres"].default
    assert offer.defaults() == {
        "service": "py",
        "image": "reg.example/py:2",
        "cpu": 2,
        "memory": 2,
        "storage": 5,
        "gpu": 0,
        "git_repository": "https://git.example.org/event/starter.git",
        "postgres": True,
    }
    assert offer.list_display_name == "Event" and offer.default_url == "/lab"


def test_first_list_by_file_name_wins_for_a_service_offered_twice(tmp_path):
    lists = {"main": MAIN_LIST, "event": EVENT, "zz-late": EVENT.replace("Event", "Late")}
    catalog = load_catalog(write_catalog(tmp_path, lists=lists))
    offers = resolve(catalog, ["users", "event"], NOW)
    # "event" sorts before "main": its narrower py wins; rs comes from main; py is offered once.
    assert services(offers) == [("py", "event"), ("rs", "main")]
    assert offers[0].options["cpu"].max == 2
    # Outside the event's window the default list's py applies again.
    later = NOW + timedelta(days=1)
    assert services(resolve(catalog, ["users", "event"], later)) == [("py", "main"), ("rs", "main")]
    assert resolve(catalog, ["users", "event"], later)[0].options["cpu"].max == 4


def test_list_custom_regex_narrows_the_service_regex(tmp_path):
    event = (
        "display_name: E\ngroups: [e]\nservices:\n  py: {image: {custom_regex: 'reg\\.example/py:[0-5]'}}\n"
    )
    catalog = load_catalog(write_catalog(tmp_path, lists={"e": event}))
    [offer] = resolve(catalog, ["e"], NOW)
    assert offer.options["image"].custom_ok("reg.example/py:3")
    assert not offer.options["image"].custom_ok("reg.example/py:7")  # the list's regex
    assert not offer.options["image"].custom_ok("evil.example/py:3")  # both must match


def test_builtin_catalog_resolution():
    from .test_load import REPO_PROFILES

    catalog = load_catalog(REPO_PROFILES)
    users = [o.service for o in resolve(catalog, ["datalab-users"], NOW)]
    assert users == ["jupyter-python", "jupyter-r", "rstudio", "vscode-python"]
    gpu = resolve(catalog, ["datalab-users", "datalab-gpu"], NOW)
    assert gpu[-1].service == "jupyter-python-gpu" and gpu[-1].node_selector and gpu[-1].tolerations
    assert [o.default_url for o in gpu] == ["/lab", "/lab", "/rstudio", "/vscode", "/lab"]


def test_priority_beats_file_name_order(tmp_path):
    lists = {"main": MAIN_LIST, "zz-event": EVENT.replace("groups: [event]", "groups: [event]\npriority: 10")}
    catalog = load_catalog(write_catalog(tmp_path, lists=lists))
    offers = resolve(catalog, ["users", "event"], NOW)
    assert services(offers) == [("py", "zz-event"), ("rs", "main")]
    assert offers[0].options["git_repository"].editable is False
    # Without the priority, "main" sorts first and its py applies.
    plain = load_catalog(write_catalog(tmp_path / "plain", lists={"main": MAIN_LIST, "zz-event": EVENT}))
    assert services(resolve(plain, ["users", "event"], NOW)) == [("py", "main"), ("rs", "main")]
