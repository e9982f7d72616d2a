"""What one user is offered at one moment: the services of every list they may see, now.

Rule when several visible lists offer the same service: the list with the highest `priority` wins
(default 0), and among equal priorities the one whose file name sorts first; its bounds, images and
defaults apply and the service is offered once. An event's list gets e.g. `priority: 10` so its
narrower bounds and starter repository apply to participants who also see the default list.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from .load import Catalog
from .model import ProfileList
from .offer import Offer


def list_is_open(plist: ProfileList, now: datetime) -> bool:
    """A list without a window is always open; with one, from start (included) to end (excluded)."""
    if plist.window is None:
        return True
    return plist.window.start <= now < plist.window.end


def resolve(catalog: Catalog, groups: Iterable[str], now: datetime) -> list[Offer]:
    """The services a user in `groups` is offered at `now` (naive datetimes are taken as UTC).

    `organiser_groups` do not grant services: organisers who want to start them join `groups`.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    mine = set(groups)
    offers: list[Offer] = []
    seen: set[str] = set()
    for name in sorted(catalog.lists, key=lambda n: (-catalog.lists[n].priority, n)):
        plist = catalog.lists[name]
        if not mine.intersection(plist.groups) or not list_is_open(plist, now):
            continue
        for offer in catalog.offers[name]:
            if offer.service not in seen:
                seen.add(offer.service)
                offers.append(offer)
    return offers


def datasets_for(catalog: Catalog, groups: Iterable[str], now: datetime) -> list[dict]:
    """The datasets of every open list the user takes part in or organises, as mount specs: read-only for
    participants, writable for the list's organisers. One folder per name (the first list, as sorted, wins)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    mine = set(groups)
    found: dict[str, dict] = {}
    for name in sorted(catalog.lists):
        plist = catalog.lists[name]
        organiser = bool(mine.intersection(plist.organiser_groups))
        if not (organiser or mine.intersection(plist.groups)) or not list_is_open(plist, now):
            continue
        for d in plist.datasets:
            spec = {"name": d.name, "bucket": d.bucket, "prefix": d.prefix, "read_only": not organiser}
            found.setdefault(d.name, {**spec, "list": name})
    return list(found.values())
