"""The demo source: the built-in generator's deliveries of one system, as a connector.

The generator writes every system at once and is deterministic, so one generation per
(scale, seed) is cached for the process and each entity's folder is then mirrored into
the landing zone: a file already there with the same bytes is left alone (the extract
sees nothing new), a changed one is replaced, one the generator no longer writes is
removed. Housekeeping names (``.``, ``_``) are never touched.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import tempfile
from pathlib import Path

from expectations.contract import Entity
from orchestration.connectors.delivery import PullResult, entity_folder, remove_orphan_temp_files

CONNECTOR = "demo"
_generated: dict[tuple[float, int], tempfile.TemporaryDirectory] = {}


def _generation(scale: float, seed: int) -> Path:
    key = (float(scale), int(seed))
    if key not in _generated:
        from orchestration.demo.generator import generate

        tmp = tempfile.TemporaryDirectory(prefix="kpi-demo-")
        generate(tmp.name, scale=scale, seed=seed)
        _generated[key] = tmp
    return Path(_generated[key].name)


def _deliveries(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {
        p.name: p for p in folder.iterdir() if p.is_file() and not p.name.startswith((".", "_"))
    }


def pull_entity(
    entity: Entity, landing_dir: Path, scale: float = 1.0, seed: int = 42
) -> PullResult:
    generated = _deliveries(entity_folder(_generation(scale, seed), entity))
    target = entity_folder(landing_dir, entity)
    target.mkdir(parents=True, exist_ok=True)
    remove_orphan_temp_files(target)
    existing = _deliveries(target)
    result = PullResult(entity, CONNECTOR, f"demo generator (scale {scale}, seed {seed})", "full")
    changed = 0
    for name, path in generated.items():
        if name in existing and filecmp.cmp(path, existing[name], shallow=False):
            continue
        tmp = target / f".{name}.{os.getpid()}.tmp"
        shutil.copyfile(path, tmp)
        os.replace(tmp, target / name)
        changed += 1
    for name, path in existing.items():
        if name not in generated:
            path.unlink()
            changed += 1
    result.mode = "full" if changed else "unchanged"
    result.files_changed = changed
    return result
