"""GET /datalab/connection: the "Connection details" panel's data (no secret: see details.py)."""

from __future__ import annotations

import json
import os

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..contents.mounts import build_table
from .details import connection_details

AUTH_RESOURCE = "datalab_connection"


def mount_table(contents_manager, env) -> tuple[list, str | None]:
    """The file browser's mount table and S3 folder; without S3 contents, the own location from the env."""
    side = getattr(contents_manager, "s3", None)
    if side is not None:
        return list(side.table), side.folder
    table, _ = build_table(
        own_bucket=env.get("DATALAB_S3_BUCKET", ""), own_prefix=env.get("DATALAB_S3_PREFIX", "")
    )
    return table, None


class ConnectionHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    def get(self) -> None:
        env = dict(os.environ)
        table, folder = mount_table(self.settings.get("contents_manager"), env)
        self.finish(json.dumps(connection_details(table, env, s3_folder=folder)))
