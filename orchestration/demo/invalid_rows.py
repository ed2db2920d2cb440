"""The rows made invalid on purpose, and enum values padded with spaces.

Each delivery file gets a few rows broken in every way the landing contract names (null
keys and required columns, unparseable text, values outside an enum, broken rules);
reference entities get a corrupted copy of a row instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from expectations.contract import Entity
from orchestration.demo.formats import _string_columns
from orchestration.demo.timeline import _DAY, _seconds

# Invalid rows: the share per delivery file, capped so that no file exceeds 5 %.
# Reference entities get one corrupted *copy* of a row instead, so that the plan and the
# catalog stay whole; the catalogs of services and SLA policies stay clean.
_INVALID_RATE = 0.006
_INVALID_CAP = 0.05
_INVALID_COPIES = {"products": 1, "sales_targets": 1}
_INVALID_NONE = {"services", "sla_policies"}
# Share of enum values written with surrounding spaces (valid after trimming).
_PADDED_ENUM_RATE = 0.003


_BAD_TIMESTAMPS = ("not-a-date", "2026-02-30T10:00:00Z", "31/10/2026 14:00", "yesterday")
_BAD_DATES = ("not-a-date", "2026-02-30", "31.10.2026")
_BAD_NUMBERS = ("12,5", "n/a", "1.2.3", "ten")
_BAD_BOOLEANS = ("yes", "maybe")
_BAD_ENUM_VALUES = ("gold", "unknown", "n/a")


def _invalid_kinds(entity: Entity, text_cols: set[str]) -> dict[str, list[tuple]]:
    """Every way a row of this entity can be made invalid, by kind."""
    kinds: dict[str, list[tuple]] = {}
    cols = entity.columns

    def add(kind: str, *variant) -> None:
        kinds.setdefault(kind, []).append(variant)

    for c in cols:
        if c.presence == "key":
            add("null primary key", c.name)
        elif c.presence == "req":
            add("null required column", c.name)
        if c.name in text_cols:
            if c.type == "ts":
                add("unparseable timestamp", c.name, _BAD_TIMESTAMPS)
            elif c.type == "date":
                add("unparseable date", c.name, _BAD_DATES)
            elif c.type in ("decimal", "integer"):
                add("unparseable number", c.name, _BAD_NUMBERS)
            elif c.type == "boolean":
                add("unparseable boolean", c.name, _BAD_BOOLEANS)
        if c.type == "enum":
            # Values that no reading of the list could accept (not merely another case).
            add("value outside enum", c.name, _BAD_ENUM_VALUES)
    for rule in entity.rules:
        add(f"rule: {rule.name}", rule)
    return kinds


def _column_np(table: pa.Table, name: str) -> tuple[np.ndarray, np.ndarray]:
    arr = table.column(name).combine_chunks()
    null = arr.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_timestamp(arr.type):
        values = arr.cast(pa.timestamp("s")).to_numpy(zero_copy_only=False).astype("datetime64[s]")
    elif pa.types.is_date32(arr.type):
        values = arr.to_numpy(zero_copy_only=False).astype("datetime64[D]")
    else:
        values = arr.to_numpy(zero_copy_only=False)
    return values, null


def _set(table: pa.Table, name: str, rows: np.ndarray, values) -> pa.Table:
    """``table`` with ``name`` replaced at ``rows`` (ascending) by ``values`` (None: null)."""
    arr = table.column(name).combine_chunks()
    mask = np.zeros(table.num_rows, bool)
    mask[rows] = True
    if values is None:
        replacement = pa.nulls(rows.size, arr.type)
    elif pa.types.is_timestamp(arr.type):
        replacement = pa.array(np.asarray(values).astype("datetime64[s]"), pa.timestamp("s")).cast(
            arr.type
        )
    elif pa.types.is_date32(arr.type):
        replacement = pa.array(np.asarray(values).astype("datetime64[D]"), pa.date32())
    else:
        replacement = pa.array(values, arr.type)
    new = pc.replace_with_mask(arr, pa.array(mask), replacement)
    return table.set_column(table.column_names.index(name), name, new)


def _rule_break(
    table: pa.Table, rule, rows_pool: np.ndarray, count: int, rng
) -> tuple[pa.Table, np.ndarray]:
    """Break ``rule`` in ``count`` rows chosen from ``rows_pool`` that can break it."""
    kind, args = rule.kind, rule.columns
    if kind == "non_negative":
        (col,) = args
        values, null = _column_np(table, col)
        rows = _choose(rng, rows_pool[~null[rows_pool]], count)
        return _set(table, col, rows, -np.abs(values[rows].astype(np.int64)) - 100), rows
    if kind == "positive":
        (col,) = args
        _, null = _column_np(table, col)
        rows = _choose(rng, rows_pool[~null[rows_pool]], count)
        return _set(table, col, rows, rng.choice([0, -1], rows.size)), rows
    if kind == "not_before":
        later, earlier = args
        values, null = _column_np(table, earlier)
        _, later_null = _column_np(table, later)
        ok = ~null[rows_pool] & ~later_null[rows_pool]
        rows = _choose(rng, rows_pool[ok], count)
        new = values[rows] - _seconds(rng.uniform(600, 3 * _DAY, rows.size))
        return _set(table, later, rows, new), rows
    if kind == "between":
        col, hi = args[0], int(args[2])
        _, null = _column_np(table, col)
        rows = _choose(rng, rows_pool[~null[rows_pool]], count)
        return _set(table, col, rows, np.full(rows.size, hi + 2)), rows
    if kind == "at_most":
        col, bound = args
        values, null = _column_np(table, bound)
        rows = _choose(rng, rows_pool[~null[rows_pool]], count)
        return _set(
            table, col, rows, values[rows].astype(np.int64) + rng.integers(1, 6, rows.size)
        ), rows
    if kind == "present_when":
        col, required, *closed = args
        values, null = _column_np(table, col)
        _, req_null = _column_np(table, required)
        ok = np.isin(values[rows_pool].astype(object), closed) & ~req_null[rows_pool]
        rows = _choose(rng, rows_pool[ok], count)
        return _set(table, required, rows, None), rows
    if kind == "first_of_month":
        (col,) = args
        values, null = _column_np(table, col)
        rows = _choose(rng, rows_pool[~null[rows_pool]], count)
        return _set(table, col, rows, values[rows] + np.timedelta64(14, "D")), rows
    # A rule of another kind (availability_target within (0, 1]) is not broken.
    return table, np.array([], np.int64)


def _choose(rng: np.random.Generator, pool: np.ndarray, count: int) -> np.ndarray:
    return np.sort(rng.choice(pool, min(count, pool.size), replace=False))


def _inject(
    entity: Entity,
    table: pa.Table,
    fmt: str,
    rng: np.random.Generator,
    copies: int | None,
    at_least: int = 0,
) -> tuple[pa.Table, dict[str, list[tuple[np.ndarray, str]]], Counter]:
    """Make a few rows invalid; returns the typed table, text edits to apply after
    serialisation (column → [(rows, bad texts)]) and the count per kind."""
    n = table.num_rows
    counts: Counter = Counter()
    text_edits: dict[str, list] = {}
    if copies is not None:
        k = min(copies, n)
        if k:
            # Corrupted copies, so that the valid original stays in the data.
            source = _choose(rng, np.arange(n), k)
            table = pa.concat_tables([table, table.take(pa.array(source))])
            pool = np.arange(n, n + k)
        else:
            return table, text_edits, counts
    else:
        k = min(max(int(rng.binomial(n, _INVALID_RATE)), at_least), int(n * _INVALID_CAP))
        if not k:
            return table, text_edits, counts
        pool = np.arange(n)
    kinds = _invalid_kinds(entity, _string_columns(entity, fmt))
    names = sorted(kinds)
    per_kind = Counter(rng.choice(len(names), k).tolist())
    used = np.zeros(table.num_rows, bool)
    for i in sorted(per_kind):
        kind, wanted = names[i], per_kind[i]
        free = pool[~used[pool]]
        variant = kinds[kind][rng.integers(len(kinds[kind]))]
        if kind.startswith("rule: "):
            table, rows = _rule_break(table, variant[0], free, wanted, rng)
        else:
            rows = _choose(rng, free, wanted)
            if kind in ("null primary key", "null required column"):
                table = _set(table, variant[0], rows, None)
            else:
                bad = rng.choice(variant[1], rows.size)
                text_edits.setdefault(variant[0], []).append((rows, bad))
        used[rows] = True
        counts[kind] += rows.size
    return table, text_edits, counts


def _apply_text_edits(table: pa.Table, edits, enum_cols: Sequence[str], rng) -> pa.Table:
    n = table.num_rows
    for name in enum_cols:
        # A few enum values arrive with spaces around them: valid once trimmed.
        rows = np.flatnonzero(rng.random(n) < _PADDED_ENUM_RATE)
        if rows.size:
            arr = table.column(name).combine_chunks()
            current = arr.take(pa.array(rows))
            padded = pc.binary_join_element_wise(
                " ", current, rng.choice([" ", ""], rows.size).tolist(), ""
            )
            mask = np.zeros(n, bool)
            mask[rows] = True
            new = pc.replace_with_mask(arr, pa.array(mask), padded)
            table = table.set_column(table.column_names.index(name), name, new)
    for name, items in edits.items():
        for rows, bad in items:
            table = _set(table, name, rows, pa.array(bad.tolist(), pa.string()))
    return table
