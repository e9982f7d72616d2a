"""Submitted options (form, REST API, launch link) -> a LaunchPlan, or a clear refusal.

Accepted values (documented in profiles/README.md):
- numbers (cpu, memory, storage, gpu): JSON numbers, or decimal strings such as "2" or "1.5" (what
  forms and launch links send); booleans, NaN, infinities, exponents ("1e3"), hex and signs are refused.
  gpu must be a whole number.
- postgres: a boolean, or one of the strings true/false, on/off, yes/no, 1/0 (any case).
- a missing key, null or "" means the offer's default, except for git_repository, where null or ""
  means "no repository" (a missing key still means the default).
- git_repository: an https:// URL on a public host; loopback, private and link-local hosts (written as
  addresses or as localhost) are refused unless the operator allows them (`git_allowed_hosts`). Names are
  resolved at spawn by the backend, and checked by refs.git_host_problem with the addresses found.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from ..plan import DEFAULT_URLS, LABEL_PROFILE_LIST, LABEL_SERVICE, OPTION_NAMES, LaunchPlan, PostgresSidecar
from .checks import INTEGER_OPTIONS, ImageBounds, describe_range, fmt
from .model import GitOption, NumberOption, PostgresOption
from .offer import Offer
from .patterns import describe_pattern
from .refs import git_host_problem, git_url_problem, image_problem

ALLOWED_KEYS = ("service", *OPTION_NAMES, "project")
_DECIMAL = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,12})?|\.[0-9]{1,12}", re.ASCII)
_TRUE = {"true", "on", "yes", "1"}
_FALSE = {"false", "off", "no", "0"}


class OptionsError(ValueError):
    """Submitted options were refused: `field` names the option, `status` is 400 (bad) or 403 (not granted)."""

    def __init__(self, message: str, *, field: str | None = None, status: int = 400):
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


# What a submission may hold at most, checked before anything else looks at it (the refusal quotes none
# of it): option names and text values are short, a form or link never sends more than a few options.
MAX_NAME, MAX_TEXT, MAX_OPTIONS = 64, 2048, 32


def _show(value: Any) -> str:
    """A submitted value for an error message: short, escaped, on one line (long input is cut first)."""
    if isinstance(value, str) and len(value) > 60:
        value = value[:60]
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _size_problem(options: Mapping[str, Any]) -> OptionsError | None:
    if len(options) > MAX_OPTIONS:
        return OptionsError(f"{len(options)} options submitted: at most {MAX_OPTIONS}")
    for key, value in options.items():
        if not isinstance(key, str) or len(key) > MAX_NAME:
            return OptionsError(f"an option name of {len(str(key))} characters: at most {MAX_NAME}")
        if isinstance(value, str) and len(value) > MAX_TEXT:
            field = key if key in ALLOWED_KEYS else None
            return OptionsError(f"{_show(key)}: {len(value)} characters; at most {MAX_TEXT}", field=field)
    return None


def _redact_url(value: str) -> str:
    """A URL for an error message without any user name or password it may carry."""
    scheme, sep, rest = value.partition("://")
    host, slash, path = rest.partition("/")
    if sep and "@" in host:
        return f"{scheme}://***@{host.rpartition('@')[2]}{slash}{path}"
    return value


def _absent(options: Mapping[str, Any], key: str) -> bool:
    return options.get(key) is None or options.get(key) == ""


def validate_options(
    offers: Iterable[Offer],
    user_options: Mapping[str, Any] | None,
    *,
    username: str,
    server_name: str = "",
    projects: Iterable[str] = (),
    git_allowed_hosts: Iterable[str] = (),
) -> LaunchPlan:
    """Check `user_options` against what the user is offered (services, and `projects`: the projects they
    may start a server in); return the plan or raise OptionsError. `git_allowed_hosts`: repository hosts
    accepted although not public (refs.git_host_problem)."""
    offers = list(offers)
    user_options = {} if user_options is None else user_options
    if not isinstance(user_options, Mapping):
        raise OptionsError("options must be an object of option names to values")
    if too_big := _size_problem(user_options):
        raise too_big
    unknown = sorted(str(k) for k in user_options if k not in ALLOWED_KEYS)
    if unknown:
        raise OptionsError(
            f"unknown option {_show(unknown[0])}; allowed options: {', '.join(ALLOWED_KEYS)}",
            field=unknown[0][:60],
        )
    offer = _pick_offer(offers, user_options.get("service"))
    o = offer.options
    image = _image(o["image"], user_options)
    numbers = {name: _number(name, o[name], user_options) for name in ("cpu", "memory", "storage", "gpu")}
    git = _git(o["git_repository"], user_options, tuple(git_allowed_hosts))
    postgres = _postgres(o["postgres"], user_options)
    normalised = {
        "service": offer.service,
        "image": image,
        **numbers,
        "gpu": int(numbers["gpu"]),
        "git_repository": git,
        "postgres": postgres,
    }
    project = _project(user_options.get("project"), list(projects))
    if project:
        normalised["project"] = project
    sidecar = None
    if postgres:
        sidecar = PostgresSidecar(image=offer.postgres_image or "", storage_gib=o["postgres"].storage)
    return LaunchPlan(
        username=username,
        server_name=server_name,
        service=offer.service,
        service_display_name=offer.display_name,
        profile_list=offer.list_name,
        kind=offer.kind,
        image=image,
        default_url=DEFAULT_URLS[offer.kind],
        cpu=numbers["cpu"],
        memory_gib=numbers["memory"],
        gpu=int(numbers["gpu"]),
        storage_gib=numbers["storage"],
        git_repository=git,
        postgres=sidecar,
        node_selector=dict(offer.node_selector),
        tolerations=tuple(dict(t) for t in offer.tolerations),
        labels={LABEL_SERVICE: offer.service, LABEL_PROFILE_LIST: offer.list_name},
        user_options=normalised,
        project=project,
    )


def _project(value: Any, projects: list[str]) -> str:
    """'' for a personal server, else one of the user's projects; refused (403) for any other."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise OptionsError(f"project: expected a project name, got {_show(value)}", field="project")
    if value not in projects:
        yours = ", ".join(projects) if projects else "none"
        raise OptionsError(
            f"project {_show(value)}: you are not a member of it (your projects: {yours})",
            field="project",
            status=403,
        )
    return value


def _pick_offer(offers: list[Offer], service: Any) -> Offer:
    """The offer for `service`; none given means the first offer (the default, as with profile_list)."""
    if not offers:
        raise OptionsError("no service is offered to you", field="service", status=403)
    if service is None or service == "":
        return offers[0]
    if not isinstance(service, str):
        raise OptionsError(f"service: expected a service name, got {_show(service)}", field="service")
    for offer in offers:
        if offer.service == service:
            return offer
    offered = ", ".join(o.service for o in offers)
    raise OptionsError(
        f"service {_show(service)} is not offered to you (offered: {offered})", field="service", status=403
    )


def _image(bounds: ImageBounds, options: Mapping[str, Any]) -> str:
    if _absent(options, "image"):
        return bounds.default
    value = options["image"]
    if not isinstance(value, str):
        raise OptionsError(f"image: expected an image name, got {_show(value)}", field="image")
    if bounds.offered(value):
        return value
    offered = ", ".join(c.image for c in bounds.choices) or "none"
    if not bounds.allow_custom:
        raise OptionsError(f"image {_show(value)} is not offered; choose one of: {offered}", field="image")
    if why := image_problem(value):
        raise OptionsError(f"image {_show(value)}: {why}", field="image")
    if not bounds.custom_ok(value):
        patterns = " and ".join(describe_pattern(p) or p for p in bounds.custom_patterns)
        raise OptionsError(
            f"image {_show(value)} is not offered and does not match the allowed custom images "
            f"({patterns}); offered: {offered}",
            field="image",
        )
    return value


def _number(name: str, spec: NumberOption, options: Mapping[str, Any]) -> float:
    if _absent(options, name):
        return spec.default
    value = options[name]
    if isinstance(value, bool):
        raise OptionsError(f"{name}: expected a number, got a boolean ({value})", field=name)
    if isinstance(value, int | float):
        try:
            x = float(value)
        except OverflowError:
            x = math.inf
    elif isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        x = float(value.strip())
    else:
        raise OptionsError(
            f"{name}: expected a number {describe_range(spec)}, got {_show(value)}", field=name
        )
    if not math.isfinite(x):
        raise OptionsError(
            f"{name}: expected a finite number {describe_range(spec)}, got {_show(value)}", field=name
        )
    if name in INTEGER_OPTIONS and not x.is_integer():
        raise OptionsError(
            f"{name}: expected a whole number {describe_range(spec)}, got {fmt(x)}", field=name
        )
    in_range = x in spec.choices if spec.choices is not None else spec.min <= x <= spec.max
    if not in_range:
        raise OptionsError(f"{name}: {fmt(x)} is not allowed; allowed: {describe_range(spec)}", field=name)
    return x


def git_repository_problem(
    url: str, addresses: Iterable[str] = (), allowed: Iterable[str] = ()
) -> str | None:
    """Why the repository `url` is refused, as a message naming it (None when accepted); `addresses`: what
    its host resolved to, when known."""
    why = git_url_problem(url) or git_host_problem(urlsplit(url).hostname or "", addresses, allowed=allowed)
    if why is None:
        return None
    hint = " (the operator can allow a host: git_allowed_hosts)" if "public hosts only" in why else ""
    return f"git_repository {_show(_redact_url(url))}: {why}{hint}"


def _git(spec: GitOption, options: Mapping[str, Any], allowed: tuple[str, ...]) -> str | None:
    if "git_repository" not in options:
        value = spec.default
        if value is not None and (why := git_repository_problem(value, allowed=allowed)):
            raise OptionsError(why, field="git_repository")
        return value
    value = options["git_repository"]
    if value == "":
        value = None
    if value is not None and not isinstance(value, str):
        raise OptionsError(
            f"git_repository: expected an https:// URL, got {_show(value)}", field="git_repository"
        )
    if not spec.editable and value != spec.default:
        fixed = spec.default or "no repository"
        raise OptionsError(
            f"git_repository: this offer does not let you choose it (fixed: {fixed})", field="git_repository"
        )
    if value is not None and (why := git_repository_problem(value, allowed=allowed)):
        raise OptionsError(why, field="git_repository")
    return value


def _postgres(spec: PostgresOption, options: Mapping[str, Any]) -> bool:
    if _absent(options, "postgres"):
        return spec.default
    value = options["postgres"]
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        value = value.strip().lower() in _TRUE
    if not isinstance(value, bool):
        raise OptionsError(f"postgres: expected true or false, got {_show(value)}", field="postgres")
    if value and not spec.allowed:
        raise OptionsError(
            "postgres: a PostgreSQL sidecar is not offered with this service", field="postgres"
        )
    return value
