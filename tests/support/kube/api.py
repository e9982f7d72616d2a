"""The HTTP face of the emulator (aiohttp): discovery, and core/v1 create/get/list/watch/replace/patch/delete."""

from __future__ import annotations

import json

from aiohttp import web

from tests.support.kube import objects, tables
from tests.support.kube.errors import ApiError
from tests.support.kube.faults import Faults
from tests.support.kube.patch import apply_patch
from tests.support.kube.rbac import Subject, authorize, verb_of
from tests.support.kube.selectors import Selector
from tests.support.kube.store import RESOURCES, Store, resource
from tests.support.kube.watch import Watches

VERBS_NAMESPACED = ["create", "delete", "get", "list", "patch", "update", "watch"]


def _json(body, status: int = 200, warnings: list[str] = ()) -> web.Response:
    response = web.Response(status=status, text=json.dumps(body), content_type="application/json")
    for warning in warnings:  # RFC 7234 warn-code 299, the way the API server sends them
        response.headers.add("Warning", "299 - " + json.dumps(warning))
    return response


def _error(error: ApiError) -> web.Response:
    return _json(error.status(), error.code)


async def _body(request: web.Request):
    try:
        return json.loads(await request.read() or b"null")
    except ValueError as e:
        raise ApiError.bad_request(f"the request body is not valid JSON: {e}") from None


class Api:
    """Routes requests to the store. One instance per emulator; `app()` builds a fresh aiohttp app."""

    def __init__(self, store: Store, faults: Faults, watches: Watches):
        self.store = store
        self.faults = faults
        self.watches = watches
        self.port = 0
        self.subjects: dict[str, Subject] = {}  # bearer token -> bound Role (others are cluster admins)

    def _authorize(self, request, plural, namespace, name, subresource) -> None:
        auth = request.headers.get("Authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        watch = request.query.get("watch", "").lower() in ("true", "1")
        verb = verb_of(request.method, name is not None, watch)
        resource = f"{plural}/{subresource}" if subresource else plural
        authorize(self.subjects.get(token), verb, resource, namespace or "", name)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.faults.middleware], client_max_size=16 * 1024**2)
        app.router.add_get("/version", self.version)
        app.router.add_get("/api", self.api_versions)
        app.router.add_get("/apis", self.api_groups)
        app.router.add_get("/api/v1", self.api_resources)
        for probe in ("/healthz", "/livez", "/readyz"):
            app.router.add_get(probe, self.healthz)
        app.router.add_route("*", "/api/v1/{tail:.+}", self.dispatch)
        return app

    # -- discovery -----------------------------------------------------------------------------------

    async def version(self, request):
        major, minor = objects.KUBE_VERSION.split(".")
        return _json(
            {
                "major": major,
                "minor": minor,
                "gitVersion": f"v{objects.KUBE_VERSION}.0-datalab-emulator",
                "platform": "linux/amd64",
                "goVersion": "go1.24",
                "compiler": "gc",
            }
        )

    async def api_versions(self, request):
        address = f"127.0.0.1:{self.port}"
        return _json(
            {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
            }
        )

    async def api_groups(self, request):
        return _json({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})

    async def api_resources(self, request):
        resources = [
            {
                "name": r.plural,
                "singularName": r.singular,
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": VERBS_NAMESPACED,
                "shortNames": list(r.short_names),
            }
            for r in RESOURCES.values()
        ]
        return _json({"kind": "APIResourceList", "groupVersion": "v1", "resources": resources})

    async def healthz(self, request):
        return web.Response(text="ok")

    # -- resources -----------------------------------------------------------------------------------

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        try:
            parts = request.match_info["tail"].strip("/").split("/")
            namespace, name, subresource = None, None, None
            if parts[0] == "namespaces" and len(parts) >= 3:
                namespace, plural, *rest = parts[1:]
            elif parts[0] == "namespaces":
                plural, rest = "namespaces", parts[1:]
            else:
                plural, *rest = parts
            res = resource(plural)
            if rest:
                name, *sub = rest
                subresource = sub[0] if sub else None
                if subresource not in (None, "status") or len(sub) > 1:
                    raise ApiError.not_found(plural, name, "the server could not find the requested resource")
            if namespace is None and res.namespaced and name is not None:
                raise ApiError.not_found(plural, name, "the server could not find the requested resource")
            ns = "" if not res.namespaced else namespace
            self._authorize(request, plural, ns, name, subresource)
            method = request.method
            if name is None:
                if method == "GET":
                    return await self.list(request, plural, ns)
                if method == "POST" and (ns is not None or not res.namespaced):
                    return await self.create(request, plural, ns)
                raise ApiError.method_not_allowed()
            if method == "GET":
                obj = self.store.get(plural, ns, name)
                if "as=Table" in request.headers.get("Accept", ""):
                    return _json(tables.table(plural, [obj], self.store.resource_version))
                return _json(obj)
            if method == "DELETE":
                return await self.delete(request, plural, ns, name)
            if method == "PUT":
                return await self.replace(request, plural, ns, name, subresource)
            if method == "PATCH":
                return await self.patch(request, plural, ns, name)
            raise ApiError.method_not_allowed()
        except ApiError as e:
            return _error(e)

    async def list(self, request: web.Request, plural: str, namespace: str | None) -> web.StreamResponse:
        q = request.query
        selector = Selector.parse(q.get("labelSelector"), q.get("fieldSelector"), plural=plural)
        ns = namespace or None
        if q.get("watch", "").lower() in ("true", "1"):
            timeout = float(q["timeoutSeconds"]) if q.get("timeoutSeconds") else None
            return await self.watches.serve(request, plural, ns, selector, q.get("resourceVersion"), timeout)
        items, rv = self.store.list(plural, ns, selector, shared=True)  # only serialized
        items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        if "as=Table" in request.headers.get("Accept", ""):
            return _json(tables.table(plural, items, rv))
        kind = RESOURCES[plural].kind + "List"
        return _json(
            {"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": str(rv)}, "items": items}
        )

    async def create(self, request: web.Request, plural: str, namespace: str) -> web.Response:
        body = await _body(request)
        obj = objects.prepare(plural, body)
        body_ns = obj["metadata"].get("namespace")
        if RESOURCES[plural].namespaced and body_ns and body_ns != namespace:
            raise ApiError.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        warnings = objects.admit_fields(plural, obj, request.query.get("fieldValidation"))
        objects.validate(plural, obj)
        if request.query.get("dryRun"):
            return _json(obj, 201, warnings)
        return _json(self.store.create(plural, namespace, obj), 201, warnings)

    async def replace(self, request, plural: str, namespace: str, name: str, subresource: str | None):
        body = objects.prepare(plural, await _body(request))
        if body["metadata"].get("name", name) != name:
            raise ApiError.bad_request(
                f"the name of the object ({body['metadata'].get('name')}) does not match the name on the URL ({name})"
            )
        current = self.store.get(plural, namespace, name)
        body["metadata"]["name"] = name
        if subresource == "status":
            body = {**current, "status": body.get("status", {})}
        elif "status" in current:
            body["status"] = current["status"]
        warnings = objects.admit_fields(plural, body, request.query.get("fieldValidation"))
        objects.validate(plural, body)
        rv = body["metadata"].get("resourceVersion")
        return _json(self.store.update(plural, namespace, name, lambda _: body, rv=rv), 200, warnings)

    async def patch(self, request, plural: str, namespace: str, name: str):
        body = await _body(request)
        current = self.store.get(plural, namespace, name)
        patched = apply_patch(request.headers.get("Content-Type", ""), current, body)
        warnings = objects.admit_fields(plural, patched, request.query.get("fieldValidation"))
        objects.validate(plural, patched)
        rv = (body.get("metadata") or {}).get("resourceVersion") if isinstance(body, dict) else None
        return _json(self.store.update(plural, namespace, name, lambda _: patched, rv=rv), 200, warnings)

    async def delete(self, request, plural: str, namespace: str, name: str):
        body = await _body(request) if request.can_read_body else None
        grace = request.query.get("gracePeriodSeconds")
        if grace is None and isinstance(body, dict):
            grace = body.get("gracePeriodSeconds")
        if plural == "namespaces":
            for p in RESOURCES:
                if RESOURCES[p].namespaced:
                    for obj in self.store.list(p, name)[0]:
                        self.store.remove(p, name, obj["metadata"]["name"])
        obj = self.store.delete(plural, namespace, name, None if grace is None else int(grace))
        if plural == "pods":
            return _json(obj)
        details = {"name": name, "kind": plural, "uid": obj["metadata"]["uid"]}
        return _json(
            {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}
        )
