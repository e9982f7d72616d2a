"""A real PostgreSQL server for one local session: data in the user's home, run as the user, its own
port on 127.0.0.1 and a socket in the session's private directory, stopped with the session.

The database lives in the user's home, so it survives the session; its password is new at every start and
reaches the session only through a 0600 pgpass file (PGPASSFILE), never an environment variable.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path

from ..plan import PostgresSidecar
from .accounts import Account
from .session import CommandFailed, make_user_dir, run_as, write_user_file


def data_dir(home: Path, server_name: str) -> Path:
    return home / ".datalab" / "postgres" / (server_name or "default")


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_ident(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


async def start(
    account: Account,
    pg: PostgresSidecar,
    *,
    bin_dir: str,
    data: Path,
    session_dir: Path,
    port: int,
    env: Mapping[str, str],
) -> dict[str, str]:
    """initdb (first time), start, set a fresh password, create the database; the session's PG* env."""
    b = Path(bin_dir)
    await run_as(account, ["mkdir", "-p", str(data.parent)], env=env)
    if not (data / "PG_VERSION").exists():
        await run_as(
            account,
            [str(b / "initdb"), "-D", str(data), "-U", pg.user, "--auth-local=trust",
             "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"],
            env=env, limit=120,
        )  # fmt: skip
    sock = make_user_dir(session_dir, "postgres", account)
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c unix_socket_permissions=0700"
    log = session_dir / "postgres" / "postgres.log"
    await run_as(
        account,
        [str(b / "pg_ctl"), "start", "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", options],
        env=env,
        limit=90,
    )
    password = secrets.token_urlsafe(24)
    psql = [str(b / "psql"), "-h", str(sock), "-p", str(port), "-U", pg.user, "-v", "ON_ERROR_STOP=1", "-qAt"]
    await run_as(
        account,
        [
            *psql,
            "-d",
            "postgres",
            "-c",
            f"ALTER ROLE {_sql_ident(pg.user)} PASSWORD {_sql_literal(password)}",
        ],
        env=env,
    )
    exists = await run_as(
        account,
        [
            *psql,
            "-d",
            "postgres",
            "-c",
            f"SELECT 1 FROM pg_database WHERE datname = {_sql_literal(pg.database)}",
        ],
        env=env,
    )
    if exists.strip() != "1":
        await run_as(
            account, [*psql, "-d", "postgres", "-c", f"CREATE DATABASE {_sql_ident(pg.database)}"], env=env
        )
    lines = [f"{host}:{port}:*:{pg.user}:{password}" for host in ("127.0.0.1", "localhost")]
    passfile = write_user_file(session_dir, "pgpass", "\n".join(lines) + "\n", account)
    return {
        "PGHOST": "127.0.0.1",
        "PGPORT": str(port),
        "PGUSER": pg.user,
        "PGDATABASE": pg.database,
        "PGPASSFILE": str(passfile),
    }


async def stop(account: Account, *, bin_dir: str, data: Path, env: Mapping[str, str]) -> None:
    """Fast shutdown (sessions are ending anyway); a server already stopped is fine."""
    if not (data / "postmaster.pid").exists():
        return
    try:
        await run_as(
            account, [str(Path(bin_dir) / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w", "-t", "10"],
            env=env, limit=20,
        )  # fmt: skip
    except CommandFailed as e:
        if "is the server running" not in e.output:
            raise
