"""The catalog's offers as one machine can honour them (pure): images become the local environments
they map to, and no number is offered beyond what the machine has.

The same catalog file serves Kubernetes unchanged; only what this backend shows and accepts differs:
- image choices: one per local environment (the first catalog choice that maps to it keeps its value,
  so the catalog's default reference still validates), labelled with that environment, never with a
  registry tag this machine cannot pull; custom images are not offered;
- cpu and memory: maxima (and defaults, minima, fixed choices) capped at the machine's cores and memory.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

from ..catalog import Offer
from ..catalog.checks import ImageBounds
from ..catalog.model import ImageChoice, NumberOption


@dataclass(frozen=True)
class Machine:
    cpus: float
    memory_gib: float


def cap(spec: NumberOption, limit: float, step: float) -> NumberOption:
    """`spec` with nothing above `limit` (rounded down to `step`); unchanged when it already fits."""
    top = max(step, math.floor(limit / step) * step)
    if spec.max <= top:
        return spec
    choices = spec.choices
    if choices is not None:
        choices = tuple(c for c in choices if c <= top) or (min(spec.min, top),)
    low = min(spec.min, top)
    default = min(max(spec.default, low), top)
    if choices is not None and default not in choices:
        default = max(choices)
    return spec.model_copy(update={"max": top, "min": low, "default": default, "choices": choices})


def local_images(bounds: ImageBounds, label_of: Callable[[str], str | None]) -> ImageBounds:
    """One choice per local environment; `label_of(image)` names its environment (None: it has none)."""
    kept: dict[str, ImageChoice] = {}
    for choice in bounds.choices:
        label = label_of(choice.image)
        if label is not None and label not in kept:
            kept[label] = ImageChoice(image=choice.image, display_name=label)
    choices = tuple(kept.values())
    default = bounds.default
    default_label = label_of(default)
    if default_label in kept:
        default = kept[default_label].image
    elif choices:
        default = choices[0].image
    return dataclasses.replace(
        bounds, choices=choices, default=default, allow_custom=False, custom_patterns=()
    )


def local_offer(offer: Offer, machine: Machine, label_of: Callable[[str], str | None]) -> Offer:
    o = dict(offer.options)
    o["image"] = local_images(o["image"], label_of)
    o["cpu"] = cap(o["cpu"], machine.cpus, 0.5)
    o["memory"] = cap(o["memory"], machine.memory_gib, 1)
    return dataclasses.replace(offer, options=o)
