"""`datalab profiles render SERVICE --user NAME ...`: the manifests the CatalogSpawner would create.

It runs the spawner's own code (CatalogSpawner.load_user_options, get_pod_manifest, the Secret and PVC
builders) with no cluster, so what it prints is what a spawn sends to Kubernetes: the pod, the
per-server Secret with its values redacted, and the home PVC. Invalid options print the same message
a spawn would give (naming the field and the allowed range) and exit 1.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime


def register(commands) -> None:
    render = commands.add(
        "profiles",
        "render",
        help="print the pod, Secret (values redacted) and PVC the spawner would create for a service",
    )
    render.add_argument("service", help="the service slug, e.g. jupyter-python")
    render.add_argument("--user", required=True, metavar="NAME", help="the user the server is for")
    render.add_argument(
        "--groups",
        default="datalab-users",
        metavar="G1,G2",
        help="the user's groups, comma-separated (default: datalab-users)",
    )
    render.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option as in user_options (image, cpu, memory, gpu, storage, git_repository, postgres); repeatable",
    )
    render.add_argument(
        "--server", default="", metavar="NAME", help="a named server (default: the default server)"
    )
    render.add_argument(
        "--catalog", metavar="DIR", help="the catalog directory (default: the one the hub uses)"
    )
    render.add_argument(
        "--config", metavar="FILE", help="a jupyterhub_config.py whose KubeSpawner settings apply"
    )
    render.add_argument(
        "--at",
        metavar="ISO8601",
        help="resolve the catalog at this moment (time windows), e.g. 2026-12-01T09:00Z",
    )
    render.set_defaults(func=run_render)


def parse_options(service: str, pairs: list[str]) -> dict[str, str]:
    """`KEY=VALUE` strings -> user_options (values stay strings, as a form or launch link sends them)."""
    options = {"service": service}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--option {pair!r}: expected KEY=VALUE")
        options[key.strip()] = value
    return options


def parse_moment(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--at {text!r}: expected an ISO 8601 date and time") from None


def load_config_file(path: str):
    import os

    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader(os.path.basename(path), os.path.dirname(os.path.abspath(path))).load_config()


def run_render(args: argparse.Namespace) -> int:
    import asyncio

    import yaml
    from traitlets.config import Config

    from spawner.errors import SpawnException
    from spawner.kube.pod import redact_secret

    try:
        options = parse_options(args.service, args.option)
        moment = parse_moment(args.at) if args.at else None
    except ValueError as e:
        print(f"datalab: {e}", file=sys.stderr)
        return 2
    config = load_config_file(args.config) if args.config else Config()
    if args.catalog:
        config.CatalogSpawner.catalog_dir = args.catalog
    groups = [g.strip() for g in args.groups.split(",") if g.strip()]
    try:
        manifests = asyncio.run(_render(args.user, groups, args.server, options, config, moment))
    except SpawnException as e:
        print(f"datalab: invalid options ({e.status_code}): {e.message}", file=sys.stderr)
        return 1
    documents = [manifests.pod, redact_secret(manifests.secret)]
    if manifests.pvc:
        documents.append(manifests.pvc)
    sys.stdout.write(yaml.safe_dump_all(documents, sort_keys=False, explicit_start=True))
    return 0


async def _render(username, groups, server_name, options, config, moment):
    from spawner.kube.offline import build_manifests, make_spawner, offline_kube_config

    with offline_kube_config():
        spawner = make_spawner(
            username=username, groups=groups, server_name=server_name, user_options=options, config=config
        )
        if moment is not None:
            spawner.now = lambda: moment
        return await build_manifests(spawner)
