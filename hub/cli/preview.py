"""`datalab profiles preview --user NAME --groups G1,G2 [--at ISO-8601] [--json] [DIR]`.

What a user with those groups is offered at that moment and from which profile list: the same
`resolve()` the spawner uses, so organisers check a list (groups, window, priority, bounds) before
the event without a hub. A broken catalog prints the `lint` problems and exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from spawner.catalog import Offer, default_catalog_dir, resolve
from spawner.catalog.checks import describe_range, fmt
from spawner.catalog.resolve import datasets_for, list_is_open

from .profiles import load_or_report


def register(commands) -> None:
    preview = commands.add(
        "profiles",
        "preview",
        help="show what a user with given groups is offered at a moment, and from which list",
    )
    preview.add_argument("dir", nargs="?", help="the catalog directory (default: the one the hub uses)")
    preview.add_argument("--user", required=True, metavar="NAME", help="the user's name")
    preview.add_argument(
        "--groups", default="", metavar="G1,G2", help="the user's groups, comma-separated (default: none)"
    )
    preview.add_argument(
        "--at", metavar="ISO8601", help="the moment, with a timezone, e.g. 2026-12-01T09:00Z (default: now)"
    )
    preview.add_argument("--json", action="store_true", help="print a JSON array, one object per service")
    preview.add_argument("--registry", help="the image registry, overriding catalog.yaml's `registry`")
    preview.set_defaults(func=run_preview)


def parse_moment(text: str) -> datetime:
    """An ISO 8601 instant with a timezone (`Z` accepted); naive times are ambiguous, so refused."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"--at {text!r}: expected an ISO 8601 date and time, e.g. 2026-12-01T09:00Z"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"--at {text!r}: give a timezone, e.g. {text}Z or {text}+01:00")
    return moment


def option_bounds(offer: Offer) -> dict[str, dict[str, Any]]:
    """The offer's effective bounds per option name, as plain JSON data."""
    out: dict[str, dict[str, Any]] = {}
    for name, spec in offer.options.items():
        if name == "image":
            out[name] = {
                "default": spec.default,
                "choices": [c.image for c in spec.choices],
                "allow_custom": spec.allow_custom,
                "custom_regex": list(spec.custom_patterns),
            }
        elif name in ("cpu", "memory", "storage", "gpu"):
            out[name] = {"default": spec.default, "min": spec.min, "max": spec.max}
            if spec.choices is not None:
                out[name]["choices"] = list(spec.choices)
        else:  # git_repository, postgres: pydantic models of plain values
            out[name] = spec.model_dump()
    return out


def offer_json(offer: Offer) -> dict[str, Any]:
    return {
        "service": offer.service,
        "list": offer.list_name,
        "display_name": offer.display_name,
        "options": option_bounds(offer),
    }


def _describe(offer: Offer) -> list[str]:
    o = offer.options
    image = o["image"]
    images = ", ".join(c.image for c in image.choices) or "none listed"
    custom = f"; custom images matching {' and '.join(image.custom_patterns)}" if image.allow_custom else ""
    units = {"cpu": "cores", "memory": "GiB", "storage": "GiB", "gpu": "GPUs"}
    numbers = ", ".join(
        f"{n} {fmt(o[n].default)} ({units[n]} {describe_range(o[n])})"
        for n in ("cpu", "memory", "storage", "gpu")
    )
    git = o["git_repository"]
    repo = git.default or "none"
    pg = o["postgres"]
    return [
        f"  {offer.service}: {offer.display_name}, from list {offer.list_name!r} ({offer.list_display_name})",
        f"      image {image.default} (offered: {images}{custom})",
        f"      {numbers}",
        f"      git_repository {repo}{'' if git.editable else ' (fixed)'}; "
        f"postgres {'allowed' if pg.allowed else 'not allowed'}{', on by default' if pg.default else ''}",
    ]


def run_preview(args: argparse.Namespace) -> int:
    try:
        moment = parse_moment(args.at) if args.at else datetime.now(UTC)
    except ValueError as e:
        print(f"datalab: {e}", file=sys.stderr)
        return 1
    directory = args.dir or str(default_catalog_dir())
    catalog = load_or_report(directory, args.registry, suffix="; nothing to preview")
    if catalog is None:
        return 1
    groups = [g.strip() for g in args.groups.split(",") if g.strip()]
    offers = resolve(catalog, groups, moment)
    if args.json:
        print(json.dumps([offer_json(o) for o in offers], indent=2))
        return 0
    who = f"{args.user} (groups: {', '.join(groups) or 'none'})"
    print(f"{who} at {moment.isoformat()}: {len(offers)} service{'s' if len(offers) != 1 else ''} offered")
    for offer in offers:
        print("\n".join(_describe(offer)))
    for d in datasets_for(catalog, groups, moment):
        access = "read-only" if d["read_only"] else "writable (organiser)"
        print(f"  dataset {d['name']}: s3://{d['bucket']}/{d['prefix']} {access}, from list {d['list']!r}")
    closed = [
        name
        for name, plist in sorted(catalog.lists.items())
        if set(groups).intersection(plist.groups) and not list_is_open(plist, moment)
    ]
    for name in closed:
        window = catalog.lists[name].window
        print(f"  (list {name!r} is for these groups but closed then: open {window.start} to {window.end})")
    return 0
