"""A git clone that failed at start: the record both backends write is read by the session, which shows it
(GET /datalab/notices, for the JupyterLab notification) and writes a notice at the top of the home; the
next start whose clone works removes that notice, and a user's own file of that name is never touched."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jupyter_s3_ext.notices.clone import HOME_NOTICE, is_home_notice, parse_failure
from jupyter_s3_ext.notices.home import read_failure, sync_home_notice
from spawner.kube.clone import GIT_CLONE_SCRIPT
from spawner.local.session import CLONE_FAILED_FILE, clone_failure_record
from tests.jupyter_s3_ext.credentials.session import run_session

URL = "https://git.example.org/team/analysis.git"


def test_the_local_backends_record_is_read_as_written():
    when = datetime(2026, 12, 2, 1, 50, tzinfo=UTC)
    output = "Cloning into 'analysis'...\nfatal: unable to access 'https://git.example.org/': Could not resolve host"
    failure = parse_failure(clone_failure_record(URL, "analysis", output, when))
    assert (failure.repository, failure.folder, failure.time) == (URL, "analysis", "2026-12-02T01:50:00Z")
    assert failure.output.endswith("Could not resolve host")


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_kubernetes_init_containers_record_is_read_as_written(tmp_path: Path):
    """The init container's own script, run by a real shell and git, against a repository that is not there."""
    status = tmp_path / "status"
    status.mkdir()
    env = {
        "PATH": "/usr/bin:/bin",
        "GIT_REPOSITORY": str(tmp_path / "nowhere.git"),
        "CLONE_DIR": str(tmp_path / "home" / "nowhere"),
        "CLONE_FOLDER": "nowhere",
        "STATUS_DIR": str(status),
        "HOME": str(tmp_path),
    }
    run = subprocess.run(["sh", "-c", GIT_CLONE_SCRIPT], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    failure = read_failure(status)
    assert failure is not None and failure.repository == str(tmp_path / "nowhere.git")
    assert failure.folder == "nowhere" and failure.time.startswith("20")
    assert "does not exist" in failure.output
    assert [p.name for p in status.iterdir()] == [CLONE_FAILED_FILE]


def test_the_home_notice_says_what_failed_and_how_to_retry(tmp_path: Path):
    failure = parse_failure(
        f"repository: {URL}\nfolder: analysis\ntime: 2026-12-02T01:50:00Z\n\nfatal: nope\n"
    )
    path = sync_home_notice(tmp_path, failure)
    assert path == tmp_path / HOME_NOTICE
    text = path.read_text()
    assert is_home_notice(text)
    assert f"    {URL}\ninto ~/analysis." in text and f"git clone {URL} ~/analysis" in text
    assert text.endswith("What git said:\n    fatal: nope\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == [HOME_NOTICE]  # no temporary file left

    # The next start whose clone works (no record) removes it.
    assert sync_home_notice(tmp_path, None) is None and not path.exists()


def test_a_users_own_file_of_that_name_is_never_replaced_or_removed(tmp_path: Path):
    mine = tmp_path / HOME_NOTICE
    mine.write_text("my own notes\n")
    failure = parse_failure(f"repository: {URL}\n\n")
    assert sync_home_notice(tmp_path, failure) is None
    assert sync_home_notice(tmp_path, None) is None
    assert mine.read_text() == "my own notes\n"


def test_a_record_is_bounded_and_cleaned_and_a_broken_one_is_refused():
    long = "x" * 10_000
    failure = parse_failure(f"repository: {URL}\x1b[31m\nfolder: a\n\n{long}\x07\nthe end\n")
    assert failure.repository == URL + "[31m"  # escape characters dropped
    assert len(failure.output) <= 4000 and failure.output.endswith("the end")
    with pytest.raises(ValueError, match="names no repository"):
        parse_failure("folder: a\n\nfatal\n")


def test_the_session_shows_the_failure_and_writes_the_notice_in_the_home(tmp_path: Path):
    status = tmp_path / "status"
    status.mkdir()
    output = "fatal: repository 'https://git.example.org/team/analysis.git/' not found"
    (status / CLONE_FAILED_FILE).write_text(clone_failure_record(URL, "analysis", output, datetime.now(UTC)))
    home = tmp_path / "session" / "root"  # the server's root is the home, as in every session
    env = {"DATALAB_STATUS_DIR": str(status), "HOME": str(home)}
    with run_session(tmp_path / "session", env) as session:
        assert session.get("/datalab/notices", authenticated=False).status_code == 403
        r = session.get("/datalab/notices")
        assert r.status_code == 200, r.text
        (notice,) = r.json()["notices"]
        assert notice["kind"] == "git-clone-failed" and notice["level"] == "warning"
        assert URL in notice["message"] and "~/analysis" in notice["message"]
        assert notice["detail"] == output and notice["path"] == HOME_NOTICE
        assert "not found" in (home / HOME_NOTICE).read_text()
        assert "the git clone of https://git.example.org/team/analysis.git failed" in session.log()

    # Started again after a clone that worked: no notice, and the old file is gone.
    (status / CLONE_FAILED_FILE).unlink()
    with run_session(tmp_path / "session", env) as session:
        assert session.get("/datalab/notices").json() == {"notices": []}
        assert not (home / HOME_NOTICE).exists()
