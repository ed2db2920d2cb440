"""Delivery file formats: which entity is written as CSV or Parquet and how.

How typed rows become the columns of a file (timestamps with and without offsets,
decimals as text or floats, booleans in several spellings), and CSV bytes with RFC 4180
quoting.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from expectations.contract import Entity
from orchestration.demo.columns import _pick, _ts
from orchestration.demo.timeline import _Calendar

# Share of rows whose timestamps are written in a local time with its offset, and the
# offsets used (minutes east of UTC).
_OFFSET_SHARE = 0.10
_OFFSETS_MIN = np.array([60, 120, -300, -240, 330, 540, -180, 600])

# Entity file formats: most pick one; orders alternate between CSV and Parquet deliveries.
_FORMAT = {
    "tickets": "parquet",
    "order_lines": "parquet",
    "production_runs": "parquet",
    "attendance": "parquet",
    "orders": "alternate",
}
# How Parquet files store timestamps ("utc": timestamp with UTC zone, "naive": timestamp
# without zone, "string": ISO 8601 text) and decimals ("string" or "float").
_PARQUET_TS = {
    "tickets": "utc",
    "orders": "utc",
    "production_runs": "string",
    "attendance": "naive",
}
_PARQUET_DECIMAL = {"order_lines": "string", "attendance": "float"}
# Whether CSV timestamps in UTC are written with a trailing Z or without an offset.
_CSV_UTC_SUFFIX = {"crm": "Z", "sales": "Z", "ops": ""}
# Columns in a deliberately non-contract order: the contract allows any order.
_COLUMN_ORDER = {
    "shipments": (
        "order_id", "shipment_id", "carrier", "shipped_at", "delivered_at", "promised_at",
        "updated_at",
    ),
}  # fmt: skip

# Decimal places per decimal column: money in cents, rates in ten-thousandths.
_DECIMAL_PLACES = {
    "opportunities": {"amount": 2},
    "sla_policies": {"first_response_hours": 1, "resolution_hours": 1},
    "marketing_spend": {"amount": 2},
    "products": {"unit_cost": 2, "list_price": 2},
    "order_lines": {"unit_price": 2, "discount_amount": 2},
    "fx_rates": {"usd_per_unit": 4},
    "sales_targets": {"revenue_target": 2},
    "services": {"availability_target": 3},
    "attendance": {"scheduled_hours": 1},
}


def _format(entity: Entity, period: int, cal: _Calendar) -> str:
    kind = _FORMAT.get(entity.name, "csv")
    if kind == "alternate":
        daily = period - cal.daily_from
        return "parquet" if daily >= 0 and daily % 2 == 1 else "csv"
    return kind


def _string_columns(entity: Entity, fmt: str) -> set[str]:
    """Columns that a file of this format writes as text (where any text can go)."""
    if fmt == "csv":
        return {c.name for c in entity.columns}
    out = {c.name for c in entity.columns if c.type in ("text", "enum")}
    if _PARQUET_TS.get(entity.name) == "string":
        out |= {c.name for c in entity.columns if c.type == "ts"}
    if _PARQUET_DECIMAL.get(entity.name, "string") == "string":
        out |= {c.name for c in entity.columns if c.type == "decimal"}
    return out


def _fmt_decimal(arr: pa.Array, places: int) -> pa.Array:
    values = arr.to_numpy(zero_copy_only=False)
    null = arr.is_null().to_numpy(zero_copy_only=False)
    values = np.where(null, 0, values).astype(np.int64)
    unit = 10**places
    whole = np.abs(values) // unit
    sign = pa.array(np.where(values < 0, "-", ""))
    text = pc.binary_join_element_wise(sign, pc.cast(pa.array(whole), pa.string()), "")
    if places:
        frac = pc.utf8_lpad(
            pc.cast(pa.array(np.abs(values) % unit), pa.string()), width=places, padding="0"
        )
        text = pc.binary_join_element_wise(text, frac, ".")
    return pc.if_else(pa.array(null), pa.scalar(None, pa.string()), text)


def _fmt_ts(arr: pa.Array, offsets_min: np.ndarray, utc_suffix: str) -> pa.Array:
    """ISO 8601 text; rows with an offset show local time and the offset (same instant)."""
    utc = arr.to_numpy(zero_copy_only=False).astype("datetime64[s]")
    local = utc + offsets_min.astype("timedelta64[m]")
    text = pc.strftime(_ts(local), format="%Y-%m-%dT%H:%M:%S")
    labels = {0: utc_suffix}
    for off in np.unique(offsets_min[offsets_min != 0]).tolist():
        h, m = abs(off) // 60, abs(off) % 60
        labels[off] = f"{'+' if off > 0 else '-'}{h:02d}:{m:02d}"
    keys = sorted(labels)
    suffix = _pick([labels[k] for k in keys], np.searchsorted(keys, offsets_min))
    return pc.binary_join_element_wise(text, suffix, "")


def _fmt_bool(arr: pa.Array, rng: np.random.Generator) -> pa.Array:
    # Mostly true/false; a few rows in the other spellings the contract allows.
    values = arr.to_numpy(zero_copy_only=False)
    style = rng.choice(3, len(arr), p=[0.96, 0.02, 0.02])
    words = np.array([["false", "true"], ["FALSE", "TRUE"], ["0", "1"]])
    text = words[
        style, np.where(arr.is_null().to_numpy(zero_copy_only=False), 0, values).astype(int)
    ]
    return pc.if_else(arr.is_null(), pa.scalar(None, pa.string()), pa.array(text))


def _serialise(entity: Entity, table: pa.Table, fmt: str, rng: np.random.Generator) -> pa.Table:
    """Typed rows to the columns a file of ``fmt`` holds."""
    places = _DECIMAL_PLACES.get(entity.name, {})
    text_cols = _string_columns(entity, fmt)
    n = table.num_rows
    with_offset = rng.random(n) < _OFFSET_SHARE
    offsets = np.where(with_offset, rng.choice(_OFFSETS_MIN, n), 0)
    columns = {}
    for name in table.column_names:
        arr = table.column(name).combine_chunks()
        col = entity.column(name) if name in {c.name for c in entity.columns} else None
        type_ = col.type if col else "text"
        if type_ == "ts":
            if name in text_cols:
                columns[name] = _fmt_ts(arr, offsets, _CSV_UTC_SUFFIX[entity.system])
            elif _PARQUET_TS[entity.name] == "utc":
                columns[name] = arr.cast(pa.timestamp("ms", tz="UTC"))
            else:
                columns[name] = arr.cast(pa.timestamp("us"))
        elif type_ == "decimal":
            if name in text_cols:
                columns[name] = _fmt_decimal(arr, places[name])
            else:
                values = arr.to_numpy(zero_copy_only=False).astype(np.float64)
                columns[name] = pa.array(
                    values / 10 ** places[name],
                    pa.float64(),
                    mask=arr.is_null().to_numpy(zero_copy_only=False),
                )
        elif type_ == "boolean":
            columns[name] = _fmt_bool(arr, rng) if name in text_cols else arr
        elif type_ in ("integer", "date") and name in text_cols:
            columns[name] = pc.cast(arr, pa.string())
        else:
            columns[name] = arr
    return pa.table(columns)


def _quote(arr: pa.Array) -> pa.Array:
    """RFC 4180: quote a field holding a quote, comma, line break or edge spaces."""
    needs = pc.fill_null(pc.match_substring_regex(arr, r'[",\r\n]|^\s|\s$'), False)
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(arr, '"', '""'), '"', "")
    return pc.fill_null(pc.if_else(needs, quoted, arr), "")


def _csv_bytes(table: pa.Table, plain: set[str]) -> bytes:
    """The file's bytes; ``plain`` columns hold nothing that needs quoting."""
    header = ",".join(table.column_names) + "\n"
    if table.num_rows == 0:
        return header.encode("utf-8")
    columns = [
        pc.fill_null(col, "") if name in plain else _quote(col)
        for name, col in zip(
            table.column_names, (c.combine_chunks() for c in table.columns), strict=True
        )
    ]
    lines = pc.binary_join_element_wise(*columns, ",") if len(columns) > 1 else columns[0]
    offsets = pa.array([0, len(lines)], pa.int32())
    body = pc.binary_join(pa.ListArray.from_arrays(offsets, lines), "\n")[0].as_py()
    return (header + body + "\n").encode("utf-8")
