"""The package's import graph has no cycle, counting imports inside functions too (an import
moved into a function hides a cycle from Python, not from the design), and the core never
imports the outer layers."""
from __future__ import annotations

import ast
import pathlib

import affect_tf

PACKAGE_ROOT = pathlib.Path(affect_tf.__file__).parent
# the outer layers: folders of their own in the repository, installed as affect_tf.<name>
OUTER = ("serving", "pipelines", "components")


def _modules(root: pathlib.Path, package: str) -> dict[str, pathlib.Path]:
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _ancestors(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def import_graph(modules: dict[str, pathlib.Path]) -> dict[str, set[str]]:
    """Module -> the modules of ``modules`` whose code runs when it is imported (or when one of
    its functions runs). Importing ``a.b.c`` also runs packages ``a.b`` and ``a``, unless they
    are the importer's own packages (already running); importing names from one's own package
    is an edge to it (they exist only if its ``__init__`` got that far)."""
    graph = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                targets = [node.args[0].value]  # importlib.import_module("affect_tf.x")
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                while target and target not in modules:  # "import a.b.c as x" of a non-module tail
                    target = target.rpartition(".")[0]
                if target:
                    own = _ancestors(name) | ({name} if is_package else set())
                    edges |= ({target} - {name}) | (_ancestors(target) - own)
        graph[name] = edges & set(modules)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_sees_a_cycle_through_a_function_level_import(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from pkg.sub import c\n")
    (pkg / "sub" / "__init__.py").write_text("from pkg.sub.c import X\n")
    (pkg / "sub" / "c.py").write_text("X = 1\nimport importlib\nimportlib.import_module('pkg.a')\n")
    graph = import_graph(_modules(pkg, "pkg"))
    assert graph["pkg.b"] == {"pkg.sub", "pkg.sub.c"}
    assert graph["pkg.sub.c"] == {"pkg.a"}  # its own package is already running
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.sub", "pkg.sub.c"]]
    (pkg / "sub" / "c.py").write_text("X = 1\n")
    assert cycles(import_graph(_modules(pkg, "pkg"))) == []
    (pkg / "sub" / "d.py").write_text("from pkg.sub import X\n")  # names from its own package
    (pkg / "sub" / "__init__.py").write_text("from pkg.sub.c import X\nfrom pkg.sub import d\n")
    assert cycles(import_graph(_modules(pkg, "pkg"))) == [["pkg.sub", "pkg.sub.d"]]


def test_affect_tf_has_no_import_cycle():
    assert cycles(import_graph(_modules(PACKAGE_ROOT, "affect_tf"))) == []


def test_core_never_imports_the_outer_layers():
    offenders = []
    for name, path in _modules(PACKAGE_ROOT, "affect_tf").items():
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            offenders += [f"{name} imports {n}" for n in names
                          if n.split(".")[0] in OUTER or n.split(".")[:2] in (["affect_tf", o] for o in OUTER)]
    assert offenders == []
