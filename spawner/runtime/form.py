"""The spawn form: offers -> HTML cards with bounded inputs, and submitted form fields -> user_options.

Pure functions (no I/O besides reading the template). The form is only a convenience: whatever it
submits goes through `validate_options` exactly like the REST API, so nothing here enforces bounds.
Field names: `service` (one radio per card) and `<service>--<option>` for the chosen card's options,
plus `<service>--custom_image` when custom images are allowed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, select_autoescape

from ..catalog import Offer

NUMBER_OPTIONS = ("cpu", "memory", "storage", "gpu")
NUMBER_LABELS = {
    "cpu": ("CPU", "cores"),
    "memory": ("Memory", "GiB"),
    "storage": ("Persistent home", "GiB"),
    "gpu": ("GPU", "GPUs"),
}
# What follows `<service>--` in a form field's name.
FIELD_OPTIONS = ("image", "custom_image", *NUMBER_OPTIONS, "git_repository", "postgres")
_STEPS = (1, 0.5, 0.25, 0.1, 0.05, 0.01)
_SAFE_ICON_PREFIXES = ("data:image/", "https://", "http://", "/")


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


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


def card(offer: Offer, values: Mapping[str, Any]) -> dict[str, Any]:
    """Plain data for one card of the template: the offer's texts and each option's input."""
    o = offer.options
    numbers = []
    for name in NUMBER_OPTIONS:
        spec = o[name]
        if name == "gpu" and spec.max == 0:
            continue  # no GPU offered: no input
        label, unit = NUMBER_LABELS[name]
        numbers.append(
            {
                "name": name,
                "label": label,
                "unit": unit,
                "value": _fmt(float(values.get(name, spec.default))),
                "min": _fmt(spec.min),
                "max": _fmt(spec.max),
                "step": number_step(name, spec),
                "choices": [_fmt(c) for c in spec.choices] if spec.choices is not None else None,
            }
        )
    image = o["image"]
    chosen_image = values.get("image") or image.default
    offered = [{"value": c.image, "label": c.label} for c in image.choices]
    custom = chosen_image if not image.offered(chosen_image) else ""
    git = o["git_repository"]
    postgres = o["postgres"]
    icon = offer.icon if offer.icon.startswith(_SAFE_ICON_PREFIXES) else ""
    return {
        "service": offer.service,
        "display_name": offer.display_name,
        "description": offer.description,
        "icon": icon,
        "list_display_name": offer.list_display_name,
        "kind": offer.kind,
        "images": offered,
        "image": chosen_image if not custom else (image.default if offered else ""),
        "allow_custom": image.allow_custom,
        "custom_patterns": list(image.custom_patterns),
        "custom_image": custom,
        "numbers": numbers,
        "git_editable": git.editable,
        "git_repository": values.get("git_repository", git.default) or "",
        "postgres_allowed": postgres.allowed,
        "postgres": bool(values.get("postgres", postgres.default)),
    }


def form_context(offers: Iterable[Offer], previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Cards for every offer; `previous` (already validated, normalised options) preselects its service."""
    offers = list(offers)
    previous = dict(previous or {})
    selected = previous.get("service")
    if selected not in {o.service for o in offers}:
        selected, previous = (offers[0].service if offers else None), {}
    cards = [card(o, previous if o.service == selected else o.defaults()) for o in offers]
    return {"cards": cards, "selected": selected}


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
) -> str:
    """The HTML put inside JupyterHub's spawn page (its <form> and Start button surround it)."""
    env = environment or make_environment()
    return env.get_template("datalab_form.html").render(**form_context(offers, previous))


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
