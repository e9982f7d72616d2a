"""Loading: the built-in catalog is valid; files, names, settings and the schema's types, each broken file
reported with its line (YAML itself: test_yamlmarks.py; options' bounds and references: test_checks.py)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from spawner.catalog import CatalogError, default_catalog_dir, load_catalog
from spawner.catalog.model import NumberOption
from tests.support.catalog import MAIN_LIST, RSTUDIO, SERVICE, assert_reported, problems_of, write_catalog

REPO_PROFILES = Path(__file__).resolve().parents[3] / "profiles"
BUILTIN_SERVICES = {"jupyter-python", "jupyter-r", "rstudio", "vscode-python", "jupyter-python-gpu"}


def test_builtin_catalog_is_valid_and_complete():
    catalog = load_catalog(REPO_PROFILES)
    assert BUILTIN_SERVICES <= set(catalog.services)
    assert {"default", "gpu"} <= set(catalog.lists)
    assert "datalab-users" in catalog.lists["default"].groups
    assert {o.service for o in catalog.offers["default"]} == BUILTIN_SERVICES - {"jupyter-python-gpu"}
    assert [o.service for o in catalog.offers["gpu"]] == ["jupyter-python-gpu"]
    kinds = {slug: s.kind for slug, s in catalog.services.items()}
    assert (
        kinds["rstudio"] == "rstudio"
        and kinds["vscode-python"] == "vscode"
        and kinds["jupyter-r"] == "jupyter"
    )
    gpu = catalog.services["jupyter-python-gpu"]
    assert gpu.node_selector and gpu.tolerations and gpu.options.gpu.min >= 1


def test_builtin_images_come_from_the_registry_and_are_pinned():
    catalog = load_catalog(REPO_PROFILES, registry="mirror.example:5000/dl")
    images = [c.image for s in catalog.services.values() for c in s.options.image.choices]
    images += [s.options.postgres.image for s in catalog.services.values() if s.options.postgres.image]
    assert images and all(i.startswith("mirror.example:5000/dl/") for i in images)
    assert not any(i.endswith(":latest") or ":" not in i.rsplit("/", 1)[1] for i in images)
    names = {i.rsplit("/", 1)[1].split(":")[0] for i in images}
    assert {"datalab-python", "datalab-r", "datalab-vscode", "postgres"} <= names
    # The custom image regex follows the registry too (escaped: the dots are literal).
    offer = next(o for o in catalog.offers["default"] if o.service == "jupyter-python")
    assert offer.options["image"].custom_ok("mirror.example:5000/dl/datalab-python:2026.12")
    assert not offer.options["image"].custom_ok("mirrorXexample:5000/dl/datalab-python:2026.12")


def test_default_catalog_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("DATALAB_CATALOG_DIR", str(tmp_path))
    assert default_catalog_dir() == tmp_path
    monkeypatch.delenv("DATALAB_CATALOG_DIR")
    assert default_catalog_dir() == REPO_PROFILES  # a source checkout uses its own profiles/


def test_small_catalog_loads_with_defaults_filled(catalog_dir):
    catalog = load_catalog(catalog_dir)
    rs = catalog.services["rs"]
    assert rs.options.gpu == NumberOption(default=0, min=0, max=0)
    assert rs.options.postgres.allowed is False and rs.options.git_repository.editable is True
    [py, rs_offer] = catalog.offers["main"]
    assert (py.service, rs_offer.service) == ("py", "rs")  # the list's order
    assert py.options["image"].default == "reg.example/py:1"
    assert [c.label for c in py.options["image"].choices] == ["Python one", "reg.example/py:2"]
    assert py.postgres_image == "reg.example/postgres:16" and rs_offer.postgres_image is None


def test_icons_are_inlined(tmp_path):
    root = write_catalog(
        tmp_path,
        services={"py": "icon: py.svg\n" + SERVICE},
        lists={"main": "display_name: M\ngroups: [u]\nservices: {py: }\n"},
    )
    (root / "icons").mkdir()
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"/>'
    (root / "icons" / "py.svg").write_bytes(svg)
    offer = load_catalog(root).offers["main"][0]
    assert offer.icon == "data:image/svg+xml;base64," + base64.b64encode(svg).decode()


def test_every_problem_of_every_file_at_once(tmp_path):
    root = write_catalog(
        tmp_path,
        services={
            "py": SERVICE.replace("max: 4}", "max: 4, colour: red}"),
            "rs": RSTUDIO.replace("display_name: RStudio", "display_name: RStudio\ndisplay_name: again"),
        },
        lists={
            "main": MAIN_LIST + "  nothere: {}\n",
            "other": "display_name: O\ngroups: []\nservices: {rs: {cpu: {max: 99}}}\n",
        },
    )
    found = problems_of(root)
    assert found == sorted(found, key=lambda s: (s.split(":")[0], int(s.split(":")[1])))
    files = {line.split(":")[0] for line in found}
    assert files == {"services/py.yaml", "services/rs.yaml", "lists/main.yaml", "lists/other.yaml"}
    text = "\n".join(found)
    assert "services/py.yaml:12: unknown key 'options.cpu.colour'" in text
    assert "services/rs.yaml:2: duplicate key 'display_name'" in text
    assert "lists/main.yaml:6: unknown service 'nothere' (known: py, rs)" in text
    assert "lists/other.yaml:2: groups: List should have at least 1 item" in text
    assert "lists/other.yaml:3: cpu: max 99 is above the service's maximum 2" in text
    assert str(CatalogError([])) == ""


# (file to (over)write, its text, expected line, expected part of the message)
BROKEN = {
    "typo-key": (
        "services/py.yaml",
        SERVICE.replace("description:", "descripton:"),
        2,
        "unknown key 'descripton'",
    ),
    "missing-kind": ("services/py.yaml", SERVICE.replace("kind: jupyter\n", ""), 1, "missing key 'kind'"),
    "not-a-mapping": ("services/py.yaml", "- a\n- b\n", 1, "must be a YAML mapping"),
    "cpu-string": (
        "services/py.yaml",
        SERVICE.replace("cpu: {default: 1,", "cpu: {default: '1',"),
        12,
        "options.cpu.default: should be a valid number (got '1')",
    ),
    "cpu-bool": (
        "services/py.yaml",
        SERVICE.replace("cpu: {default: 1,", "cpu: {default: yes,"),
        12,
        "options.cpu.default: should be a valid number (got True)",
    ),
    "nan": (
        "services/py.yaml",
        SERVICE.replace("memory: {default: 2,", "memory: {default: .nan,"),
        13,
        "should be a finite number",
    ),
    "negative": (
        "services/py.yaml",
        SERVICE.replace("storage: {default: 5, min: 1", "storage: {default: 5, min: -1"),
        14,
        "greater than or equal to 0",
    ),
    "toleration-operator": (
        "services/py.yaml",
        SERVICE + "tolerations:\n  - {key: gpu, operator: Maybe}\n",
        18,
        "tolerations.0.operator: should be 'Equal' or 'Exists'",
    ),
    "bad-file-name": (
        "services/Py_Thing.yaml",
        SERVICE,
        0,
        "the service name 'Py_Thing' (the file name) must be lowercase",
    ),
    "list-unknown-service": (
        "lists/main.yaml",
        MAIN_LIST + "  julia: {}\n",
        6,
        "unknown service 'julia' (known: py, rs)",
    ),
    "list-typo-override": (
        "lists/main.yaml",
        MAIN_LIST.replace("py: {}", "py: {cpu: {maximum: 2}}"),
        4,
        "unknown key 'services.py.cpu.maximum'",
    ),
    "list-unknown-option": (
        "lists/main.yaml",
        MAIN_LIST.replace("py: {}", "py: {ram: {max: 2}}"),
        4,
        "unknown key 'services.py.ram'",
    ),
    "list-window-reversed": (
        "lists/main.yaml",
        MAIN_LIST + "window:\n  start: 2026-12-02T00:00:00Z\n  end: 2026-12-01T00:00:00Z\n",
        8,
        "window: end must be after start",
    ),
    "list-window-naive": (
        "lists/main.yaml",
        MAIN_LIST + "window: {start: '2026-12-01T09:00:00', end: 2026-12-02T00:00:00Z}\n",
        6,
        "window.start: should have timezone info",
    ),
    "list-window-garbage": (
        "lists/main.yaml",
        MAIN_LIST + "window: {start: tomorrow, end: 2026-12-02T00:00:00Z}\n",
        6,
        "window.start: should be a valid datetime",
    ),
    "list-no-groups": (
        "lists/main.yaml",
        MAIN_LIST.replace("groups: [users]", "groups: []"),
        2,
        "groups: List should have at least 1 item",
    ),
    "list-group-string": (
        "lists/main.yaml",
        MAIN_LIST.replace("groups: [users]", "groups: users"),
        2,
        "groups: should be a list (got 'users')",
    ),
    "list-no-services": (
        "lists/main.yaml",
        "display_name: M\ngroups: [u]\nservices: {}\n",
        3,
        "services: Dictionary should have at least 1 item",
    ),
    "list-bad-service-key": (
        "lists/main.yaml",
        "display_name: M\ngroups: [u]\nservices: {Py_2: {}}\n",
        3,
        "must be lowercase letters, digits and '-'",
    ),
    "list-duplicate-name": ("lists/main.yml", MAIN_LIST, 0, "duplicate list 'main' (also in main.yaml)"),
    "registry-unset": (
        "services/py.yaml",
        SERVICE.replace("- reg.example/py:2", "- '{registry}/py:2'"),
        9,
        "{registry} needs `registry:` in catalog.yaml",
    ),
    "registry-invalid": (
        "catalog.yaml",
        "registry: 'Not A Registry'\n",
        1,
        "registry 'Not A Registry' is not a valid image registry prefix",
    ),
    "settings-typo": ("catalog.yaml", "registy: reg.example\n", 1, "unknown key 'registy'"),
    "list-priority-float": (
        "lists/main.yaml",
        MAIN_LIST + "priority: 1.5\n",
        6,
        "priority: should be a valid integer (got 1.5)",
    ),
    "list-window-date-only": (
        "lists/main.yaml",
        MAIN_LIST + "window: {start: 2026-12-01, end: 2026-12-02}\n",
        6,
        "should have timezone info",
    ),
    "node-selector-bool": (
        "services/py.yaml",
        SERVICE + "node_selector: {gpu: true}\n",
        17,
        "node_selector.gpu: should be a valid string (got True)",
    ),
}


@pytest.mark.parametrize("case", BROKEN.values(), ids=BROKEN.keys())
def test_broken_catalog_file_is_reported_with_its_line(catalog_dir, case):
    assert_reported(catalog_dir, *case)


def test_missing_directory_and_empty_catalog(tmp_path):
    assert problems_of(tmp_path, registry=None) == [
        "services:0: the catalog has no services (services/*.yaml)"
    ]
    with pytest.raises(CatalogError, match="does not exist"):
        load_catalog(tmp_path / "nope")


def test_registry_setting_and_override(tmp_path):
    svc = SERVICE.replace("- reg.example/py:2", "- '{registry}/py:2'").replace(
        "'reg\\.example/py:[0-9]+'", "'{registry}/py:[0-9]+'"
    )
    root = write_catalog(tmp_path, services={"py": svc, "rs": RSTUDIO}, settings="registry: a.example/team\n")
    images = load_catalog(root).offers["main"][0].options["image"]
    assert images.offered("a.example/team/py:2")
    assert images.custom_ok("a.example/team/py:7") and not images.custom_ok("aXexample/team/py:7")
    assert (
        load_catalog(root, registry="b.example").offers["main"][0].options["image"].offered("b.example/py:2")
    )


def test_hidden_and_other_files_are_ignored(catalog_dir):
    (catalog_dir / "services" / ".py.yaml.swp").write_text("garbage: [")
    (catalog_dir / "lists" / "README.md").write_text("# notes")
    (catalog_dir / "..data").mkdir()  # what a mounted ConfigMap adds
    assert set(load_catalog(catalog_dir).services) == {"py", "rs"}
