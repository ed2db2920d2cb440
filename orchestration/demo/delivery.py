"""The delivery files: one entity's records as the files its export job wrote.

Records are delivered in the period of each version; daily files overlap a little with
the day before; each file gets its invalid rows, is serialised and written in the
landing layout (``<out_dir>/<system>/<entity>/<delivery-file>``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from expectations.contract import Entity
from orchestration.demo.columns import _ts
from orchestration.demo.draws import _rng
from orchestration.demo.formats import _COLUMN_ORDER, _csv_bytes, _format, _serialise
from orchestration.demo.invalid_rows import (
    _INVALID_COPIES,
    _INVALID_NONE,
    _apply_text_edits,
    _inject,
)
from orchestration.demo.timeline import _Calendar
from orchestration.demo.world import _Records, _World

# Entities delivered only when they change (no empty daily files).
_REFERENCE = {"sla_policies", "services", "products", "sales_targets", "fx_rates"}
# Share of a daily file's rows sent again in the next daily file (export overlap).
_OVERLAP_RATE = 0.01


@dataclass
class GenerationSummary:
    """What ``generate`` wrote. Entity keys are ``system.entity``."""

    out_dir: Path
    seed: int
    scale: float
    start_date: date
    end_date: date
    records: dict[str, int] = field(default_factory=dict)  # distinct records generated
    rows: dict[str, int] = field(default_factory=dict)  # rows in delivery files
    invalid_rows: dict[str, int] = field(default_factory=dict)
    invalid_kinds: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)  # relative to out_dir

    @property
    def files_written(self) -> int:
        return len(self.files)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def total_invalid(self) -> int:
        return sum(self.invalid_rows.values())


def _emit(entity: Entity, rec: _Records, cal: _Calendar) -> tuple[pa.Table, np.ndarray]:
    """All delivered rows of ``rec`` in delivery order and the period of each."""
    names = [c.name for c in entity.columns]
    parts: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
    next_period = np.full(rec.count, cal.periods)
    for k in range(len(rec.versions) - 1, -1, -1):
        t = rec.versions[k][0].astype("datetime64[s]")
        period = cal.period_of(t)
        present = period < cal.periods
        # A version superseded within the same period is never seen by an export.
        emit = present & (period != next_period)
        next_period = np.where(present, period, next_period)
        idx = np.flatnonzero(emit)
        parts.append((k, idx, period[idx], t[idx]))
    parts.reverse()
    idx_all = np.concatenate([p[1] for p in parts])
    period_all = np.concatenate([p[2] for p in parts])
    time_all = np.concatenate([p[3] for p in parts])
    order = np.lexsort((idx_all, time_all.astype(np.int64), period_all))
    columns = {}
    for name in [*names, *rec.extras]:
        if name == "updated_at" and entity.has_updated_at:
            columns[name] = _ts(time_all)
            continue
        pieces = []
        for k, idx, _, _ in parts:
            source = rec.versions[k][1].get(name)
            if source is None:
                source = rec.base[name] if name in rec.base else rec.extras[name]
            pieces.append(source.take(pa.array(idx)))
        columns[name] = pa.concat_arrays(pieces)
    table = pa.table(columns).take(pa.array(order))
    return table, period_all[order]


def _write_entity(
    entity: Entity, rec: _Records, w: _World, out_dir: Path, summary: GenerationSummary
) -> None:
    cal = w.cal
    table, periods = _emit(entity, rec, cal)
    bounds = np.searchsorted(periods, np.arange(cal.periods + 1))
    key = entity.qualified_name
    folder = out_dir / entity.system / entity.name
    folder.mkdir(parents=True, exist_ok=True)
    # The folder holds one data set: deliveries of an earlier run (another end date, say)
    # would otherwise be applied along with this one's.
    for stale in folder.iterdir():
        if stale.is_file() and stale.suffix in (".csv", ".parquet"):
            stale.unlink()
    columns = list(_COLUMN_ORDER.get(entity.name, [c.name for c in entity.columns]))
    columns += list(rec.extras)
    enum_cols = [c.name for c in entity.columns if c.type == "enum"]
    # Formatted numbers, dates and timestamps never need CSV quoting; injected text might.
    plain = {c.name for c in entity.columns if c.type not in ("text", "enum")}
    clean = entity.name in _INVALID_NONE
    copies_left = _INVALID_COPIES.get(entity.name)
    # Every entity with invalid rows gets at least one, in its biggest file, whatever the
    # scale and the luck of the draw.
    biggest = int(np.argmax(np.diff(bounds)))
    rows_written = invalid = 0
    kinds: Counter = Counter()
    previous: pa.Table | None = None
    for p in range(cal.periods):
        fresh = table.slice(bounds[p], bounds[p + 1] - bounds[p])
        rng = _rng(w.seed, f"deliver/{key}/{p}")
        daily = p >= cal.daily_from
        part = fresh
        if daily and previous is not None and previous.num_rows:
            # Export jobs overlap: a few of yesterday's rows come again, first in the file,
            # so that today's newer versions of them still come later.
            again = np.flatnonzero(rng.random(previous.num_rows) < _OVERLAP_RATE)
            if again.size:
                part = pa.concat_tables([previous.take(pa.array(again)), fresh])
        previous = fresh if daily else None
        # A daily export job writes its file even on a quiet day; reference data is only
        # delivered when it changes.
        if part.num_rows == 0 and not (daily and entity.name not in _REFERENCE):
            continue
        fmt = _format(entity, p, cal)
        if clean:
            typed, edits, counted = part, {}, Counter()
        else:
            copies = None
            if copies_left is not None:
                copies, copies_left = copies_left, 0
            at_least = 1 if p == biggest else 0
            typed, edits, counted = _inject(entity, part, fmt, rng, copies, at_least)
        out = _serialise(entity, typed, fmt, rng)
        out = _apply_text_edits(out, edits, () if clean else enum_cols, rng).select(columns)
        path = folder / f"{cal.names[p]}.{fmt}"
        if fmt == "csv":
            path.write_bytes(_csv_bytes(out, plain - set(edits)))
        else:
            pq.write_table(out, path, compression="zstd")
        summary.files.append(path.relative_to(out_dir).as_posix())
        rows_written += out.num_rows
        invalid += sum(counted.values())
        kinds.update(counted)
    summary.rows[key] = rows_written
    summary.records[key] = rec.count
    summary.invalid_rows[key] = invalid
    for kind, count in kinds.items():
        summary.invalid_kinds[kind] = summary.invalid_kinds.get(kind, 0) + count
