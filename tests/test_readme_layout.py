"""README's Layout section matches the tree.

Every top-level folder of the repository has its row; every file or folder a row names
exists in that folder; and the rows of the two libraries and of the Dagster code name
every module or concern they hold, so a new one cannot go unmapped.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A name in backticks that is a path: a folder (trailing slash) or a file with a suffix.
PATH_NAME = re.compile(r"^[\w./-]+(/|\.(py|yml|yaml|md|j2|sql|json|csv))$")


def _layout() -> dict[str, list[str]]:
    """Each row's folder and the names in backticks its description holds."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or not cells[0].startswith("`"):
            continue
        folder = cells[0].strip("`")
        rows[folder] = re.findall(r"`([^`]+)`", cells[1])
    return rows


def _tracked_top_level_folders() -> set[str]:
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return {f.split("/", 1)[0] + "/" for f in files if "/" in f and not f.startswith(".")}


def test_every_top_level_folder_has_a_row():
    assert _tracked_top_level_folders() <= set(_layout())


def test_every_name_a_row_gives_exists_in_its_folder():
    for folder, names in _layout().items():
        base = ROOT / folder
        assert base.is_dir(), folder
        for name in names:
            if not PATH_NAME.match(name):
                continue
            if (ROOT / name.split("/", 1)[0]).is_dir() and "/" in name.rstrip("/"):
                # A path from the repository's root (another folder's file it uses).
                found = (ROOT / name.rstrip("/")).exists()
            else:
                found = (base / name.rstrip("/")).exists() or any(
                    base.rglob(name.rstrip("/").rsplit("/", 1)[-1])
                )
            assert found, f"README's Layout row {folder} names {name}, which {folder} lacks"


def _named(folder: str) -> set[str]:
    return {name.rstrip("/").rsplit("/", 1)[-1] for name in _layout()[folder]}


def test_the_library_rows_name_every_module():
    for folder in ("expectations/", "reports/"):
        modules = {p.name for p in (ROOT / folder).glob("*.py") if p.name != "__init__.py"}
        missing = modules - _named(folder)
        assert not missing, f"README's Layout row {folder} does not name {sorted(missing)}"


def test_the_dagster_row_names_every_concern():
    concerns = {
        p.name
        for p in (ROOT / "orchestration").iterdir()
        if p.is_dir() and (p / "__init__.py").exists()
    }
    missing = concerns - _named("orchestration/")
    assert not missing, f"README's Layout row orchestration/ does not name {sorted(missing)}"
