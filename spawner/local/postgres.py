"""A real PostgreSQL server for one local session: data in the user's home, run as the user, its own
port on 127.0.0.1 and a socket in the session's private directory, stopped with the session.

Roles. The cluster's superuser is `postgres` (initdb's bootstrap role): only the backend reaches it, by
peer authentication on the private socket mapped from the account running the hub (root, when sessions
have their own accounts). The session's role (`pg.user`) is an ordinary role that owns its database: no
superuser, so it cannot run programs or read server files (`COPY ... FROM PROGRAM` is refused).
Its password is new at every start; it goes to psql on stdin as a SCRAM verifier (never on a command
line, never in plain text to the server) and reaches the session only through a 0600 pgpass file
(PGPASSFILE). pg_hba.conf and pg_ident.conf are in the session's private directory, the user's to read
only, and given on the server's command line (which overrides anything in the data directory).

A cluster made before this (initdb -U <pg.user>, so the session's role was the bootstrap superuser) is
migrated in place at its first start: the bootstrap role is renamed `postgres`, an ordinary `pg.user` is
created and given the database and the schemas, tables, views, sequences, routines and types that the old
role owned in it. Anything else it owned (large objects, objects in other databases) stays `postgres`'s.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import pwd
import secrets
from collections.abc import Mapping
from pathlib import Path

from ..plan import PostgresSidecar
from .accounts import Account
from .session import CommandFailed, make_user_dir, run_as, write_user_file

ADMIN_ROLE = "postgres"
ADMIN_MAP = "datalab_admin"
SCRAM_ITERATIONS = 4096


def data_dir(home: Path, server_name: str) -> Path:
    return home / ".datalab" / "postgres" / (server_name or "default")


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_ident(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


# -- what the server is told (pure) -----------------------------------------------------------------------


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """What PostgreSQL stores for a SCRAM-SHA-256 password (RFC 5802 / 7677), made here so that the server
    never sees the password itself. ASCII passwords only (ours are): no SASLprep."""
    salt = salt or secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("ascii"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def hba_conf(admin_roles: list[str]) -> str:
    """Admin roles by peer authentication (mapped), everyone else by SCRAM password only."""
    lines = [f"local all {_sql_ident(r)} peer map={ADMIN_MAP}" for r in admin_roles]
    lines += [f"host all {_sql_ident(r)} all reject" for r in admin_roles]
    lines += [
        "local all all scram-sha-256",
        "host all all 127.0.0.1/32 scram-sha-256",
        "host all all ::1/128 scram-sha-256",
    ]
    return (
        "# Written by the local backend (spawner/local/postgres.py) at every start.\n"
        + "\n".join(lines)
        + "\n"
    )


def ident_conf(admin_os_user: str, admin_roles: list[str]) -> str:
    return "".join(f"{ADMIN_MAP} {admin_os_user} {r}\n" for r in admin_roles)


def setup_sql(pg: PostgresSidecar, verifier: str) -> str:
    """The session's role (ordinary, owner of its database) with a new password; then reload pg_hba.conf."""
    user, db = pg.user, pg.database
    return f"""\
SELECT format('CREATE ROLE %I', {_sql_literal(user)})
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {_sql_literal(user)}) \\gexec
ALTER ROLE {_sql_ident(user)} WITH LOGIN NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS CREATEDB
 PASSWORD {_sql_literal(verifier)};
SELECT format('REVOKE %I FROM %I', r.rolname, {_sql_literal(user)}) FROM pg_auth_members m
 JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
 WHERE u.rolname = {_sql_literal(user)} \\gexec
SELECT format('CREATE DATABASE %I OWNER %I', {_sql_literal(db)}, {_sql_literal(user)})
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = {_sql_literal(db)}) \\gexec
ALTER DATABASE {_sql_ident(db)} OWNER TO {_sql_ident(user)};
SELECT pg_reload_conf();
"""


def migration_sql(pg: PostgresSidecar) -> str:
    """Run as the old bootstrap role `pg.user`, in its database, in one transaction (see the module doc)."""
    user, to = _sql_literal(pg.user), _sql_ident(pg.user)
    system = "n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'"
    return f"""\
CREATE ROLE datalab_migrate SUPERUSER;
SET SESSION AUTHORIZATION datalab_migrate;
ALTER ROLE {to} RENAME TO {ADMIN_ROLE};
CREATE ROLE {to} LOGIN;
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT n.nspname FROM pg_namespace n WHERE n.nspowner = 10 AND {system} AND n.nspname <> 'public' LOOP
    EXECUTE format('ALTER SCHEMA %I OWNER TO %I', r.nspname, {user});
  END LOOP;
  FOR r IN SELECT c.oid::regclass AS name, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relowner = 10 AND {system} AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
        AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                        AND d.deptype IN ('a', 'i')) LOOP
    EXECUTE format('ALTER %s %s OWNER TO %I', CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
      WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, r.name, {user});
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE p.proowner = 10 AND {system} LOOP
    EXECUTE format('ALTER ROUTINE %s OWNER TO %I', r.name, {user});
  END LOOP;
  FOR r IN SELECT t.oid::regtype AS name FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE t.typowner = 10 AND {system} AND t.typtype IN ('e', 'd', 'r', 'm') LOOP
    EXECUTE format('ALTER TYPE %s OWNER TO %I', r.name, {user});
  END LOOP;
END $$;
RESET SESSION AUTHORIZATION;
DROP ROLE datalab_migrate;
"""  # noqa: E501


# -- doing ------------------------------------------------------------------------------------------------


def _write_config(path: Path, text: str, account: Account) -> Path:
    """A server configuration file the user's server reads and the user cannot change (root's, group theirs,
    0640), replacing the previous one atomically in the session's private directory (ours)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o640)
    try:
        if os.geteuid() == 0:
            os.fchown(fd, 0, account.gid)
        os.fchmod(fd, 0o640)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def _admin_env(env: Mapping[str, str]) -> dict[str, str]:
    """psql as the hub's own account: nothing read from the user's home (no psqlrc, pgpass or services)."""
    kept = {k: env[k] for k in ("PATH", "LANG", "DATALAB_STACK") if k in env}
    return {**kept, "HOME": "/", "PGPASSFILE": os.devnull, "PGSERVICEFILE": os.devnull}


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
    """initdb (first time), start, migrate an old cluster, set the role and database; the session's PG* env."""
    if pg.user == ADMIN_ROLE:
        raise ValueError(
            f"the session's PostgreSQL role cannot be {ADMIN_ROLE!r}, the server's own superuser"
        )
    b = Path(bin_dir)
    await run_as(account, ["mkdir", "-p", str(data.parent)], env=env)
    fresh = not (data / "PG_VERSION").exists()
    if fresh:
        await run_as(
            account,
            [str(b / "initdb"), "-D", str(data), "-U", ADMIN_ROLE, "--auth-local=peer",
             "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"],
            env=env, limit=120,
        )  # fmt: skip
    admin_user = pwd.getpwuid(os.geteuid()).pw_name
    roles = [ADMIN_ROLE] if fresh else [ADMIN_ROLE, pg.user]  # an old cluster's superuser is pg.user
    hba = _write_config(session_dir / "pg_hba.conf", hba_conf(roles), account)
    ident = _write_config(session_dir / "pg_ident.conf", ident_conf(admin_user, roles), account)
    sock = make_user_dir(session_dir, "postgres", account)
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c unix_socket_permissions=0700 "
        f"-c hba_file={hba} -c ident_file={ident}"
    )
    log = session_dir / "postgres" / "postgres.log"
    await run_as(
        account,
        [str(b / "pg_ctl"), "start", "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", options],
        env=env,
        limit=90,
    )
    admin = Account.current(Path("/"))
    psql = [
        str(b / "psql"),
        "-X",
        "-h",
        str(sock),
        "-p",
        str(port),
        "-v",
        "ON_ERROR_STOP=1",
        "-qAt",
        "-f",
        "-",
    ]
    aenv = _admin_env(env)
    if not fresh:
        try:
            await run_as(admin, [*psql, "-U", ADMIN_ROLE, "-d", "postgres"], env=aenv, stdin="SELECT 1;\n")
        except CommandFailed as e:
            if f'role "{ADMIN_ROLE}" does not exist' not in e.output:
                raise
            await run_as(
                admin, [*psql, "--single-transaction", "-U", pg.user, "-d", pg.database], env=aenv,
                stdin=migration_sql(pg),
            )  # fmt: skip
        _write_config(hba, hba_conf([ADMIN_ROLE]), account)
        _write_config(ident, ident_conf(admin_user, [ADMIN_ROLE]), account)
    password = secrets.token_urlsafe(24)
    await run_as(
        admin,
        [*psql, "-U", ADMIN_ROLE, "-d", "postgres"],
        env=aenv,
        stdin=setup_sql(pg, scram_verifier(password)),
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
