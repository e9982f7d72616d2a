"""The end-of-run scan of service logs for the suite's secrets (tests/support/log_secrets.py) finds them."""

from __future__ import annotations

from tests.support.log_secrets import leaks


def test_a_secret_in_a_log_file_or_a_log_directory_is_found(tmp_path):
    token, key = "tok-" + "a1b2c3d4" * 4, "k" * 40
    clean, leaky, logs = tmp_path / "clean.log", tmp_path / "leaky.log", tmp_path / "logs"
    clean.write_text("200 GET /hub/api/user?token=[secret]\n")
    leaky.write_text(f"DEBUG Authorization: token {token}\n")
    logs.mkdir()
    (logs / "s3.log").write_text(f"secretKey={key}\n")
    (logs / "notes.txt").write_text(token)  # not a log
    found = leaks([clean, leaky, logs, tmp_path / "removed.log"], {token, key, "never-seen-value"})
    assert found == [(leaky, "tok-a1..."), (logs / "s3.log", "kkkkkk...")]
    assert leaks([clean], {token}) == [] and leaks([leaky], set()) == []
