"""Dependencies point one way: the Dagster code and the command line use the libraries.

``expectations/`` (the landing contract and the quality suites) and ``reports/`` (the
scorecard, mail, the archive) never import ``orchestration/``, and ``reports/`` does not
import ``expectations/``; imports inside functions count too. Nothing imports the command
line but the benchmark that times it. Inside ``reports/`` the imports form no cycle: the
view model (``reports.model``) is read by the charts, templates, archive and mail, and
``reports.scorecard`` alone puts them together. The demo generator's modules
(``orchestration/demo/``) form no cycle either.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imports(folder: str) -> dict[str, set[str]]:
    """Each module of ``folder`` and the top-level names of everything it imports."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        found[str(path.relative_to(ROOT))] = names
    return found


def offenders(folder: str, *forbidden: str) -> list[str]:
    return [
        f"{module} imports {name}"
        for module, names in imports(folder).items()
        for name in sorted(names)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


def test_the_libraries_never_import_the_dagster_code():
    assert offenders("expectations", "orchestration") == []
    assert offenders("reports", "orchestration", "expectations") == []


def test_only_the_benchmark_imports_the_command_line():
    users = offenders("orchestration", "orchestration.cli")
    assert users == ["orchestration/bench/phases.py imports orchestration.cli"]


def test_the_check_sees_imports_inside_functions(tmp_path, monkeypatch):
    package = tmp_path / "lib"
    package.mkdir()
    (package / "m.py").write_text("def f():\n    from orchestration.settings import X\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert offenders("lib", "orchestration") == [
        "lib/m.py imports orchestration.settings",
        "lib/m.py imports orchestration.settings.X",
    ]


def module_graph(*packages: str) -> dict[str, set[str]]:
    """Each module of ``packages`` and the modules of those packages it imports.

    Every import statement counts, also those inside functions or under TYPE_CHECKING: a
    cycle through any of them is still two modules that cannot be read apart.
    """
    modules = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts): path
        for package in packages
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = module.split(".")[: -node.level]
                    base = ".".join(parent + ([base] if base else []))
                # ``from reports import charts`` imports the module reports.charts.
                candidates = [base] + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            targets.update(c for c in candidates if c in modules and c != module)
        graph[module] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected part of more than one module (or a self-import)."""
    found, done = [], set()
    for start in sorted(graph):
        stack, on_path = [(start, iter(sorted(graph[start])))], [start]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                on_path.pop()
                done.add(node)
            elif child in on_path:
                found.append(on_path[on_path.index(child) :] + [child])
            elif child not in done:
                stack.append((child, iter(sorted(graph[child]))))
                on_path.append(child)
    return found


def test_the_reports_modules_import_one_way():
    graph = module_graph("reports")
    assert "reports.model" in graph["reports.charts"]
    assert cycles(graph) == []


def test_no_module_of_the_project_imports_itself_back():
    graph = module_graph("orchestration", "expectations", "reports", "tests")
    # The graph spans the packages: the CLI reaches the reports library.
    assert "reports.scorecard" in graph["orchestration.cli"]
    assert cycles(graph) == []


def test_the_demo_generator_modules_import_one_way():
    graph = module_graph("orchestration/demo")
    assert "orchestration.demo.delivery" in graph["orchestration.demo.generator"]
    assert cycles(graph) == []


def test_the_cycle_check_finds_a_cycle_through_a_lazy_import(tmp_path, monkeypatch):
    package = tmp_path / "lib"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from lib import b\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import X\n"
    )
    (package / "c.py").write_text("def f():\n    import lib.a\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert cycles(module_graph("lib")) == [["lib.a", "lib.b", "lib.c", "lib.a"]]
