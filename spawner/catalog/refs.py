"""Checks of the strings that reach a pod: container image references and git repository URLs.

Each function returns None when the value is acceptable, else a short reason. They are used both
on the catalog's own values (at load) and on what users submit (at spawn).
"""

from __future__ import annotations

import re
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
