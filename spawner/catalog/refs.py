"""Checks of the strings that reach a pod: container image references and git repository URLs.

Each function returns None when the value is acceptable, else a short reason. They are used both
on the catalog's own values (at load) and on what users submit (at spawn).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

# A container image reference (registry host[:port]/path:tag@digest), after the distribution spec.
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]{1,5})?/)?"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_REF = re.compile(
    rf"(?P<name>{_HOST}{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?",
    re.ASCII,
)
_MAX_IMAGE = 255
_MAX_URL = 1024
# Host names as DNS allows them (letters, digits, hyphens, dots); IP literals in brackets are not accepted.
_HOSTNAME = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?",
    re.ASCII,
)
_PATH = re.compile(r"(?:/[A-Za-z0-9._~%!$&'()*+,;=:@-]+)+/?", re.ASCII)


def image_problem(ref: str, *, pinned: bool = False) -> str | None:
    """Why `ref` is not a valid image reference (None when it is). `pinned`: refuse no tag / `latest`."""
    if not ref or len(ref) > _MAX_IMAGE:
        return f"an image reference must be 1 to {_MAX_IMAGE} characters"
    if "{" in ref or "}" in ref:
        return "has an unreplaced placeholder"
    match = IMAGE_REF.fullmatch(ref)
    if not match:
        return "not a valid image reference (expected like registry.example/name:tag)"
    if pinned:
        if not match["tag"] and not match["digest"]:
            return "the image has no tag; pin a version tag or a digest"
        if match["tag"] == "latest" and not match["digest"]:
            return "the image tag 'latest' is not pinned; use a version tag or a digest"
    return None


def git_url_problem(url: str) -> str | None:
    """Why `url` is not an acceptable repository to clone (None when it is).

    Only `https://host[:port]/path` is accepted: the clone runs with no credentials, so ssh URLs
    could not work, and `file://`, `ext::` or option-like values (`-u...`) would reach git itself.
    Credentials in the URL (`https://user:token@...`) are refused: they would end up in the pod spec.
    """
    if not url or len(url) > _MAX_URL:
        return f"a repository URL must be 1 to {_MAX_URL} characters"
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "a repository URL must not contain spaces or control characters"
    if url.startswith("-"):
        return "a repository URL must not start with '-'"
    if "\\" in url:
        return "a repository URL must not contain backslashes"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        return f"not a valid URL ({e})"
    if parts.scheme != "https":
        return "only https:// repository URLs are accepted"
    if "@" in parts.netloc:
        return "a repository URL must not contain a user name or credentials"
    host = parts.hostname or ""
    if not host:
        return "a repository URL needs a host name"
    if not _HOSTNAME.fullmatch(host) or port == 0:
        return "not a valid host name in the repository URL"
    if parts.query or parts.fragment or "?" in url or "#" in url:
        return "a repository URL must not have a query (?) or fragment (#)"
    if not _PATH.fullmatch(parts.path or ""):
        return "a repository URL needs a path like https://host/owner/repo.git"
    if any(seg == ".." for seg in parts.path.split("/")):
        return "a repository URL must not contain '..' segments"
    return None


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host written as a number means, including the short and decimal forms git's resolver
    accepts (`127.1`, `2130706433`, `0x7f.1`); None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if re.fullmatch(r"[0-9a-fA-FxX.]+", host) and not re.search(r"[g-wyzG-WYZ]", host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))  # pure: parses, never resolves
        except OSError:
            return None
    return None


def _host_allowed(host: str, address, allowed: Iterable[str]) -> bool:
    for rule in allowed:
        rule = rule.strip().lower().rstrip(".")
        if not rule:
            continue
        if "/" in rule or _literal_address(rule) is not None:
            if address is None:
                continue
            try:
                if address in ipaddress.ip_network(rule, strict=False):
                    return True
            except ValueError:
                continue
        elif rule.startswith("*."):
            if host.endswith(rule[1:]):
                return True
        elif host == rule:
            return True
    return False


def git_host_problem(host: str, addresses: Iterable[str] = (), *, allowed: Iterable[str] = ()) -> str | None:
    """Why a repository on `host` may not be cloned (None when it may), given the addresses its name
    resolved to (none: not resolved, or not known yet).

    Clones run inside the session's network: a repository URL naming a loopback, private, link-local or
    otherwise non-public address would make the session (or the git init container) knock on services of
    the machine or the cluster. Only public addresses are accepted, except hosts the operator lists in
    `allowed` (names, `*.suffix` wildcards, addresses or networks such as `10.1.0.0/16`).
    """
    host = host.lower().rstrip(".")
    allowed = list(allowed)
    literal = _literal_address(host)
    if literal is None and _host_allowed(host, None, allowed):
        return None
    if literal is None and (host == "localhost" or host.endswith(".localhost")):
        return f"{host} is this machine: repositories are cloned from public hosts only"
    candidates = [literal] if literal is not None else []
    for text in addresses:
        try:
            candidates.append(ipaddress.ip_address(text.split("%", 1)[0]))
        except ValueError:
            continue
    for address in candidates:
        mapped = getattr(address, "ipv4_mapped", None)
        address = mapped or address
        if address.is_global or _host_allowed(host, address, allowed):
            continue
        kind = (
            "a loopback address"
            if address.is_loopback
            else "the unspecified address (this machine)"
            if address.is_unspecified
            else "a link-local address"
            if address.is_link_local
            else "a private address"
            if address.is_private
            else "not a public address"
        )
        shown = host if literal is not None else f"{host} ({address})"
        return f"{shown} is {kind}: repositories are cloned from public hosts only"
    return None


# git 2.37 added http.curloptResolve; older ones ignore it (unknown keys are no error), so they cannot pin.
GIT_PINS_FROM = (2, 37)


def git_clone_pin(url: str, addresses: Iterable[str], allowed: Iterable[str] = ()) -> dict[str, str] | None:
    """The git configuration that makes a clone of `url` connect only to `addresses`, those the hub checked
    at spawn (git_host_problem): a name resolved again when the clone runs could answer another address
    (DNS rebinding). `http.curloptResolve` pins them; redirects are not followed (their host would be
    resolved unchecked). {} when nothing needs pinning: the URL writes an address, or the operator allows
    its host by name, trusting that name's DNS. None when it needs pinning and nothing was resolved: then
    the clone must not run."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if _literal_address(host) is not None or _host_allowed(host, None, list(allowed)):
        return {}
    found: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for text in addresses:
        try:
            found.append(ipaddress.ip_address(text.split("%", 1)[0]))
        except ValueError:
            continue
    if not found:
        return None
    shown = ",".join(f"[{a}]" if a.version == 6 else str(a) for a in dict.fromkeys(found))
    return {"http.curloptResolve": f"{host}:{parts.port or 443}:{shown}", "http.followRedirects": "false"}


def git_config_env(config: dict[str, str]) -> dict[str, str]:
    """`config` as the environment git (2.31+) reads configuration from, for a clone that runs elsewhere."""
    env = {"GIT_CONFIG_COUNT": str(len(config))} if config else {}
    for i, (key, value) in enumerate(config.items()):
        env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"] = key, value
    return env


def git_version_pins(version: str) -> bool:
    """Whether `git version`'s output names a git that honours http.curloptResolve."""
    match = re.match(r"git version (\d+)\.(\d+)", version.strip())
    return bool(match) and (int(match[1]), int(match[2])) >= GIT_PINS_FROM


UNRESOLVED = (
    "{host} did not resolve when the session started: not cloned (the clone would resolve it unchecked)"
)
