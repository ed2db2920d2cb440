"""The SQL-database connector: a system's entities read from tables named after them.

Written with SQLAlchemy Core (psycopg 3 as the PostgreSQL driver) rather than by hand:
reflection finds a table's columns whatever their case, the query is built without
string formatting, and ``yield_per`` streams rows through a server-side cursor, so a
large table never sits in memory. Any database with a SQLAlchemy dialect works the same
way; PostgreSQL is the one tested.

A table with an ``updated_at`` column (part of the contract or not) is pulled
incrementally: rows with ``updated_at`` at or after the stored cursor, less those at
exactly the cursor already delivered (see ``delivery.Cursor``). A table without one
(reference data such as fx rates) is pulled whole, and delivered only when its content
changed since the last pull. Each pull writes at most one delivery file; the extract
then validates, quarantines and loads it like any file.

A row whose ``updated_at`` is null cannot be followed by the cursor: the first, full
pull delivers it (and the extract quarantines it, the column being required); later
pulls see it again only once it gets a timestamp.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa

from expectations.contract import Entity
from orchestration.connectors.delivery import (
    ConnectorError,
    Cursor,
    DeliveryWriter,
    PullResult,
    save_state,
    state_for_source,
    state_path,
    to_text,
)

CONNECTOR = "postgres"
BATCH_ROWS = 10_000
_CURSOR_LABEL = "_kpi_cursor"


def engine_url(dsn: str) -> str | sa.URL:
    """A SQLAlchemy URL. libpq's forms (postgresql://… or host=… dbname=…) use psycopg 3;
    any other SQLAlchemy URL (another database, another driver) is taken as it is."""
    for scheme in ("postgresql://", "postgres://"):
        if dsn.startswith(scheme):
            return "postgresql+psycopg://" + dsn.removeprefix(scheme)
    if "://" not in dsn and "=" in dsn:
        from psycopg.conninfo import conninfo_to_dict

        params = {k: str(v) for k, v in conninfo_to_dict(dsn).items()}
        port = params.pop("port", None)
        return sa.URL.create(
            "postgresql+psycopg",
            username=params.pop("user", None),
            password=params.pop("password", None),
            host=params.pop("host", None),
            port=int(port) if port else None,
            database=params.pop("dbname", None),
            query=params,
        )
    return dsn


def create_source_engine(dsn: str) -> sa.Engine:
    try:
        return sa.create_engine(engine_url(dsn), pool_pre_ping=True)
    except ModuleNotFoundError as exc:
        raise ConnectorError(
            f"The database driver {exc.name} is not installed (pip install -e '.[postgres]')."
        ) from exc
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise ConnectorError(f"The source DSN is not a database URL ({exc}).") from exc


def source_label(engine: sa.Engine, schema: str | None, table: str) -> str:
    """Where the rows come from, without user or password (kept in the cursor state)."""
    url = engine.url
    where = f"{url.get_backend_name()}://{url.host or ''}:{url.port or ''}/{url.database or ''}"
    return f"{where} {schema + '.' if schema else ''}{table}"


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def pull_entity(
    engine: sa.Engine,
    entity: Entity,
    landing_dir: Path,
    schema: str | None = None,
    table: str | None = None,
    batch_rows: int = BATCH_ROWS,
    now: datetime | None = None,
) -> PullResult:
    """Deliver the entity's new or changed rows from ``schema.table`` into the landing zone."""
    table_name = table or entity.name
    source = source_label(engine, schema, table_name)
    label = f"table {schema + '.' if schema else ''}{table_name}"
    result = PullResult(entity, CONNECTOR, source, mode="full")
    state_file = state_path(landing_dir, entity, CONNECTOR)
    state = state_for_source(state_file, source, result, "row")

    try:
        with engine.connect() as conn:
            try:
                reflected = sa.Table(table_name, sa.MetaData(), schema=schema, autoload_with=conn)
            except sa.exc.NoSuchTableError:
                result.mode = "missing"
                result.warnings.append(
                    f"{entity.qualified_name}: the source has no {label}; "
                    "no delivery, the entity stays as it is."
                )
                return result
            by_name: dict[str, sa.Column] = {}
            for column in reflected.columns:
                by_name.setdefault(column.name.strip().lower(), column)
            mapping = {c.name: by_name[c.name] for c in entity.columns if c.name in by_name}
            for column in entity.columns:
                if column.must_be_delivered and column.name not in mapping:
                    raise ConnectorError(
                        f"The source {label} of {entity.qualified_name} lacks the required "
                        f"column {column.name}."
                    )
            selected = [col.label(name) for name, col in mapping.items()]
            key_columns = [mapping[k] for k in entity.key]
            cursor_column = by_name.get("updated_at")

            cursor = Cursor.from_state(state) if cursor_column is not None else None
            query = sa.select(*selected)
            if cursor is not None:
                query = query.add_columns(cursor_column.label(_CURSOR_LABEL))
                if cursor.value is not None:
                    query = query.where(cursor_column >= cursor.value)
                    result.mode = "incremental"
                query = query.order_by(cursor_column, *key_columns)
            else:
                result.mode = "snapshot"
                query = query.order_by(*key_columns)

            digest = hashlib.sha256()
            with DeliveryWriter(landing_dir, entity, CONNECTOR, now) as writer:
                rows = conn.execution_options(stream_results=True, yield_per=batch_rows).execute(
                    query
                )
                for partition in rows.partitions():
                    batch = []
                    for row in partition:
                        values = row._mapping
                        text = {name: to_text(values[name]) for name in mapping}
                        if cursor is not None:
                            key = tuple(text[k] for k in entity.key)
                            updated = values[_CURSOR_LABEL]
                            if not cursor.is_new(key, updated):
                                continue
                            cursor.advance(key, updated)
                        else:
                            digest.update(
                                json.dumps([text.get(c.name) for c in entity.columns]).encode()
                            )
                        batch.append(text)
                    writer.write(batch)
                if cursor is None and digest.hexdigest() == state.get("snapshot_sha256"):
                    result.mode = "unchanged"
                    return result
                result.delivery = writer.commit()
                result.rows = writer.rows
                result.files_changed = 1 if result.delivery else 0
    except sa.exc.SQLAlchemyError as exc:
        raise ConnectorError(
            f"Reading {label} of {entity.qualified_name} from {source.split(' ')[0]} failed "
            f"({_first_line(exc)})."
        ) from exc

    new_state = {
        "connector": CONNECTOR,
        "source": source,
        "last_pull_at": datetime.now(timezone.utc).isoformat(),
        "last_delivery": result.delivery.name if result.delivery else state.get("last_delivery"),
    }
    if cursor is not None:
        new_state["cursor"] = cursor.to_state()
        result.cursor = to_text(cursor.value)
    else:
        new_state["snapshot_sha256"] = digest.hexdigest()
    save_state(state_file, new_state)
    return result
