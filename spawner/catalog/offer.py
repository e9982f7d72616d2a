"""One service as offered to a user through one profile list (plain data, what forms and validation use)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..plan import DEFAULT_URLS


@dataclass(frozen=True)
class Offer:
    """One service as offered to a user through one profile list, with the list's bounds applied.

    `options` maps each option name (image, cpu, memory, storage, gpu, git_repository, postgres) to
    its effective bounds: `checks.ImageBounds` for image, `model.NumberOption` for the numbers,
    `model.GitOption` and `model.PostgresOption`.
    """

    service: str
    list_name: str
    list_display_name: str
    display_name: str
    description: str
    icon: str
    kind: str
    options: Mapping[str, Any]
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, Any], ...] = ()
    postgres_image: str | None = None

    @property
    def default_url(self) -> str:
        return DEFAULT_URLS[self.kind]

    def defaults(self) -> dict[str, Any]:
        """The user_options this offer starts with when the user changes nothing."""
        o = self.options
        return {
            "service": self.service,
            "image": o["image"].default,
            "cpu": o["cpu"].default,
            "memory": o["memory"].default,
            "storage": o["storage"].default,
            "gpu": int(o["gpu"].default),
            "git_repository": o["git_repository"].default,
            "postgres": o["postgres"].default,
        }
