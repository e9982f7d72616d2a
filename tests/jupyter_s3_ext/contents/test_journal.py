"""The upload journal: what a killed server leaves in it is what its next start aborts."""

from __future__ import annotations

import json

from jupyter_s3_ext.contents.journal import UploadJournal, due


def on_disk(path) -> dict[str, float]:
    return {e["upload_id"]: e["updated"] for e in json.loads(path.read_text())}


def test_every_upload_is_written_at_once_and_struck_off_at_once(tmp_path):
    path = tmp_path / "journal.json"
    journal = UploadJournal(path)
    journal.add("work", "a.bin", "u1")
    journal.add("work", "b.bin", "u2")
    assert set(on_disk(path)) == {"u1", "u2"}
    journal.remove("u1")
    assert set(on_disk(path)) == {"u2"}
    reopened = UploadJournal(path)  # the next start of the same server
    assert [e.upload_id for e in reopened.left_behind()] == ["u2"] and reopened.own() == []


def test_a_touch_reaches_the_file_at_most_every_touch_every_seconds(tmp_path, monkeypatch):
    path = tmp_path / "journal.json"
    clock = [1000.0]
    monkeypatch.setattr("jupyter_s3_ext.contents.journal.time.time", lambda: clock[0])
    journal = UploadJournal(path, touch_every=30.0)
    journal.add("work", "a.bin", "u1")
    clock[0] += 10
    journal.touch("u1")  # a part 10 s later: kept in memory only
    assert on_disk(path)["u1"] == 1000.0 and journal.own()[0].updated == 1010.0
    clock[0] += 25
    journal.touch("u1")  # 35 s after the last write: written
    assert on_disk(path)["u1"] == 1035.0
    # A kill now: the next start sees at most touch_every more idleness than there was.
    ready, wait = due(UploadJournal(path).left_behind(), clock[0] + 600 - 30, 600)
    assert ready == [] and wait == 30


def test_a_damaged_journal_loses_only_old_uploads(tmp_path):
    path = tmp_path / "journal.json"
    path.write_text("{not json")
    journal = UploadJournal(path)
    assert journal.left_behind() == []
    journal.add("work", "a.bin", "u1")
    assert set(on_disk(path)) == {"u1"}
