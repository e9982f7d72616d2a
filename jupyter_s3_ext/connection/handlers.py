"""GET /datalab/connection: the "Connection details" panel's data (no secret: see details.py)."""

from __future__ import annotations

import json
import os

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..contents.mounts import build_table
from ..contents.settings import env_projects, project_mounts
from ..notices.projects import UNAVAILABLE_ENV, unavailable_projects
from .details import connection_details

AUTH_RESOURCE = "datalab_connection"


def mount_table(contents_manager, env, projects: list[dict] = ()) -> tuple[list, str | None]:
    """The file browser's mount table and S3 folder; without S3 contents, the own location and the projects'
    from the env."""
    side = getattr(contents_manager, "s3", None)
    if side is not None:
        return list(side.table), side.folder
    table, _ = build_table(
        own_bucket=env.get("DATALAB_S3_BUCKET", ""),
        own_prefix=env.get("DATALAB_S3_PREFIX", ""),
        group_buckets=project_mounts(projects),
    )
    return table, None


class ConnectionHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    def get(self) -> None:
        env = dict(os.environ)
        projects = env_projects(env.get("DATALAB_PROJECTS", ""), self.log)
        table, folder = mount_table(self.settings.get("contents_manager"), env, projects)
        unavailable = unavailable_projects(env.get(UNAVAILABLE_ENV))
        details = connection_details(table, env, s3_folder=folder, projects=projects, unavailable=unavailable)
        self.finish(json.dumps(details))
