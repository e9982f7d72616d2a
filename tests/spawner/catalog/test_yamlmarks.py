"""YAML that the catalog refuses before reading it (spawner/catalog/yamlmarks.py): syntax, duplicate keys,
tags, merge keys, alias bombs and deep nesting, each reported with its file and line."""

from __future__ import annotations

import pytest

from tests.support.catalog import SERVICE, assert_reported

# Nine levels of ten aliases each: 10**10 values if expanded.
_BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10)
)

# (file to (over)write, its text, expected line, expected part of the message)
BROKEN = {
    "yaml-syntax": (
        "services/py.yaml",
        "display_name: x\nkind: [jupyter\noptions: {}\n",
        3,
        "YAML syntax error",
    ),
    "duplicate-key": ("services/py.yaml", SERVICE + "kind: rstudio\n", 17, "duplicate key 'kind'"),
    "python-tag": (
        "services/py.yaml",
        SERVICE.replace("display_name: Python", "display_name: !!python/object:os.system x"),
        1,
        "unsupported YAML value",
    ),
    "merge-key": (
        "services/py.yaml",
        "base: &b {kind: jupyter}\n<<: *b\n" + SERVICE,
        2,
        "merge keys (<<) are not supported",
    ),
    "alias-bomb": ("services/py.yaml", _BOMB, 1, "expands to more than 100000 values"),
    "deep-nesting": ("services/py.yaml", "a: " + "[" * 1500 + "]" * 1500 + "\n", 1, "nested too deeply"),
}


@pytest.mark.parametrize("case", BROKEN.values(), ids=BROKEN.keys())
def test_broken_catalog_file_is_reported_with_its_line(catalog_dir, case):
    assert_reported(catalog_dir, *case)
