"""One catalog YAML file being read: its data with {registry} filled in, the line of each key, and
its problems as FILE:LINE: message (pydantic's errors reworded for people editing YAML)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .checks import Issue
from .model import BUCKET_PATTERN
from .yamlmarks import load_with_lines

REGISTRY_PLACEHOLDER = "{registry}"


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the catalog; line 0 means the whole file or directory."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class CatalogFile:
    """One YAML file being loaded: its data, the line of each key and the problems found in it."""

    def __init__(self, path: Path, problems: list[Problem], registry: str | None = None):
        self.path = path
        self.problems = problems
        self.lines: dict[tuple, int] = {}
        self.data: Any = None
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            self.add((), f"cannot read the file: {e}")
            self.ok = False
            return
        self.data, self.lines, found = load_with_lines(text)
        for p in found:
            problems.append(Problem(str(path), p.line, p.message))
        self.ok = self.data is not None or not found  # only a syntax error leaves nothing to check
        self.data = _substitute(self.data, registry)

    def line(self, loc: tuple) -> int:
        """The line of the longest known prefix of `loc` (pydantic may add non-key parts)."""
        known: tuple = ()
        best = self.lines.get((), 1 if self.lines else 0)
        for part in loc:
            if known + (part,) in self.lines:
                known += (part,)
                best = self.lines[known]
        return best

    def add(self, loc: tuple, message: str) -> None:
        self.problems.append(Problem(str(self.path), self.line(loc), message))

    def add_all(self, issues: list[Issue], registry: str | None) -> None:
        for loc, message in issues:
            self.add(loc, placeholder_hint(message, registry))

    def part(self, model: type[BaseModel], loc: tuple) -> Any:
        """The value at `loc` parsed as `model`, or None when absent or invalid (already reported)."""
        value = self.data
        for key in loc:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        try:
            return model.model_validate(value)
        except ValidationError:
            return None

    def parse(self, model: type[BaseModel], what: str) -> Any:
        if not self.ok:
            return None
        if not isinstance(self.data, dict):
            self.add((), f"a {what} file must be a YAML mapping (key: value lines)")
            return None
        try:
            return model.model_validate(self.data)
        except ValidationError as e:
            for err in e.errors(include_url=False):
                self.add(tuple(err["loc"]), _message(err))
            return None


def _message(err: Mapping[str, Any]) -> str:
    # Drop the parts pydantic adds that are not keys (e.g. "[key]", "function-before[...]").
    where = ".".join(str(p) for p in err["loc"] if not (isinstance(p, str) and "[" in p))
    if err["type"] == "extra_forbidden":
        return f"unknown key {where!r}"
    if err["type"] == "missing":
        return f"missing key {where!r}"
    msg = (
        err["msg"]
        .replace("Input should", "should")
        .replace("a valid tuple", "a list")
        .replace("Tuple", "List")
    )
    msg = msg.replace("a valid dictionary", "a mapping (key: value)")
    value = err.get("input")
    if isinstance(value, str | int | float | bool) or value is None:
        msg += (
            f" (got {value!r})"
            if not isinstance(value, str) or len(value) <= 60
            else f" (got {value[:57]!r}...)"
        )
    if err["type"] == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") == BUCKET_PATTERN:
        msg = "must be a bucket name: 3-63 lowercase letters, digits, '.' or '-', e.g. hackathon-data"
    elif err["type"] == "string_pattern_mismatch" and "pattern" in err.get("ctx", {}):
        msg = "must be lowercase letters, digits and '-' (at most 63), e.g. jupyter-python"
    return f"{where}: {msg}" if where else msg


def _substitute(data: Any, registry: str | None, key: str | None = None) -> Any:
    """Replace {registry} in every string (escaped inside regexes); leave it when no registry is set."""
    if isinstance(data, dict):
        return {k: _substitute(v, registry, k if isinstance(k, str) else None) for k, v in data.items()}
    if isinstance(data, list):
        return [_substitute(v, registry, key) for v in data]
    if isinstance(data, str) and registry is not None and REGISTRY_PLACEHOLDER in data:
        return data.replace(REGISTRY_PLACEHOLDER, re.escape(registry) if key == "custom_regex" else registry)
    return data


def placeholder_hint(message: str, registry: str | None) -> str:
    if registry is None and REGISTRY_PLACEHOLDER in message:
        return message + "; {registry} needs `registry:` in catalog.yaml"
    return message
