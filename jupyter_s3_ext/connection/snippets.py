"""Ready-to-paste code for one S3 location, the session's PostgreSQL and its Vault folder (pure).

Every snippet relies on what the session already wires (the AWS config file with its credential_process,
`~/.vault-token`, the PG* variables), so none of them holds a key, a token or a password. Values are
quoted for their language (`repr` for Python, shell quoting for the CLI), never pasted raw.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class Snippet:
    id: str
    label: str
    language: str  # "python", "r" or "shell": the highlighting and the kind of kernel or terminal
    code: str

    def as_dict(self) -> dict:
        return {"id": self.id, "label": self.label, "language": self.language, "code": self.code}


def _r(text: str) -> str:
    """An R string literal (JSON's escaping is valid R)."""
    return json.dumps(text)


def _sql(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def s3_snippets(bucket: str, prefix: str, endpoint: str, region: str) -> list[Snippet]:
    """Listing and reading the location from Python (boto3, pandas/s3fs, DuckDB), R (paws) and the AWS CLI."""
    url = f"s3://{bucket}/{prefix}"
    host = endpoint.split("://", 1)[-1].rstrip("/")
    use_ssl = "false" if endpoint.startswith("http://") else "true"
    boto3 = (
        "import boto3\n\n"
        "# Endpoint, region and credentials that renew themselves come from $AWS_CONFIG_FILE.\n"
        's3 = boto3.client("s3")\n'
        f"listing = s3.list_objects_v2(Bucket={bucket!r}, Prefix={prefix!r}, MaxKeys=20)\n"
        'for obj in listing.get("Contents", []):\n'
        '    print(obj["Key"], obj["Size"])\n'
    )
    pandas = (
        "import pandas as pd\n"
        "import s3fs\n\n"
        "fs = s3fs.S3FileSystem()\n"
        f"print(fs.ls({url!r}))\n\n"
        f"# df = pd.read_csv({url + 'data.csv'!r})\n"
        f"# df.to_parquet({url + 'data.parquet'!r})\n"
    )
    secret = (
        f"CREATE SECRET (TYPE s3, PROVIDER credential_chain, ENDPOINT {_sql(host)}, "
        f"REGION {_sql(region)}, URL_STYLE 'path', USE_SSL {use_ssl})"
    )
    duckdb = (
        "import duckdb\n\n"
        "con = duckdb.connect()\n"
        "# httpfs and aws are DuckDB extensions: the first INSTALL downloads them.\n"
        'con.sql("INSTALL httpfs; LOAD httpfs; INSTALL aws; LOAD aws")\n'
        "# The secret reads the session's AWS profile once: run it again when it has expired.\n"
        f"con.sql({secret!r})\n"
        f"print(con.sql({'SELECT * FROM glob(' + _sql(url + '*') + ')'!r}))\n"
        f"# con.sql({'SELECT * FROM read_parquet(' + _sql(url + '*.parquet') + ')'!r}).df()\n"
    )
    r = (
        "library(paws)\n\n"
        "# Credentials that renew themselves come from the AWS config file ($AWS_CONFIG_FILE).\n"
        's3 <- paws::s3(config = list(endpoint = Sys.getenv("AWS_ENDPOINT_URL"),\n'
        '                             region = Sys.getenv("AWS_DEFAULT_REGION"), s3_force_path_style = TRUE))\n'
        f"listing <- s3$list_objects_v2(Bucket = {_r(bucket)}, Prefix = {_r(prefix)}, MaxKeys = 20)\n"
        'for (obj in listing$Contents) cat(obj$Key, obj$Size, "\\n")\n'
    )
    cli = f"aws s3 ls {shlex.quote(url)}\naws s3 cp ./data.csv {shlex.quote(url + 'data.csv')}\n"
    return [
        Snippet("python-boto3", "Python · boto3", "python", boto3),
        Snippet("python-pandas", "Python · pandas / s3fs", "python", pandas),
        Snippet("python-duckdb", "Python · DuckDB", "python", duckdb),
        Snippet("r-paws", "R · paws", "r", r),
        Snippet("aws-cli", "AWS CLI", "shell", cli),
    ]


def postgres_snippets() -> list[Snippet]:
    """The PG* variables are the connection: every client below reads them, the password included."""
    python = (
        "import psycopg\n\n"
        "# psycopg reads PGHOST, PGPORT, PGUSER, PGDATABASE and the password from the environment.\n"
        "with psycopg.connect() as conn:\n"
        '    print(conn.execute("select version()").fetchone()[0])\n'
    )
    r = (
        "library(DBI)\n\n"
        "# RPostgreSQL (Debian's r-cran-rpostgresql) or RPostgres: both read the PG* variables.\n"
        'con <- dbConnect(RPostgreSQL::PostgreSQL(), host = Sys.getenv("PGHOST"),\n'
        '                 port = as.integer(Sys.getenv("PGPORT")), user = Sys.getenv("PGUSER"),\n'
        '                 dbname = Sys.getenv("PGDATABASE"))\n'
        'dbGetQuery(con, "select version()")\n'
    )
    return [
        Snippet("postgres-python", "Python · psycopg", "python", python),
        Snippet("postgres-r", "R · DBI", "r", r),
        Snippet("postgres-psql", "psql", "shell", "psql -c 'select version()'\n"),
    ]


def vault_snippets(mount: str, top_dir: str) -> list[Snippet]:
    """Writing and reading a secret under the user's Vault folder (the token file is read by both)."""
    path = f"{top_dir}/example"
    python = (
        "import hvac\n\n"
        "# VAULT_ADDR and ~/.vault-token (renewed by the session) are read by hvac.Client().\n"
        "kv = hvac.Client().secrets.kv.v2\n"
        f'kv.create_or_update_secret(path={path!r}, secret={{"greeting": "hello"}}, mount_point={mount!r})\n'
        f"secret = kv.read_secret_version(path={path!r}, mount_point={mount!r}, raise_on_deleted_version=True)\n"
        'print(secret["data"]["data"]["greeting"])\n'
    )
    cli = (
        f"vault kv put -mount={shlex.quote(mount)} {shlex.quote(path)} greeting=hello\n"
        f"vault kv get -mount={shlex.quote(mount)} {shlex.quote(path)}\n"
        f"vault kv list -mount={shlex.quote(mount)} {shlex.quote(top_dir)}\n"
    )
    return [
        Snippet("vault-python", "Python · hvac", "python", python),
        Snippet("vault-cli", "Vault CLI", "shell", cli),
    ]
