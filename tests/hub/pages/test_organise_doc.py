"""docs/organise.md, run: its verbatim file is the repository's, every command runs (from a copy of
profiles/, deploying into a running hub's catalog), and every hub URL it shows is opened on that hub:
the list is picked up without a restart, the launch links start servers, the organiser page lists them
and stops them all."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.hub.pages.support import pages_hub
from tests.support.procs import VENV_BIN, wait_until

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[3]
DOC = (REPO / "docs" / "organise.md").read_text(encoding="utf-8")
SITE = "https://datalab.example.org"
LIST = "example-hackathon"


def blocks(marker: str) -> list[tuple[str, str]]:
    """(marker argument, fenced block body) for each `<!-- marker... -->` followed by a fenced block."""
    pattern = rf"<!-- {marker}:?\s*([^>]*?)\s*-->\s*```[a-z]*\n(.*?)```"
    return re.findall(pattern, DOC, re.S)


def commands() -> list[str]:
    return [line for _, body in blocks("command") for line in body.splitlines() if line.strip()]


def run(command: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    done = subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done


def test_verbatim_files_are_the_repositorys():
    found = blocks("verbatim")
    assert found
    for path, body in found:
        assert body == (REPO / path).read_text(encoding="utf-8"), path


def test_the_hackathon_from_start_to_end(tmp_path):
    work = tmp_path / "repo"
    shutil.copytree(REPO / "profiles", work / "profiles")
    with pages_hub(tmp_path / "hub") as hub:
        for user, group in (("ada", "hackathon-demo"), ("otto", "hackathon-demo-organisers")):
            assert hub.api("POST", f"/users/{user}").status_code == 201
            r = hub.api("POST", f"/groups/{group}/users", json={"users": [user]})
            if r.status_code == 404:
                r = hub.api("POST", f"/groups/{group}", json={"users": [user]})
            assert r.status_code in (200, 201), r.text
        otto, ada = hub.login("otto"), hub.login("ada")
        page = hub.url + f"/hub/datalab/organise/{LIST}"
        (hub.catalog / "lists" / f"{LIST}.yaml").unlink()  # the hub starts without the event's list
        wait_until(lambda: otto.get(page, timeout=30).status_code == 404, what="the list is gone")
        env = dict(os.environ, PATH=f"{VENV_BIN}:{os.environ['PATH']}", DATALAB_CATALOG_DIR=str(hub.catalog))

        outputs, opened = {}, ""
        for command in commands():
            if command.startswith("cp "):
                # The event is today for the test: the copy it deploys has its window moved to now.
                listed = work / "profiles" / "lists" / f"{LIST}.yaml"
                now = datetime.now(UTC).replace(microsecond=0)
                opened = (now - timedelta(hours=1)).isoformat()
                text = re.sub(r"start: \S+", f"start: {opened}", listed.read_text())
                listed.write_text(re.sub(r"end: \S+", f"end: {(now + timedelta(hours=1)).isoformat()}", text))
            outputs[command] = run(command, work, env).stdout
        lint, inside, before, as_json = (o for c, o in outputs.items() if not c.startswith("cp "))
        assert lint.startswith("OK profiles:") and f"{LIST} (2)" in lint
        assert f"jupyter-python: JupyterLab · Python, from list '{LIST}'" in inside and "rstudio" in inside
        assert "0 services offered" in before and "closed then" in before
        assert '"list": "example-hackathon"' in as_json

        wait_until(
            lambda: f"Open from {opened}" in otto.get(page, timeout=30).text, what="the deployed list used"
        )

        urls = list(dict.fromkeys(re.findall(rf"{re.escape(SITE)}(/hub/[^\s`|]+)", DOC)))
        assert any("autostart=1" in u for u in urls) and any("/organise/" in u for u in urls)
        for path in urls:
            browser = otto if "/organise" in path else ada
            r = browser.get(hub.url + path, allow_redirects=False, timeout=60)
            assert r.status_code in (200, 302), (path, r.status_code, r.text[:300])
            assert "spawn-error-msg" not in r.text, (path, r.text)
            if "autostart=1" in path:
                hub.wait_server("ada", path.split("/launch/")[1].split("?")[0] if "/launch/" in path else "")

        export = otto.get(page + "/servers.csv", timeout=30)
        rows = sorted((r["server"], r["service"]) for r in csv.DictReader(io.StringIO(export.text)))
        assert rows == [("", "jupyter-python"), ("day2", "rstudio")]
        stop = otto.post(
            page + "/stop", data={"all": "1", "_xsrf": otto.cookies.get("_xsrf", path="/hub/")}, timeout=60
        )
        assert stop.status_code == 200 and "Stopped 2 server(s)" in stop.text
        hub.wait_server("ada", ready=False)
        hub.wait_server("ada", "day2", ready=False)
