"""Event datasets in profile lists: checked like the rest of a list (each problem with its file and line),
mounted read-only for participants and writable for organisers while the list is open."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from spawner.catalog import load_catalog
from spawner.catalog.resolve import datasets_for
from tests.support.catalog import MAIN_LIST, problems_of, write_catalog

from .test_resolve import EVENT

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DATASETS = """\
datasets:
  - name: census
    bucket: hackathon-data
    prefix: census/2026
    description: The 2026 census extract
"""


def test_participants_read_and_organisers_write_while_the_list_is_open(tmp_path):
    catalog = load_catalog(write_catalog(tmp_path, lists={"main": MAIN_LIST, "event": EVENT + DATASETS}))
    spec = {"name": "census", "bucket": "hackathon-data", "prefix": "census/2026", "list": "event"}
    assert datasets_for(catalog, ["event"], NOW) == [{**spec, "read_only": True}]
    assert datasets_for(catalog, ["event-orga"], NOW) == [{**spec, "read_only": False}]
    assert datasets_for(catalog, ["users"], NOW) == []  # not a participant
    assert datasets_for(catalog, ["event"], NOW + timedelta(days=1)) == []  # after the window


def test_bad_datasets_are_named_with_their_line(tmp_path):
    bad = EVENT.replace("organiser_groups: [event-orga]\n", "") + (
        "datasets:\n  - {name: census, bucket: data, prefix: a/../b}\n  - {name: census, bucket: data}\n"
    )
    problems = problems_of(write_catalog(tmp_path, lists={"event": bad}))
    assert problems == [
        "lists/event.yaml:10: datasets: set organiser_groups, the groups who upload and change them",
        "lists/event.yaml:11: datasets: prefix 'a/../b' has '.', '..' or empty parts",
        "lists/event.yaml:12: datasets: two datasets are named 'census'",
    ], problems


def test_a_bucket_that_is_not_a_bucket_name_is_named(tmp_path):
    bad = EVENT + "datasets:\n  - {name: census, bucket: Bad_Bucket}\n"
    [problem] = problems_of(write_catalog(tmp_path / "b", lists={"event": bad}))
    assert problem.startswith("lists/event.yaml:12: datasets.0.bucket: must be a bucket name"), problem
