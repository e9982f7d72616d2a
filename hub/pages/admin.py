"""Services of every user, for admins: `/hub/datalab/admin/services` (linked from the nav bar for admins).

JupyterHub's admin panel lists servers but not what they run: this page says, for every server that is
running, starting or stopping, its user, name, service, resources, start and last activity, read from
the hub's database (`user_options`, kept by JupyterHub for every server) and, for the servers this hub
process started, their launch plan. Admins only (403 otherwise); links go to JupyterHub's admin panel.
"""

from __future__ import annotations

from jupyterhub import orm
from jupyterhub.handlers.base import BaseHandler
from tornado import web

from .services import ago, server_view


def offers_by_service(user) -> dict:
    try:
        return {o.service: o for o in user.spawner.offers()}
    except Exception:  # another spawner class, or no catalog: rows without display names
        return {}


class AdminServicesHandler(BaseHandler):
    """GET: a table of every active server and what it runs."""

    @web.authenticated
    async def get(self):
        me = self.current_user
        if not me.admin:
            raise web.HTTPError(403, "Only admins see every user's services")
        rows = []
        active = self.db.query(orm.Spawner).filter(orm.Spawner.server_id.isnot(None)).all()
        names = sorted({s.user.name for s in active} | {u.name for u in self.users.values() if u.active})
        for name in names:
            user = self.find_user(name)
            if user is None:
                continue
            offers = None
            for _, spawner in sorted(user.spawners.items(), key=lambda item: item[0]):
                if not (spawner.active or spawner.ready):
                    continue
                if offers is None:
                    offers = offers_by_service(user)
                rows.append(server_view(user.name, spawner, offers))
        page = await self.render_template("datalab_admin_services.html", rows=rows, ago=ago)
        self.finish(page)


HANDLERS = [(r"/datalab/admin/services/?", AdminServicesHandler)]
