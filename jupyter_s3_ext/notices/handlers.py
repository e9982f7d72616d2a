"""GET /datalab/notices: what the front end shows the user on opening (computed at the server's start)."""

from __future__ import annotations

import json

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

AUTH_RESOURCE = "datalab_notices"


class NoticesHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    def get(self) -> None:
        self.finish(json.dumps({"notices": self.settings.get("datalab_notices", [])}))
