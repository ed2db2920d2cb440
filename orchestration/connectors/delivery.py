"""What every connector writes: delivery files, and the cursor it keeps beside them.

A pull writes at most one delivery per entity:
``<landing>/<system>/<entity>/<UTC time>__<connector>.parquet``, with the contract's
column names and every value as text in the contract's forms (ISO 8601 timestamps in
UTC, plain decimals, ``true``/``false``). Text rather than typed Parquet columns, so that
the extract's one parser decides what is valid for every source alike: a connector can
neither round a decimal nor shift a timestamp on the way in.

The file is written under a hidden temporary name (the extract skips names starting
with ``.``) and renamed only when complete, so a pull that fails half way leaves no
partial delivery behind.

The cursor lives in ``_cursor__<connector>.json`` in the same entity folder (names
starting with ``_`` are not deliveries). Beside the landing data rather than in the
warehouse because it describes the deliveries: a warehouse rebuilt from the landing
zone needs no new pull, and a wiped landing folder starts its source over from the
beginning. It is saved after the delivery is renamed into place; a crash in between
makes the next pull deliver the same rows again, which deduplication absorbs, never
lose them. Both the delivery and the cursor are flushed to disk (file and folder) before
the next step, so the order holds after a power cut too; a pull killed while writing
leaves a hidden temporary file, removed by the next pull into that folder.
"""

from __future__ import annotations

import json
import math
import os
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from expectations.contract import Entity
from orchestration.durable import fsync_dir

if TYPE_CHECKING:
    import pyarrow.parquet as pq

STAMP_FORMAT = "%Y-%m-%dT%H%M%S.%fZ"


class ConnectorError(Exception):
    """A pull that cannot complete; the message is one sentence and names the source."""


def to_text(value: Any) -> str | None:
    """A source value in the contract's text form (None stays null)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        # Never an exponent: '1E+2' is not how a decimal is written in a delivery.
        return format(value, "f")
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, datetime):
        # A timestamp without an offset is UTC by the contract; one with an offset is
        # converted, so every delivered timestamp names the same instant.
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (dict, list, tuple)):
        # Not a scalar: kept as JSON text, which a typed column then quarantines.
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def entity_folder(landing_dir: Path, entity: Entity) -> Path:
    return Path(landing_dir) / entity.system / entity.name


def _stamp_of(name: str, connector: str) -> datetime | None:
    suffix = f"__{connector}.parquet"
    if not name.endswith(suffix):
        return None
    try:
        return datetime.strptime(name.removesuffix(suffix), STAMP_FORMAT)
    except ValueError:
        return None


def next_delivery_name(folder: Path, connector: str, now: datetime | None = None) -> str:
    """A name that sorts after every earlier delivery of this connector.

    Deliveries apply in the byte order of their names; a clock that stepped back must
    not make a newer pull apply before an older one.
    """
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(tzinfo=None)
    if folder.is_dir():
        stamps = [s for p in folder.iterdir() if (s := _stamp_of(p.name, connector))]
        if stamps and max(stamps) >= moment:
            moment = max(stamps) + timedelta(microseconds=1)
    return f"{moment.strftime(STAMP_FORMAT)}__{connector}.parquet"


_TEMP_NAME = re.compile(r"^\..+\.(\d+)\.tmp$")


def remove_orphan_temp_files(folder: Path) -> list[Path]:
    """Remove the temporary files of pulls whose process is gone (killed mid-write)."""
    removed = []
    if not folder.is_dir():
        return removed
    for path in folder.iterdir():
        match = _TEMP_NAME.match(path.name)
        if match and not psutil.pid_exists(int(match.group(1))) and path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


class DeliveryWriter:
    """One delivery file, written in batches and published by ``commit``.

    Used as a context manager: leaving the block by an exception removes the
    temporary file, so nothing partial is ever visible to the extract.
    """

    def __init__(self, landing_dir: Path, entity: Entity, connector: str, now=None):
        self.entity = entity
        self.folder = entity_folder(landing_dir, entity)
        self.folder.mkdir(parents=True, exist_ok=True)
        remove_orphan_temp_files(self.folder)
        self.name = next_delivery_name(self.folder, connector, now)
        self.path = self.folder / self.name
        self._tmp = self.folder / f".{self.name}.{os.getpid()}.tmp"
        # Imported here, not with the module: every run loads the connectors' assets,
        # and pyarrow with numpy is 0.07 s of its start-up that only a pull needs.
        import pyarrow as pa

        self._schema = pa.schema([(c.name, pa.string()) for c in entity.columns])
        self._writer: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, rows: list[dict[str, str | None]]) -> None:
        """Append rows given as contract column → text (a missing column is null)."""
        if not rows:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = {
            c.name: pa.array([r.get(c.name) for r in rows], pa.string())
            for c in self.entity.columns
        }
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._tmp, self._schema)
        self._writer.write_table(pa.table(columns, schema=self._schema))
        self.rows += len(rows)

    def commit(self) -> Path | None:
        """Publish the delivery under its final name; None when there was no row."""
        if self._writer is None:
            return None
        self._writer.close()
        self._writer = None
        with self._tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(self._tmp, self.path)
        # The rename itself on disk before the cursor moves past the file's rows.
        fsync_dir(self.folder)
        return self.path

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> DeliveryWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.abort()


# --- cursors ------------------------------------------------------------------------------


def state_path(landing_dir: Path, entity: Entity, connector: str) -> Path:
    return entity_folder(landing_dir, entity) / f"_cursor__{connector}.json"


def load_state(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConnectorError(f"Connector state {path} cannot be read ({exc}).") from exc


def state_for_source(path: Path, source: str, result: PullResult, what: str) -> dict:
    """The stored state of a pull from ``source``; empty, with a warning, if it was another.

    A cursor only means something for the source it was taken from: after a switch the
    connector pulls every ``what`` (rows, records) again.
    """
    state = load_state(path)
    if state and state.get("source") != source:
        result.warnings.append(
            f"{result.entity.qualified_name}: the source changed from {state.get('source')} "
            f"to {source}; pulling every {what} again."
        )
        return {}
    return state


def save_state(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(json.dumps(state, indent=2, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def _encode(value: Any) -> dict:
    if isinstance(value, datetime):
        return {"type": "datetime", "value": value.isoformat()}
    if isinstance(value, date):
        return {"type": "date", "value": value.isoformat()}
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return {"type": "number", "value": str(value)}
    return {"type": "text", "value": str(value)}


def _decode(encoded: dict) -> Any:
    kind, value = encoded["type"], encoded["value"]
    if kind == "datetime":
        return datetime.fromisoformat(value)
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "number":
        return Decimal(value)
    return value


@dataclass
class Cursor:
    """The greatest ``updated_at`` delivered so far and the keys of the rows carrying it.

    A pull asks for ``updated_at >= value`` and drops the rows at exactly ``value``
    whose key it already delivered. Asking with ``>`` would lose a row committed later
    with the same timestamp as the last one seen; the boundary keys make ``>=``
    deliver only what is new.
    """

    value: Any = None
    keys_at_value: set[tuple] = field(default_factory=set)

    @classmethod
    def from_state(cls, state: dict) -> Cursor:
        saved = state.get("cursor")
        if not saved:
            return cls()
        keys = {tuple(k) for k in saved.get("keys_at_value", [])}
        return cls(_decode(saved["value"]), keys)

    def to_state(self) -> dict | None:
        if self.value is None:
            return None
        return {
            "value": _encode(self.value),
            "keys_at_value": sorted((list(k) for k in self.keys_at_value), key=json.dumps),
        }

    def is_new(self, key: tuple, updated: Any) -> bool:
        """Whether a row the source returned for ``>= value`` was not delivered yet."""
        if self.value is None or updated is None:
            return True
        return not (updated == self.value and key in self.keys_at_value)

    def advance(self, key: tuple, updated: Any) -> None:
        """Record a delivered row."""
        if updated is None:
            return
        if self.value is None or updated > self.value:
            self.value = updated
            self.keys_at_value = {key}
        elif updated == self.value:
            self.keys_at_value.add(key)


@dataclass
class PullResult:
    """What one pull of one entity did, for the asset's metadata and the tests."""

    entity: Entity
    connector: str
    source: str
    mode: str  # full, incremental, snapshot, unchanged or missing
    rows: int = 0
    files_changed: int = 0
    delivery: Path | None = None
    cursor: str | None = None
    warnings: list[str] = field(default_factory=list)

    def metadata(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "pull_mode": self.mode,
            "rows_delivered": self.rows,
            "delivery_files_changed": self.files_changed,
            "delivery_file": self.delivery.name if self.delivery else "",
            "cursor": self.cursor or "",
        }
