"""The clone's pin: the addresses the hub checked are the only ones a clone connects to (spawner/catalog/refs.py)."""

from __future__ import annotations

import pytest

from spawner.catalog.refs import git_clone_pin, git_config_env, git_version_pins

PINNED = "http.curloptResolve"


def test_a_name_is_pinned_to_the_addresses_checked_and_redirects_are_not_followed():
    pin = git_clone_pin(
        "https://Git.Example.org/team/r.git", ["203.0.113.7", "2001:db8::1%eth0", "203.0.113.7"]
    )
    assert pin == {PINNED: "git.example.org:443:203.0.113.7,[2001:db8::1]", "http.followRedirects": "false"}
    assert git_clone_pin("https://git.example.org:8443/r.git", ["203.0.113.7"])[PINNED] == (
        "git.example.org:8443:203.0.113.7"
    )


def test_a_name_that_did_not_resolve_is_not_cloned():
    assert git_clone_pin("https://git.example.org/r.git", []) is None
    assert git_clone_pin("https://git.example.org/r.git", ["not-an-address"]) is None


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://10.1.2.3/r.git", ["10.1.0.0/16"]),  # an address: nothing to resolve
        ("https://gitlab.corp.example/r.git", ["gitlab.corp.example"]),  # trusted by name, with its DNS
        ("https://gitlab.corp.example/r.git", ["*.corp.example"]),
    ],
)
def test_what_needs_no_resolving_or_is_trusted_by_name_is_not_pinned(url, allowed):
    assert git_clone_pin(url, [], allowed) == {}


def test_an_address_rule_still_pins_the_name():
    pin = git_clone_pin("https://git.corp.example/r.git", ["10.1.2.3"], ["10.1.0.0/16"])
    assert pin[PINNED] == "git.corp.example:443:10.1.2.3"


def test_config_goes_to_git_through_its_environment():
    env = git_config_env({PINNED: "h:443:203.0.113.7", "http.followRedirects": "false"})
    assert env == {
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_0": PINNED,
        "GIT_CONFIG_VALUE_0": "h:443:203.0.113.7",
        "GIT_CONFIG_KEY_1": "http.followRedirects",
        "GIT_CONFIG_VALUE_1": "false",
    }
    assert git_config_env({}) == {}


@pytest.mark.parametrize(
    ("text", "pins"),
    [("git version 2.39.5\n", True), ("git version 2.37.0", True), ("git version 3.0.1", True),
     ("git version 2.36.9", False), ("git version 1.9", False), ("", False)],
)  # fmt: skip
def test_only_a_git_that_honours_the_pin_is_trusted_with_it(text, pins):
    assert git_version_pins(text) is pins
