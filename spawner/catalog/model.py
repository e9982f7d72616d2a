"""The catalog's file format as pydantic models: the shape and the types of every YAML file.

Every model forbids unknown keys and is strict (no "2" for a number, no 1 for a boolean) so a typo
in a catalog file is reported, not silently ignored. Rules that relate several values (bounds,
narrower overrides, known services) are checked in `checks.py`, where each problem gets its line.
To extend the format (e.g. capacity caps on a list), add an optional field with a default here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)

# Slugs name services and lists; they end up in Kubernetes labels, so they follow the label rules.
SLUG_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
# Finite numbers: strict floats accept YAML ints but not booleans or strings; NaN/inf are refused.
Number = Annotated[float, Field(allow_inf_nan=False, ge=0)]


def _as_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def Seq(item: Any) -> Any:  # used like a type
    """A YAML list, kept as an immutable tuple (strict mode would otherwise refuse lists)."""
    return Annotated[tuple[item, ...], BeforeValidator(_as_tuple)]


class _Model(BaseModel):
    model_config = _STRICT


class NumberOption(_Model):
    """A numeric option (cpu cores, memory GiB, storage GiB, gpu count): a default within [min, max]."""

    default: Number
    min: Number
    max: Number
    choices: Seq(Number) | None = Field(
        default=None, description="if set, only these values are allowed (all within [min, max])"
    )


def _image_choice(value: Any) -> Any:
    return {"image": value} if isinstance(value, str) else value


class ImageChoice(_Model):
    image: Text
    display_name: Text | None = None

    @property
    def label(self) -> str:
        return self.display_name or self.image


class ImageOption(_Model):
    """Images offered by name, plus optionally any custom image whose reference matches a regex."""

    choices: Seq(Annotated[ImageChoice, BeforeValidator(_image_choice)]) = ()
    default: Text | None = Field(default=None, description="defaults to the first choice")
    allow_custom: bool = False
    custom_regex: Text | None = Field(default=None, description="required when allow_custom is true")


class GitOption(_Model):
    """A repository cloned into the home at start; `editable: false` fixes it to the default."""

    default: Text | None = None
    editable: bool = True


class PostgresOption(_Model):
    """A PostgreSQL sidecar: whether it may be asked for, whether it is on by default, its image."""

    allowed: bool = False
    default: bool = False
    image: Text | None = None
    storage: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 1.0


def _no_gpu() -> NumberOption:
    return NumberOption(default=0, min=0, max=0)


class Options(_Model):
    image: ImageOption
    cpu: NumberOption
    memory: NumberOption
    storage: NumberOption
    gpu: NumberOption = Field(default_factory=_no_gpu)
    git_repository: GitOption = Field(default_factory=GitOption)
    postgres: PostgresOption = Field(default_factory=PostgresOption)


class Toleration(_Model):
    """A Kubernetes toleration, with Kubernetes' own (camelCase) key names."""

    key: Text | None = None
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    tolerationSeconds: int | None = None  # Kubernetes' spelling

    def to_k8s(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class Service(_Model):
    """One file in `services/`: a thing users can start, and the bounds of its options."""

    display_name: Text
    description: str = ""
    icon: str = ""
    kind: Literal["jupyter", "rstudio", "vscode"]
    options: Options
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: Seq(Toleration) = ()


class NumberOverride(_Model):
    default: Number | None = None
    min: Number | None = None
    max: Number | None = None
    choices: Seq(Number) | None = None


class ImageOverride(_Model):
    choices: Seq(Text) | None = Field(default=None, description="a subset of the service's images")
    default: Text | None = None
    allow_custom: bool | None = None
    custom_regex: Text | None = Field(default=None, description="custom images must match it too")


class GitOverride(_Model):
    default: Text | None = None
    editable: bool | None = None


class PostgresOverride(_Model):
    allowed: bool | None = None
    default: bool | None = None


class ServiceOverrides(_Model):
    """What a profile list changes for one service; every value must be narrower than the service's."""

    image: ImageOverride | None = None
    cpu: NumberOverride | None = None
    memory: NumberOverride | None = None
    storage: NumberOverride | None = None
    gpu: NumberOverride | None = None
    git_repository: GitOverride | None = None
    postgres: PostgresOverride | None = None


class Window(BaseModel):
    """When a list is open: timezone-aware ISO-8601 instants, start included, end excluded."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    start: AwareDatetime
    end: AwareDatetime


class Capacity(_Model):
    """Caps on a list's running servers (each optional): enforced when a server of the list starts."""

    servers_per_user: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="servers of this list one user may run at once"
    )
    servers_total: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="servers of this list running at once, all users together"
    )
    cpu_total: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = Field(
        default=None,
        description="CPU cores (the chosen cpu of each server) across the list's running servers",
    )
    gpu_total: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="GPUs across the list's running servers"
    )


BUCKET_PATTERN = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"


class Dataset(_Model):
    """Data an event gives its participants: read-only for them, writable by its organisers; shown as
    `s3/<name>/` in their sessions while the list is open."""

    name: Slug
    bucket: Annotated[str, StringConstraints(pattern=BUCKET_PATTERN)]
    prefix: Annotated[str, StringConstraints(max_length=512)] = ""
    description: str = ""


class ProfileList(_Model):
    """One file in `lists/`: which groups see which services, when, and with what narrower bounds."""

    display_name: Text
    description: str = ""
    groups: Seq(Annotated[str, StringConstraints(min_length=1)]) = Field(min_length=1)
    organiser_groups: Seq(Annotated[str, StringConstraints(min_length=1)]) = ()
    window: Window | None = None
    priority: int = Field(
        default=0, description="when several lists a user sees offer a service, the highest priority wins"
    )
    services: dict[Slug, ServiceOverrides | None] = Field(min_length=1)
    capacity: Capacity | None = Field(default=None, description="caps on the list's running servers")
    datasets: Seq(Dataset) = Field(default=(), description="data for the list's participants (read-only)")


class Settings(_Model):
    """`catalog.yaml`: settings for the whole catalog."""

    registry: Text | None = Field(default=None, description="replaces {registry} in image names")
