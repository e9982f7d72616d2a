"""Sessions on the real one-machine datalab are a place to work (issue 12): every library the cards
promise in a kernel, Parquet into the user's bucket; terminals with the session's python, pip, aws, bao
and psql and the same credentials; `pip install --user` kept across a restart; R reading S3 and the
session's PostgreSQL. Everything real: `datalab up` (IdP, SeaweedFS, OpenBao, hub, proxy), the built
session environment, kernels and terminals through the proxy.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import time
import zipfile
from pathlib import Path

import pytest
import websocket

from spawner.local import cgroups
from tests.support.browser import ARTIFACTS, launched
from tests.support.datalab import User, credentials, running, s3_client
from tests.support.idp import node_available
from tests.support.procs import CODE_SERVER

PROMISED = [
    "pandas",
    "pyarrow",
    "sklearn",
    "duckdb",
    "polars",
    "matplotlib",
    "boto3",
    "s3fs",
    "hvac",
    "psycopg",
]
R_READY = shutil.which("R") is not None and Path("/usr/share/jupyter/kernels/ir/kernel.json").exists()


@pytest.fixture(scope="module")
def lab():
    if not node_available():
        pytest.skip("the IdP's npm packages are not installed")
    with running("datalab-envs-") as run:
        name = "alice" if "alice" in run.passwords else next(iter(run.passwords))
        run.user = User(run, name)
        run.user.start({"service": "jupyter-python"})
        yield run


def environment_bin(lab) -> str:
    return lab.user.run("import sys, os; print(os.path.dirname(sys.executable))").strip()


def test_a_kernel_has_every_promised_library_and_writes_parquet_to_the_bucket(lab):
    out = lab.user.run(f"""
        import importlib, os
        for name in {PROMISED!r}:
            importlib.import_module(name)
        import pandas as pd
        url = f"s3://{{os.environ['DATALAB_S3_BUCKET']}}/environment-test/numbers.parquet"
        pd.DataFrame({{"x": [1, 2, 39]}}).to_parquet(url)
        print(int(pd.read_parquet(url).x.sum()))
    """)
    assert out.strip() == "42"
    s3 = s3_client(credentials(lab.url, lab.user.admin_token))
    bucket = credentials(lab.url, lab.user.admin_token)["s3"]["bucket"]
    head = s3.get_object(Bucket=bucket, Key="environment-test/numbers.parquet")["Body"].read(4)
    assert head == b"PAR1", "a real Parquet file in the user's bucket"


def test_a_terminal_has_the_sessions_tools_and_credentials(lab):
    env_bin = environment_bin(lab)
    out = lab.user.shell(
        "for t in python pip jupyter aws bao vault psql; do command -v $t; done; "
        "python -c 'import pandas; print(\"pandas\", pandas.__version__)'; "
        "echo from-a-terminal | aws s3 cp - s3://$DATALAB_S3_BUCKET/terminal.txt && "
        "aws s3 ls s3://$DATALAB_S3_BUCKET/; "
        'bao token lookup -format=json | python -c \'import json,sys; print("vault ok", bool(json.load(sys.stdin)["data"]["id"]))\''
    )
    lines = out.splitlines()
    found = dict(zip(["python", "pip", "jupyter", "aws", "bao"], lines[:5], strict=True))
    for tool, path in found.items():
        assert path == f"{env_bin}/{tool}", out
    assert lines[5].endswith("/vault") and lines[6].endswith("/psql"), out
    assert re.search(r"^pandas \d", out, re.M), out
    assert "terminal.txt" in out and "environment-test/" in out, out
    assert "vault ok True" in out, out


def test_a_vs_code_terminal_has_the_sessions_tools_and_credentials(lab):
    """Typed into VS Code's own terminal in a real browser: its python, aws and credentials are the
    session's (the command writes its answers into the home, read back through the contents API)."""
    if not CODE_SERVER.exists():
        pytest.skip("code-server is not installed (scripts/bootstrap.sh installs it)")
    user, env_bin = lab.user, environment_bin(lab)
    user.start({"service": "vscode-python"}, server="code")
    try:
        command = (
            "cd ~ && { echo PATH=$PATH; command -v python aws; python -c 'import pandas; print(\"pandas\", pandas.__version__)'; "
            "echo from-vs-code | aws s3 cp - s3://$DATALAB_S3_BUCKET/vscode.txt && "
            "aws s3 ls s3://$DATALAB_S3_BUCKET/; } > vscode-answers.txt 2>&1; mv vscode-answers.txt vscode-done.txt"
        )
        with launched(ARTIFACTS) as browser:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.add_cookies(
                [{"name": c.name, "value": c.value, "url": lab.url} for c in user.browser.cookies]
            )
            page = context.new_page()
            page.set_default_timeout(90_000)
            page.goto(f"{lab.url}/user/{user.name}/code/vscode/")
            page.wait_for_selector(".monaco-workbench")
            answers, deadline = None, time.monotonic() + 120
            while answers is None and time.monotonic() < deadline:
                if not page.locator(".xterm-helper-textarea").count():
                    page.keyboard.press("Control+Backquote")  # View > Terminal
                    page.wait_for_timeout(2000)
                    continue
                page.locator(".xterm-helper-textarea").first.focus()
                page.keyboard.type(command)
                page.keyboard.press("Enter")
                for _ in range(60):
                    r = user.get(f"/user/{user.name}/code/api/contents/vscode-done.txt?content=1")
                    if r.status_code == 200:
                        answers = r.json()["content"]
                        break
                    time.sleep(1)
            page.screenshot(path=str(ARTIFACTS / "vscode-terminal.png"))
            context.close()
        assert answers is not None, "the command typed into VS Code's terminal never finished"
        lines = answers.splitlines()
        assert lines[1:3] == [f"{env_bin}/python", f"{env_bin}/aws"], answers
        path = lines[0].removeprefix("PATH=").split(":")
        assert "/root" not in lines[0] and str(Path(__file__).resolve().parents[3] / ".venv") not in path, (
            "the hub's own PATH reached the session"
        )
        assert re.search(r"^pandas \d", answers, re.M), answers
        assert "vscode.txt" in answers, answers
    finally:
        user.stop("code")


def probe_wheel(directory: Path) -> Path:
    """A tiny pure-Python wheel, made here (sessions reach no package index)."""
    files = {
        "datalab_probe/__init__.py": b"ANSWER = 42\n",
        "datalab_probe-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: datalab-probe\nVersion: 1.0\n",
        "datalab_probe-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("datalab_probe-1.0.dist-info/RECORD,,")
    path = directory / "datalab_probe-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr("datalab_probe-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    path.chmod(0o644)
    return path


def test_a_user_install_survives_a_restart_and_can_be_removed(lab):
    wheels = lab.top / "wheels"
    wheels.mkdir(mode=0o755, exist_ok=True)
    wheel = probe_wheel(wheels)
    out = lab.user.shell(f"pip install --user --no-index --no-deps {wheel} 2>&1 | tail -n 1")
    assert "Successfully installed datalab-probe-1.0" in out, out
    lab.user.stop()
    lab.user.start({"service": "jupyter-python"})
    out = lab.user.run("import datalab_probe, os; print(datalab_probe.ANSWER, datalab_probe.__file__)")
    answer, where = out.split()
    assert answer == "42" and "/.local/lib/python3" in where
    # The documented reset (docs/sessions.md): the user's own packages go, the shared environment stays.
    lab.user.shell('rm -rf "$(python -m site --user-site)"')
    with pytest.raises(AssertionError, match="ModuleNotFoundError"):
        lab.user.run("import datalab_probe")
    assert lab.user.run("import pandas; print('ok')").strip() == "ok"


@pytest.mark.skipif(
    not R_READY, reason="Debian's R and IRkernel are not installed (bootstrap installs them as root)"
)
def test_r_reads_a_csv_from_the_bucket_and_a_row_from_postgresql(lab):
    creds = credentials(lab.url, lab.user.admin_token)
    csv = "speed,dist\n4,2\n7,4\n8,16\n"
    s3_client(creds).put_object(Bucket=creds["s3"]["bucket"], Key="r-test/cars.csv", Body=csv.encode())
    lab.user.start({"service": "jupyter-r", "postgres": True}, server="r")
    out = lab.user.run(
        """
        library(reticulate)
        boto3 <- import("boto3", convert = FALSE)
        resp <- boto3$client("s3")$get_object(Bucket = Sys.getenv("DATALAB_S3_BUCKET"), Key = "r-test/cars.csv")
        text <- py_to_r(resp$get("Body")$read()$decode("utf-8"))
        df <- readr::read_csv(I(text), show_col_types = FALSE)
        cat("rows", nrow(df), "speed", sum(df$speed), "\\n")
        con <- DBI::dbConnect(RPostgreSQL::PostgreSQL())
        cat("pg", DBI::dbGetQuery(con, "select 40 + 2 as answer")$answer, "\\n")
        DBI::dbDisconnect(con)
        """,
        server="r",
        kernel="ir",
    )
    assert "rows 3 speed 19" in out and "pg 42" in out, out
    lab.user.stop("r")


def spawn_page(lab, server: str) -> str:
    r = lab.user.browser.get(f"{lab.url}/hub/spawn/{lab.user.name}/{server}", timeout=60)
    assert r.status_code == 200, r.text[:500]
    return r.text


def test_the_form_offers_no_more_than_this_machine_has(lab):
    page = spawn_page(lab, "form")
    cpu = re.search(r'name="jupyter-python--cpu"[^>]*max="([0-9.]+)"', page)
    memory = re.search(r'name="jupyter-python--memory"[^>]*max="([0-9.]+)"', page)
    assert cpu and memory, page[:2000]
    cores = len(os.sched_getaffinity(0))
    gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    assert float(cpu.group(1)) == min(4, cores) and float(memory.group(1)) <= min(16, gib)
    if cgroups.detect().version is None:
        assert "CPU and memory limits are not enforced on this machine" in page
    else:
        assert "not enforced" not in page


@pytest.mark.skipif(cgroups.detect().version is None, reason=f"no cgroups here: {cgroups.detect().why_not}")
def test_a_session_over_its_memory_limit_is_stopped_and_the_hub_says_why(lab):
    lab.user.start({"service": "jupyter-python", "memory": 1}, server="small")
    try:  # the kernel dies under it: no answer, or an error, comes back
        out = lab.user.run("x = b'x' * (1536 * 1024**2)\nprint('survived')", server="small", timeout=60)
    except (TimeoutError, OSError, AssertionError, websocket.WebSocketException):
        out = ""
    assert "survived" not in out
    deadline = time.monotonic() + 90
    while lab.user.server("small"):
        assert time.monotonic() < deadline, "the session over its memory limit was not stopped"
        time.sleep(1)
    page = spawn_page(lab, "small")
    assert "session was stopped: it needed more than its memory limit of 1 GiB" in page
