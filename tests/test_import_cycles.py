"""No import cycles among poissonfp's modules.

The graph is read from the source with :mod:`ast`: every ``import`` and ``from ... import`` of a poissonfp
module, **including the imports inside functions** (a cycle closed by a deferred import is still a cycle:
the two modules cannot be understood, tested or moved apart; issue 18's count of 8 solver files included
them), **excluding** those under ``if TYPE_CHECKING:`` (never executed; annotations only). A module's
parent packages are not counted as imported (Python runs their ``__init__`` first for every module), nor
are names the registry imports from strings at run time (``importlib.import_module``).
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "poissonfp"


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _imports(tree: ast.AST):
    """Every Import / ImportFrom node, at any depth, outside ``if TYPE_CHECKING:`` blocks."""
    for node in ast.iter_child_nodes(tree):
        if _is_type_checking(node):
            yield from (n for child in node.orelse for n in _imports_in(child))
            continue
        yield from _imports_in(node)


def _imports_in(node: ast.AST):
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
    else:
        yield from _imports(node)


def module_graph(root: Path) -> dict[str, set[str]]:
    """module -> the modules of the package it imports (see the module docstring for what counts)."""
    files = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        package = parts[-1] == "__init__"
        files[".".join(parts[:-1] if package else parts)] = (path, package)
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, (path, package) in files.items():
        here = name if package else name.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = here.split(".")[: len(here.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in node.names]
            graph[name].update(t for t in targets if t in files and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_poissonfp_has_no_import_cycles():
    graph = module_graph(PACKAGE)
    assert len(graph) > 80  # the whole package was read
    assert cycles(graph) == []


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_the_check_finds_a_cycle_closed_inside_a_function(tmp_path):
    """The detector fails on a cycle: a top-level import one way and a deferred one back (as jacobi_theory
    and solvers.hierarchy.multilevel were), through a relative import."""
    package = _write(tmp_path, {"__init__.py": "", "a.py": "from pkg.sub import b\n",
                                "sub/__init__.py": "", "sub/b.py": "def f():\n    from .. import a\n    return a\n"})
    assert cycles(module_graph(package)) == [["pkg.a", "pkg.sub.b"]]


def test_the_check_ignores_imports_for_type_checking_only(tmp_path):
    package = _write(tmp_path, {"__init__.py": "", "a.py": "import pkg.b\n",
                                "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n"})
    assert cycles(module_graph(package)) == []
