"""PATCH bodies: JSON merge patch (RFC 7386), strategic merge patch (the list merge keys we use), JSON patch."""

from __future__ import annotations

import copy

from tests.support.kube.errors import ApiError

# Lists merged element-wise by key under a strategic merge patch (by the field name holding the list).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "ownerReferences": "uid",
    "conditions": "type",
    "imagePullSecrets": "name",
    "tolerations": None,  # replaced as a whole (atomic)
}


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target, patch, field: str = ""):
    if isinstance(patch, list):
        key = MERGE_KEYS.get(field)
        if not key or not isinstance(target, list):
            return copy.deepcopy([p for p in patch if not (isinstance(p, dict) and "$patch" in p)])
        result = [copy.deepcopy(t) for t in target]
        for item in patch:
            if not isinstance(item, dict) or key not in item:
                raise ApiError.bad_request(
                    f"strategic merge patch: items of {field} need the merge key {key!r}"
                )
            index = next((i for i, t in enumerate(result) if t.get(key) == item[key]), None)
            if item.get("$patch") == "delete":
                if index is not None:
                    result.pop(index)
            elif index is None:
                result.append(copy.deepcopy(item))
            else:
                result[index] = strategic_merge_patch(result[index], item)
        return result
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        else:
            result[key] = strategic_merge_patch(result.get(key), value, key)
    return result


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise ApiError.bad_request(f"json patch: invalid path {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(target, operations):
    """RFC 6902 add/remove/replace/test (what kubectl and clients send)."""
    doc = copy.deepcopy(target)
    for op in operations:
        *parents, last = _pointer(op.get("path", ""))
        node = doc
        try:
            for part in parents:
                node = node[int(part)] if isinstance(node, list) else node[part]
            kind = op.get("op")
            if kind == "test":
                current = node[int(last)] if isinstance(node, list) else node[last]
                if current != op.get("value"):
                    raise ApiError(422, "Invalid", f"json patch test failed at {op['path']}")
            elif kind == "remove":
                del node[int(last) if isinstance(node, list) else last]
            elif kind in ("add", "replace"):
                if isinstance(node, list):
                    if last == "-":
                        node.append(op["value"])
                    elif kind == "add":
                        node.insert(int(last), op["value"])
                    else:
                        node[int(last)] = op["value"]
                else:
                    if kind == "replace" and last not in node:
                        raise KeyError(last)
                    node[last] = op["value"]
            else:
                raise ApiError.bad_request(f"json patch: unsupported op {kind!r}")
        except (KeyError, IndexError, ValueError, TypeError) as e:
            raise ApiError(422, "Invalid", f"json patch: cannot apply {op!r}: {e!r}") from None
    return doc


def apply_patch(content_type: str, target: dict, body) -> dict:
    content_type = (content_type or "").split(";")[0].strip()
    if content_type == "application/merge-patch+json":
        return merge_patch(target, body)
    if content_type == "application/strategic-merge-patch+json":
        return strategic_merge_patch(target, body)
    if content_type == "application/json-patch+json":
        if not isinstance(body, list):
            raise ApiError.bad_request("json patch: the body must be a list of operations")
        return json_patch(target, body)
    raise ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {content_type!r})",
    )
