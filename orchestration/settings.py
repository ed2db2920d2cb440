"""The one environment switch: where the landing data, the warehouse and outputs live.

Everything is read from the environment (with defaults under the project's ``var/``
folder), so the UI, the command line and tests run the same definitions against
different files. Secrets never live here; they are read where they are used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


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
        )
