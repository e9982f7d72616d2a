"""The pure parts of the hackathon pages: organiser roles from a catalog, launch link <-> options, CSV."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from hub.pages.launch import launch_url, split_query
from hub.pages.organise import CSV_COLUMNS, ServerRow, rows_csv
from hub.pages.roles import merge_into_load_roles, role_specs
from spawner.catalog import default_catalog_dir, load_catalog


def test_one_role_per_list_with_organisers_filtered_to_its_participants():
    specs = {s["name"]: s for s in role_specs(load_catalog(default_catalog_dir()))}
    assert list(specs) == ["datalab-organise-example-hackathon"]  # default and gpu have no organisers
    spec = specs["datalab-organise-example-hackathon"]
    assert spec["groups"] == ["hackathon-demo-organisers"]
    assert sorted(spec["scopes"]) == [
        "delete:servers!group=hackathon-demo",
        "read:servers!group=hackathon-demo",
        "read:users!group=hackathon-demo",
    ]


def test_our_roles_replace_their_old_definition_and_keep_the_others():
    existing = [{"name": "admin", "services": ["x"]}, {"name": "datalab-organise-a", "scopes": ["old"]}]
    merged = merge_into_load_roles(existing, [{"name": "datalab-organise-a", "scopes": ["new"]}])
    assert merged == [{"name": "admin", "services": ["x"]}, {"name": "datalab-organise-a", "scopes": ["new"]}]


def test_a_launch_link_reads_back_as_the_same_options():
    options = {
        "service": "jupyter-python",
        "cpu": "1.5",
        "git_repository": "https://h/o/r.git",
        "postgres": True,
    }
    url = launch_url("/hub/", options, server_name="day 2", autostart=True)
    parts = urlsplit(url)
    assert parts.path == "/hub/datalab/launch/day%202"
    query = {k: [v.encode() for v in vs] for k, vs in parse_qs(parts.query, keep_blank_values=True).items()}
    back, autostart = split_query(query)
    assert autostart is True
    assert back == {
        "service": "jupyter-python",
        "cpu": "1.5",
        "git_repository": "https://h/o/r.git",
        "postgres": "true",
    }


def test_unknown_keys_are_kept_for_validation_to_refuse():
    options, autostart = split_query({"service": [b"rstudio"], "colour": [b"red"], "autostart": [b"0"]})
    assert options == {"service": "rstudio", "colour": "red"} and autostart is False


def test_csv_has_one_row_per_server_with_utc_times():
    row = ServerRow("ann", "", "rstudio", "running", datetime(2026, 12, 1, 9), None, 1.0, 4.0, 0)
    lines = rows_csv([row]).splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS)
    assert lines[1] == "ann,,rstudio,running,2026-12-01T09:00:00Z,,1,4,0"
