"""The landing contract's columns as the Dagster UI shows a table's schema."""

from __future__ import annotations

import dagster as dg

from expectations.contract import Entity

_PRESENCE = {
    "key": "Part of the primary key; every delivered row has it.",
    "req": "Required: a row without it is quarantined.",
    "opt": "Optional.",
}

# Columns the extract adds to every raw table (ingestion/extract.py, METADATA_COLUMNS).
_LOAD_COLUMNS = (
    ("_extra", "JSON", "Columns a delivery had beyond the contract, kept as JSON."),
    ("_delivery_file", "VARCHAR", "The delivery file the row came from."),
    ("_file_row", "BIGINT", "The row's position in that file."),
    ("_loaded_at", "TIMESTAMP", "When the row was loaded (UTC)."),
)


def contract_table_schema(entity: Entity) -> dg.TableSchema:
    """raw_<system>.<entity>: the contract's columns with their types and rules, then the
    columns the extract adds."""
    columns = []
    for column in entity.columns:
        description = _PRESENCE[column.presence]
        if column.values:
            description += " One of: " + ", ".join(column.values) + "."
        if column.type == "ts":
            description += " UTC."
        columns.append(
            dg.TableColumn(
                name=column.name,
                type=column.sql_type,
                description=description,
                constraints=dg.TableColumnConstraints(
                    # Quarantined rows never reach the raw table, so a key or required
                    # column is never null there; a key alone is not unique (history).
                    nullable=column.presence == "opt",
                ),
            )
        )
    columns += [
        dg.TableColumn(name=name, type=type_, description=description)
        for name, type_, description in _LOAD_COLUMNS
    ]
    return dg.TableSchema(columns=columns)
