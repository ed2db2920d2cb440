"""Read a landing directory as docs/landing-contract.md describes it.

This is deliberately a plain-Python reading of the contract (csv module, pyarrow,
``decimal``), independent of the warehouse's SQL, so that the two can be compared.
Only the entity and column lists come from ``expectations.contract``; the parsing,
the row rules and the deduplication are written here again from the contract's words.

Decisions the contract leaves open are marked "Decision:" in the comments below.
"""

from __future__ import annotations

import csv
import math
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from decimal import ROUND_HALF_UP, Context, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

try:
    from expectations.contract import ENTITIES, Column, Entity
except ImportError:  # the project is not installed: use the source tree it lives in
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from expectations.contract import ENTITIES, Column, Entity


class LandingFileError(Exception):
    """A delivery file that cannot be read at all; the extract of its entity stops."""

    def __init__(self, path: Path, message: str, column: str | None = None):
        self.path = Path(path)
        self.column = column
        where = f"{self.path}" + (f", column {column!r}" if column else "")
        super().__init__(f"{where}: {message}")


class _Unparseable(ValueError):
    """A present value that does not parse as its column's type."""


# --- values ----------------------------------------------------------------------------

# `decimal` is "a number with up to 4 decimals", stored by the warehouse as
# DECIMAL(18,4).  Decision: a value with more decimals is rounded half away from zero to
# 4 decimals (not rejected); a value of 10^14 or more in magnitude does not fit and is
# unparseable.  An exponent ("1e3") and a leading sign or dot are accepted.
_DECIMAL_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DECIMAL_QUANTUM = Decimal("0.0001")
_DECIMAL_LIMIT = Decimal(10) ** 14
_WIDE = Context(prec=200, Emax=999_999, Emin=-999_999)
# Decision: an integer is written as digits with an optional sign; "12.0" or "1e2" is
# not an integer.  It must fit a signed 64-bit integer.
_INTEGER_RE = re.compile(r"[+-]?\d+")
# Dates are exactly `YYYY-MM-DD`.
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TRUE = {"true", "1"}
_FALSE = {"false", "0"}


def _is_null(value: Any) -> bool:
    # An empty CSV field is null.  Decision: an empty string in a Parquet file is null
    # too, because every connector must produce the same rows as the file layout.
    return value is None or (isinstance(value, str) and value == "")


def _as_utc_naive(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def _parse_text(value: Any, column: Column) -> str:
    # Text is kept exactly as delivered (no trimming); a typed Parquet value of another
    # type is kept as its string form.
    return value if isinstance(value, str) else str(value)


def _parse_enum(value: Any, column: Column) -> str:
    if not isinstance(value, str):
        raise _Unparseable(f"{value!r} is not text")
    trimmed = value.strip(" ")
    if trimmed not in column.values:
        raise _Unparseable(f"{value!r} is not one of {', '.join(column.values)}")
    return trimmed


def _parse_ts(value: Any, column: Column) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time())
    elif isinstance(value, str):
        # Decision: surrounding whitespace is ignored for every typed (non-text) value.
        text = value.strip()
        if not text[:1].isdigit():
            raise _Unparseable(f"{value!r} is not an ISO 8601 timestamp")
        try:
            # ISO 8601: a date alone means 00:00; no offset means UTC.
            parsed = datetime.fromisoformat(text)
        except ValueError as exc:
            raise _Unparseable(f"{value!r} is not an ISO 8601 timestamp") from exc
    else:
        raise _Unparseable(f"{value!r} is not a timestamp")
    try:
        return _as_utc_naive(parsed)
    except OverflowError as exc:
        raise _Unparseable(f"{value!r} is out of range") from exc


def _parse_date(value: Any, column: Column) -> date:
    if isinstance(value, datetime):
        # A typed Parquet timestamp is accepted for a date column only at 00:00 UTC.
        parsed = _as_utc_naive(value)
        if parsed.time() != time():
            raise _Unparseable(f"{value!r} is not a date")
        return parsed.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if _DATE_RE.fullmatch(text):
            try:
                return date.fromisoformat(text)
            except ValueError:
                pass
    raise _Unparseable(f"{value!r} is not a YYYY-MM-DD date")


def _parse_decimal(value: Any, column: Column) -> Decimal:
    if isinstance(value, bool):
        raise _Unparseable(f"{value!r} is not a number")
    if isinstance(value, Decimal):
        parsed = value
    elif isinstance(value, int):
        parsed = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _Unparseable(f"{value!r} is not a finite number")
        # The shortest decimal that reads back as this float: what the writer meant.
        parsed = Decimal(repr(value))
    elif isinstance(value, str) and _DECIMAL_RE.fullmatch(value.strip()):
        parsed = Decimal(value.strip())
    else:
        raise _Unparseable(f"{value!r} is not a decimal number")
    if not parsed.is_finite() or abs(parsed) >= _DECIMAL_LIMIT:
        raise _Unparseable(f"{value!r} does not fit a decimal(18,4)")
    rounded = parsed.quantize(_DECIMAL_QUANTUM, rounding=ROUND_HALF_UP, context=_WIDE)
    if abs(rounded) >= _DECIMAL_LIMIT:
        raise _Unparseable(f"{value!r} does not fit a decimal(18,4)")
    return rounded


def _is_integral_number(value: Any) -> bool:
    """A typed Parquet float or decimal that holds a whole number (3.0 for 3)."""
    if isinstance(value, float):
        return value.is_integer()
    if isinstance(value, Decimal):
        return value.is_finite() and value == value.to_integral_value()
    return False


def _parse_integer(value: Any, column: Column) -> int:
    if isinstance(value, bool):
        raise _Unparseable(f"{value!r} is not an integer")
    if isinstance(value, int):
        parsed = value
    elif _is_integral_number(value):
        parsed = int(value)
    elif isinstance(value, str) and _INTEGER_RE.fullmatch(value.strip()):
        parsed = int(value.strip())
    else:
        raise _Unparseable(f"{value!r} is not an integer")
    if not -(2**63) <= parsed < 2**63:
        raise _Unparseable(f"{value!r} does not fit a 64-bit integer")
    return parsed


def _parse_boolean(value: Any, column: Column) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise _Unparseable(f"{value!r} is not true/false/1/0")


_PARSERS: dict[str, Callable[[Any, Column], Any]] = {
    "text": _parse_text,
    "enum": _parse_enum,
    "ts": _parse_ts,
    "date": _parse_date,
    "decimal": _parse_decimal,
    "integer": _parse_integer,
    "boolean": _parse_boolean,
}


# --- entity rules ----------------------------------------------------------------------
# Each rule returns True when a typed row *breaks* it.  A rule over an absent optional
# value does not apply (the contract's "when present").

Row = dict[str, Any]
RuleCheck = tuple[str, Callable[[Row], bool]]


def _not_before(later: str, earlier: str) -> RuleCheck:
    def broken(r: Row) -> bool:
        return r[later] is not None and r[earlier] is not None and r[later] < r[earlier]

    return f"{later} before {earlier}", broken


def _present_and(name: str, test: Callable[[Any], bool]) -> Callable[[Row], bool]:
    return lambda r: r[name] is not None and test(r[name])


RULES: dict[str, list[RuleCheck]] = {
    "crm.accounts": [_not_before("churned_at", "created_at")],
    "crm.leads": [_not_before("converted_at", "created_at")],
    "crm.opportunities": [
        ("amount negative", lambda r: r["amount"] < 0),
        (
            "closed stage without closed_at",
            lambda r: r["stage"] in ("closed_won", "closed_lost") and r["closed_at"] is None,
        ),
        _not_before("closed_at", "created_at"),
    ],
    "crm.tickets": [
        _not_before("first_response_at", "created_at"),
        _not_before("resolved_at", "created_at"),
        (
            "satisfaction_score outside 1 to 5",
            _present_and("satisfaction_score", lambda v: not 1 <= v <= 5),
        ),
    ],
    "crm.sla_policies": [
        ("first_response_hours not positive", lambda r: r["first_response_hours"] <= 0),
        ("resolution_hours not positive", lambda r: r["resolution_hours"] <= 0),
    ],
    "crm.marketing_spend": [("amount negative", lambda r: r["amount"] < 0)],
    "sales.products": [("unit_cost negative", lambda r: r["unit_cost"] < 0)],
    "sales.orders": [_not_before("fulfilled_at", "ordered_at")],
    "sales.order_lines": [
        ("quantity not positive", lambda r: r["quantity"] <= 0),
        ("unit_price negative", lambda r: r["unit_price"] < 0),
        ("discount_amount negative", _present_and("discount_amount", lambda v: v < 0)),
    ],
    "sales.fx_rates": [("usd_per_unit not positive", lambda r: r["usd_per_unit"] <= 0)],
    "sales.sales_targets": [
        ("target_month not the first day of a month", lambda r: r["target_month"].day != 1),
        ("revenue_target negative", lambda r: r["revenue_target"] < 0),
    ],
    "ops.shipments": [_not_before("delivered_at", "shipped_at")],
    "ops.production_runs": [
        _not_before("ended_at", "started_at"),
        ("units_defective negative", lambda r: r["units_defective"] < 0),
        (
            "units_defective above units_produced",
            lambda r: r["units_defective"] > r["units_produced"],
        ),
    ],
    "ops.services": [
        (
            "availability_target outside (0, 1]",
            lambda r: not 0 < r["availability_target"] <= 1,
        ),
    ],
    "ops.incidents": [_not_before("resolved_at", "started_at")],
    "ops.employees": [],
    "ops.attendance": [
        ("scheduled_hours negative", lambda r: r["scheduled_hours"] < 0),
        _not_before("check_out_at", "check_in_at"),
    ],
}


# --- files -----------------------------------------------------------------------------


# A delivered row before validation: its file, its 1-based position among the file's
# data rows, and its raw values by contract column (None where the file lacks the column).
@dataclass
class RawRow:
    file: str
    row: int
    values: dict[str, Any]
    problem: str | None = None  # set when the row cannot even be split into fields


def delivery_files(folder: Path) -> list[Path]:
    """The delivery files of an entity folder in the order they are applied."""
    if not folder.is_dir():
        return []
    # Decision: hidden files (".gitkeep", ".DS_Store") and sub-folders are not
    # deliveries and are ignored; any other file must be .csv or .parquet (any case).
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    for p in files:
        if p.suffix.lower() not in (".csv", ".parquet"):
            raise LandingFileError(p, "not a .csv or .parquet delivery file")
    # "Applied in the byte order of their file names."
    return sorted(files, key=lambda p: p.name.encode("utf-8", "surrogateescape"))


def _check_columns(path: Path, entity: Entity, present: set[str]) -> None:
    for column in entity.columns:
        if column.must_be_delivered and column.name not in present:
            raise LandingFileError(path, "missing a required column", column.name)


def _read_csv(path: Path, entity: Entity) -> Iterator[RawRow]:
    try:
        # Decision: a UTF-8 byte-order mark is tolerated (spreadsheet exports add one).
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            position: dict[str, int] = {}
            for i, name in enumerate(header):
                position.setdefault(name, i)
            _check_columns(path, entity, set(position))
            number = 0
            for fields in reader:
                if not fields:
                    continue  # a blank line is not a row
                number += 1
                if len(fields) != len(header):
                    # Decision: a row with more or fewer fields than the header is
                    # invalid as a whole rather than padded or cut.
                    problem = f"{len(fields)} fields where the header has {len(header)}"
                    yield RawRow(path.name, number, {}, problem)
                    continue
                values = {
                    c.name: fields[position[c.name]] if c.name in position else None
                    for c in entity.columns
                }
                yield RawRow(path.name, number, values)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise LandingFileError(path, f"not a readable UTF-8 CSV file ({exc})") from exc


def _read_parquet(path: Path, entity: Entity) -> Iterator[RawRow]:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise LandingFileError(path, f"not a readable Parquet file ({exc})") from exc
    _check_columns(path, entity, set(table.column_names))
    columns: dict[str, list[Any]] = {}
    for column in entity.columns:
        if column.name not in table.column_names:
            columns[column.name] = [None] * table.num_rows
            continue
        data = table.column(column.name)
        if pa.types.is_timestamp(data.type) and data.type.unit == "ns":
            # Python datetimes hold microseconds; the warehouse keeps microseconds too.
            data = data.cast(pa.timestamp("us", data.type.tz), safe=False)
        columns[column.name] = data.to_pylist()
    for i in range(table.num_rows):
        yield RawRow(path.name, i + 1, {name: values[i] for name, values in columns.items()})


# --- validation and deduplication -------------------------------------------------------


@dataclass(frozen=True)
class InvalidRow:
    file: str
    row: int
    reason: str


@dataclass
class EntityLoad:
    entity: Entity
    valid: pd.DataFrame  # valid, deduplicated, typed rows
    invalid: list[InvalidRow] = field(default_factory=list)
    delivered_rows: int = 0
    files: list[str] = field(default_factory=list)
    # Rows delivered and rows invalid per delivery file, for the broken-export check.
    rows_by_file: dict[str, int] = field(default_factory=dict)
    invalid_by_file: dict[str, int] = field(default_factory=dict)


def validate(entity: Entity, raw: RawRow) -> tuple[Row | None, str | None]:
    """The typed row, or None and the reason the row is invalid."""
    if raw.problem is not None:
        return None, raw.problem
    typed: Row = {}
    for column in entity.columns:
        value = raw.values.get(column.name)
        if _is_null(value):
            if column.presence == "key":
                return None, f"{column.name}: primary key part is null"
            if column.presence == "req":
                return None, f"{column.name}: required value is null"
            typed[column.name] = None
            continue
        try:
            typed[column.name] = _PARSERS[column.type](value, column)
        except _Unparseable as exc:
            return None, f"{column.name}: {exc}"
    for name, broken in RULES[entity.qualified_name]:
        if broken(typed):
            return None, name
    return typed, None


def deduplicate(entity: Entity, rows: list[Row]) -> list[Row]:
    """One row per primary key.  ``rows`` must be in delivery order (file, then row).

    With ``updated_at`` the greatest one wins and a tie goes to the later row in
    delivery order; without it the later row in delivery order wins.
    """
    key_columns = entity.key
    by_updated_at = entity.has_updated_at
    winners: dict[tuple, Row] = {}
    for row in rows:
        key = tuple(row[k] for k in key_columns)
        current = winners.get(key)
        # ">=": on a tie the row met later (later delivery, later row) wins.
        if current is None or not by_updated_at or row["updated_at"] >= current["updated_at"]:
            winners[key] = row
    return list(winners.values())


def typed_frame(entity: Entity, rows: list[Row]) -> pd.DataFrame:
    """A DataFrame of typed rows: ``ts`` as naive-UTC datetime64[us], ``integer`` as
    Int64, ``boolean`` as boolean, ``date`` as datetime.date objects, ``decimal`` as
    decimal.Decimal objects, text and enums as str objects; nulls as NA/None."""
    data: dict[str, Any] = {}
    for column in entity.columns:
        values = [r[column.name] for r in rows]
        if column.type == "ts":
            data[column.name] = pd.Series(values, dtype="datetime64[us]")
        elif column.type == "integer":
            data[column.name] = pd.Series(pd.array(values, dtype="Int64"))
        elif column.type == "boolean":
            data[column.name] = pd.Series(pd.array(values, dtype="boolean"))
        else:
            data[column.name] = pd.Series(values, dtype=object)
    return pd.DataFrame(data, columns=[c.name for c in entity.columns])


def load_entity(landing_dir: Path | str, entity: Entity) -> EntityLoad:
    folder = Path(landing_dir) / entity.system / entity.name
    files = delivery_files(folder)
    valid: list[Row] = []
    load = EntityLoad(entity, pd.DataFrame(), files=[p.name for p in files])
    for path in files:
        reader = _read_parquet if path.suffix.lower() == ".parquet" else _read_csv
        load.rows_by_file[path.name] = 0
        load.invalid_by_file[path.name] = 0
        for raw in reader(path, entity):
            load.delivered_rows += 1
            load.rows_by_file[path.name] += 1
            typed, reason = validate(entity, raw)
            if typed is None:
                load.invalid.append(InvalidRow(raw.file, raw.row, reason or "invalid"))
                load.invalid_by_file[path.name] += 1
            else:
                valid.append(typed)
    # Deduplication only sees valid rows: an invalid row never replaces a valid one.
    load.valid = typed_frame(entity, deduplicate(entity, valid))
    return load


def load_landing_detailed(landing_dir: Path | str) -> dict[str, EntityLoad]:
    """Every entity of the contract, keyed "system.entity", with its invalid rows."""
    return {e.qualified_name: load_entity(landing_dir, e) for e in ENTITIES}


def load_landing(landing_dir: Path | str) -> dict[str, pd.DataFrame]:
    """Valid, deduplicated, typed rows of every entity, keyed "system.entity".

    A missing or empty entity folder gives an empty frame with the contract's columns.
    A delivery file that cannot be read raises LandingFileError naming file and column.
    """
    return {name: load.valid for name, load in load_landing_detailed(landing_dir).items()}


def broken_deliveries(
    loads: dict[str, EntityLoad], min_rows: int = 100, max_invalid_share: float = 0.2
) -> list[tuple[str, str, int, int]]:
    """Delivery files that block publishing by default: at least ``min_rows`` rows of
    which more than ``max_invalid_share`` are invalid.  Returns (entity, file, rows,
    invalid rows) for each."""
    broken = []
    for name, load in loads.items():
        for file, rows in load.rows_by_file.items():
            invalid = load.invalid_by_file[file]
            # Compared exactly: "more than 20%" of 100 rows is 21 rows or more.
            if rows >= min_rows and Fraction(invalid, rows) > Fraction(str(max_invalid_share)):
                broken.append((name, file, rows, invalid))
    return broken
