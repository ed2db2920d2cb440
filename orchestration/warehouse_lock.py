"""One writing run per warehouse, and the clean-up after a run that was killed.

DuckDB lets one process write a database file, and a second one fails with a lock error
that names neither the run nor what to do. A run of the pipeline also lets go of the file
between its steps (dbt is a subprocess), so DuckDB's own lock cannot keep a second run
out either. Every writing run therefore holds an advisory lock, ``<warehouse>.lock``
beside the DuckDB file, from its first step to its last, whoever started it: the command
line, the Dagster UI, a schedule or a sensor. A second run refuses at once with one
sentence naming the process that holds the lock; it does not wait, because a run queued
behind a hung one would hide the hang.

The lock is ``flock`` on the file: the kernel releases it when its process ends, however
it ends, so a killed run never leaves a stale lock. The file itself stays (deleting a
lock file races with the next run taking it) and holds who has it, for the message.

The first run after a killed one, once it has the lock, stops what the killed run left
running (a dbt build outlives the process that started it) and removes the temporary
files it left beside the published copy.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import signal
import sys
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import psutil


class WarehouseBusyError(Exception):
    """Another run holds the warehouse; the message is one sentence naming it."""


def lock_path_for(warehouse: Path | str) -> Path:
    warehouse = Path(warehouse)
    return warehouse.with_name(f"{warehouse.name}.lock")


# Path → [file descriptor, depth]: the command line takes the lock before the run and the
# run's warehouse resource takes it again; a second flock from the same process would
# conflict with the first, so nested holds share one descriptor.
_held: dict[str, list[int]] = {}
_guard = threading.Lock()


def _key(warehouse: Path | str) -> str:
    return str(Path(warehouse).expanduser().resolve())


def _read(fd: int) -> dict:
    try:
        raw = os.pread(fd, 1 << 16, 0)
        return json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (OSError, ValueError):
        return {}


def _write(fd: int, record: dict) -> None:
    data = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _holder_sentence(warehouse: str, record: dict) -> str:
    pid = record.get("pid")
    if not pid:
        return (
            f"The warehouse {warehouse} is in use by another run that is just starting; "
            "wait for it to finish, then run again."
        )
    started = record.get("started_at", "an unknown time")
    command = record.get("command") or "an unknown command"
    return (
        f"The warehouse {warehouse} is in use by another run: process {pid} "
        f"({command}), started {started}; wait for it to finish or stop it, then run again."
    )


def acquire(warehouse: Path | str, command: str | None = None) -> bool:
    """Take the warehouse's lock, or raise ``WarehouseBusyError`` at once.

    True when this call took it (rather than a nested hold in the same process); the
    caller then cleans up after a killed run with ``recover``.
    """
    key = _key(warehouse)
    with _guard:
        if key in _held:
            _held[key][1] += 1
            return False
        path = lock_path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            record = _read(fd)
            os.close(fd)
            raise WarehouseBusyError(_holder_sentence(key, record)) from None
        except BaseException:
            os.close(fd)
            raise
        previous = _read(fd)
        _write(
            fd,
            {
                "pid": os.getpid(),
                "started_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
                "command": command or shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                "children": [],
                # Empty unless the last run was killed: what it may have left running.
                "previous": previous,
            },
        )
        _held[key] = [fd, 1]
        return True


def release(warehouse: Path | str) -> None:
    key = _key(warehouse)
    with _guard:
        entry = _held.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] > 0:
            return
        del _held[key]
        fd = entry[0]
        try:
            # Ended cleanly: nothing for the next run to clean up after.
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # releases the flock


def holds(warehouse: Path | str) -> bool:
    with _guard:
        return _key(warehouse) in _held


def record_child(warehouse: Path | str, pid: int) -> None:
    """Note a subprocess that writes the warehouse, so that a run after a kill can stop it."""
    key = _key(warehouse)
    with _guard:
        entry = _held.get(key)
        if entry is None:
            return
        record = _read(entry[0])
        try:
            created = psutil.Process(pid).create_time()
        except psutil.Error:
            return
        record.setdefault("children", []).append({"pid": pid, "create_time": created})
        _write(entry[0], record)


def _orphans(record: dict) -> list[psutil.Process]:
    """The children killed runs left running (the pid and start time must both match)."""
    found = []
    children = []
    # A run killed while it recovered from an earlier kill hands on both runs' children.
    while record:
        children += record.get("children", [])
        record = record.get("previous") or {}
    for child in children:
        try:
            process = psutil.Process(child["pid"])
            if abs(process.create_time() - child["create_time"]) < 0.01:
                found.append(process)
        except (psutil.Error, KeyError, TypeError):
            continue
    return found


def recover(warehouse: Path | str, published_path: Path | str, log=None) -> list[str]:
    """After a killed run: stop its dbt build and remove its temporary files.

    Called with the lock held, so nothing else is writing. Returns what was done, one
    line each. The warehouse itself needs no repair: DuckDB replays its write-ahead log
    on open, and every step writes in transactions (a killed step's work is rolled back).
    """
    from orchestration.publish.copy import complete_switch, remove_leftovers

    key = _key(warehouse)
    with _guard:
        entry = _held.get(key)
        previous = _read(entry[0]).get("previous", {}) if entry else {}
    done: list[str] = []
    orphans = _orphans(previous)
    for process in orphans:
        try:
            process.send_signal(signal.SIGTERM)
        except psutil.Error:
            continue
    _, alive = psutil.wait_procs(orphans, timeout=10)
    for process in alive:
        try:
            process.kill()
        except psutil.Error:
            continue
    psutil.wait_procs(alive, timeout=10)
    for process in orphans:
        done.append(
            f"stopped process {process.pid}, left running by the killed run {previous.get('pid')}"
        )
    done += [f"removed {path}" for path in remove_leftovers(Path(published_path))]
    switched = complete_switch(Path(published_path))
    if switched:
        done.append(f"switched the Parquet folder to publication {switched}, as the DuckDB copy")
    with _guard:
        entry = _held.get(key)
        if entry is not None:
            record = _read(entry[0])
            record["previous"] = {}
            _write(entry[0], record)
    if log:
        for line in done:
            log(line)
    return done


@contextmanager
def warehouse_lock(warehouse: Path | str, published_path: Path | str, log=None, command=None):
    """Hold the warehouse's lock for the block, cleaning up after a killed run first."""
    first = acquire(warehouse, command=command)
    try:
        if first:
            recover(warehouse, published_path, log=log)
        yield
    finally:
        release(warehouse)
