"""The dependencies of the three packages run one way, and no module imports another in a cycle.

`hub` may import `spawner` and `jupyter_s3_ext` (the plain contracts); `spawner` imports neither `hub`
nor the session's package; `jupyter_s3_ext` imports neither. Every import counts, also those inside
functions and under TYPE_CHECKING: a cycle there is still two modules that need each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("hub", "spawner", "jupyter_s3_ext")
MAY_IMPORT = {"hub": {"spawner", "jupyter_s3_ext"}, "spawner": set(), "jupyter_s3_ext": set()}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Our modules that `name` imports (a `from package import module` names the module)."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            targets = [origin] + [f"{origin}.{a.name}" for a in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def test_the_scan_reads_our_modules():
    g = graph()
    assert len(g) > 60 and "spawner.runtime.options" in g["spawner.kube.spawner"] | g["spawner.runtime.mixin"]


def test_dependencies_run_one_way():
    wrong = [
        f"{name} imports {target}"
        for name, targets in sorted(graph().items())
        for target in sorted(targets)
        if target.split(".")[0] != name.split(".")[0]
        and target.split(".")[0] not in MAY_IMPORT[name.split(".")[0]]
    ]
    assert wrong == []


def test_no_module_imports_another_in_a_cycle():
    g = graph()
    # A package's __init__ that re-exports its modules is the package itself, not a module in a cycle.
    edges = {n: {t for t in ts if not n.startswith(t + ".")} for n, ts in g.items()}
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    assert cycles == []
