"""The core package reads top-down: no module imports, even lazily, one that imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

import gs_enhancer_addon.core as core_package

CORE = Path(core_package.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(CORE.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str) -> set[str]:
    """Every core module `path` imports, at module level or inside functions."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            target = f"{base}.{node.module}" if node.module else base
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)  # `from . import x` submodules
    return found


def core_import_graph() -> dict[str, set[str]]:
    """module -> the core modules it imports; a module's own parent packages are left out (Python
    always initialises them first, so they are not a dependency the code chose)."""
    modules = {_module_name(p): p for p in CORE.rglob("*.py")}
    return {name: {t for t in _imports(path, name) if t in modules and not (name + ".").startswith(t + ".")}
            for name, path in modules.items()}


def _find_cycle(graph: dict[str, set[str]]) -> list[str]:
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(node: str, stack: list[str]) -> list[str]:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [node, nxt] if nxt in stack else [node, nxt]
            if nxt not in state and (cycle := visit(nxt, stack + [node])):
                return cycle
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [])):
            return cycle
    return []


def test_core_imports_have_no_cycle():
    graph = core_import_graph()
    assert len(graph) > 40  # the walk found the package
    assert _find_cycle(graph) == []


def test_the_cycle_finder_finds_one():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) != []
    assert _find_cycle({"a": {"b"}, "b": set()}) == []
