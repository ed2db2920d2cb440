"""The one environment switch: where the landing data, the warehouse and outputs live.

Everything is read from the environment (with defaults under the project's ``var/``
folder), so the UI, the command line and tests run the same definitions against
different files. Secrets never live here; they are read where they are used.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from expectations.contract import SYSTEMS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# KPI_DBT_PROJECT_DIR runs the pipeline on a copy of the dbt project (e.g. a registry with
# a proposed target entry) without touching the one in the repository.
DBT_PROJECT_DIR = (
    Path(os.environ["KPI_DBT_PROJECT_DIR"]).expanduser().resolve()
    if os.environ.get("KPI_DBT_PROJECT_DIR")
    else PROJECT_ROOT / "dbt_project"
)
DEFAULT_GX_DIR = PROJECT_ROOT / "var" / "gx"
DEFAULT_QUALITY_CONFIG = PROJECT_ROOT / "expectations" / "quality.yml"


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


# Where a system's landing deliveries come from: dropped by an export job (files), or
# pulled into the landing zone by a connector before the extract (the others).
SOURCE_KINDS = ("files", "demo", "postgres", "rest")
PULLED_SOURCE_KINDS = ("demo", "postgres", "rest")


def sources_from_env() -> dict[str, str]:
    """System → source kind, from ``KPI_SOURCE_<SYSTEM>`` (default ``files``)."""
    sources = {}
    for system in SYSTEMS:
        name = f"KPI_SOURCE_{system.upper()}"
        kind = (os.environ.get(name) or "files").strip().lower()
        if kind not in SOURCE_KINDS:
            raise ValueError(f"{name} is {kind!r}; it must be one of {', '.join(SOURCE_KINDS)}.")
        sources[system] = kind
    return sources


# DuckDB's memory for the pipeline's own work (extract, dbt); it spills to disk beyond it.
# DuckDB's default, 80% of RAM, lets a large load take the machine; the benchmark
# (BENCHMARKS.md) measured no slowdown at this limit up to scale 100.
DEFAULT_DUCKDB_MEMORY_LIMIT = "1GB"
_MEMORY_LIMIT = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)


def duckdb_memory_limit() -> str:
    """``KPI_DUCKDB_MEMORY_LIMIT`` (e.g. ``4GB``), checked, or the default."""
    value = (os.environ.get("KPI_DUCKDB_MEMORY_LIMIT") or DEFAULT_DUCKDB_MEMORY_LIMIT).strip()
    if not _MEMORY_LIMIT.match(value):
        raise ValueError(
            f"KPI_DUCKDB_MEMORY_LIMIT is {value!r}; give an amount such as 1GB or 512MB."
        )
    return value


def published_path_for(warehouse: Path) -> Path:
    """The read-only copy BI tools read, beside the working warehouse."""
    return warehouse.with_name(f"{warehouse.stem}.published.duckdb")


@dataclass(frozen=True)
class Settings:
    landing_dir: Path
    warehouse_path: Path
    published_path: Path
    as_of: str | None
    # A delivery of at least this many rows ...
    broken_delivery_min_rows: int
    # ... with more than this share invalid is a broken export that blocks publishing.
    broken_delivery_invalid_share: float
    sources: Mapping[str, str] = field(default_factory=lambda: dict.fromkeys(SYSTEMS, "files"))
    # Great Expectations output: validation results per run and the Data Docs site.
    gx_dir: Path = DEFAULT_GX_DIR
    # Severities and thresholds of the data-quality rules (expectations/quality.yml).
    quality_config: Path = DEFAULT_QUALITY_CONFIG
    # A dropped delivery file that changed more recently than this is watched until it
    # has not (or left for the next run): an export job may still be writing it.
    delivery_quiet_seconds: float = 2.0
    # dbt rebuilds every model rather than only the keys loaded since the last build.
    full_refresh: bool = False

    def pulls(self, system: str) -> bool:
        """Whether a connector fills the system's landing folders (see connectors/)."""
        return self.sources.get(system, "files") in PULLED_SOURCE_KINDS

    @classmethod
    def from_env(cls) -> Settings:
        var = PROJECT_ROOT / "var"
        warehouse = _env_path("KPI_WAREHOUSE_PATH", var / "warehouse.duckdb")
        return cls(
            landing_dir=_env_path("KPI_LANDING_DIR", var / "landing"),
            warehouse_path=warehouse,
            published_path=_env_path("KPI_PUBLISHED_PATH", published_path_for(warehouse)),
            as_of=os.environ.get("KPI_AS_OF") or None,
            broken_delivery_min_rows=int(os.environ.get("KPI_BROKEN_DELIVERY_MIN_ROWS", "100")),
            broken_delivery_invalid_share=float(
                os.environ.get("KPI_BROKEN_DELIVERY_INVALID_SHARE", "0.2")
            ),
            sources=sources_from_env(),
            gx_dir=_env_path("KPI_GX_DIR", DEFAULT_GX_DIR),
            quality_config=_env_path("KPI_QUALITY_CONFIG", DEFAULT_QUALITY_CONFIG),
            delivery_quiet_seconds=float(os.environ.get("KPI_DELIVERY_QUIET_SECONDS", "2")),
            full_refresh=os.environ.get("KPI_DBT_FULL_REFRESH", "").strip().lower()
            in ("1", "true", "yes", "on"),
        )
