"""Validation of submitted options into a LaunchPlan, and refusal of every tampered value."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from spawner.catalog import OptionsError, load_catalog, resolve, validate_options
from spawner.catalog.validate import git_repository_problem
from spawner.plan import LaunchPlan, PostgresSidecar
from tests.support.catalog import MAIN_LIST, write_catalog

from .test_resolve import EVENT

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def offers(tmp_path_factory):
    root = write_catalog(tmp_path_factory.mktemp("catalog"), lists={"main": MAIN_LIST})
    return resolve(load_catalog(root), ["users"], NOW)


@pytest.fixture(scope="module")
def event_offers(tmp_path_factory):
    root = write_catalog(tmp_path_factory.mktemp("catalog"), lists={"event": EVENT})
    return resolve(load_catalog(root), ["event"], NOW)


def test_defaults_make_a_complete_plan(offers):
    plan = validate_options(offers, {}, username="alice")
    assert isinstance(plan, LaunchPlan)
    assert (plan.username, plan.server_name, plan.service, plan.profile_list) == ("alice", "", "py", "main")
    assert (plan.kind, plan.default_url, plan.image) == ("jupyter", "/lab", "reg.example/py:1")
    assert (plan.cpu, plan.memory_gib, plan.storage_gib, plan.gpu) == (1, 2, 5, 0)
    assert plan.git_repository is None and plan.postgres is None
    assert plan.labels == {"datalab.io/service": "py", "datalab.io/profile-list": "main"}
    assert plan.service_display_name == "Python"
    assert plan.user_options["service"] == "py" and plan.user_options["gpu"] == 0
    assert validate_options(offers, None, username="alice") == plan


def test_chosen_values_and_form_strings(offers):
    options = {
        "service": "py",
        "image": "reg.example/py:2",
        "cpu": "2.5",
        "memory": 8,
        "storage": " 20 ",
        "gpu": "2",
        "git_repository": "https://git.example.org/team/analysis.git",
        "postgres": "on",
    }
    plan = validate_options(offers, options, username="bob", server_name="second")
    assert (plan.cpu, plan.memory_gib, plan.storage_gib, plan.gpu) == (2.5, 8, 20, 2)
    assert plan.image == "reg.example/py:2" and plan.server_name == "second"
    assert plan.git_repository == "https://git.example.org/team/analysis.git"
    assert plan.postgres == PostgresSidecar(image="reg.example/postgres:16", storage_gib=1.0)
    assert plan.user_options == {
        "service": "py",
        "image": "reg.example/py:2",
        "cpu": 2.5,
        "memory": 8.0,
        "storage": 20.0,
        "gpu": 2,
        "git_repository": "https://git.example.org/team/analysis.git",
        "postgres": True,
    }


def test_other_service_kind_and_custom_image(offers):
    rs = validate_options(offers, {"service": "rs"}, username="a")
    assert (rs.kind, rs.default_url, rs.profile_list) == ("rstudio", "/rstudio", "main")
    custom = validate_options(offers, {"service": "py", "image": "reg.example/py:42"}, username="a")
    assert custom.image == "reg.example/py:42"


def test_empty_values_mean_defaults_and_empty_git_means_none(event_offers):
    plan = validate_options(event_offers, {"cpu": "", "postgres": None}, username="a")
    assert plan.cpu == 2 and plan.postgres is not None
    assert plan.git_repository == "https://git.example.org/event/starter.git"
    assert validate_options(event_offers, {"postgres": "false"}, username="a").postgres is None
    # The event fixes its starter repository: submitting it unchanged is fine.
    same = {"git_repository": "https://git.example.org/event/starter.git"}
    assert validate_options(event_offers, same, username="a").git_repository == same["git_repository"]


def test_lists_gpu_node_selector_and_tolerations_reach_the_plan():
    from .test_load import REPO_PROFILES

    offers = resolve(load_catalog(REPO_PROFILES), ["datalab-gpu"], NOW)
    plan = validate_options(offers, {"service": "jupyter-python-gpu", "gpu": 2}, username="g")
    assert plan.gpu == 2 and plan.node_selector == {"nvidia.com/gpu.present": "true"}
    assert plan.tolerations == ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},)
    assert plan.labels["datalab.io/profile-list"] == "gpu"


# (options submitted, the field named, status, parts of the message)
REFUSED = {
    "unknown-key": ({"ram": 4}, "ram", 400, ["unknown option 'ram'", "allowed options: service, image, cpu"]),
    "unknown-key-beside-valid": (
        {"service": "py", "kubespawner_override": {}},
        "kubespawner_override",
        400,
        ["unknown option"],
    ),
    "service-not-granted": (
        {"service": "jupyter-python-gpu"},
        "service",
        403,
        ["not offered to you", "offered: py, rs"],
    ),
    "service-wrong-type": ({"service": ["py"]}, "service", 400, ["expected a service name"]),
    "cpu-too-high": ({"cpu": 5}, "cpu", 400, ["cpu: 5 is not allowed", "between 0.5 and 4"]),
    "cpu-too-low": ({"cpu": 0.25}, "cpu", 400, ["cpu: 0.25 is not allowed", "between 0.5 and 4"]),
    "cpu-negative": ({"cpu": -1}, "cpu", 400, ["cpu: -1 is not allowed"]),
    "cpu-bool": ({"cpu": True}, "cpu", 400, ["cpu: expected a number, got a boolean"]),
    "cpu-nan": ({"cpu": math.nan}, "cpu", 400, ["cpu: expected a finite number between 0.5 and 4"]),
    "cpu-inf": ({"cpu": math.inf}, "cpu", 400, ["expected a finite number"]),
    "cpu-string-nan": ({"cpu": "NaN"}, "cpu", 400, ["cpu: expected a number between 0.5 and 4, got 'NaN'"]),
    "cpu-string-exponent": ({"cpu": "1e3"}, "cpu", 400, ["expected a number"]),
    "cpu-string-hex": ({"cpu": "0x2"}, "cpu", 400, ["expected a number"]),
    "cpu-string-signed": ({"cpu": "-1"}, "cpu", 400, ["expected a number"]),
    "cpu-list": ({"cpu": [2]}, "cpu", 400, ["expected a number"]),
    "huge-int": ({"memory": 10**400}, "memory", 400, ["memory: expected a finite number between 1 and 8"]),
    "memory-too-high": ({"memory": "16"}, "memory", 400, ["memory: 16 is not allowed", "between 1 and 8"]),
    "storage-zero": ({"storage": 0}, "storage", 400, ["storage: 0 is not allowed", "between 1 and 20"]),
    "gpu-fraction": ({"gpu": 0.5}, "gpu", 400, ["gpu: expected a whole number between 0 and 2, got 0.5"]),
    "gpu-on-cpu-service": (
        {"service": "rs", "gpu": 1},
        "gpu",
        400,
        ["gpu: 1 is not allowed", "between 0 and 0"],
    ),
    "image-not-offered": (
        {"service": "rs", "image": "reg.example/r:2"},
        "image",
        400,
        ["image 'reg.example/r:2' is not offered", "reg.example/r:1"],
    ),
    "image-custom-no-match": (
        {"image": "evil.example/miner:1"},
        "image",
        400,
        ["does not match the allowed custom images", "(reg.example/py:‹digits›)"],
    ),
    "image-custom-partial-match": (
        {"image": "reg.example/py:1x"},
        "image",
        400,
        ["does not match the allowed custom images"],
    ),
    "image-injection": (
        {"image": "reg.example/py:1 --privileged"},
        "image",
        400,
        ["not a valid image reference"],
    ),
    "image-newline": (
        {"image": "reg.example/py:1\nreg.example/py:2"},
        "image",
        400,
        ["not a valid image reference"],
    ),
    "image-wrong-type": ({"image": {"name": "x"}}, "image", 400, ["expected an image name"]),
    "git-http": (
        {"git_repository": "http://git.example.org/x.git"},
        "git_repository",
        400,
        ["only https://"],
    ),
    "git-file": ({"git_repository": "file:///etc/shadow"}, "git_repository", 400, ["only https://"]),
    "git-ssh": (
        {"git_repository": "git@github.example:team/x.git"},
        "git_repository",
        400,
        ["only https://"],
    ),
    "git-ext": ({"git_repository": "ext::sh -c touch% /tmp/pwned"}, "git_repository", 400, ["spaces"]),
    "git-credentials": (
        {"git_repository": "https://bob:hunter2@git.example.org/x.git"},
        "git_repository",
        400,
        ["must not contain a user name or credentials", "***@git.example.org"],
    ),
    "git-option-injection": (
        {"git_repository": "--upload-pack=touch /tmp/x"},
        "git_repository",
        400,
        ["spaces"],
    ),
    "git-leading-dash": (
        {"git_repository": "-uhttps://x.example/y"},
        "git_repository",
        400,
        ["must not start with '-'"],
    ),
    "git-newline": (
        {"git_repository": "https://git.example.org/x.git\n--config=core.sshCommand=x"},
        "git_repository",
        400,
        ["control characters"],
    ),
    "git-query": (
        {"git_repository": "https://git.example.org/x.git?token=abc"},
        "git_repository",
        400,
        ["query"],
    ),
    "git-no-path": ({"git_repository": "https://git.example.org"}, "git_repository", 400, ["needs a path"]),
    "git-dotdot": ({"git_repository": "https://git.example.org/a/../../b"}, "git_repository", 400, ["'..'"]),
    "git-bad-host": ({"git_repository": "https://exa_mple/x.git"}, "git_repository", 400, ["host name"]),
    "git-bad-port": (
        {"git_repository": "https://git.example.org:99999/x.git"},
        "git_repository",
        400,
        ["not a valid URL"],
    ),
    "git-too-long": (
        {"git_repository": "https://git.example.org/" + "a" * 2000},
        "git_repository",
        400,
        ["1 to 1024 characters"],
    ),
    "git-wrong-type": ({"git_repository": 42}, "git_repository", 400, ["expected an https:// URL"]),
    "postgres-not-offered": (
        {"service": "rs", "postgres": True},
        "postgres",
        400,
        ["PostgreSQL sidecar is not offered"],
    ),
    "postgres-garbage": (
        {"postgres": "maybe"},
        "postgres",
        400,
        ["postgres: expected true or false, got 'maybe'"],
    ),
    "postgres-int": ({"postgres": 1}, "postgres", 400, ["expected true or false"]),
    "not-a-mapping": (["py"], None, 400, ["options must be an object"]),
}


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
def test_tampered_options_are_refused_naming_the_field(offers, case):
    options, field, status, parts = case
    with pytest.raises(OptionsError) as info:
        validate_options(offers, options, username="mallory")
    err = info.value
    assert (err.field, err.status) == (field, status)
    for part in parts:
        assert part in err.message, err.message
    assert "hunter2" not in err.message


def test_list_overrides_are_enforced(event_offers):
    with pytest.raises(OptionsError, match=r"cpu: 3 is not allowed; allowed: between 0.5 and 2"):
        validate_options(event_offers, {"cpu": 3}, username="a")
    with pytest.raises(OptionsError, match="image 'reg.example/py:1' is not offered") as info:
        validate_options(event_offers, {"image": "reg.example/py:1"}, username="a")
    assert info.value.field == "image"
    with pytest.raises(OptionsError, match="does not let you choose it") as info:
        validate_options(event_offers, {"git_repository": "https://other.example/x.git"}, username="a")
    assert "starter.git" in info.value.message
    with pytest.raises(OptionsError, match="does not let you choose it"):
        validate_options(event_offers, {"git_repository": ""}, username="a")
    with pytest.raises(OptionsError) as info:
        validate_options(event_offers, {"service": "rs"}, username="a")
    assert info.value.status == 403


def test_no_offers_means_forbidden():
    with pytest.raises(OptionsError) as info:
        validate_options([], {}, username="a")
    assert (info.value.status, info.value.message) == (403, "no service is offered to you")


def test_choices_restrict_numbers(tmp_path):
    event = "display_name: E\ngroups: [e]\nservices:\n  py: {memory: {choices: [2, 4], default: 2}}\n"
    offers = resolve(load_catalog(write_catalog(tmp_path, lists={"e": event})), ["e"], NOW)
    assert validate_options(offers, {"memory": "4"}, username="a").memory_gib == 4
    with pytest.raises(OptionsError, match="memory: 3 is not allowed; allowed: one of 2, 4"):
        validate_options(offers, {"memory": 3}, username="a")


def test_every_builtin_offer_accepts_its_defaults_and_its_bounds():
    from .test_load import REPO_PROFILES

    offers = resolve(load_catalog(REPO_PROFILES), ["datalab-users", "datalab-gpu"], NOW)
    assert len(offers) == 5
    for offer in offers:
        plan = validate_options(offers, offer.defaults(), username="u")
        assert plan.user_options == offer.defaults() and plan.service == offer.service
        o = offer.options
        top = {"service": offer.service, **{n: o[n].max for n in ("cpu", "memory", "storage", "gpu")}}
        plan = validate_options(offers, top, username="u")
        assert (plan.cpu, plan.memory_gib, plan.storage_gib, plan.gpu) == tuple(
            top[n] for n in ("cpu", "memory", "storage", "gpu")
        )
        with pytest.raises(OptionsError, match=r"memory: .* is not allowed"):
            validate_options(offers, {**top, "memory": o["memory"].max + 1}, username="u")


def test_a_project_is_one_of_the_users_projects_or_refused(offers):
    plan = validate_options(offers, {"project": "demo"}, username="bob", projects=["demo", "x"])
    assert plan.project == "demo" and plan.user_options["project"] == "demo"
    personal = validate_options(offers, {"project": ""}, username="bob", projects=["demo"])
    assert personal.project == "" and "project" not in personal.user_options
    with pytest.raises(
        OptionsError, match=r"project 'demo': you are not a member of it \(your projects: none\)"
    ) as e:
        validate_options(offers, {"project": "demo"}, username="carol")
    assert (e.value.status, e.value.field) == (403, "project")
    with pytest.raises(OptionsError, match="expected a project name"):
        validate_options(offers, {"project": ["demo"]}, username="bob", projects=["demo"])


NOT_PUBLIC = {
    "loopback": ("https://127.0.0.1:1/x.git", "127.0.0.1 is a loopback address"),
    "loopback-short": ("https://127.1/x.git", "127.1 is a loopback address"),
    "loopback-decimal": ("https://2130706433/x.git", "2130706433 is a loopback address"),
    "loopback-hex": ("https://0x7f.1/x.git", "0x7f.1 is a loopback address"),
    "localhost": ("https://localhost/x.git", "localhost is this machine"),
    "sub-localhost": ("https://git.localhost/x.git", "git.localhost is this machine"),
    "private": ("https://10.0.0.5/x.git", "10.0.0.5 is a private address"),
    "private-192": ("https://192.168.1.2/x.git", "is a private address"),
    "metadata": ("https://169.254.169.254/latest/x.git", "169.254.169.254 is a link-local address"),
    "unspecified": ("https://0.0.0.0/x.git", "0.0.0.0 is the unspecified address (this machine)"),
    "shared": ("https://100.64.0.1/x.git", "is not a public address"),
}


@pytest.mark.parametrize(("url", "message"), NOT_PUBLIC.values(), ids=NOT_PUBLIC.keys())
def test_repositories_on_hosts_that_are_not_public_are_refused(offers, url, message):
    with pytest.raises(OptionsError) as e:
        validate_options(offers, {"git_repository": url}, username="a")
    assert e.value.field == "git_repository" and e.value.status == 400
    assert message in e.value.message and "git_allowed_hosts" in e.value.message


def test_names_are_checked_with_what_they_resolve_to():
    assert git_repository_problem("https://git.example.org/x.git", ["93.184.215.14"]) is None
    why = git_repository_problem("https://git.example.org/x.git", ["93.184.215.14", "10.1.2.3"])
    assert "git.example.org (10.1.2.3) is a private address" in why
    why = git_repository_problem("https://intranet.example/x.git", ["::ffff:127.0.0.1"])
    assert "intranet.example (127.0.0.1) is a loopback address" in why
    assert "loopback" in git_repository_problem("https://v6.example/x.git", ["::1"])


def test_the_operator_allows_hosts_by_name_wildcard_or_network(offers):
    allowed = ["localhost", "*.corp.example", "10.1.0.0/16"]
    for url, addresses in (
        ("https://localhost:8443/x.git", ["127.0.0.1"]),
        ("https://git.corp.example/x.git", ["10.9.9.9"]),
        ("https://10.1.2.3/x.git", []),
        ("https://git.other.example/x.git", ["10.1.5.5"]),
    ):
        assert git_repository_problem(url, addresses, allowed) is None, url
        plan = validate_options(offers, {"git_repository": url}, username="a", git_allowed_hosts=allowed)
        assert plan.git_repository == url
    assert "private" in git_repository_problem("https://10.2.0.1/x.git", [], allowed)
    assert "private" in git_repository_problem("https://git.other.example/x.git", ["10.2.0.1"], allowed)
