"""Read one YAML file into plain data plus the line of every key, so problems can say FILE:LINE.

PyYAML's composer keeps a mark on every node; we build the Python values ourselves from the node
tree (scalars through the safe constructor) and record `path -> line` on the way, where a path is
the tuple of keys and list indexes leading to a value (the same shape as pydantic's error `loc`).
Duplicate keys, which plain PyYAML silently collapses, are reported instead.
"""

from __future__ import annotations

from typing import Any

import yaml

Path_ = tuple[Any, ...]
# A catalog file is small; aliases can make a tiny file expand exponentially ("billion laughs").
MAX_VALUES = 100_000


class YamlProblem(Exception):
    """A problem found while reading YAML: `line` (1-based) and a message."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def load_with_lines(text: str) -> tuple[Any, dict[Path_, int], list[YamlProblem]]:
    """Parse `text`; return (data, lines, problems).

    A syntax error is returned as the only problem (with data None): nothing after it can be trusted.
    Other problems (duplicate keys, unsupported tags, merge keys) are collected and parsing goes on.
    """
    loader = yaml.SafeLoader(text)
    problems: list[YamlProblem] = []
    try:
        node = loader.get_single_node()
    except RecursionError:
        return None, {}, [YamlProblem(1, "the YAML is nested too deeply")]
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 1
        what = " ".join(p for p in (e.context, e.problem) if p)
        return None, {}, [YamlProblem(line, f"YAML syntax error: {what}")]
    except yaml.YAMLError as e:  # e.g. a reader error (bad bytes), with no mark
        return None, {}, [YamlProblem(1, f"YAML error: {e}")]
    finally:
        loader.dispose()
    lines: dict[Path_, int] = {}
    if node is None:
        return None, lines, problems
    try:
        data = _build(loader, node, (), lines, problems)
    except RecursionError:
        return None, {}, [YamlProblem(1, "the YAML is nested too deeply")]
    except _TooBig:
        return None, {}, [YamlProblem(1, f"the YAML expands to more than {MAX_VALUES} values (aliases?)")]
    return data, lines, problems


class _TooBig(Exception):
    pass


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: Path_, lines: dict, problems: list) -> Any:
    if len(lines) > MAX_VALUES:
        raise _TooBig
    lines.setdefault(path, _line(node))
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                problems.append(YamlProblem(_line(key_node), "YAML merge keys (<<) are not supported"))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(YamlProblem(_line(key_node), "a mapping key must be a plain value"))
                continue
            key = _scalar(loader, key_node, problems)
            if key in out:
                problems.append(YamlProblem(_line(key_node), f"duplicate key {key!r}"))
                continue
            lines[path + (key,)] = _line(key_node)
            out[key] = _build(loader, value_node, path + (key,), lines, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, path + (i,), lines, problems) for i, item in enumerate(node.value)]
    return _scalar(loader, node, problems)


def _scalar(loader: yaml.SafeLoader, node: yaml.ScalarNode, problems: list) -> Any:
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as e:
        problems.append(YamlProblem(_line(node), f"unsupported YAML value: {getattr(e, 'problem', e)}"))
        return None
