"""The session's PostgreSQL: a real server run as a user's account. The session's role owns its database
but is no superuser (no program runs on the server), its password never appears in a command line, and a
cluster made the old way (the session's role as initdb's superuser) is migrated keeping the user's tables.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest

from spawner.local import postgres
from spawner.local.accounts import Account, ensure_account
from spawner.local.session import make_session_dir, postgres_bin_dir, run_as
from spawner.plan import PostgresSidecar
from tests.support.log_secrets import register_secret
from tests.support.procs import free_port

BIN = postgres_bin_dir()
pytestmark = pytest.mark.skipif(BIN is None, reason="PostgreSQL is not installed")
PG = PostgresSidecar(image="unused")


def test_the_server_is_told_peer_for_its_superuser_and_passwords_for_everyone_else():
    hba = postgres.hba_conf(["postgres"])
    assert 'local all "postgres" peer map=datalab_admin' in hba
    assert 'host all "postgres" all reject' in hba and "trust" not in hba
    assert postgres.ident_conf("root", ["postgres"]) == "datalab_admin root postgres\n"
    verifier = postgres.scram_verifier("pw", salt=b"0123456789abcdef")
    assert verifier.startswith("SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$")
    sql = postgres.setup_sql(PG, verifier)
    assert "NOSUPERUSER" in sql and verifier in sql
    with pytest.raises(ValueError, match="cannot be 'postgres'"):
        asyncio.run(postgres.start(None, PostgresSidecar(image="x", user="postgres"), bin_dir="", data=Path(),
                                   session_dir=Path(), port=1, env={}))  # fmt: skip


@pytest.fixture
def pg_account():
    """A session account of its own (as root), or this process's account; a home reachable by it."""
    top = Path(tempfile.mkdtemp(prefix="datalab-pg-", dir="/tmp"))
    os.chmod(top, 0o711)
    name, account = "dlp" + uuid.uuid4().hex[:6], None
    try:
        if os.geteuid() == 0:
            account = asyncio.run(ensure_account(name, top / name))
        else:
            (top / "home").mkdir(mode=0o700)
            account = Account.current(top / "home")
        yield account, top
    finally:
        # a server a failed test left running
        for pid_file in top.glob("*/*/postmaster.pid") if account else ():
            stop(account, pid_file.parent)
        if os.geteuid() == 0:
            subprocess.run(["userdel", name], capture_output=True)
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def recorded(monkeypatch):
    """Every command postgres.start runs: (argv, stdin)."""
    calls = []

    async def recording(acct, argv, **kw):
        calls.append((argv, kw.get("stdin") or ""))
        return await run_as(acct, argv, **kw)

    monkeypatch.setattr(postgres, "run_as", recording)
    return calls


def start(account, top: Path, data: Path) -> tuple[dict, Path]:
    sdir = top / ("run-" + uuid.uuid4().hex[:6])
    make_session_dir(sdir, account)
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(account.home)}
    pg_env = asyncio.run(
        postgres.start(account, PG, bin_dir=BIN, data=data, session_dir=sdir, port=free_port(), env=env)
    )
    return pg_env, sdir


def connect(pg_env: dict) -> psycopg.Connection:
    line = Path(pg_env["PGPASSFILE"]).read_text().splitlines()[0]
    host, port, _, user, password = line.split(":", 4)
    return psycopg.connect(host=host, port=port, user=user, password=password, dbname=pg_env["PGDATABASE"])


def stop(account, data: Path) -> None:
    asyncio.run(postgres.stop(account, bin_dir=BIN, data=data, env={"PATH": "/usr/bin:/bin"}))


def test_an_old_cluster_is_migrated_and_the_session_role_cannot_run_programs(pg_account, recorded):
    account, top = pg_account
    data = account.home / "pg"
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    b = Path(BIN)
    # The way clusters were made before: the session's role is the bootstrap superuser.
    sock = account.home / "sock"

    async def old_cluster():
        await run_as(account, ["mkdir", "-p", str(sock)], env=env)
        await run_as(account, [str(b / "initdb"), "-D", str(data), "-U", "datalab", "--auth-local=trust",
                               "-E", "UTF8", "--locale=C.UTF-8"], env=env, limit=120)  # fmt: skip
        opts = f"-c listen_addresses= -k {sock}"
        await run_as(
            account,
            [
                str(b / "pg_ctl"),
                "start",
                "-D",
                str(data),
                "-l",
                str(account.home / "old.log"),
                "-w",
                "-o",
                opts,
            ],
            env=env,
        )
        psql = [str(b / "psql"), "-X", "-h", str(sock), "-U", "datalab", "-v", "ON_ERROR_STOP=1"]
        await run_as(account, [*psql, "-d", "postgres", "-c", "CREATE DATABASE datalab"], env=env)
        await run_as(
            account,
            [
                *psql,
                "-d",
                "datalab",
                "-c",
                "CREATE SCHEMA s; CREATE TABLE s.notes (t text); "
                "INSERT INTO s.notes VALUES ('kept'); CREATE TABLE counts (n serial)",
            ],
            env=env,
        )
        await run_as(account, [str(b / "pg_ctl"), "stop", "-D", str(data), "-w"], env=env)  # fmt: skip

    asyncio.run(old_cluster())
    for attempt in ("migrated", "already new"):
        recorded.clear()
        pg_env, sdir = start(account, top, data)
        try:
            password = Path(pg_env["PGPASSFILE"]).read_text().splitlines()[0].rsplit(":", 1)[1]
            register_secret(password)
            assert not [a for a, _ in recorded if any(password in part for part in a)], attempt
            assert not [s for _, s in recorded if password in s]  # only its SCRAM verifier went to psql
            assert oct(Path(pg_env["PGPASSFILE"]).stat().st_mode & 0o777) == "0o600"
            with connect(pg_env) as conn:
                assert conn.execute("SELECT t FROM s.notes").fetchone() == ("kept",), attempt
                conn.execute("INSERT INTO counts DEFAULT VALUES")  # owner of its table and its sequence
                row = conn.execute("SELECT rolsuper, current_user FROM pg_roles WHERE rolname = current_user")
                assert row.fetchone() == (False, "datalab")
                owner = conn.execute(
                    "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'datalab'"
                )
                assert owner.fetchone() == ("datalab",)
                conn.execute("CREATE TEMP TABLE loot (line text)")
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute("COPY loot FROM PROGRAM 'id'")
            with pytest.raises(psycopg.OperationalError):  # the superuser takes no password over TCP
                psycopg.connect(host="127.0.0.1", port=pg_env["PGPORT"], user="postgres", password=password,
                                dbname="postgres", connect_timeout=5)  # fmt: skip
        finally:
            stop(account, data)
            shutil.rmtree(sdir, ignore_errors=True)


def test_a_new_cluster_has_the_same_roles(pg_account, recorded):
    account, top = pg_account
    data = account.home / "fresh"
    pg_env, sdir = start(account, top, data)
    try:
        assert ["-U", "postgres"] == next(a for a, _ in recorded if a[0].endswith("initdb"))[3:5]
        with connect(pg_env) as conn:
            assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (
                False,
            )
            conn.execute("CREATE TABLE t (x int)")
    finally:
        stop(account, data)
        shutil.rmtree(sdir, ignore_errors=True)
