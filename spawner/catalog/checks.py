"""Rules between values of the catalog, and the merge of a list's overrides into a service's bounds.

Pure functions: each returns the problems it found as (loc, message), `loc` being the path of keys
to the offending value inside its file, which the loader turns into a line number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .model import (
    Capacity,
    GitOption,
    ImageChoice,
    ImageOption,
    NumberOption,
    PostgresOption,
    Service,
    ServiceOverrides,
)
from .refs import git_url_problem, image_problem

Issue = tuple[tuple[Any, ...], str]
NUMBER_OPTIONS = ("cpu", "memory", "storage", "gpu")
INTEGER_OPTIONS = ("gpu",)
# The smallest sensible value of each numeric option (a session needs some CPU, memory and disk).
POSITIVE_OPTIONS = ("cpu", "memory", "storage")


def fmt(x: float) -> str:
    """A number as people write it: 2 rather than 2.0."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def describe_range(spec: NumberOption) -> str:
    if spec.choices is not None:
        return "one of " + ", ".join(fmt(c) for c in spec.choices)
    return f"between {fmt(spec.min)} and {fmt(spec.max)}"


@dataclass(frozen=True)
class ImageBounds:
    """The images a user may choose for one offer (after a list's overrides).

    A custom image must fullmatch every pattern in `custom_patterns` (the service's and the list's).
    """

    choices: tuple[ImageChoice, ...]
    default: str
    allow_custom: bool
    custom_patterns: tuple[str, ...] = ()

    def offered(self, image: str) -> bool:
        return any(c.image == image for c in self.choices)

    def custom_ok(self, image: str) -> bool:
        return self.allow_custom and all(re.fullmatch(p, image) for p in self.custom_patterns)


def check_number(name: str, spec: NumberOption, loc: tuple) -> list[Issue]:
    issues: list[Issue] = []
    if spec.min > spec.max:
        issues.append((loc + ("min",), f"{name}: min {fmt(spec.min)} is greater than max {fmt(spec.max)}"))
        return issues
    if name in POSITIVE_OPTIONS and spec.min <= 0:
        issues.append((loc + ("min",), f"{name}: min must be greater than 0"))
    if name in INTEGER_OPTIONS:
        for key in ("default", "min", "max"):
            if not float(getattr(spec, key)).is_integer():
                issues.append((loc + (key,), f"{name}: {key} must be a whole number"))
    for i, c in enumerate(spec.choices or ()):
        if not spec.min <= c <= spec.max:
            issues.append(
                (
                    loc + ("choices", i),
                    f"{name}: choice {fmt(c)} is outside [{fmt(spec.min)}, {fmt(spec.max)}]",
                )
            )
    if not spec.min <= spec.default <= spec.max:
        issues.append(
            (
                loc + ("default",),
                f"{name}: default {fmt(spec.default)} is outside [{fmt(spec.min)}, {fmt(spec.max)}]",
            )
        )
    elif spec.choices is not None and spec.default not in spec.choices:
        issues.append((loc + ("default",), f"{name}: default {fmt(spec.default)} is not one of the choices"))
    if spec.choices is not None and not spec.choices:
        issues.append((loc + ("choices",), f"{name}: choices must not be empty"))
    return issues


def _regex_issue(pattern: str, loc: tuple) -> list[Issue]:
    try:
        re.compile(pattern)
    except re.error as e:
        return [(loc, f"image: custom_regex is not a valid regular expression: {e}")]
    return []


def check_service(svc: Service) -> tuple[ImageBounds | None, list[Issue]]:
    """Problems inside one service file; also its image bounds when they are consistent."""
    issues: list[Issue] = []
    opts = svc.options
    for name in NUMBER_OPTIONS:
        issues += check_number(name, getattr(opts, name), ("options", name))
    bounds, image_issues = check_image_option(opts.image, ("options", "image"))
    issues += image_issues
    issues += check_git(opts.git_repository, ("options", "git_repository"))
    issues += check_postgres(opts.postgres, ("options", "postgres"))
    for i, tol in enumerate(svc.tolerations):
        if tol.operator == "Exists" and tol.value:
            issues.append(
                (("tolerations", i, "value"), "a toleration with operator Exists must not have a value")
            )
        if tol.operator == "Equal" and not tol.key:
            issues.append((("tolerations", i), "a toleration with operator Equal needs a key"))
    return bounds, issues


def check_image_option(spec: ImageOption, loc: tuple) -> tuple[ImageBounds | None, list[Issue]]:
    issues: list[Issue] = []
    seen: set[str] = set()
    for i, choice in enumerate(spec.choices):
        if why := image_problem(choice.image, pinned=True):
            issues.append((loc + ("choices", i), f"image {choice.image!r}: {why}"))
        if choice.image in seen:
            issues.append((loc + ("choices", i), f"image {choice.image!r} is listed twice"))
        seen.add(choice.image)
    patterns: tuple[str, ...] = ()
    if spec.allow_custom:
        if not spec.custom_regex:
            issues.append((loc + ("allow_custom",), "image: allow_custom needs a custom_regex"))
        else:
            issues += _regex_issue(spec.custom_regex, loc + ("custom_regex",))
            patterns = (spec.custom_regex,)
    elif spec.custom_regex:
        issues.append((loc + ("custom_regex",), "image: custom_regex is set but allow_custom is not true"))
    default = spec.default or (spec.choices[0].image if spec.choices else None)
    if not spec.choices and not spec.allow_custom:
        issues.append((loc, "image: no image choices and no custom image allowed"))
    if issues:
        return None, issues
    bounds = ImageBounds(spec.choices, default or "", spec.allow_custom, patterns)
    issues += _check_image_default(bounds, default, loc)
    return (None if issues else bounds), issues


def _check_image_default(bounds: ImageBounds, default: str | None, loc: tuple) -> list[Issue]:
    if default is None:
        return [(loc, "image: a default is needed when there are no image choices")]
    if bounds.offered(default):
        return []
    if image_problem(default) is None and bounds.custom_ok(default):
        return []
    return [(loc + ("default",), f"image: default {default!r} is not one of the offered images")]


def check_git(spec: GitOption, loc: tuple) -> list[Issue]:
    if spec.default is not None and (why := git_url_problem(spec.default)):
        return [(loc + ("default",), f"git_repository: default {spec.default!r}: {why}")]
    return []


def check_postgres(spec: PostgresOption, loc: tuple) -> list[Issue]:
    issues: list[Issue] = []
    if spec.default and not spec.allowed:
        issues.append((loc + ("default",), "postgres: default is true but allowed is false"))
    if spec.allowed and not spec.image:
        issues.append((loc + ("image",), "postgres: an image is needed when allowed is true"))
    if spec.image and (why := image_problem(spec.image, pinned=True)):
        issues.append((loc + ("image",), f"postgres: image {spec.image!r}: {why}"))
    return issues


def check_capacity(cap: Capacity | None, loc: tuple) -> list[Issue]:
    """Caps that contradict each other (a per-user cap above the total can never be reached)."""
    if cap and cap.servers_per_user and cap.servers_total and cap.servers_per_user > cap.servers_total:
        return [
            (
                loc + ("servers_per_user",),
                f"capacity: servers_per_user {cap.servers_per_user} is above servers_total {cap.servers_total}",
            )
        ]
    return []


def check_datasets(datasets: tuple, organiser_groups: tuple, loc: tuple) -> list[Issue]:
    """Datasets need organisers (who else uploads them?), unique folder names and a prefix that stays put."""
    issues: list[Issue] = []
    if datasets and not organiser_groups:
        issues.append((loc, "datasets: set organiser_groups, the groups who upload and change them"))
    seen: set[str] = set()
    for i, d in enumerate(datasets):
        if d.name in seen:
            issues.append((loc + (i, "name"), f"datasets: two datasets are named {d.name!r}"))
        seen.add(d.name)
        parts = d.prefix.strip("/").split("/") if d.prefix.strip("/") else []
        if any(p in ("", ".", "..") or "\\" in p for p in parts):
            issues.append(
                (loc + (i, "prefix"), f"datasets: prefix {d.prefix[:80]!r} has '.', '..' or empty parts")
            )
    return issues


@dataclass(frozen=True)
class Effective:
    """A service's option bounds once a list's overrides are applied."""

    image: ImageBounds
    cpu: NumberOption
    memory: NumberOption
    storage: NumberOption
    gpu: NumberOption
    git_repository: GitOption
    postgres: PostgresOption

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def apply_overrides(
    svc: Service, images: ImageBounds, ov: ServiceOverrides | None, loc: tuple
) -> tuple[Effective | None, list[Issue]]:
    """Merge a list's overrides over a service; every override must be narrower than the service."""
    ov = ov or ServiceOverrides()
    opts = svc.options
    issues: list[Issue] = []
    numbers = {}
    for name in NUMBER_OPTIONS:
        numbers[name], found = _merge_number(name, getattr(opts, name), getattr(ov, name), loc + (name,))
        issues += found
    image, found = _merge_image(images, ov.image, loc + ("image",))
    issues += found
    git, found = _merge_git(opts.git_repository, ov.git_repository, loc + ("git_repository",))
    issues += found
    pg, found = _merge_postgres(opts.postgres, ov.postgres, loc + ("postgres",))
    issues += found
    if issues:
        return None, issues
    return Effective(image=image, git_repository=git, postgres=pg, **numbers), []


def _merge_number(name: str, base: NumberOption, ov: Any, loc: tuple) -> tuple[NumberOption, list[Issue]]:
    if ov is None:
        return base, []
    issues: list[Issue] = []
    if ov.min is not None and ov.min < base.min:
        issues.append(
            (loc + ("min",), f"{name}: min {fmt(ov.min)} is below the service's minimum {fmt(base.min)}")
        )
    if ov.max is not None and ov.max > base.max:
        issues.append(
            (loc + ("max",), f"{name}: max {fmt(ov.max)} is above the service's maximum {fmt(base.max)}")
        )
    lo = base.min if ov.min is None else ov.min
    hi = base.max if ov.max is None else ov.max
    if ov.choices is not None:
        for i, c in enumerate(ov.choices):
            if base.choices is not None and c not in base.choices:
                issues.append(
                    (loc + ("choices", i), f"{name}: choice {fmt(c)} is not offered by the service")
                )
        choices = ov.choices
    else:
        choices = None if base.choices is None else tuple(c for c in base.choices if lo <= c <= hi)
    if issues:
        return base, issues
    default = ov.default if ov.default is not None else base.default
    merged = NumberOption(default=default, min=lo, max=hi, choices=choices)
    found = check_number(name, merged, loc)
    if ov.default is None and any(k[-1] == "default" for k, _ in found):
        found = [
            (k, m + " (the service's default; set a default in the list)") if k[-1] == "default" else (k, m)
            for k, m in found
        ]
    return merged, found


def _merge_image(base: ImageBounds, ov: Any, loc: tuple) -> tuple[ImageBounds, list[Issue]]:
    if ov is None:
        return base, []
    issues: list[Issue] = []
    allow_custom = base.allow_custom if ov.allow_custom is None else ov.allow_custom
    if allow_custom and not base.allow_custom:
        issues.append(
            (loc + ("allow_custom",), "image: allow_custom is true but the service allows no custom image")
        )
    patterns = base.custom_patterns
    if ov.custom_regex is not None:
        if not allow_custom:
            issues.append(
                (loc + ("custom_regex",), "image: custom_regex is set but custom images are not allowed")
            )
        found = _regex_issue(ov.custom_regex, loc + ("custom_regex",))
        issues += found
        patterns = patterns + (ov.custom_regex,)
    if issues:
        return base, issues
    choices = base.choices
    if ov.choices is not None:
        by_image = {c.image: c for c in base.choices}
        picked = []
        for i, image in enumerate(ov.choices):
            if image in by_image:
                picked.append(by_image[image])
            elif base.custom_ok(image) and image_problem(image, pinned=True) is None:
                picked.append(ImageChoice(image=image))
            else:
                issues.append((loc + ("choices", i), f"image {image!r} is not offered by the service"))
        choices = tuple(picked)
    if not choices and not allow_custom:
        issues.append((loc, "image: no image left to offer"))
    if issues:
        return base, issues
    default = ov.default or (
        base.default if any(c.image == base.default for c in choices) or not choices else choices[0].image
    )
    merged = ImageBounds(choices, default, allow_custom, patterns if allow_custom else ())
    return merged, _check_image_default(merged, default, loc)


def _merge_git(base: GitOption, ov: Any, loc: tuple) -> tuple[GitOption, list[Issue]]:
    if ov is None:
        return base, []
    issues: list[Issue] = []
    if ov.editable and not base.editable:
        issues.append(
            (loc + ("editable",), "git_repository: editable is true but the service fixes the repository")
        )
    if not base.editable and ov.default is not None and ov.default != base.default:
        issues.append(
            (
                loc + ("default",),
                "git_repository: the service fixes the repository; the list cannot change it",
            )
        )
    merged = GitOption(
        default=base.default if ov.default is None else ov.default,
        editable=base.editable if ov.editable is None else ov.editable,
    )
    return merged, issues + check_git(merged, loc)


def _merge_postgres(base: PostgresOption, ov: Any, loc: tuple) -> tuple[PostgresOption, list[Issue]]:
    if ov is None:
        return base, []
    issues: list[Issue] = []
    if ov.allowed and not base.allowed:
        issues.append((loc + ("allowed",), "postgres: allowed is true but the service offers no PostgreSQL"))
    allowed = base.allowed if ov.allowed is None else ov.allowed
    default = (base.default and allowed) if ov.default is None else ov.default
    if default and not allowed:
        issues.append((loc + ("default",), "postgres: default is true but PostgreSQL is not allowed"))
    return base.model_copy(update={"allowed": allowed, "default": default}), issues
