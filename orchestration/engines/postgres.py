"""Copy the loaded raw tables of a DuckDB warehouse into PostgreSQL for ``--target postgres``.

Ingestion (validation, quarantine, accounting) runs in DuckDB; the dbt project then
builds on PostgreSQL from the same ``raw_<system>`` tables. The copy goes through CSV and
``COPY FROM STDIN``: both sides read and write the same text forms of timestamps and
decimals, so no value is rounded on the way.

    python -m orchestration.engines.postgres WAREHOUSE.duckdb  # DSN from KPI_PG_* env

Text columns are created with the "C" collation: the contract orders deliveries by the
byte order of their names, which is what DuckDB compares; a locale collation (e.g.
en_US) would sort some names differently and change which duplicate wins.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

import duckdb

_TYPES = {
    "VARCHAR": 'text collate "C"',
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "DATE": "date",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "BOOLEAN": "boolean",
    "DOUBLE": "double precision",
    "JSON": "jsonb",
}
_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")


def pg_type(duckdb_type: str) -> str:
    match = _DECIMAL.fullmatch(duckdb_type)
    if match:
        return f"numeric({match[1]}, {match[2]})"
    if duckdb_type not in _TYPES:
        raise ValueError(f"No PostgreSQL type for the DuckDB type {duckdb_type}.")
    return _TYPES[duckdb_type]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def dsn_from_env() -> str:
    """The warehouse database of the dbt ``postgres`` target (profiles.yml reads the same)."""
    from psycopg.conninfo import make_conninfo

    return make_conninfo(
        host=os.environ.get("KPI_PG_HOST", "127.0.0.1"),
        port=os.environ.get("KPI_PG_PORT", "5432"),
        user=os.environ.get("KPI_PG_USER", "kpi"),
        password=os.environ.get("KPI_PG_PASSWORD", ""),
        dbname=os.environ.get("KPI_PG_DBNAME", "kpi"),
    )


def copy_raw_schemas(warehouse: Path, dsn: str, prefix: str = "raw_") -> dict[str, int]:
    """Replace the ``<prefix>*`` schemas in PostgreSQL by the warehouse's; rows per table.

    One transaction: a reader sees the previous tables or the new ones.
    """
    import psycopg

    src = duckdb.connect(str(warehouse), read_only=True)
    copied: dict[str, int] = {}
    try:
        columns = src.execute(
            "select table_schema, table_name, column_name, data_type from "
            "information_schema.columns where starts_with(table_schema, ?) "
            "order by table_schema, table_name, ordinal_position",
            [prefix],
        ).fetchall()
        tables: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for schema, table, column, type_ in columns:
            tables.setdefault((schema, table), []).append((column, type_))
        with psycopg.connect(dsn) as pg, pg.cursor() as cur, tempfile.TemporaryDirectory() as tmp:
            for schema in sorted({s for s, _ in tables}):
                cur.execute(f"drop schema if exists {_ident(schema)} cascade")
                cur.execute(f"create schema {_ident(schema)}")
            for (schema, table), cols in tables.items():
                name = f"{_ident(schema)}.{_ident(table)}"
                spec = ", ".join(f"{_ident(c)} {pg_type(t)}" for c, t in cols)
                cur.execute(f"create table {name} ({spec})")
                path = Path(tmp) / f"{schema}.{table}.csv"
                src.execute(
                    f"copy (select * from {name}) to '{path}' "
                    "(format csv, header false, timestampformat '%Y-%m-%d %H:%M:%S.%f')"
                )
                with (
                    cur.copy(f"copy {name} from stdin (format csv)") as copy,
                    path.open("rb") as fh,
                ):
                    while chunk := fh.read(1 << 20):
                        copy.write(chunk)
                copied[f"{schema}.{table}"] = cur.rowcount
    finally:
        src.close()
    return copied


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m orchestration.engines.postgres WAREHOUSE.duckdb", file=sys.stderr)
        return 2
    copied = copy_raw_schemas(Path(args[0]), dsn_from_env())
    for table, rows in copied.items():
        print(f"{table}: {rows:,} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
