"""Offers on one machine (pure): images become local environments, numbers never exceed the machine."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from spawner.catalog import load_catalog, resolve
from spawner.catalog.model import NumberOption
from spawner.local.environments import image_environment
from spawner.local.offers import Machine, cap, local_offer

REPO = Path(__file__).resolve().parents[3]


def label_of(image: str) -> str | None:
    name = image_environment(image)
    return f"Local environment {name}" if name else None


def builtin_offer(service: str):
    catalog = load_catalog(REPO / "profiles")
    return next(o for o in resolve(catalog, ["datalab-users"], datetime.now(UTC)) if o.service == service)


def test_a_small_machine_caps_every_maximum_and_default():
    offer = local_offer(builtin_offer("jupyter-python"), Machine(cpus=2, memory_gib=3.7), label_of)
    cpu, memory = offer.options["cpu"], offer.options["memory"]
    assert (cpu.min, cpu.default, cpu.max) == (0.5, 1, 2)
    assert (memory.min, memory.default, memory.max) == (1, 3, 3)
    big = local_offer(builtin_offer("jupyter-python"), Machine(cpus=64, memory_gib=512), label_of)
    assert big.options["cpu"].max == 4 and big.options["memory"].max == 16, "the catalog's own bounds stay"


def test_fixed_choices_above_the_machine_are_dropped():
    spec = NumberOption(default=4, min=1, max=8, choices=[1, 2, 4, 8])
    capped = cap(spec, 2, 0.5)
    assert (capped.max, capped.default, tuple(capped.choices)) == (2, 2, (1, 2))


def test_images_become_one_choice_per_local_environment_without_registry_tags():
    offer = builtin_offer("jupyter-python")
    assert len(offer.options["image"].choices) == 2 and offer.options["image"].allow_custom
    local = local_offer(offer, Machine(2, 8), label_of).options["image"]
    assert [c.label for c in local.choices] == ["Local environment python"]
    assert local.default == offer.options["image"].default, "the catalog's default still validates"
    assert not local.allow_custom
