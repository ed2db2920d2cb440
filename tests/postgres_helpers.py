"""A real PostgreSQL server for the tests that need one; nothing is mocked.

``.ci/run`` starts Debian's server on loopback and exports ``KPI_TEST_POSTGRES_DSN`` (a
role that may create databases). Each test module works in a database of its own,
created here and dropped afterwards, so runs never share tables. Without a server the
tests skip with the reason, except in CI (``CI`` set), where they fail: CI must run them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

DEFAULT_DSN = "postgresql://kpi_test:kpi_test@127.0.0.1:5432/kpi_test"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def server_dsn() -> str:
    """The test server's DSN; skips (or, in CI, fails) the test when none answers."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    dsn = os.environ.get("KPI_TEST_POSTGRES_DSN") or DEFAULT_DSN
    try:
        psycopg.connect(dsn, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        where = conninfo_to_dict(dsn)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = (
            f"no PostgreSQL server usable at {where.get('host')}:{where.get('port', 5432)} "
            f"as {where.get('user')} ({first}); .ci/run starts one, or set KPI_TEST_POSTGRES_DSN"
        )
        if _in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    return dsn


def with_database(dsn: str, dbname: str) -> str:
    from psycopg.conninfo import make_conninfo

    return make_conninfo(dsn, dbname=dbname)


@contextmanager
def fresh_database(prefix: str = "kpi_t") -> Iterator[str]:
    """A new, empty database on the test server; its DSN. Dropped on exit."""
    import psycopg

    admin = server_dsn()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(f'create database "{name}"')
    try:
        yield with_database(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as con:
            con.execute(f'drop database if exists "{name}" with (force)')
