"""The quality configuration: severities and thresholds of every rule, from YAML.

The defaults live in ``expectations/quality.yml``; ``KPI_QUALITY_CONFIG`` (read by
``orchestration.settings``) may point at another file. A rule's settings are its
section merged with the section's ``entities:`` (or, for KPI rules, ``kpis:``) entry for
the entity at hand, so one entity can get its own threshold without repeating the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent / "quality.yml"
SEVERITIES = ("error", "warn")


class QualityConfigError(ValueError):
    """The quality configuration cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class QualityConfig:
    path: Path
    entity_rules: Mapping[str, Mapping[str, Any]]
    kpi_rules: Mapping[str, Mapping[str, Any]]
    # GX validation results (and their Data Docs pages) of this many runs are kept.
    keep_runs: int = 10
    # DuckDB's memory for the validation queries; beyond it they spill to disk.
    memory_limit: str | None = "512MB"

    @classmethod
    def load(cls, path: Path | str | None = None) -> QualityConfig:
        path = Path(path) if path else DEFAULT_CONFIG_PATH
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise QualityConfigError(
                f"Quality configuration {path} cannot be read ({exc})."
            ) from exc
        except yaml.YAMLError as exc:
            raise QualityConfigError(
                f"Quality configuration {path} is not valid YAML ({exc})."
            ) from exc
        config = cls(
            path=path,
            entity_rules=dict(raw.get("entity_rules") or {}),
            kpi_rules=dict(raw.get("kpi_rules") or {}),
            keep_runs=int((raw.get("data_docs") or {}).get("keep_runs", 10)),
            memory_limit=(raw.get("validation") or {}).get("memory_limit", "512MB") or None,
        )
        for section in (config.entity_rules, config.kpi_rules):
            for kind, settings in section.items():
                severity = (settings or {}).get("severity", "warn")
                if severity not in SEVERITIES:
                    raise QualityConfigError(
                        f"Quality configuration {path}: rule {kind} has severity "
                        f"'{severity}'; use one of {', '.join(SEVERITIES)}."
                    )
                overrides = (settings or {}).get("entities") or {}
                for where, block in [
                    (kind, (settings or {}).get("block")),
                    *(
                        (f"{kind}.entities.{e}", (o or {}).get("block"))
                        for e, o in overrides.items()
                    ),
                ]:
                    if block is not None and not isinstance(block, Mapping):
                        raise QualityConfigError(
                            f"Quality configuration {path}: {where}.block must be a map of "
                            "thresholds (e.g. {max_share: 0.01, min_rows: 100}) or null."
                        )
        return config

    def entity_rule(self, kind: str, entity: str) -> dict[str, Any] | None:
        """The settings of rule ``kind`` for ``entity`` (``system.name``); None if off."""
        return _resolve(self.entity_rules, kind, "entities", entity)

    def kpi_rule(self, kind: str) -> dict[str, Any] | None:
        """The settings of KPI-output rule ``kind``; None if off."""
        return _resolve(self.kpi_rules, kind, None, None)


def _resolve(
    section: Mapping[str, Any], kind: str, overrides_key: str | None, name: str | None
) -> dict[str, Any] | None:
    if kind not in section:
        return None
    settings = dict(section[kind] or {})
    overrides = settings.pop(overrides_key, None) if overrides_key else None
    if overrides and name in overrides:
        settings.update(overrides[name] or {})
    if not settings.get("enabled", True):
        return None
    settings.setdefault("severity", "warn")
    return settings
