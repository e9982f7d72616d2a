"""What a service's options and a list's overrides must hold (spawner/catalog/checks.py, refs.py): bounds,
defaults, choices, pinned image references, safe git URLs, each reported with its file and line."""

from __future__ import annotations

import pytest

from tests.support.catalog import MAIN_LIST, SERVICE, assert_reported

# (file to (over)write, its text, expected line, expected part of the message)
BROKEN = {
    "default-out-of-bounds": (
        "services/py.yaml",
        SERVICE.replace("cpu: {default: 1,", "cpu: {default: 8,"),
        12,
        "cpu: default 8 is outside [0.5, 4]",
    ),
    "min-above-max": (
        "services/py.yaml",
        SERVICE.replace("min: 1, max: 8", "min: 9, max: 8"),
        13,
        "memory: min 9 is greater than max 8",
    ),
    "zero-cpu": (
        "services/py.yaml",
        SERVICE.replace("min: 0.5, max: 4", "min: 0, max: 4"),
        12,
        "cpu: min must be greater than 0",
    ),
    "fractional-gpu": (
        "services/py.yaml",
        SERVICE.replace("gpu: {default: 0, min: 0, max: 2}", "gpu: {default: 0, min: 0, max: 1.5}"),
        15,
        "gpu: max must be a whole number",
    ),
    "choice-outside": (
        "services/py.yaml",
        SERVICE.replace("max: 4}", "max: 4, choices: [1, 6]}"),
        12,
        "cpu: choice 6 is outside [0.5, 4]",
    ),
    "latest-tag": (
        "services/py.yaml",
        SERVICE.replace("- reg.example/py:2", "- reg.example/py:latest"),
        9,
        "'latest' is not pinned",
    ),
    "no-tag": (
        "services/py.yaml",
        SERVICE.replace("- reg.example/py:2", "- reg.example/py"),
        9,
        "has no tag",
    ),
    "bad-image": (
        "services/py.yaml",
        SERVICE.replace("- reg.example/py:2", "- 'reg.example/py:2; rm -rf /'"),
        9,
        "not a valid image reference",
    ),
    "duplicate-image": (
        "services/py.yaml",
        SERVICE.replace("- reg.example/py:2", "- reg.example/py:1"),
        9,
        "listed twice",
    ),
    "bad-regex": (
        "services/py.yaml",
        SERVICE.replace("'reg\\.example/py:[0-9]+'", "'reg(['"),
        11,
        "custom_regex is not a valid regular expression",
    ),
    "custom-without-regex": (
        "services/py.yaml",
        SERVICE.replace("    custom_regex: 'reg\\.example/py:[0-9]+'\n", ""),
        10,
        "allow_custom needs a custom_regex",
    ),
    "default-image-not-offered": (
        "services/py.yaml",
        SERVICE.replace("allow_custom: true", "allow_custom: false\n    default: reg.example/py:9").replace(
            "    custom_regex: 'reg\\.example/py:[0-9]+'\n", ""
        ),
        11,
        "default 'reg.example/py:9' is not one of the offered images",
    ),
    "postgres-without-image": (
        "services/py.yaml",
        SERVICE.replace(', image: "reg.example/postgres:16"', ""),
        16,
        "postgres: an image is needed",
    ),
    "git-file-url": (
        "services/py.yaml",
        SERVICE + "  git_repository: {default: 'file:///etc/passwd'}\n",
        17,
        "only https:// repository URLs",
    ),
    "toleration-exists-with-value": (
        "services/py.yaml",
        SERVICE + "tolerations: [{key: gpu, operator: Exists, value: x}]\n",
        17,
        "operator Exists must not have a value",
    ),
    "list-wider-max": (
        "lists/main.yaml",
        MAIN_LIST.replace("py: {}", "py: {cpu: {max: 16}}"),
        4,
        "cpu: max 16 is above the service's maximum 4",
    ),
    "list-lower-min": (
        "lists/main.yaml",
        MAIN_LIST.replace("py: {}", "py:\n    memory:\n      min: 0.25"),
        6,
        "memory: min 0.25 is below the service's minimum 1",
    ),
    "list-default-outside": (
        "lists/main.yaml",
        MAIN_LIST.replace("py: {}", "py: {cpu: {max: 2, default: 3}}"),
        4,
        "cpu: default 3 is outside [0.5, 2]",
    ),
    "list-narrows-past-default": (
        "lists/main.yaml",
        MAIN_LIST.replace("py: {}", "py: {cpu: {min: 2}}"),
        4,
        "cpu: default 1 is outside [2, 4] (the service's default; set a default in the list)",
    ),
    "list-image-not-offered": (
        "lists/main.yaml",
        MAIN_LIST.replace("py: {}", "py: {image: {choices: [other.example/x:1]}}"),
        4,
        "image 'other.example/x:1' is not offered by the service",
    ),
    "list-custom-not-allowed": (
        "lists/main.yaml",
        MAIN_LIST.replace("rs:", "rs: {image: {allow_custom: true}}"),
        5,
        "the service allows no custom image",
    ),
    "list-postgres-not-allowed": (
        "lists/main.yaml",
        MAIN_LIST.replace("rs:", "rs: {postgres: {allowed: true}}"),
        5,
        "postgres: allowed is true but the service offers no PostgreSQL",
    ),
    "list-choices-exclude-default": (
        "lists/main.yaml",
        MAIN_LIST.replace("py: {}", "py: {cpu: {choices: [1, 2]}}").replace(
            "rs:", "rs: {storage: {choices: [3]}}"
        ),
        5,
        "storage: default 5 is not one of the choices (the service's default; set a default in the list)",
    ),
    "list-git-credentials": (
        "lists/main.yaml",
        MAIN_LIST.replace(
            "py: {}", "py: {git_repository: {default: 'https://bob:hunter2@git.example/x.git'}}"
        ),
        4,
        "must not contain a user name or credentials",
    ),
}


@pytest.mark.parametrize("case", BROKEN.values(), ids=BROKEN.keys())
def test_broken_catalog_file_is_reported_with_its_line(catalog_dir, case):
    assert_reported(catalog_dir, *case)
