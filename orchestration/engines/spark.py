"""Export the raw tables of a DuckDB warehouse as Parquet for ``--target spark``.

Ingestion runs in DuckDB; Spark reads the loaded raw tables from Parquet files, one
folder per table (``<out>/<schema>/<table>/data.parquet``), which the dbt macro
``register_raw_tables`` registers in Spark's metastore:

    python -m orchestration.engines.spark WAREHOUSE.duckdb OUT_DIR
    cd dbt_project && KPI_DBT_TARGET=spark dbt run-operation register_raw_tables \\
        --args '{root: OUT_DIR}' && KPI_DBT_TARGET=spark dbt build

On a cluster the folders would live on shared storage (S3, HDFS) instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb


def export_raw_parquet(warehouse: Path, out_dir: Path, prefix: str = "raw_") -> dict[str, int]:
    """Write every ``<prefix>*`` table as Parquet; rows per table."""
    out_dir = Path(out_dir).resolve()
    con = duckdb.connect(str(warehouse), read_only=True)
    written = {}
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where starts_with(table_schema, ?) order by 1, 2",
            [prefix],
        ).fetchall()
        for schema, table in tables:
            folder = out_dir / schema / table
            folder.mkdir(parents=True, exist_ok=True)
            types = dict(
                con.execute(
                    "select column_name, data_type from information_schema.columns "
                    "where table_schema = ? and table_name = ? order by ordinal_position",
                    [schema, table],
                ).fetchall()
            )
            # Parquet's JSON annotation is not one Spark reads: JSON goes as text.
            columns = ", ".join(
                f'cast("{c}" as varchar) as "{c}"' if t == "JSON" else f'"{c}"'
                for c, t in types.items()
            )
            path = folder / "data.parquet"
            con.execute(
                f'copy (select {columns} from "{schema}"."{table}") to \'{path}\' (format parquet)'
            )
            written[f"{schema}.{table}"] = con.execute(
                f'select count(*) from "{schema}"."{table}"'
            ).fetchone()[0]
    finally:
        con.close()
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(
            "usage: python -m orchestration.engines.spark WAREHOUSE.duckdb OUT_DIR", file=sys.stderr
        )
        return 2
    for table, rows in export_raw_parquet(Path(args[0]), Path(args[1])).items():
        print(f"{table}: {rows:,} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
