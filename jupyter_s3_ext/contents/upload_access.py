"""Who may upload where: the checks the streamed and the direct uploads share, with the same messages.

Both are requests on a path in the S3 folder (`.../<s3 folder>/<location>/...`) that write an object,
checked as the contents API would check a save (resource "contents", action "write"): an anonymous
request 403, no S3 folder 404, a hidden path 400, a read-only dataset 403, the folder's root or a path
outside the locations 400/403/404 (`S3Side.target`).
"""

from __future__ import annotations

from jupyter_server.base.handlers import APIHandler
from tornado import web

from .client import shown
from .mounts import Mount

MAX_PARTS = 10_000  # S3's limit on the parts of one object
MAX_OBJECT = 5 * 1024**4  # S3's largest object


def part_size_for(length: int, part_size: int) -> int:
    """The configured part size, or the MiB multiple that fits `length` in S3's 10,000 parts."""
    needed = -(-length // MAX_PARTS)
    return max(part_size, -(-needed // 2**20) * 2**20)


def too_big(length: int) -> web.HTTPError:
    return web.HTTPError(413, f"{length} bytes is more than S3 takes in one object (5 TiB)")


class S3FolderRequest(APIHandler):
    """A request on the S3 folder: authenticated and authorized in `prepare` (write unless GET/HEAD)."""

    auth_resource = "contents"

    @property
    def s3(self):
        return getattr(self.contents_manager, "s3", None)

    async def prepare(self):
        await super().prepare()
        if self.current_user is None:
            raise web.HTTPError(403)
        if self.s3 is None:
            raise web.HTTPError(404, "no S3 folder in this session")
        action = "read" if self.request.method in ("GET", "HEAD") else "write"
        if not self.authorizer.is_authorized(self, self.current_user, action, self.auth_resource):
            raise web.HTTPError(403)

    def upload_target(self) -> tuple[str, str, Mount, str]:
        """(API path, path in the S3 folder, mount, rest) of the file this request writes, or its refusal."""
        path = self.path_kwargs["path"].strip("/")
        if self.contents_manager.is_hidden_path(path):
            raise web.HTTPError(400, f"{shown(path)} is a hidden path")
        rel = path[len(self.s3.folder) + 1 :]
        mount, rest = self.s3.target(rel, write=True)  # 403 read-only, 400/403/404 outside the locations
        return path, rel, mount, rest
