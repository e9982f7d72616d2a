"""`datalab-credentials`: the session's current credentials for tools outside the server process.

    datalab-credentials aws      the AWS `credential_process` JSON (Version 1), renewed when near expiry
    datalab-credentials env      `export` lines: eval "$(datalab-credentials env)" (static: re-run to refresh)
    datalab-credentials status   what is configured and when it expires, without any secret

Kept light to import: an AWS SDK may run it before every request when credentials are short-lived.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..session_env import region_of
from .document import CredentialsError
from .model import credential_process_output, describe, export_lines, utcnow
from .source import CredentialSource


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="datalab-credentials", description="Print this session's current S3 and Vault credentials."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("aws", help="credential_process output for AWS SDKs and the aws CLI")
    sub.add_parser("env", help="export lines for tools that only read environment variables")
    sub.add_parser("status", help="what is configured and when it expires (no secret)")
    return parser


def main(argv: list[str] | None = None) -> int:
    # Skip pydantic's search of every installed package for plugins (this command uses none): about 10 ms
    # of each run. It must precede the first parse, where the document's models build their schemas.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    args = _parser().parse_args(argv)
    source = CredentialSource.from_env()
    region = region_of(os.environ)
    try:
        if args.command == "aws":
            s3 = source.current().s3
            if s3 is None:
                raise CredentialsError("this session has no S3 credentials")
            print(json.dumps(credential_process_output(s3)))
        elif args.command == "env":
            print(export_lines(source.current(), region), end="")
        else:
            doc = source.cached()
            now = utcnow()
            print(json.dumps({"s3": describe(doc.s3, now), "vault": describe(doc.vault, now)}, indent=1))
    except (CredentialsError, OSError) as e:
        print(f"datalab-credentials: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
