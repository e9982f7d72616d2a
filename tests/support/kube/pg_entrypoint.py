"""What the postgres image's entrypoint does, with Debian's PostgreSQL binaries: the emulator's kubelet runs
a `postgres` container as `python -m tests.support.kube.pg_entrypoint ARGS...` with the container's env.

Like docker-entrypoint.sh: when $PGDATA holds no cluster, initdb it with $POSTGRES_USER as the superuser
(its password from $POSTGRES_PASSWORD, read from a 0600 file, never an argument), $POSTGRES_HOST_AUTH_METHOD
(default scram-sha-256) on TCP, then create $POSTGRES_DB; an existing cluster is used as it is. Then exec the container's command
(`postgres -c ...`), with unix sockets off (the container talks TCP on its own address).
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def bin_dir() -> Path | None:
    """Debian's newest PostgreSQL server binaries (postgresql package), None when not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def init_cluster(binaries: Path, data: Path, user: str, password: str, database: str, host_auth: str) -> None:
    data.mkdir(parents=True, exist_ok=True)
    data.chmod(0o700)
    with tempfile.NamedTemporaryFile("w", dir=data.parent, prefix=".pwfile-", delete=False) as f:
        f.write(password)
    try:
        subprocess.run(
            [binaries / "initdb", "-D", data, "-U", user, f"--pwfile={f.name}", "--auth-local=trust",
             f"--auth-host={host_auth}", "-E", "UTF8", "--locale=C.UTF-8"],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    finally:
        os.unlink(f.name)
    with open(data / "pg_hba.conf", "a") as hba:  # as the image does: any address, the chosen method
        hba.write(f"\nhost all all all {host_auth}\n")
    if database != "postgres":
        subprocess.run(
            [binaries / "postgres", "--single", "-D", data, "-j", "postgres"],
            input=f"CREATE DATABASE {_ident(database)} OWNER {_ident(user)};\n",
            text=True, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip


def main(argv: list[str]) -> None:
    binaries = bin_dir()
    if binaries is None:
        sys.exit("pg_entrypoint: no PostgreSQL server binaries (install Debian's postgresql package)")
    data = Path(os.environ.get("PGDATA", "/var/lib/postgresql/data"))
    if not (data / "PG_VERSION").exists():
        password = os.environ.get("POSTGRES_PASSWORD", "")
        if not password:
            sys.exit("pg_entrypoint: POSTGRES_PASSWORD is not set")
        user = os.environ.get("POSTGRES_USER", "postgres")
        database = os.environ.get("POSTGRES_DB", user)
        host_auth = os.environ.get("POSTGRES_HOST_AUTH_METHOD", "scram-sha-256")
        init_cluster(binaries, data, user, password, database, host_auth)
        print(f"pg_entrypoint: initialised a new cluster in {data}", flush=True)
    else:
        print(f"pg_entrypoint: using the existing cluster in {data}", flush=True)
    args = argv[1:] if argv and argv[0] == "postgres" else argv
    os.execv(binaries / "postgres", ["postgres", "-D", str(data), "-c", "unix_socket_directories=", *args])


if __name__ == "__main__":
    main(sys.argv[1:])
