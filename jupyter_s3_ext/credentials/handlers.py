"""GET /datalab/credentials/status: what the session has, when it expires, the last renewal error.

Never a secret: the model comes from `CredentialsRefresher.status()`, which has no key, token or
secret field at all.
"""

from __future__ import annotations

import json

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

AUTH_RESOURCE = "datalab_credentials"


class CredentialsStatusHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    def get(self) -> None:
        refresher = self.settings.get("datalab_credentials_refresher")
        if refresher is None:
            off = {"configured": False, "expected": False}
            self.finish(
                json.dumps(
                    {
                        "enabled": False,
                        "state": "off",
                        "missing": [],
                        "message": None,
                        "s3": off,
                        "vault": off,
                    }
                )
            )
            return
        self.finish(json.dumps({"enabled": True, **refresher.status()}))
