"""The catalog page: offers -> a grid of service cards whose options are grouped in sections, and
submitted form fields -> user_options.

Pure functions (no I/O besides reading the template). The form is only a convenience: whatever it
submits goes through `validate_options` exactly like the REST API, so nothing here enforces bounds.
Field names: `service` (one radio per card) and `<service>--<option>` for the chosen card's options,
plus `<service>--custom_image` when custom images are allowed.

The page is data-driven: `SECTIONS` says which option goes in which section (the way Onyxia's tabs
group them) and `option_field` turns one option of an offer into a plain field description (its kind:
select, number, text, checkbox, fixed or note), which the template renders without knowing the option.
A new option is a new entry in `SECTIONS` and a case in `option_field`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, select_autoescape

from ..catalog import Offer
from ..catalog.patterns import describe_pattern

NUMBER_OPTIONS = ("cpu", "memory", "storage", "gpu")
NUMBER_LABELS = {
    "cpu": ("CPU", "cores"),
    "memory": ("Memory", "GiB"),
    "storage": ("Persistent home", "GiB"),
    "gpu": ("GPU", "GPUs"),
}
# What follows `<service>--` in a form field's name.
FIELD_OPTIONS = ("image", "custom_image", *NUMBER_OPTIONS, "git_repository", "postgres")
# (key, title, options): the sections of a card's options, in order.
SECTIONS = (
    ("service", "Service", ("image", "custom_image")),
    ("resources", "Resources", ("cpu", "memory", "gpu")),
    ("storage", "Storage and data", ("storage",)),
    ("git", "Git", ("git_repository",)),
    ("database", "Database", ("postgres",)),
)
_STEPS = (1, 0.5, 0.25, 0.1, 0.05, 0.01)
_SAFE_ICON_PREFIXES = ("data:image/", "https://", "http://", "/")
_TRUE = ("true", "on", "yes", "1")


@dataclass(frozen=True)
class Refusal:
    """A submission the catalog refused: what was typed (form options), the option at fault, the message."""

    options: Mapping[str, Any]
    field: str | None
    message: str


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _shown(value: Any) -> str:
    """A value as the input shows it: numbers formatted, anything typed kept as typed."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    if isinstance(value, int | float):
        return _fmt(value)
    return str(value)


def number_step(name: str, spec: Any) -> str:
    """The coarsest step that reaches min, max and default from min (so the browser accepts them)."""
    if name == "gpu":
        return "1"
    for step in _STEPS:
        if all(
            abs(((v - spec.min) / step) - round((v - spec.min) / step)) < 1e-9
            for v in (spec.max, spec.default)
        ):
            return _fmt(step)
    return "any"


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return bool(value)


def option_field(offer: Offer, name: str, values: Mapping[str, Any]) -> dict[str, Any] | None:
    """One option of `offer` as a field for the template (None when the offer has nothing to choose)."""
    o = offer.options
    base = {"name": name, "id": f"{offer.service}--{name}", "error": ""}
    if name in NUMBER_OPTIONS:
        spec = o[name]
        if name == "gpu" and spec.max == 0:
            return None  # no GPU offered: no input
        label, unit = NUMBER_LABELS[name]
        value = _shown(values.get(name, spec.default))
        number = {**base, "label": label, "unit": unit, "value": value, "min": _fmt(spec.min),
                  "max": _fmt(spec.max), "default": _fmt(spec.default)}  # fmt: skip
        if spec.choices is not None:
            choices = [{"value": _fmt(c), "label": f"{_fmt(c)} {unit}"} for c in spec.choices]
            return {**number, "kind": "select", "choices": choices}
        return {**number, "kind": "number", "step": number_step(name, spec),
                "hint": f"from {_fmt(spec.min)} to {_fmt(spec.max)} {unit}"}  # fmt: skip
    if name in ("image", "custom_image"):
        image = o["image"]
        chosen = _shown(values.get("image") or image.default)
        custom = chosen if not image.offered(chosen) else ""
        if name == "image":
            if not image.choices:
                return None
            choices = [{"value": c.image, "label": c.label} for c in image.choices]
            selected = image.default if custom else chosen
            return {**base, "kind": "select", "label": "Image", "value": selected, "choices": choices}
        if not image.allow_custom:
            return None
        described = [describe_pattern(p) for p in image.custom_patterns]
        example = image.default if image.custom_ok(image.default) else ""
        return {**base, "kind": "text", "label": "Custom image", "value": custom,
                "placeholder": "registry/name:tag", "patterns": described,
                "raw_patterns": list(image.custom_patterns), "example": example,
                "hint": "Leave empty to use the image above."}  # fmt: skip
    if name == "git_repository":
        git = o["git_repository"]
        value = _shown(values.get("git_repository", git.default) or "")
        if not git.editable:
            return {**base, "kind": "fixed", "label": "Git repository", "value": value or "none",
                    "hint": "Chosen for you by the list that offers this service."}  # fmt: skip
        return {**base, "kind": "text", "label": "Git repository", "value": value,
                "placeholder": "https://host/owner/repository.git",
                "hint": "Cloned into your home at start (public https:// repositories; no token in the URL). "
                        "Leave empty for none."}  # fmt: skip
    if name == "postgres":
        postgres = o["postgres"]
        if not postgres.allowed:
            return {**base, "kind": "note", "label": "PostgreSQL",
                    "value": "Not offered with this service."}  # fmt: skip
        return {**base, "kind": "checkbox", "label": "PostgreSQL",
                "checked": _truthy(values.get("postgres", postgres.default)),
                "text": "A PostgreSQL database next to the session",
                "hint": "Its connection is set in the session (PGHOST, PGUSER, PGDATABASE, PGPASSWORD...). "
                        "Its data is kept in your home, in ~/.datalab/postgres/<server> ('default' for the "
                        "default server), across stops and restarts; to remove it, delete that folder "
                        "and restart the server."}  # fmt: skip
    raise ValueError(f"no field for the option {name!r}")


def _error_target(field: str | None, values: Mapping[str, Any], offer: Offer) -> str | None:
    """The field a refusal's message goes next to (None: above the cards)."""
    if field == "image" and values.get("image") and not offer.options["image"].offered(values["image"]):
        return "custom_image" if offer.options["image"].allow_custom else "image"
    return field if field in FIELD_OPTIONS else None


def card(
    offer: Offer,
    values: Mapping[str, Any],
    *,
    unavailable: str | None = None,
    refusal: Refusal | None = None,
) -> dict[str, Any]:
    """Plain data for one card of the template: the offer's texts and its options in sections."""
    target = _error_target(refusal.field, values, offer) if refusal else None
    sections = []
    for key, title, names in SECTIONS:
        fields = [f for f in (option_field(offer, n, values) for n in names) if f is not None]
        for f in fields:
            if f["name"] == target:
                f["error"] = refusal.message
        if fields:
            sections.append({"key": key, "title": title, "fields": fields,
                             "invalid": any(f["error"] for f in fields)})  # fmt: skip
    icon = offer.icon if offer.icon.startswith(_SAFE_ICON_PREFIXES) else ""
    return {
        "service": offer.service,
        "display_name": offer.display_name,
        "description": offer.description,
        "icon": icon,
        "list_display_name": offer.list_display_name,
        "kind": offer.kind,
        "unavailable": unavailable or "",
        "sections": sections,
        "summary": _summary(offer, values),
    }


def _summary(offer: Offer, values: Mapping[str, Any]) -> str:
    """The card's defaults in a few words: '1 CPU · 4 GiB · PostgreSQL available'."""
    o = offer.options
    parts = [f"{_fmt(o['cpu'].default)} CPU", f"{_fmt(o['memory'].default)} GiB"]
    if o["gpu"].max > 0:
        parts.append(f"up to {_fmt(o['gpu'].max)} GPU")
    if o["postgres"].allowed:
        parts.append("PostgreSQL")
    return " · ".join(parts)


def form_context(
    offers: Iterable[Offer],
    previous: Mapping[str, Any] | None = None,
    *,
    unavailable: Mapping[str, str] | None = None,
    refusal: Refusal | None = None,
    projects: Iterable[str] = (),
) -> dict[str, Any]:
    """Cards for every offer. `previous` (validated, normalised options) preselects its service; a
    `refusal` preselects the refused service with every value as typed and its message at its field.
    `unavailable` maps services this backend cannot run to the reason (greyed cards, not selectable)."""
    offers = list(offers)
    unavailable = dict(unavailable or {})
    values = dict(refusal.options if refusal else previous or {})
    project_value = values.get("project") or ""
    available = [o.service for o in offers if o.service not in unavailable]
    selected = values.get("service")
    if selected not in available:
        selected, values = (available[0] if available else None), {}
    cards = []
    for o in offers:
        mine = o.service == selected
        cards.append(
            card(
                o,
                {**o.defaults(), **values} if mine else o.defaults(),
                unavailable=unavailable.get(o.service),
                refusal=refusal if mine else None,
            )
        )
    project_error = refusal.message if refusal is not None and refusal.field == "project" else ""
    placed = refusal is not None and any(
        f["error"] for c in cards for s in c["sections"] for f in s["fields"]
    )
    return {
        "cards": cards,
        "selected": selected,
        "form_error": refusal.message if refusal is not None and not placed and not project_error else "",
        "refused": refusal is not None,
        "project": {"choices": list(projects), "value": project_value, "error": project_error},
    }


def make_environment(extra_template_paths: Iterable[str] = ()) -> Environment:
    """Jinja environment for the form: operator templates first, then ours; always autoescaped."""
    loader = ChoiceLoader(
        [FileSystemLoader(list(extra_template_paths)), PackageLoader("spawner.runtime", "templates")]
    )
    return Environment(loader=loader, autoescape=select_autoescape(default=True, default_for_string=True))


def render_form(
    offers: Iterable[Offer],
    previous: Mapping[str, Any] | None = None,
    *,
    environment: Environment | None = None,
    unavailable: Mapping[str, str] | None = None,
    refusal: Refusal | None = None,
    projects: Iterable[str] = (),
) -> str:
    """The HTML put inside JupyterHub's spawn page (its <form> and Start button surround it); `projects`
    are the user's projects, offered as where to start the server."""
    env = environment or make_environment()
    context = form_context(offers, previous, unavailable=unavailable, refusal=refusal, projects=projects)
    return env.get_template("datalab_form.html").render(**context)


def _last(values: Any) -> Any:
    if isinstance(values, list | tuple):
        return values[-1] if values else None
    return values


def _text(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value.strip() if isinstance(value, str) else value


def _card_field(name: str) -> bool:
    card, sep, option = name.rpartition("--")
    return bool(sep and card and option in FIELD_OPTIONS)


def options_from_form(formdata: Mapping[str, Any]) -> dict[str, Any]:
    """Form fields (name -> list of strings) -> user_options, left as strings for `validate_options`.

    Only the chosen card's fields count: the other cards' fields (`<service>--<option>`, which a form
    without JavaScript submits too) and `_xsrf` are ignored. A field of any other name is kept under
    its own name, so validation refuses it as an unknown option, as the REST API does.
    A field that is absent keeps the offer's default; an emptied git field means "no repository".
    """
    service = _text(_last(formdata.get("service")))
    unknown = {
        name: _text(_last(value))
        for name, value in formdata.items()
        if name not in ("service", "_xsrf") and not _card_field(name)
    }
    if not service:
        return unknown
    options: dict[str, Any] = {"service": service, **unknown}
    prefix = f"{service}--"

    def field(name: str) -> Any:
        return _text(_last(formdata.get(prefix + name)))

    custom = field("custom_image")
    image = custom or field("image")
    if image:
        options["image"] = image
    for name in NUMBER_OPTIONS:
        value = field(name)
        if value not in (None, ""):
            options[name] = value
    if prefix + "git_repository" in formdata:
        options["git_repository"] = field("git_repository") or ""
    postgres = field("postgres")
    if postgres is not None:
        options["postgres"] = postgres
    return options


def options_from_query(query: Mapping[str, Any]) -> dict[str, Any]:
    """Query arguments (`/hub/spawn?service=jupyter-python&cpu=2&postgres=true`, or JupyterHub 6's
    `opt-service=...`, which JupyterHub 5 passes on with the prefix): option names, the last value of each
    wins. Every key is kept, so an unknown one is refused by validation, not ignored."""
    return {
        key.removeprefix("opt-"): _text(_last(value))
        for key, value in query.items()
        if not key.startswith("_")
    }


def offers_as_profile_list(offers: Iterable[Offer]) -> list[dict[str, Any]]:
    """The offers in KubeSpawner's `profile_list` shape, for tools that read it (informational only:
    CatalogSpawner validates user_options against the catalog, never against this list)."""
    out = []
    for i, offer in enumerate(offers):
        d = offer.defaults()
        out.append(
            {
                "display_name": offer.display_name,
                "slug": offer.service,
                "description": offer.description,
                "default": i == 0,
                "kubespawner_override": {
                    "image": d["image"],
                    "cpu_limit": float(d["cpu"]),
                    "mem_limit": f"{_fmt(d['memory'])}G",
                },
            }
        )
    return out
