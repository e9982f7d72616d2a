"""Load a catalog directory, reporting every problem at once as FILE:LINE: message.

Layout of a catalog directory (see profiles/README.md):
    catalog.yaml          optional settings (the image registry)
    services/<slug>.yaml  one service each
    lists/<name>.yaml     one profile list each
    icons/                icon files services refer to by name (inlined as data: URIs)
Reading these files is the only I/O; everything else is pure.
"""

from __future__ import annotations

import base64
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .checks import (
    NUMBER_OPTIONS,
    Effective,
    ImageBounds,
    apply_overrides,
    check_capacity,
    check_datasets,
    check_git,
    check_image_option,
    check_number,
    check_postgres,
    check_service,
)
from .model import (
    SLUG_PATTERN,
    GitOption,
    ImageOption,
    NumberOption,
    PostgresOption,
    ProfileList,
    Service,
    ServiceOverrides,
    Settings,
    Window,
)
from .offer import Offer
from .refs import image_problem
from .yamlfile import CatalogFile, Problem

_ICON_TYPES = {".svg": "image/svg+xml", ".png": "image/png"}
_MAX_ICON_BYTES = 64 * 1024


class CatalogError(Exception):
    """The catalog is invalid; `.problems` lists every problem found, sorted by file and line."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Catalog:
    """A validated catalog: services by slug, profile lists by name and the offers of each list."""

    directory: Path
    registry: str | None
    services: Mapping[str, Service]
    lists: Mapping[str, ProfileList]
    offers: Mapping[str, tuple[Offer, ...]] = field(default_factory=dict)


def default_catalog_dir() -> Path:
    """`$DATALAB_CATALOG_DIR`, else the installed copy (<prefix>/share/datalab/profiles), else the repository's.

    A source checkout (editable install) uses its own `profiles/` first, so edits there take effect
    rather than a stale copy installed into the venv; a wheel install has no such directory.
    """
    if env := os.environ.get("DATALAB_CATALOG_DIR"):
        return Path(env)
    checkout = Path(__file__).resolve().parents[2] / "profiles"
    if (checkout / "services").is_dir() and (checkout.parent / "pyproject.toml").is_file():
        return checkout
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix, "/usr/local", "/usr")):
        installed = Path(prefix) / "share" / "datalab" / "profiles"
        if (installed / "services").is_dir():
            return installed
    return checkout


def _yaml_files(directory: Path, problems: list[Problem], kind: str) -> dict[str, Path]:
    found: dict[str, Path] = {}
    if not directory.is_dir():
        return found
    try:
        entries = sorted(directory.iterdir())
    except OSError as e:
        problems.append(Problem(str(directory), 0, f"cannot list the directory: {e}"))
        return found
    for path in entries:
        if path.name.startswith(".") or path.suffix not in (".yaml", ".yml") or not path.is_file():
            continue
        stem = path.stem
        if not re.fullmatch(SLUG_PATTERN, stem):
            problems.append(
                Problem(
                    str(path),
                    0,
                    f"the {kind} name {stem!r} (the file name) must be lowercase letters, digits and '-' (at most 63)",
                )
            )
        elif stem in found:
            problems.append(Problem(str(path), 0, f"duplicate {kind} {stem!r} (also in {found[stem].name})"))
        else:
            found[stem] = path
    return found


def _icon(value: str, icons: Path) -> tuple[str, str | None]:
    """An icon reference as the form can use it: URLs and absolute paths as they are, files inlined."""
    if not value or value.startswith(("https://", "/", "data:image/")):
        return value, None
    path = icons / value
    if "/" in value or "\\" in value or value.startswith("."):
        return value, f"icon {value!r}: give a file name in icons/, an https:// URL or an absolute path"
    if path.suffix not in _ICON_TYPES:
        return value, f"icon {value!r}: only .svg and .png icons are supported"
    try:
        raw = path.read_bytes()
    except OSError:
        return value, f"icon {value!r}: no such file in {icons}"
    if len(raw) > _MAX_ICON_BYTES:
        return value, f"icon {value!r}: larger than {_MAX_ICON_BYTES // 1024} KiB"
    return f"data:{_ICON_TYPES[path.suffix]};base64,{base64.b64encode(raw).decode()}", None


def load_catalog(path: str | Path, *, registry: str | None = None) -> Catalog:
    """Load and validate the catalog in directory `path`; raise CatalogError with ALL problems.

    `registry` (e.g. from the spawner's configuration) overrides catalog.yaml's `registry`.
    """
    root = Path(path)
    problems: list[Problem] = []
    if not root.is_dir():
        raise CatalogError([Problem(str(root), 0, "the catalog directory does not exist")])

    settings_file = root / "catalog.yaml"
    if settings_file.is_file():
        f = CatalogFile(settings_file, problems)
        settings = f.parse(Settings, "catalog settings") if f.data is not None or not f.ok else Settings()
        if settings and settings.registry and (why := image_problem(settings.registry + "/image:1")):
            f.add(
                ("registry",), f"registry {settings.registry!r} is not a valid image registry prefix ({why})"
            )
        registry = registry or (settings.registry if settings else None)

    service_paths = _yaml_files(root / "services", problems, "service")
    list_paths = _yaml_files(root / "lists", problems, "list")
    if not service_paths:
        problems.append(Problem(str(root / "services"), 0, "the catalog has no services (services/*.yaml)"))

    services: dict[str, Service] = {}
    images: dict[str, ImageBounds] = {}
    for slug, spath in service_paths.items():
        f = CatalogFile(spath, problems, registry)
        svc = f.parse(Service, "service")
        if svc is None:
            _salvage_service(f, registry)
            continue
        icon, why = _icon(svc.icon, root / "icons")
        if why:
            f.add(("icon",), why)
        bounds, issues = check_service(svc)
        f.add_all(issues, registry)
        if bounds is not None:  # lists are checked against it even if its icon is wrong
            services[slug] = svc.model_copy(update={"icon": icon})
            images[slug] = bounds

    lists: dict[str, ProfileList] = {}
    offers: dict[str, tuple[Offer, ...]] = {}
    for name, lpath in list_paths.items():
        f = CatalogFile(lpath, problems, registry)
        plist = f.parse(ProfileList, "profile list")
        if plist is None:
            _salvage_list(f, registry, service_paths, services, images)
            continue
        ok = _check_window(f, plist.window)
        if issues := check_capacity(plist.capacity, ("capacity",)):
            f.add_all(issues, registry)
            ok = False
        if issues := check_datasets(plist.datasets, plist.organiser_groups, ("datasets",)):
            f.add_all(issues, registry)
            ok = False
        list_offers = []
        for slug, overrides in plist.services.items():
            offer = _check_entry(f, registry, slug, overrides, service_paths, services, images)
            if offer is None:
                ok = False
                continue
            list_offers.append(_offer(slug, services[slug], name, plist, offer))
        if ok:
            lists[name] = plist
            offers[name] = tuple(list_offers)

    if problems:
        raise CatalogError(problems)
    return Catalog(root, registry, services, lists, offers)


def _check_window(f: CatalogFile, window: Window | None) -> bool:
    if window and window.end <= window.start:
        f.add(("window", "end"), "window: end must be after start")
        return False
    return True


def _check_entry(
    f: CatalogFile,
    registry: str | None,
    slug: str,
    overrides: ServiceOverrides | None,
    service_paths: Mapping[str, Path],
    services: Mapping[str, Service],
    images: Mapping[str, ImageBounds],
) -> Effective | None:
    """One `services:` entry of a list: a known, valid service and narrower overrides."""
    if slug not in service_paths:
        known = ", ".join(sorted(service_paths)) or "none"
        f.add(("services", slug), f"unknown service {slug!r} (known: {known})")
        return None
    if slug not in services:
        return None  # the service itself is broken; its problems are reported in its file
    eff, issues = apply_overrides(services[slug], images[slug], overrides, ("services", slug))
    f.add_all(issues, registry)
    return eff


def _salvage_service(f: CatalogFile, registry: str | None) -> None:
    """The file has shape errors: still check the parts that parse, so all problems come out at once."""
    for name in NUMBER_OPTIONS:
        if (spec := f.part(NumberOption, ("options", name))) is not None:
            f.add_all(check_number(name, spec, ("options", name)), registry)
    if (image := f.part(ImageOption, ("options", "image"))) is not None:
        f.add_all(check_image_option(image, ("options", "image"))[1], registry)
    if (git := f.part(GitOption, ("options", "git_repository"))) is not None:
        f.add_all(check_git(git, ("options", "git_repository")), registry)
    if (pg := f.part(PostgresOption, ("options", "postgres"))) is not None:
        f.add_all(check_postgres(pg, ("options", "postgres")), registry)


def _salvage_list(f: CatalogFile, registry, service_paths, services, images) -> None:
    """Like _salvage_service, for a list: its window and each of its service entries."""
    _check_window(f, f.part(Window, ("window",)))
    entries = f.data.get("services") if isinstance(f.data, dict) else None
    for slug in entries if isinstance(entries, dict) else ():
        if not isinstance(slug, str):
            continue
        overrides = f.part(ServiceOverrides, ("services", slug))
        if slug not in service_paths or overrides is not None or entries[slug] is None:
            _check_entry(f, registry, slug, overrides, service_paths, services, images)


def _offer(slug: str, svc: Service, list_name: str, plist: ProfileList, eff: Effective) -> Offer:
    return Offer(
        service=slug,
        list_name=list_name,
        list_display_name=plist.display_name,
        display_name=svc.display_name,
        description=svc.description,
        icon=svc.icon,
        kind=svc.kind,
        options=eff.as_dict(),
        node_selector=dict(svc.node_selector),
        tolerations=tuple(t.to_k8s() for t in svc.tolerations),
        postgres_image=svc.options.postgres.image,
    )
