"""Custom-image patterns in words: what the catalog page and refusals say instead of a raw regex."""

import re

import pytest

from spawner.catalog.patterns import describe_pattern

CASES = {
    r"registry\.example\.org/datalab/datalab-python:[0-9]{4}\.[0-9]{2}(\.[0-9]+)?(-[a-z0-9]+)?": (
        "registry.example.org/datalab/datalab-python:‹4 digits›.‹2 digits›[.‹digits›][-‹letters or digits›]"
    ),
    r"^docker\.io/inseefrlab/.*$": "docker.io/inseefrlab/‹anything›",
    r"ghcr\.io/[a-z0-9-]+/img:\d{1,3}": "ghcr.io/‹letters or digits or -›/img:‹1 to 3 digits›",
    r"reg\.example/py:(?:[0-9]+)": "reg.example/py:‹digits›",
    r"reg\.example/[a-z]{2,}": "reg.example/‹2 or more lowercase letters›",
}


@pytest.mark.parametrize("regex", list(CASES))
def test_a_pattern_reads_as_the_images_it_allows(regex):
    assert describe_pattern(regex) == CASES[regex]
    assert "\\" not in CASES[regex]


@pytest.mark.parametrize("regex", [r"a|b", r"x(?=y)", r"(ab)+", r"\bword", r"(unclosed", r"[^/]+"])
def test_what_cannot_be_said_simply_is_left_to_the_regex(regex):
    described = describe_pattern(regex)
    assert described is None or "‹" in described  # never a wrong reading
    if described is None:
        re.compile(regex) if regex != "(unclosed" else None
