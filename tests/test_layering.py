"""Dependencies point one way: the Dagster code and the command line use the libraries.

``expectations/`` (the landing contract and the quality suites) and ``reports/`` (the
scorecard, mail, the archive) never import ``orchestration/``, and ``reports/`` does not
import ``expectations/``; imports inside functions count too. Nothing imports the command
line but the benchmark that times it.
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
