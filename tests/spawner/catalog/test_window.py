"""Which running servers must stop: the list's current window end plus the grace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from spawner.catalog import load_catalog
from spawner.catalog.capacity import Usage
from spawner.catalog.window import due
from tests.support.catalog import MAIN_LIST, write_catalog

END = datetime(2026, 12, 3, 18, tzinfo=UTC)
GRACE = timedelta(minutes=10)


def catalog_with(tmp_path, window: str | None):
    text = MAIN_LIST + (f"window: {window}\n" if window else "")
    return load_catalog(write_catalog(tmp_path, lists={"main": text}))


def test_servers_stop_at_the_end_plus_grace(tmp_path):
    catalog = catalog_with(tmp_path, "{start: 2026-12-01T08:00:00Z, end: 2026-12-03T18:00:00Z}")
    running = [Usage("a", "", "main", service="py"), Usage("b", "", "other")]
    assert due(running, catalog, END + GRACE - timedelta(seconds=1), GRACE) == []
    [item] = due(running, catalog, END + GRACE, GRACE)
    assert item.usage.user == "a" and item.stop_at == END + GRACE
    assert item.message() == (
        "Stopping a's server (py from profile list 'main'): the list's window ended at "
        "2026-12-03T18:00:00+00:00 (stop at 2026-12-03T18:10:00+00:00)"
    )


def test_the_current_window_applies_and_a_removed_list_keeps_the_recorded_one(tmp_path):
    extended = catalog_with(tmp_path / "x", "{start: 2026-12-01T08:00:00Z, end: 2026-12-04T18:00:00Z}")
    usage = Usage("a", "s", "main", window_end=END)
    assert due([usage], extended, END + GRACE, GRACE) == []  # the organiser extended the event
    no_window = catalog_with(tmp_path / "y", None)
    assert due([usage], no_window, END + timedelta(days=30), GRACE) == []
    gone = Usage("a", "s", "removed-list", window_end=END)
    assert [d.usage for d in due([gone], no_window, END + GRACE, GRACE)] == [gone]
