"""`datalab profiles preview`: what a user is offered at a moment and from which list; errors."""

from __future__ import annotations

import json
from pathlib import Path

from hub import cli
from tests.support.catalog import MAIN_LIST, write_catalog

REPO = Path(__file__).resolve().parents[3]
PROFILES = str(REPO / "profiles")
DURING = "2026-12-02T10:00:00Z"


def preview(capsys, *args):
    code = cli.main(["profiles", "preview", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_example_hackathon_during_its_window_as_json(capsys):
    code, out, _ = preview(
        capsys, "--user", "ann", "--groups", "hackathon-demo", "--at", DURING, "--json", PROFILES
    )
    assert code == 0
    offers = json.loads(out)
    assert [(o["service"], o["list"]) for o in offers] == [
        ("jupyter-python", "example-hackathon"),
        ("rstudio", "example-hackathon"),
    ]
    py = offers[0]["options"]
    assert py["cpu"] == {"default": 1.0, "min": 0.5, "max": 2.0}
    assert py["git_repository"]["default"].startswith("https://")
    assert py["image"]["default"] in py["image"]["choices"]
    assert set(py) == {"image", "cpu", "memory", "storage", "gpu", "git_repository", "postgres"}


def test_the_event_list_wins_over_the_default_list_and_the_rest_comes_from_default(capsys):
    groups = "hackathon-demo,datalab-users"
    code, out, _ = preview(capsys, "--user", "ann", "--groups", groups, "--at", DURING, "--json", PROFILES)
    assert code == 0
    assert [(o["service"], o["list"]) for o in json.loads(out)] == [
        ("jupyter-python", "example-hackathon"),
        ("rstudio", "example-hackathon"),
        ("jupyter-r", "default"),
        ("vscode-python", "default"),
    ]
    code, text, _ = preview(capsys, "--user", "ann", "--groups", groups, "--at", DURING, PROFILES)
    assert code == 0
    assert "jupyter-python: JupyterLab · Python, from list 'example-hackathon'" in text
    assert "cpu 1 (cores between 0.5 and 2)" in text


def test_outside_the_window_nothing_is_offered_and_the_closed_list_is_named(capsys):
    for at in ("2026-12-01T07:59:59Z", "2026-12-03T18:00:00Z"):  # start included, end excluded
        code, out, _ = preview(
            capsys, "--user", "ann", "--groups", "hackathon-demo", "--at", at, "--json", PROFILES
        )
        assert (code, json.loads(out)) == (0, [])
    code, text, _ = preview(
        capsys, "--user", "ann", "--groups", "hackathon-demo", "--at", "2026-12-04T00:00+01:00", PROFILES
    )
    assert "0 services offered" in text and "list 'example-hackathon' is for these groups but closed" in text


def test_a_broken_catalog_prints_the_lint_problems_and_exits_1(capsys, tmp_path):
    root = write_catalog(tmp_path, lists={"main": MAIN_LIST + "  ghost: {}\n"})
    code, out, err = preview(capsys, "--user", "ann", "--groups", "users", "--json", str(root))
    assert code == 1
    assert out.splitlines() == [f"{root}/lists/main.yaml:6: unknown service 'ghost' (known: py, rs)"]
    assert "1 problem" in err and "Traceback" not in out + err


def test_a_bad_at_is_refused_with_exit_1(capsys):
    for bad, why in (("tomorrow", "expected an ISO 8601"), ("2026-12-02T10:00", "give a timezone")):
        code, out, err = preview(capsys, "--user", "ann", "--groups", "g", "--at", bad, PROFILES)
        assert code == 1 and out == "" and why in err and bad in err


def test_the_example_hackathons_dataset_is_read_only_for_participants_writable_for_organisers(capsys):
    line = "dataset census: s3://hackathon-demo-data/census {}, from list 'example-hackathon'"
    code, text, _ = preview(capsys, "--user", "ann", "--groups", "hackathon-demo", "--at", DURING, PROFILES)
    assert code == 0 and line.format("read-only") in text
    groups = "hackathon-demo,hackathon-demo-organisers"
    code, text, _ = preview(capsys, "--user", "ann", "--groups", groups, "--at", DURING, PROFILES)
    assert line.format("writable (organiser)") in text
    code, text, _ = preview(
        capsys, "--user", "ann", "--groups", "hackathon-demo", "--at", "2026-12-04T00:00Z", PROFILES
    )
    assert "dataset" not in text  # after the window
