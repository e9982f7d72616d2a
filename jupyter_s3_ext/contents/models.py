"""Jupyter contents models for S3 entries (pure): the same fields and conventions as the file manager."""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
from datetime import UTC, datetime

from tornado.web import HTTPError

try:
    from pybase64 import b64decode
except ImportError:  # a venv made before pybase64 was a dependency (re-run scripts/bootstrap.sh): slower
    from base64 import b64decode

# Folders in S3 have no date of their own (most have no marker object): shown as the epoch.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def base_model(path: str, type_: str, *, writable: bool, last_modified=None, size=None) -> dict:
    when = last_modified or EPOCH
    return {
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "type": type_,
        "writable": writable,
        "created": when,
        "last_modified": when,
        "content": None,
        "format": None,
        "mimetype": None,
        "size": size,
        "hash": None,
        "hash_algorithm": None,
    }


def dir_model(path: str, *, writable: bool, children: list[dict] | None = None) -> dict:
    m = base_model(path, "directory", writable=writable)
    m["size"] = None
    if children is not None:
        m["content"] = children
        m["format"] = "json"
    return m


def child_models(base: str, entries, writable: bool) -> list[dict]:
    """Models (no content) of a folder's entries (store.Entry), hidden names left out, as the file manager does."""
    kids = []
    for e in entries:
        if e.name.startswith("."):
            continue
        path = f"{base}/{e.name}"
        if e.is_dir:
            kids.append(dir_model(path, writable=writable))
            continue
        m = base_model(
            path, file_type_of(e.name, None), writable=writable, last_modified=e.last_modified, size=e.size
        )
        m["mimetype"] = None if m["type"] == "notebook" else mimetypes.guess_type(e.name)[0]
        kids.append(m)
    return kids


def looks_like_file(name: str) -> bool:
    """Whether a path of unknown type is probably a file (`data.csv`) rather than a folder (`data`).

    Only orders the probes (HEAD first, or listing first): a wrong guess costs one request, never a
    wrong answer. Folders are guessed listing first, so opening one costs exactly its pages.
    """
    last = name.rsplit("/", 1)[-1]
    stem, dot, ext = last.rpartition(".")
    return bool(dot and stem and ext and len(ext) <= 8)


def file_type_of(name: str, requested: str | None) -> str:
    if requested in ("file", "notebook"):
        return requested
    return "notebook" if name.endswith(".ipynb") else "file"


def fill_file(m: dict, data: bytes, fmt: str | None, *, require_hash: bool, content: bool) -> dict:
    """Content of a plain file: text when asked or when it decodes as UTF-8, else base64 (as locally)."""
    m["mimetype"] = mimetypes.guess_type(m["path"])[0]
    if require_hash:
        m["hash"] = hashlib.sha256(data).hexdigest()
        m["hash_algorithm"] = "sha256"
    if not content:
        return m
    if fmt == "text" or fmt is None:
        try:
            m["content"] = data.decode("utf-8")
            m["format"] = "text"
            m["mimetype"] = m["mimetype"] or "text/plain"
            return m
        except UnicodeDecodeError:
            if fmt == "text":
                raise HTTPError(400, f"{m['path']} is not UTF-8 encoded", reason="bad format") from None
    m["content"] = base64.b64encode(data).decode("ascii")
    m["format"] = "base64"
    m["mimetype"] = m["mimetype"] or "application/octet-stream"
    return m


def encode_file(model: dict, path: str) -> bytes:
    """Bytes to store for a file model (text or base64), with the file manager's error messages."""
    content, fmt = model.get("content"), model.get("format")
    if content is None:
        raise HTTPError(400, "No file content provided")
    if fmt not in {"text", "base64"}:
        raise HTTPError(400, "Must specify format of file contents as 'text' or 'base64'")
    try:
        if fmt == "text":
            return content.encode("utf-8")
        return decode_base64(content)
    except Exception as e:
        raise HTTPError(400, f"Encoding error saving {path}: {e}") from e


def decode_base64(text) -> bytes:
    """Strict base64 (a str, or bytes such as a view of the request body: upload_body.py): pybase64
    validates and decodes in one pass, over ten times faster than binascii on a 1 MiB upload chunk."""
    return b64decode(text, validate=True)


def notebook_bytes(nb) -> bytes:
    import nbformat

    return nbformat.writes(nb, version=nbformat.NO_CONVERT).encode("utf-8")


def read_notebook(data: bytes, path: str):
    import nbformat

    try:
        return nbformat.reads(data.decode("utf-8"), as_version=4)
    except (ValueError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise HTTPError(400, f"Unreadable Notebook: {path} {e!r}") from e
