"""Admission: field validation and schema checks (kubernetes-validate), the API server's own checks, defaults.

Unknown fields are handled as a real API server does (`fieldValidation`, default Warn): dropped, each named
in a `Warning` header; only `fieldValidation=Strict` refuses them (400 BadRequest, "strict decoding error").
What is invalid whatever the mode (wrong type, missing required value, bad name) is a 422 Invalid.
"""

from __future__ import annotations

import base64
import binascii
import functools
import itertools
import re

import jsonschema
import referencing
from kubernetes_validate.utils import all_versions, major_minor, schema_contents

from tests.support.kube.errors import ApiError
from tests.support.kube.store import RESOURCES

KUBE_VERSION = "1.33"
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_cluster_ips = itertools.count(10)


@functools.cache
def _validator(kind: str) -> jsonschema.Draft202012Validator:
    """kubernetes-validate's strict v1 schema for `kind`, loaded once (the library re-reads it per call)."""
    version = [v for v in all_versions() if major_minor(v) <= KUBE_VERSION][-1]
    folder = f"kubernetes-json-schema/v{version}-local-strict"
    schema = schema_contents(f"{folder}/{kind.lower()}-v1.json", KUBE_VERSION)
    definitions = schema_contents(f"{folder}/_definitions.json", KUBE_VERSION)
    registry = referencing.Resource.from_contents(definitions) @ (
        referencing.Resource.from_contents(schema) @ referencing.Registry()
    )
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _name_problems(plural: str, name: str) -> str | None:
    if plural == "services":  # DNS-1035 label
        if len(name) > 63 or not _LABEL_NAME.match(name):
            return f"metadata.name: Invalid value: \"{name}\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character"
    elif plural != "events" and (len(name) > 253 or not _SUBDOMAIN.match(name)):
        return f"metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
    return None


def _label_problems(labels: dict) -> str | None:
    for key, value in (labels or {}).items():
        prefix, _, name = key.rpartition("/")
        if (
            not name
            or len(name) > 63
            or not _QUALIFIED.match(name)
            or (prefix and not _SUBDOMAIN.match(prefix))
        ):
            return f"metadata.labels: Invalid value: \"{key}\": name part must consist of alphanumeric characters, '-', '_' or '.'"
        if value is not None and (len(value) > 63 or not _LABEL_VALUE.match(value)):
            return f"metadata.labels: Invalid value: \"{value}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', at most 63 characters"
    return None


FIELD_VALIDATION = ("Ignore", "Warn", "Strict")


def _path(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def drop_unknown_fields(kind: str, obj: dict) -> list[str]:
    """Remove (in place) every field the schema of `kind` does not know; their paths, as the server names them."""
    unknown: list[str] = []
    while True:
        errors = [
            e
            for e in _validator(kind).iter_errors(obj)
            if e.validator == "additionalProperties" and e.validator_value is False
        ]
        if not errors:
            return sorted(unknown)
        for e in errors:
            known = set(e.schema.get("properties") or {})
            for key in [k for k in e.instance if k not in known]:
                unknown.append(_path([*e.absolute_path, key]))
                del e.instance[key]


def admit_fields(plural: str, obj: dict, mode: str | None) -> list[str]:
    """Apply `fieldValidation` (Ignore, Warn (the default), Strict) to `obj`; the warnings to send back."""
    mode = mode or "Warn"
    if mode not in FIELD_VALIDATION:
        raise ApiError.bad_request(
            f'fieldValidation must be one of "Ignore", "Warn" or "Strict", not {mode[:40]!r}'
        )
    kind = RESOURCES[plural].kind
    unknown = drop_unknown_fields(kind, obj)
    if unknown and mode == "Strict":
        fields = ", ".join(f'unknown field "{f}"' for f in unknown)
        raise ApiError.bad_request(
            f'{kind} in version "v1" cannot be handled as a {kind}: strict decoding error: {fields}'
        )
    return [f'unknown field "{f}"' for f in unknown] if mode == "Warn" else []


def validate(plural: str, obj: dict) -> None:
    """Refuse (422 Invalid, with the validator's message) what a real API server would refuse.

    Unknown fields must have been dealt with first (admit_fields)."""
    kind = RESOURCES[plural].kind
    meta = obj.get("metadata") or {}
    name = meta.get("name") or meta.get("generateName") or ""
    try:
        _validator(kind).validate(obj)
    except jsonschema.ValidationError as e:
        field = ".".join(str(p) for p in e.path)
        raise ApiError.invalid(kind, name, f"{field}: {e.message}" if field else e.message, field) from None
    if meta.get("name") and (problem := _name_problems(plural, meta["name"])):
        raise ApiError.invalid(kind, name, problem, "metadata.name")
    if problem := _label_problems(meta.get("labels")):
        raise ApiError.invalid(kind, name, problem, "metadata.labels")
    if plural == "secrets":
        for key, value in (obj.get("data") or {}).items():
            try:
                base64.b64decode(value or "", validate=True)
            except (binascii.Error, ValueError):
                raise ApiError.invalid(
                    kind, name, f"data[{key}]: Invalid value: illegal base64 data", f"data[{key}]"
                ) from None
    if plural == "pods":
        containers = (obj.get("spec") or {}).get("containers") or []
        if not containers:
            raise ApiError.invalid(kind, name, "spec.containers: Required value", "spec.containers")
        names = [c.get("name") for c in containers + ((obj.get("spec") or {}).get("initContainers") or [])]
        if len(names) != len(set(names)):
            raise ApiError.invalid(
                kind, name, "spec.containers: Duplicate value: container names must be unique"
            )


def quantity(value):
    """Numbers in resource lists become the canonical strings the API server stores (2147483648 -> 2Gi)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if float(value).is_integer():
        n = int(value)
        for suffix, size in (
            ("Ei", 1024**6),
            ("Pi", 1024**5),
            ("Ti", 1024**4),
            ("Gi", 1024**3),
            ("Mi", 1024**2),
            ("Ki", 1024),
        ):
            if n and n % size == 0:
                return f"{n // size}{suffix}"
        return str(n)
    return f"{round(value * 1000)}m"


def _canonical_resources(containers) -> None:
    for container in containers or []:
        resources = container.get("resources") or {}
        for section in ("limits", "requests"):
            if isinstance(resources.get(section), dict):
                resources[section] = {k: quantity(v) for k, v in resources[section].items()}


def prepare(plural: str, obj: dict) -> dict:
    """Check kind/apiVersion against the URL, then fill in what the server defaults (on a copy)."""
    res = RESOURCES[plural]
    if not isinstance(obj, dict):
        raise ApiError.bad_request("the body must be a JSON object")
    if obj.get("kind", res.kind) != res.kind or obj.get("apiVersion", "v1") != "v1":
        raise ApiError.bad_request(
            f"the API version in the data ({obj.get('apiVersion')}) or kind ({obj.get('kind')}) does not match the expected v1 {res.kind}"
        )
    obj = {"apiVersion": "v1", "kind": res.kind, **obj}
    obj.setdefault("metadata", {})
    if plural == "pods":
        spec = obj.setdefault("spec", {})
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("schedulerName", "default-scheduler")
        _canonical_resources(spec.get("containers"))
        _canonical_resources(spec.get("initContainers"))
        obj["status"] = {"phase": "Pending", "qosClass": "Burstable"}
    elif plural == "services":
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        if spec.get("clusterIP") != "None":
            n = next(_cluster_ips)
            spec["clusterIP"] = f"10.96.{n // 250 % 250}.{n % 250 + 1}"
    elif plural == "persistentvolumeclaims":
        storage = ((obj.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage")
        obj["status"] = {
            "phase": "Bound",
            "accessModes": obj["spec"].get("accessModes", []),
            "capacity": {"storage": storage},
        }
    elif plural == "secrets":
        obj.setdefault("type", "Opaque")
        string_data = obj.pop("stringData", None) or {}
        if string_data:
            data = dict(obj.get("data") or {})
            data.update({k: base64.b64encode(v.encode()).decode() for k, v in string_data.items()})
            obj["data"] = data
    elif plural == "namespaces":
        obj["status"] = {"phase": "Active"}
    return obj
