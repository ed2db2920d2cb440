"""Load one landing entity into the warehouse: parse, validate, quarantine, account.

The heavy lifting happens inside DuckDB: every delivery is read as text, typed with
``try_cast`` and checked against the contract in one SQL statement per batch, so a
million rows cost seconds, not a Python loop. Deduplication is left to the staging
models (they see every loaded row with its delivery file and row number), which keeps
loading append-only and incremental: a file already loaded is never read again, a
changed or removed file is unloaded first.

Every delivered row ends up in exactly one of ``raw_<system>.<entity>`` (valid) or
``ingest.quarantine`` (invalid, with its reasons), and ``ingest.delivery_files`` records
delivered = loaded + quarantined per file.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import logging
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from expectations.contract import ENTITIES, Column, Entity
from orchestration.crash_points import pause_point
from orchestration.settings import duckdb_memory_limit

log = logging.getLogger(__name__)

DELIVERY_SUFFIXES = (".csv", ".parquet")
# The longest CSV record (all its physical lines) a delivery may hold. DuckDB's default
# (2 MB) turns a legitimate long text field into a rejected line; its reader also drops
# records longer than its buffer without a trace, so the buffer is twice this limit and
# longer records are caught before DuckDB sees the file (``_longest_csv_record``).
MAX_CSV_RECORD_BYTES = 16 << 20
CSV_BUFFER_BYTES = 2 * MAX_CSV_RECORD_BYTES
# DuckDB reads a path with these characters as a glob: ``a[1].csv`` would read ``a1.csv``.
_GLOB_CHARACTERS = frozenset("*?[")
METADATA_COLUMNS = (
    ("_extra", "JSON"),
    ("_delivery_file", "VARCHAR"),
    ("_file_row", "BIGINT"),
    ("_loaded_at", "TIMESTAMP"),
)


class DeliveryError(Exception):
    """A delivery file that cannot be read at all; the message is one sentence."""


@dataclass
class FileAccount:
    delivery_file: str
    rows_delivered: int
    rows_loaded: int
    rows_quarantined: int


@dataclass
class ExtractResult:
    entity: Entity
    files_seen: int = 0
    files_loaded: list[FileAccount] = field(default_factory=list)
    files_unloaded: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rows_in_table: int = 0
    rows_quarantined_total: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.files_loaded or self.files_unloaded)


def raw_table(entity: Entity) -> str:
    return f"raw_{entity.system}.{entity.name}"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# --- bookkeeping tables -----------------------------------------------------------------


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ingest bookkeeping tables and every raw table (idempotent)."""
    con.execute("create schema if not exists ingest")
    con.execute(
        """
        create table if not exists ingest.delivery_files (
            system varchar not null,
            entity varchar not null,
            delivery_file varchar not null,
            file_sha256 varchar not null,
            file_bytes bigint not null,
            rows_delivered bigint not null,
            rows_loaded bigint not null,
            rows_quarantined bigint not null,
            loaded_at timestamp not null,
            run_id varchar,
            primary key (system, entity, delivery_file)
        )
        """
    )
    con.execute(
        """
        create table if not exists ingest.load_log (
            system varchar not null,
            entity varchar not null,
            delivery_file varchar not null,
            action varchar not null,
            file_sha256 varchar,
            rows_delivered bigint,
            rows_loaded bigint,
            rows_quarantined bigint,
            logged_at timestamp not null,
            run_id varchar
        )
        """
    )
    con.execute(
        """
        create table if not exists ingest.quarantine (
            system varchar not null,
            entity varchar not null,
            delivery_file varchar not null,
            file_row bigint not null,
            reasons varchar not null,
            record json,
            quarantined_at timestamp not null,
            run_id varchar
        )
        """
    )
    for system in sorted({e.system for e in ENTITIES}):
        con.execute(f"create schema if not exists raw_{system}")
    for entity in ENTITIES:
        cols = [f"{quote_ident(c.name)} {c.sql_type}" for c in entity.columns]
        cols += [f"{name} {type_}" for name, type_ in METADATA_COLUMNS]
        con.execute(f"create table if not exists {raw_table(entity)} ({', '.join(cols)})")


# --- reading deliveries ----------------------------------------------------------------


def list_deliveries(landing_dir: Path, entity: Entity) -> list[Path]:
    """The entity's delivery files in the order they apply: byte order of their names.

    Names starting with ``.`` or ``_`` are housekeeping (editor files, ``_SUCCESS``
    markers of export jobs) and not deliveries. A delivery must be a regular file inside
    the landing directory: a symbolic link that leads out of it (or nowhere), a pipe or a
    device is refused rather than read.
    """
    folder = landing_dir / entity.system / entity.name
    if not folder.is_dir():
        return []
    root = landing_dir.resolve()
    files = []
    # Byte order of the names as stored; a name that is not UTF-8 must not crash the sort.
    for p in sorted(folder.iterdir(), key=lambda p: os.fsencode(p.name)):
        if p.name.startswith((".", "_")) or p.is_dir():
            continue
        try:
            p.name.encode("utf-8")
        except UnicodeEncodeError:
            raise DeliveryError(
                f"Delivery file {os.fsencode(p)!r} of {entity.qualified_name} has a name "
                "that is not valid UTF-8; rename it."
            ) from None
        if p.is_symlink():
            target = p.resolve()
            if not target.exists():
                raise DeliveryError(
                    f"Delivery file {p} of {entity.qualified_name} is a symbolic link to "
                    f"{target}, which does not exist."
                )
            if not target.is_relative_to(root):
                raise DeliveryError(
                    f"Delivery file {p} of {entity.qualified_name} is a symbolic link to "
                    f"{target}, outside the landing directory {root}; it is not read."
                )
        if not stat.S_ISREG(p.stat().st_mode):
            raise DeliveryError(
                f"Delivery file {p} of {entity.qualified_name} is not a regular file."
            )
        if p.suffix.lower() not in DELIVERY_SUFFIXES:
            raise DeliveryError(
                f"Delivery file {p} of {entity.qualified_name} is neither CSV nor Parquet."
            )
        files.append(p)
    return files


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise DeliveryError(f"Delivery file {path} cannot be read ({exc.strerror}).") from exc
    return digest.hexdigest()


def _signature(path: Path) -> tuple[int, int] | None:
    """Size and modification time: what changes while a file is being written."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def settled_deliveries(paths: list[Path], quiet_seconds: float) -> tuple[list[Path], list[Path]]:
    """Split deliveries into settled ones and ones still being written.

    A file is settled once its size and modification time have not changed for
    ``quiet_seconds``. A file that changed more recently is watched for at most five
    times that long; if it keeps changing (an export job still writing it) it is left
    for the next run. A modification time in the future counts as a change now.
    """
    if quiet_seconds <= 0 or not paths:
        return list(paths), []
    seen = {p: _signature(p) for p in paths}
    wall, now = time.time(), time.monotonic()
    changed = {p: now - max(0.0, wall - sig[1] / 1e9) if sig else now for p, sig in seen.items()}
    deadline = now + 5 * quiet_seconds
    while True:
        now = time.monotonic()
        busy = [p for p in paths if now - changed[p] < quiet_seconds]
        if not busy or now >= deadline:
            break
        wait = min(quiet_seconds - (now - changed[p]) for p in busy)
        time.sleep(max(0.05, min(wait, deadline - now)))
        for p in busy:
            sig = _signature(p)
            if sig != seen[p] or sig is None:
                seen[p], changed[p] = sig, time.monotonic()
    return [p for p in paths if p not in busy], busy


def read_header(path: Path) -> list[str]:
    """The column names a delivery file declares, as written."""
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            return list(pq.read_schema(path).names)
        except Exception as exc:
            raise DeliveryError(
                f"Delivery file {path} cannot be read as Parquet ({_first_line(exc)})."
            ) from exc
    if path.stat().st_size == 0:
        raise DeliveryError(f"Delivery file {path} is empty (0 bytes), without even a header.")
    # Only the header must decode here: undecodable bytes further down belong to rows,
    # which DuckDB rejects one by one (and we quarantine) instead of failing the file.
    try:
        with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as fh:
            header = next(csv.reader(fh), None)
    except csv.Error as exc:
        raise DeliveryError(f"Delivery file {path} has an unreadable CSV header ({exc}).") from exc
    except OSError as exc:
        raise DeliveryError(f"Delivery file {path} cannot be read ({exc.strerror}).") from exc
    header = header or []
    for name in header:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise DeliveryError(
                f"Delivery file {path} cannot be read as UTF-8 CSV: its header is not UTF-8."
            ) from None
        if "\0" in name:
            raise DeliveryError(f"Delivery file {path} has a NUL byte in its header.")
    return header


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def match_columns(path: Path, entity: Entity, header: list[str]) -> dict[str, str]:
    """Map contract column → file column; fail on a missing key or required column.

    Names are matched ignoring case and surrounding spaces, which export tools vary in.
    """
    by_norm: dict[str, str] = {}
    for name in header:
        norm = name.strip().lower()
        # Two columns of one name: which one holds the value is anyone's guess.
        if norm and norm in by_norm:
            raise DeliveryError(
                f"Delivery file {path} of {entity.qualified_name} has the column "
                f"{by_norm[norm].strip()} more than once (names match ignoring case)."
            )
        by_norm[norm] = name
    mapping = {c.name: by_norm[c.name] for c in entity.columns if c.name in by_norm}
    for column in entity.columns:
        if column.must_be_delivered and column.name not in mapping:
            raise DeliveryError(
                f"Delivery file {path} of {entity.qualified_name} "
                f"lacks the required column {column.name}."
            )
    return mapping


def _reader_sql(path: Path, header: list[str]) -> str:
    if path.suffix.lower() == ".parquet":
        return f"read_parquet({sql_str(str(path))})"
    # RFC 4180, everything as text so that typing and its errors are ours, not the
    # sniffer's; an unquoted empty field reads as null. A line with the wrong number of
    # fields is set aside in the rejects table (and quarantined), not a failed file.
    # A column without a name (a trailing comma on every line) still needs one here.
    names = [h if h.strip() else f"_unnamed_{i}" for i, h in enumerate(header, 1)]
    columns = ", ".join(f"{sql_str(h)}: 'VARCHAR'" for h in names)
    return (
        f"read_csv({sql_str(str(path))}, header=true, delim=',', quote='\"', escape='\"', "
        f"auto_detect=false, columns={{{columns}}}, store_rejects=true, "
        "rejects_table='_csv_rejects', rejects_scan='_csv_reject_scans', "
        f"max_line_size={MAX_CSV_RECORD_BYTES}, buffer_size={CSV_BUFFER_BYTES})"
    )


@contextlib.contextmanager
def _glob_free(path: Path) -> Iterator[Path]:
    """A path to the same file that DuckDB cannot take for a glob pattern."""
    if not _GLOB_CHARACTERS & set(str(path)):
        yield path
        return
    # A link in a private temporary folder: the landing directory is only ever read.
    with tempfile.TemporaryDirectory(prefix="kpi-delivery-") as tmp:
        link = Path(tmp) / f"delivery{path.suffix.lower()}"
        link.symlink_to(path.resolve())
        yield link


def _longest_csv_record(path: Path) -> int:
    """The byte length of the file's longest CSV record (quoted line breaks included).

    A record ends at a line break outside quotes; RFC 4180 quotes are doubled inside a
    field, so the parity of the quotes seen so far tells whether a break is inside one.
    """
    import numpy as np

    longest = 0
    start = 0  # offset where the current record began
    offset = 0
    in_quotes = False
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            data = np.frombuffer(chunk, dtype=np.uint8)
            quotes = np.flatnonzero(data == 34)
            breaks = np.flatnonzero((data == 10) | (data == 13))
            # A break is outside quotes when the quotes before it, and any still open
            # from earlier chunks, are even in number.
            outside = (np.searchsorted(quotes, breaks) + int(in_quotes)) % 2 == 0
            ends = breaks[outside] + offset
            if ends.size:
                longest = max(longest, int(ends[0]) - start, int(np.diff(ends).max(initial=0)))
                start = int(ends[-1]) + 1
            in_quotes = (quotes.size + int(in_quotes)) % 2 == 1
            offset += len(chunk)
    return max(longest, offset - start)


def _check_parquet_types(path: Path, entity: Entity, mapping: dict[str, str]) -> None:
    """Refuse a contract column of a nested Parquet type: no contract type reads one."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    for column, source in mapping.items():
        type_ = schema.field(source).type
        if pa.types.is_nested(type_):
            raise DeliveryError(
                f"Delivery file {path} of {entity.qualified_name} holds {column} as the "
                f"nested Parquet type {type_}, not a {entity.column(column).type}."
            )


def _stage_file(
    con: duckdb.DuckDBPyConnection, entity: Entity, path: Path, delivery_name: str
) -> None:
    """Append one file's rows, as text, to the temp table ``_batch``."""
    header = read_header(path)
    mapping = match_columns(path, entity, header)
    if path.suffix.lower() == ".parquet":
        _check_parquet_types(path, entity, mapping)
    elif path.stat().st_size > MAX_CSV_RECORD_BYTES:
        longest = _longest_csv_record(path)
        if longest > MAX_CSV_RECORD_BYTES:
            raise DeliveryError(
                f"Delivery file {path} of {entity.qualified_name} has a CSV record of "
                f"{longest / (1 << 20):.0f} MiB (an unclosed quote?); a record may have at "
                f"most {MAX_CSV_RECORD_BYTES >> 20} MiB."
            )
    mapped = set(mapping.values())
    extras = [h for h in header if h not in mapped and h.strip()]
    select = []
    for column in entity.columns:
        if column.name in mapping:
            source = quote_ident(mapping[column.name])
            select.append(f"cast({source} as varchar) as {quote_ident(column.name)}")
        else:
            select.append(f"cast(null as varchar) as {quote_ident(column.name)}")
    if extras:
        pairs = ", ".join(f"{sql_str(h)}, cast({quote_ident(h)} as varchar)" for h in extras)
        select.append(f"json_object({pairs}) as _extra")
    else:
        select.append("cast(null as json) as _extra")
    select.append(f"{sql_str(delivery_name)} as _delivery_file")
    try:
        if path.suffix.lower() == ".csv":
            # The rejects tables keep the lines of every earlier scan of the session;
            # without this, one file's bad lines would be counted again in the next.
            con.execute("drop table if exists _csv_rejects")
            con.execute("drop table if exists _csv_reject_scans")
        with _glob_free(path) as readable:
            reader = _reader_sql(readable, header)
            con.execute(f"insert into _batch by name select {', '.join(select)} from {reader}")
        if path.suffix.lower() == ".csv":
            con.execute(
                """
                insert into _rejected
                select ?, line - 1,
                       'line ' || line || ': ' || string_agg(distinct lower(error_type), ', '),
                       any_value(csv_line)
                from _csv_rejects group by line
                """,
                [delivery_name],
            )
    except duckdb.Error as exc:
        raise DeliveryError(
            f"Delivery file {path} of {entity.qualified_name} cannot be read ({_first_line(exc)})."
        ) from exc


# --- typing and validation -------------------------------------------------------------


def text_column(name: str) -> str:
    """The identifier under which a column's delivered text is kept during checks."""
    return quote_ident(f"_text_{name}")


_ISO_TIMESTAMP = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)?)?"
)
_DECIMAL = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?"


def typed_expression(column: Column) -> str:
    """SQL turning the delivered text of ``column`` into its contract type (null if it fails)."""
    v = f"nullif({text_column(column.name)}, '')"
    # A value of spaces is present: it fails to parse rather than reading as null.
    t = f"trim({v})"
    if column.type in ("text",):
        return v
    if column.type == "enum":
        return t
    if column.type == "ts":
        # A value without an offset is UTC: the session time zone is UTC. DuckDB would
        # also take 'infinity', 'epoch' or a zone name; the contract says ISO 8601.
        return (
            f"case when regexp_full_match({t}, '{_ISO_TIMESTAMP}') "
            f"then timezone('UTC', try_cast({t} as timestamptz)) end"
        )
    if column.type == "date":
        # DuckDB would also take '2026-10-30 10:00' as a date; the contract says YYYY-MM-DD
        # (a Parquet timestamp at midnight, cast to text, is the same date).
        iso_date = "[0-9]{4}-[0-9]{2}-[0-9]{2}([ T]00:00:00([.]0+)?([+]00(:?00)?|Z)?)?"
        return f"case when regexp_full_match({t}, '{iso_date}') then try_cast({t} as date) end"
    if column.type == "decimal":
        # DuckDB would also take '1_000'; a Parquet double cast to text may carry an exponent.
        return (
            f"case when regexp_full_match({t}, '{_DECIMAL}') "
            f"then try_cast({t} as decimal(18,4)) end"
        )
    if column.type == "integer":
        # try_cast would round '3.5' to 4; an integer column takes whole numbers only.
        return (
            f"case when regexp_full_match({t}, '[+-]?[0-9]+(\\.0*)?') "
            f"then try_cast({t} as bigint) end"
        )
    if column.type == "boolean":
        return (
            f"case lower({t}) when 'true' then true when '1' then true "
            f"when 'false' then false when '0' then false end"
        )
    raise ValueError(f"unknown column type {column.type}")


def reason_expressions(entity: Entity) -> list[str]:
    """One SQL expression per possible defect: the reason text, or null.

    Bare column names are the typed values (as the rules are written); the delivered
    text is under ``text_column(name)``.
    """
    reasons = []
    for c in entity.columns:
        delivered = f"nullif({text_column(c.name)}, '') is not null"
        typed = quote_ident(c.name)
        if c.presence == "key":
            reasons.append(f"case when not ({delivered}) then '{c.name} is null (primary key)' end")
        elif c.presence == "req":
            reasons.append(f"case when not ({delivered}) then '{c.name} is required' end")
        if c.type == "enum":
            allowed = ", ".join(sql_str(v) for v in c.values)
            reasons.append(
                f"case when {typed} not in ({allowed}) "
                f"then '{c.name} is not one of ({', '.join(c.values)})' end"
            )
        elif c.type != "text":
            reasons.append(
                f"case when {delivered} and {typed} is null "
                f"then '{c.name} is not a valid {c.type}' end"
            )
    for rule in entity.rules:
        reasons.append(f"case when not coalesce(({rule.sql}), true) then {sql_str(rule.name)} end")
    # A NUL is valid UTF-8 but no text: a sign of a corrupt line, and PostgreSQL refuses it.
    for c in entity.columns:
        reasons.append(
            f"case when contains({text_column(c.name)}, chr(0)) "
            f"then '{c.name} contains a NUL character' end"
        )
    return reasons


def _validate_batch(con: duckdb.DuckDBPyConnection, entity: Entity) -> None:
    """Build ``_checked``: typed columns, the delivered record, and why a row is invalid."""
    text_cols = ", ".join(f"{quote_ident(c.name)} as {text_column(c.name)}" for c in entity.columns)
    typed_cols = ", ".join(
        f"{typed_expression(c)} as {quote_ident(c.name)}" for c in entity.columns
    )
    record = ", ".join(f"{sql_str(c.name)}, {text_column(c.name)}" for c in entity.columns)
    reasons = ",\n".join(reason_expressions(entity))
    files = [
        f
        for (f,) in con.execute("select distinct _delivery_file from _batch order by 1").fetchall()
    ]
    try:
        _create_checked(con, text_cols, typed_cols, record, reasons)
    except duckdb.OutOfMemoryException as exc:
        # Each long text value is copied several times while it is checked.
        raise DeliveryError(
            f"Delivery file(s) {', '.join(files)} of {entity.qualified_name} do not fit in "
            f"DuckDB's memory while being checked (long text values?); raise "
            f"KPI_DUCKDB_MEMORY_LIMIT ({_first_line(exc)})."
        ) from exc


def _create_checked(
    con: duckdb.DuckDBPyConnection, text_cols: str, typed_cols: str, record: str, reasons: str
) -> None:
    con.execute(
        f"""
        create or replace temp table _checked as
        with delivered as (
            select {text_cols}, _extra, _delivery_file,
                   row_number() over (partition by _delivery_file order by rowid) as _file_row
            from _batch
        ),
        typed as (
            select *, {typed_cols} from delivered
        )
        select *,
               json_merge_patch(json_object({record}), coalesce(_extra, '{{}}')) as _record,
               [r for r in [{reasons}] if r is not null] as _reasons
        from typed
        """
    )


# --- the entity load -------------------------------------------------------------------


def extract_entity(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    landing_dir: Path,
    run_id: str | None = None,
    progress: Callable[[str], None] | None = None,
    quiet_seconds: float = 0.0,
) -> ExtractResult:
    """Bring ``raw_<system>.<entity>`` in line with the entity's deliveries.

    All or nothing: the work runs in one transaction, so a delivery that cannot be read
    leaves the warehouse as it was and raises ``DeliveryError``. A delivery still being
    written (see ``settled_deliveries``) is left as it was loaded before, if at all.
    """
    landing_dir = Path(landing_dir)
    result = ExtractResult(entity)
    deliveries = list_deliveries(landing_dir, entity)
    result.files_seen = len(deliveries)
    if not deliveries:
        result.warnings.append(
            f"{entity.qualified_name}: no delivery files under "
            f"{landing_dir / entity.system / entity.name}; the entity is empty."
        )
    deliveries, busy = settled_deliveries(deliveries, quiet_seconds)
    for path in busy:
        result.warnings.append(
            f"Delivery file {path} of {entity.qualified_name} is still being written (it "
            f"changed within the last {quiet_seconds:g} s); it is left for the next run."
        )
    busy_names = {path.name for path in busy}

    signatures = {path.name: _signature(path) for path in deliveries}
    current = {(path.name): (path, file_sha256(path)) for path in deliveries}
    loaded = dict(
        con.execute(
            "select delivery_file, file_sha256 from ingest.delivery_files "
            "where system = ? and entity = ?",
            [entity.system, entity.name],
        ).fetchall()
    )
    to_unload = [
        name
        for name, sha in loaded.items()
        if name not in busy_names and current.get(name, (None, None))[1] != sha
    ]
    to_load = [name for name, (_, sha) in current.items() if loaded.get(name) != sha]
    to_load.sort(key=lambda n: n.encode("utf-8"))

    if not to_unload and not to_load:
        result.rows_in_table = _count(con, raw_table(entity))
        result.rows_quarantined_total = _quarantined(con, entity)
        return result

    con.execute("begin transaction")
    try:
        for name in to_unload:
            _unload(con, entity, name, run_id)
            result.files_unloaded.append(name)
        if to_load:
            _create_batch(con, entity)
            for i, name in enumerate(to_load, 1):
                path = current[name][0]
                if progress and (i == 1 or i % 50 == 0 or i == len(to_load)):
                    progress(
                        f"{entity.qualified_name}: reading delivery {i}/{len(to_load)} ({name})"
                    )
                _stage_file(con, entity, path, name)
                if _signature(path) != signatures[name]:
                    raise DeliveryError(
                        f"Delivery file {path} of {entity.qualified_name} changed while it "
                        "was being read; it is still being written."
                    )
            _validate_batch(con, entity)
            pause_point("extract")
            result.files_loaded = _store(con, entity, {n: current[n] for n in to_load}, run_id)
            con.execute(
                "drop table if exists _batch; drop table if exists _checked; "
                "drop table if exists _rejected"
            )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    result.rows_in_table = _count(con, raw_table(entity))
    result.rows_quarantined_total = _quarantined(con, entity)
    return result


def _create_batch(con: duckdb.DuckDBPyConnection, entity: Entity) -> None:
    cols = ", ".join(f"{quote_ident(c.name)} varchar" for c in entity.columns)
    con.execute(
        f"create or replace temp table _batch ({cols}, _extra json, _delivery_file varchar)"
    )
    con.execute(
        "create or replace temp table _rejected "
        "(_delivery_file varchar, _file_row bigint, reason varchar, line varchar)"
    )


def _unload(con: duckdb.DuckDBPyConnection, entity: Entity, name: str, run_id: str | None) -> None:
    params = [entity.system, entity.name, name]
    con.execute(f"delete from {raw_table(entity)} where _delivery_file = ?", [name])
    con.execute(
        "delete from ingest.quarantine where system = ? and entity = ? and delivery_file = ?",
        params,
    )
    con.execute(
        "delete from ingest.delivery_files where system = ? and entity = ? and delivery_file = ?",
        params,
    )
    con.execute(
        "insert into ingest.load_log (system, entity, delivery_file, action, logged_at, run_id) "
        "values (?, ?, ?, 'unloaded', now()::timestamp, ?)",
        [*params, run_id],
    )


def _store(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    files: dict[str, tuple[Path, str]],
    run_id: str | None,
) -> list[FileAccount]:
    columns = ", ".join(quote_ident(c.name) for c in entity.columns)
    con.execute(
        f"""
        insert into {raw_table(entity)}
        select {columns}, _extra, _delivery_file, _file_row, now()::timestamp
        from _checked where len(_reasons) = 0
        order by _delivery_file, _file_row
        """
    )
    con.execute(
        """
        insert into ingest.quarantine
        select ?, ?, _delivery_file, _file_row, array_to_string(_reasons, '; '), _record,
               now()::timestamp, ?
        from _checked where len(_reasons) > 0
        order by _delivery_file, _file_row
        """,
        [entity.system, entity.name, run_id],
    )
    con.execute(
        """
        insert into ingest.quarantine
        select ?, ?, _delivery_file, _file_row, 'malformed CSV line: ' || reason,
               json_object('_line', line), now()::timestamp, ?
        from _rejected
        order by _delivery_file, _file_row
        """,
        [entity.system, entity.name, run_id],
    )
    counts = {
        name: (delivered, valid)
        for name, delivered, valid in con.execute(
            """
            select _delivery_file, sum(delivered), sum(valid) from (
                select _delivery_file, count(*) as delivered,
                       count(*) filter (where len(_reasons) = 0) as valid
                from _checked group by 1
                union all
                select _delivery_file, count(*), 0 from _rejected group by 1
            ) group by 1
            """
        ).fetchall()
    }
    accounts = []
    for name, (path, sha) in files.items():
        delivered, valid = counts.get(name, (0, 0))
        account = FileAccount(name, delivered, valid, delivered - valid)
        accounts.append(account)
        values = [entity.system, entity.name, name, sha]
        con.execute(
            "insert into ingest.delivery_files "
            "values (?, ?, ?, ?, ?, ?, ?, ?, now()::timestamp, ?)",
            [*values, path.stat().st_size, delivered, valid, delivered - valid, run_id],
        )
        con.execute(
            "insert into ingest.load_log "
            "values (?, ?, ?, 'loaded', ?, ?, ?, ?, now()::timestamp, ?)",
            [*values, delivered, valid, delivered - valid, run_id],
        )
    return accounts


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return con.execute(f"select count(*) from {table}").fetchone()[0]


def _quarantined(con: duckdb.DuckDBPyConnection, entity: Entity) -> int:
    return con.execute(
        "select count(*) from ingest.quarantine where system = ? and entity = ?",
        [entity.system, entity.name],
    ).fetchone()[0]


def connect(path: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A warehouse connection with the session settings the pipeline relies on."""
    memory_limit = duckdb_memory_limit()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"set memory_limit = '{memory_limit}'")
    return con


def extract_all(
    con: duckdb.DuckDBPyConnection,
    landing_dir: Path,
    entities: Iterable[Entity] = ENTITIES,
) -> list[ExtractResult]:
    ensure_schema(con)
    return [extract_entity(con, e, landing_dir) for e in entities]
