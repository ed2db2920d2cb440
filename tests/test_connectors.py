"""Connectors against real servers: a local HTTP server with the REST API's shape, and
the PostgreSQL server CI starts. What they pull goes through the one ingestion path
(delivery file -> extract -> raw table or quarantine), and that is what is checked.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest

from expectations.contract import ENTITIES, entity
from orchestration.connectors import assets as connector_assets
from orchestration.connectors import postgres as pg_connector
from orchestration.connectors import rest
from orchestration.connectors.delivery import ConnectorError, next_delivery_name, to_text
from orchestration.ingestion import assets as ingestion_assets
from orchestration.ingestion.extract import connect, ensure_schema, extract_entity
from orchestration.resources import LandingZoneResource, WarehouseResource
from orchestration.settings import Settings
from tests.postgres_helpers import fresh_database

TOKEN = "test-token-123"
ACCOUNTS = entity("crm", "accounts")
SLA = entity("crm", "sla_policies")
SALES = [e for e in ENTITIES if e.system == "sales"]


# --- a local API with the connector's shape ---------------------------------------------


class FakeApi:
    """``GET /<entity>?limit&cursor&updated_since`` with a bearer token, on 127.0.0.1.

    ``faults[(entity, page)]`` lists what the next requests for that page get instead
    of the page: ``429`` (with Retry-After: 1), ``500``, ``503``, ``slow`` (answers
    after 1.5 s) or ``malformed`` (a body that is not JSON).
    """

    def __init__(self) -> None:
        self.records: dict[str, list[dict]] = {}
        self.faults: dict[tuple[str, int], list[str]] = {}
        self.requests: list[dict] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                api.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.handle_error = lambda *args: None  # a client that timed out hung up
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _send(self, handler, status: int, body: bytes, headers: dict | None = None) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    def handle(self, handler) -> None:
        url = urlparse(handler.path)
        name = url.path.removeprefix("/v1/")
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        page = int(params["cursor"].removeprefix("page-")) if "cursor" in params else 1
        self.requests.append(
            {
                "entity": name,
                "page": page,
                "params": params,
                "at": time.monotonic(),
                "auth": handler.headers.get("Authorization"),
            }
        )
        if handler.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._send(handler, 401, b'{"error": "unauthorized"}')
        if name not in self.records:
            return self._send(handler, 404, b'{"error": "no such endpoint"}')
        pending = self.faults.get((name, page)) or []
        fault = pending.pop(0) if pending else None
        if fault == "429":
            return self._send(handler, 429, b'{"error": "slow down"}', {"Retry-After": "1"})
        if fault in ("500", "503"):
            return self._send(handler, int(fault), b'{"error": "oops"}')
        if fault == "slow":
            time.sleep(1.5)
        if fault == "malformed":
            return self._send(handler, 200, b'{"data": [{"account_id": "A9"')

        rows = self.records[name]
        since = params.get("updated_since")
        if since:
            cut = datetime.fromisoformat(since.replace("Z", "+00:00"))
            rows = [r for r in rows if _ts(r.get("updated_at")) >= cut]
        rows = sorted(rows, key=lambda r: (str(r.get("updated_at")), json.dumps(r, default=str)))
        limit = int(params.get("limit", 100))
        chunk = rows[(page - 1) * limit : page * limit]
        more = page * limit < len(rows)
        body = {"data": chunk, "next_cursor": f"page-{page + 1}" if more else None}
        self._send(handler, 200, json.dumps(body, default=_json_number).encode())


def _json_number(value):
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(value)


def _ts(text: str | None) -> datetime:
    value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def account(i: int, updated: str, segment: str = "smb", **changes) -> dict:
    row = {
        "account_id": f"A{i}",
        "account_name": f"Account {i}",
        "industry": None,
        "segment": segment,
        "region": "emea",
        "owner_id": "U1",
        "created_at": "2026-01-05T09:00:00Z",
        "churned_at": None,
        "updated_at": updated,
    }
    row.update(changes)
    return row


@pytest.fixture
def api():
    server = FakeApi()
    yield server
    server.close()


def source_for(api: FakeApi, **overrides) -> rest.RestSource:
    options = {
        "base_url": api.url,
        "token": TOKEN,
        "name": "the crm API",
        "page_size": 3,
        "timeout_seconds": 0.5,
        "max_attempts": 4,
        "backoff_seconds": 0.01,
        "max_wait_seconds": 5,
    }
    options.update(overrides)
    return rest.RestSource(**options)


def deliveries(landing: Path, ent) -> list[Path]:
    folder = landing / ent.system / ent.name
    return sorted(p for p in folder.iterdir() if p.suffix == ".parquet") if folder.exists() else []


def delivered_rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


# --- REST --------------------------------------------------------------------------------


def test_rest_pages_through_every_record_with_the_bearer_token(api, tmp_path):
    api.records["accounts"] = [account(i, f"2026-10-0{i}T10:00:00Z") for i in range(1, 8)]

    result = rest.pull_entity(source_for(api), ACCOUNTS, tmp_path)

    assert [r["page"] for r in api.requests] == [1, 2, 3]
    assert all(r["auth"] == f"Bearer {TOKEN}" for r in api.requests)
    assert result.rows == 7 and result.mode == "full"
    [delivery] = deliveries(tmp_path, ACCOUNTS)
    assert delivery == result.delivery and delivery.name.endswith("__rest.parquet")
    rows = delivered_rows(delivery)
    assert [r["account_id"] for r in rows] == [f"A{i}" for i in range(1, 8)]
    assert list(rows[0]) == [c.name for c in ACCOUNTS.columns]
    assert rows[0]["industry"] is None and rows[0]["updated_at"] == "2026-10-01T10:00:00Z"


def test_rest_honours_retry_after_on_429(api, tmp_path):
    api.records["accounts"] = [account(i, f"2026-10-0{i}T10:00:00Z") for i in range(1, 5)]
    api.faults[("accounts", 2)] = ["429"]
    waits: list[str] = []

    result = rest.pull_entity(source_for(api), ACCOUNTS, tmp_path, log=waits.append)

    page2 = [r for r in api.requests if r["page"] == 2]
    assert len(page2) == 2
    assert page2[1]["at"] - page2[0]["at"] >= 0.95  # Retry-After: 1, not the 10 ms back-off
    assert "HTTP 429" in waits[0] and "1.0 s" in waits[0]
    assert result.rows == 4


def test_rest_retries_a_500_with_backoff_then_succeeds(api, tmp_path):
    api.records["accounts"] = [account(1, "2026-10-01T10:00:00Z")]
    api.faults[("accounts", 1)] = ["500", "503"]

    result = rest.pull_entity(source_for(api), ACCOUNTS, tmp_path)

    assert [r["page"] for r in api.requests] == [1, 1, 1]
    assert result.rows == 1 and len(deliveries(tmp_path, ACCOUNTS)) == 1


def test_rest_retries_after_a_timeout(api, tmp_path):
    api.records["accounts"] = [account(1, "2026-10-01T10:00:00Z")]
    api.faults[("accounts", 1)] = ["slow"]

    result = rest.pull_entity(source_for(api, timeout_seconds=0.3), ACCOUNTS, tmp_path)

    assert len(api.requests) == 2
    assert result.rows == 1


def test_rest_gives_up_after_the_last_attempt_with_one_sentence(api, tmp_path):
    api.records["accounts"] = [account(1, "2026-10-01T10:00:00Z")]
    api.faults[("accounts", 1)] = ["503"] * 10

    with pytest.raises(ConnectorError) as failure:
        rest.pull_entity(source_for(api, max_attempts=3), ACCOUNTS, tmp_path)

    assert str(failure.value) == (
        f"Page 1 of crm.accounts could not be fetched from the crm API ({api.url}/accounts) "
        "in 3 attempts; the last one got HTTP 503."
    )
    assert len(api.requests) == 3
    assert deliveries(tmp_path, ACCOUNTS) == []


def test_rest_malformed_page_fails_clearly_and_delivers_nothing(api, tmp_path):
    api.records["accounts"] = [account(i, f"2026-10-0{i}T10:00:00Z") for i in range(1, 8)]
    api.faults[("accounts", 3)] = ["malformed"]

    with pytest.raises(ConnectorError) as failure:
        rest.pull_entity(source_for(api), ACCOUNTS, tmp_path)

    message = str(failure.value)
    assert message.startswith(
        f"Page 3 of crm.accounts from the crm API ({api.url}/accounts) is malformed: "
        "the body is not JSON"
    )
    assert message.endswith("; nothing was delivered.") and "\n" not in message
    # Pages 1 and 2 were fine, yet nothing of them is visible: no delivery, no temp
    # file, no cursor; the next pull starts over.
    folder = tmp_path / "crm" / "accounts"
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"data": {"account_id": "A1"}, "next_cursor": None}, "it has no 'data' list"),
        ({"data": ["A1"], "next_cursor": None}, "record 1 is not an object"),
        ({"data": [], "next_cursor": 7}, "'next_cursor' is neither a string nor null"),
        ([], "the body is not a JSON object"),
    ],
)
def test_rest_page_shapes_that_are_not_the_api(body, detail):
    import httpx

    with pytest.raises(rest._MalformedPage, match=detail):
        rest._page(httpx.Response(200, content=json.dumps(body).encode()))


def test_rest_rejected_token_is_not_retried(api, tmp_path):
    api.records["accounts"] = [account(1, "2026-10-01T10:00:00Z")]

    with pytest.raises(ConnectorError, match=r"HTTP 401 \(check the API token\)"):
        rest.pull_entity(source_for(api, token="wrong"), ACCOUNTS, tmp_path)

    assert len(api.requests) == 1


def test_rest_second_pull_gets_only_newer_records(api, tmp_path):
    api.records["accounts"] = [account(i, f"2026-10-0{i}T10:00:00Z") for i in range(1, 5)]
    first = rest.pull_entity(source_for(api), ACCOUNTS, tmp_path)
    assert first.rows == 4 and first.cursor == "2026-10-04T10:00:00+00:00"

    # A4 again unchanged (at the cursor), A2 updated, A5 new at the very same instant
    # as the cursor: only A2 and A5 are new.
    api.records["accounts"][1] = account(2, "2026-10-05T08:00:00+02:00", segment="mid_market")
    api.records["accounts"].append(account(5, "2026-10-04T10:00:00Z"))
    api.requests.clear()
    second = rest.pull_entity(source_for(api), ACCOUNTS, tmp_path)

    assert api.requests[0]["params"]["updated_since"] == "2026-10-04T10:00:00.000000Z"
    assert second.mode == "incremental"
    assert sorted(r["account_id"] for r in delivered_rows(second.delivery)) == ["A2", "A5"]
    assert second.cursor == "2026-10-05T06:00:00+00:00"

    third = rest.pull_entity(source_for(api), ACCOUNTS, tmp_path)
    assert third.rows == 0 and third.delivery is None
    assert len(deliveries(tmp_path, ACCOUNTS)) == 2


def test_rest_reference_data_is_delivered_again_only_when_it_changed(api, tmp_path):
    api.records["sla_policies"] = [
        {"priority": p, "first_response_hours": h, "resolution_hours": h * 10}
        for p, h in (("low", 24), ("normal", 8), ("high", 2), ("urgent", Decimal("0.5")))
    ]
    first = rest.pull_entity(source_for(api), SLA, tmp_path)
    assert first.mode == "snapshot" and first.rows == 4
    assert rest.pull_entity(source_for(api), SLA, tmp_path).mode == "unchanged"

    api.records["sla_policies"][0]["resolution_hours"] = 96
    third = rest.pull_entity(source_for(api), SLA, tmp_path)
    assert third.mode == "snapshot" and third.rows == 4
    rows = {r["priority"]: r for r in delivered_rows(third.delivery)}
    assert rows["urgent"]["first_response_hours"] == "0.5"
    assert rows["low"]["resolution_hours"] == "96"


def test_rest_records_load_and_quarantine_like_a_file(api, tmp_path):
    api.records["accounts"] = [
        account(1, "2026-10-01T10:00:00Z"),
        account(2, "2026-10-02T12:00:00+02:00", segment="huge"),
        account(3, "2026-10-03T10:00:00Z", created_at="yesterday"),
        account(4, "2026-10-04T10:00:00Z", account_name="Mixed Case Field", extra="ignored"),
    ]
    # Field names match the contract ignoring case, as CSV headers do.
    api.records["accounts"][3]["Account_Name"] = api.records["accounts"][3].pop("account_name")
    rest.pull_entity(source_for(api), ACCOUNTS, tmp_path / "landing")
    con = connect(tmp_path / "wh.duckdb")
    ensure_schema(con)

    result = extract_entity(con, ACCOUNTS, tmp_path / "landing")

    assert [(f.rows_delivered, f.rows_loaded) for f in result.files_loaded] == [(4, 2)]
    loaded = con.execute(
        "select account_id, account_name, updated_at, _extra from raw_crm.accounts order by 1"
    ).fetchall()
    assert loaded == [
        ("A1", "Account 1", datetime(2026, 10, 1, 10), None),
        ("A4", "Mixed Case Field", datetime(2026, 10, 4, 10), None),
    ]
    reasons = dict(con.execute("select file_row, reasons from ingest.quarantine").fetchall())
    assert reasons == {
        2: "segment is not one of (smb, mid_market, enterprise)",
        3: "created_at is not a valid ts",
    }


# --- delivery names and values -----------------------------------------------------------


def test_delivery_names_sort_after_earlier_ones_even_if_the_clock_steps_back(tmp_path):
    late = datetime(2026, 10, 30, 12, 0, tzinfo=timezone.utc)
    (tmp_path / next_delivery_name(tmp_path, "rest", late)).touch()
    earlier = next_delivery_name(tmp_path, "rest", datetime(2026, 10, 30, 11, tzinfo=timezone.utc))
    assert earlier == "2026-10-30T120000.000001Z__rest.parquet"
    assert earlier.encode() > b"2026-10-30T120000.000000Z__rest.parquet"


def test_values_are_delivered_in_the_contract_text_forms():
    from datetime import date, timedelta

    tokyo = timezone(timedelta(hours=9))
    assert to_text(datetime(2026, 10, 30, 9, 0, tzinfo=tokyo)) == "2026-10-30T00:00:00+00:00"
    assert to_text(datetime(2026, 10, 30, 9, 0, 0, 5)) == "2026-10-30T09:00:00.000005"
    assert to_text(date(2026, 10, 30)) == "2026-10-30"
    assert to_text(Decimal("1E+2")) == "100"
    assert to_text(Decimal("12.3400")) == "12.3400"
    assert to_text(True) == "true" and to_text(0) == "0"
    assert to_text(None) is None


# --- PostgreSQL --------------------------------------------------------------------------

_PG_TYPES = {
    "text": "text",
    "enum": "text",
    "ts": "timestamp",
    "date": "date",
    "decimal": "numeric(18, 4)",
    "integer": "bigint",
    "boolean": "boolean",
}


@pytest.fixture(scope="module")
def sales_rows(tmp_path_factory) -> dict[str, tuple[list[str], list[tuple]]]:
    """Realistic sales rows: the demo data's valid rows, one (the latest) per key."""
    from orchestration.demo.generator import generate

    root = tmp_path_factory.mktemp("sales_source")
    generate(root / "landing", scale=0.02, seed=3)
    con = connect(root / "wh.duckdb")
    ensure_schema(con)
    rows = {}
    for ent in SALES:
        extract_entity(con, ent, root / "landing")
        cols = [c.name for c in ent.columns]
        order = "updated_at desc, " if ent.has_updated_at else ""
        rows[ent.name] = (
            cols,
            con.execute(
                f"select {', '.join(cols)} from raw_sales.{ent.name} "
                f"qualify row_number() over (partition by {', '.join(ent.key)} "
                f"order by {order}_delivery_file desc, _file_row desc) = 1"
            ).fetchall(),
        )
    con.close()
    return rows


@pytest.fixture(scope="module")
def source_db():
    with fresh_database("kpi_src") as dsn:
        yield dsn


def create_sales_tables(dsn: str, schema: str, rows: dict) -> None:
    """The sales system's tables as a real application would keep them.

    orders.ordered_at and orders.updated_at are timestamptz and the database's time zone
    is Tokyo, so the connector sees offsets; order_lines carries an updated_at outside
    the contract (pulled incrementally by it, not delivered) and a column the contract
    does not know; fx_rates and sales_targets have no updated_at (pulled whole).
    """
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as con:
        [(database,)] = con.execute("select current_database()").fetchall()
        con.execute(f"alter database \"{database}\" set timezone to 'Asia/Tokyo'")
        con.execute("set time zone 'Asia/Tokyo'")
        con.execute(f"drop schema if exists {schema} cascade")
        con.execute(f"create schema {schema}")
        for ent in SALES:
            cols, data = rows[ent.name]
            specs = []
            for c in ent.columns:
                type_ = _PG_TYPES[c.type]
                if ent.name == "orders" and c.name in ("ordered_at", "updated_at"):
                    type_ = "timestamptz"
                specs.append(f"{c.name} {type_}")
            if ent.name == "order_lines":
                specs += ["updated_at timestamp", "internal_note text"]
            specs.append(f"primary key ({', '.join(ent.key)})")
            con.execute(f"create table {schema}.{ent.name} ({', '.join(specs)})")
            target = list(cols)
            if ent.name == "order_lines":
                target += ["updated_at", "internal_note"]
            with con.cursor().copy(
                f"copy {schema}.{ent.name} ({', '.join(target)}) from stdin"
            ) as copy:
                for row in data:
                    values = list(row)
                    if ent.name == "orders":
                        for i, name in enumerate(cols):
                            if name in ("ordered_at", "updated_at") and values[i] is not None:
                                values[i] = values[i].replace(tzinfo=timezone.utc)
                    if ent.name == "order_lines":
                        values += [datetime(2026, 10, 31, 12), "do not deliver"]
                    copy.write_row(values)


def raw_rows(warehouse: Path, ent) -> set[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cols = ", ".join(c.name for c in ent.columns)
        return set(con.execute(f"select {cols} from raw_{ent.system}.{ent.name}").fetchall())
    finally:
        con.close()


def test_postgres_rows_pulled_delivered_and_loaded_equal_the_source(
    source_db, sales_rows, tmp_path
):
    create_sales_tables(source_db, "shop", sales_rows)
    engine = pg_connector.create_source_engine(source_db)
    landing = tmp_path / "landing"
    try:
        results = {
            e.name: pg_connector.pull_entity(engine, e, landing, schema="shop") for e in SALES
        }
    finally:
        engine.dispose()

    assert {n: r.mode for n, r in results.items()} == {
        "products": "full",
        "orders": "full",
        "order_lines": "full",
        "fx_rates": "snapshot",
        "sales_targets": "snapshot",
    }
    con = connect(tmp_path / "wh.duckdb")
    ensure_schema(con)
    for ent in SALES:
        [delivery] = deliveries(landing, ent)
        assert pq.read_schema(delivery).names == [c.name for c in ent.columns]
        extracted = extract_entity(con, ent, landing)
        assert extracted.rows_quarantined_total == 0, ent.name
    con.close()
    for ent in SALES:
        cols, source = sales_rows[ent.name]
        assert len(source) > 0
        assert raw_rows(tmp_path / "wh.duckdb", ent) == set(source), ent.name


def test_postgres_second_pull_gets_only_newer_rows(source_db, sales_rows, tmp_path):
    import psycopg

    create_sales_tables(source_db, "inc", sales_rows)
    orders = entity("sales", "orders")
    engine = pg_connector.create_source_engine(source_db)
    landing = tmp_path / "landing"
    try:
        first = pg_connector.pull_entity(engine, orders, landing, schema="inc")
        assert first.rows == len(sales_rows["orders"][1])
        cursor = datetime.fromisoformat(first.cursor)

        with psycopg.connect(source_db, autocommit=True) as con:
            [(changed,)] = con.execute(
                "update inc.orders set status = 'cancelled', updated_at = %s "
                "where order_id = (select min(order_id) from inc.orders) returning order_id",
                [datetime(2027, 1, 2, 3, 4, 5, tzinfo=timezone.utc)],
            ).fetchall()
            con.execute(
                "insert into inc.orders (order_id, account_id, ordered_at, status, channel, "
                "region, currency, updated_at) values "
                "('NEW-1', 'A1', %s, 'placed', 'online', 'emea', 'EUR', %s), "
                "('NEW-2', 'A1', %s, 'placed', 'online', 'emea', 'EUR', %s)",
                [cursor, cursor, cursor, datetime(2027, 1, 1, tzinfo=timezone.utc)],
            )
        second = pg_connector.pull_entity(engine, orders, landing, schema="inc")
        third = pg_connector.pull_entity(engine, orders, landing, schema="inc")
    finally:
        engine.dispose()

    # NEW-1 carries exactly the cursor's timestamp: still new; the rows delivered at
    # that timestamp before are not delivered again.
    assert second.mode == "incremental"
    assert sorted(r["order_id"] for r in delivered_rows(second.delivery)) == sorted(
        [changed, "NEW-1", "NEW-2"]
    )
    by_id = {r["order_id"]: r for r in delivered_rows(second.delivery)}
    assert by_id[changed]["updated_at"] == "2027-01-02T03:04:05+00:00"
    assert by_id[changed]["status"] == "cancelled"
    assert second.cursor == "2027-01-02T03:04:05+00:00"
    assert third.rows == 0 and third.delivery is None
    assert len(deliveries(landing, orders)) == 2

    con = connect(tmp_path / "wh.duckdb")
    ensure_schema(con)
    extract_entity(con, orders, landing)
    latest = con.execute(
        "select status from raw_sales.orders where order_id = ? order by updated_at desc limit 1",
        [changed],
    ).fetchone()
    con.close()
    assert latest == ("cancelled",)


def test_postgres_reference_table_is_delivered_again_only_when_it_changed(
    source_db, sales_rows, tmp_path
):
    import psycopg

    create_sales_tables(source_db, "ref", sales_rows)
    fx = entity("sales", "fx_rates")
    engine = pg_connector.create_source_engine(source_db)
    try:
        first = pg_connector.pull_entity(engine, fx, tmp_path, schema="ref")
        second = pg_connector.pull_entity(engine, fx, tmp_path, schema="ref")
        with psycopg.connect(source_db, autocommit=True) as con:
            con.execute(
                "update ref.fx_rates set usd_per_unit = 1.2345 "
                "where (rate_date, currency) = (select rate_date, currency from ref.fx_rates "
                "order by 1, 2 limit 1)"
            )
        third = pg_connector.pull_entity(engine, fx, tmp_path, schema="ref")
    finally:
        engine.dispose()
    assert (first.mode, second.mode, third.mode) == ("snapshot", "unchanged", "snapshot")
    assert third.rows == first.rows == len(sales_rows["fx_rates"][1])
    assert len(deliveries(tmp_path, fx)) == 2


def test_postgres_invalid_rows_are_quarantined_and_bad_tables_fail_clearly(source_db, tmp_path):
    import psycopg

    with psycopg.connect(source_db, autocommit=True) as con:
        con.execute("drop schema if exists odd cascade; create schema odd")
        con.execute(
            "create table odd.orders (order_id text, account_id text, ordered_at timestamp, "
            "status text, channel text, region text, currency text, fulfilled_at timestamp, "
            "updated_at timestamp)"
        )
        con.execute(
            "insert into odd.orders values "
            "('O1', 'A1', '2026-10-01 10:00', 'placed', 'online', 'emea', 'EUR', null, "
            "'2026-10-01 10:00'), "
            "('O2', 'A1', '2026-10-01 10:00', 'lost', 'online', 'emea', 'EUR', null, "
            "'2026-10-01 11:00'), "
            "('O3', 'A1', '2026-10-02 10:00', 'fulfilled', 'online', 'emea', 'EUR', "
            "'2026-10-01 10:00', '2026-10-02 10:00')"
        )
        con.execute("create table odd.products (product_id text, product_name text)")
    orders, products = entity("sales", "orders"), entity("sales", "products")
    engine = pg_connector.create_source_engine(source_db)
    try:
        pg_connector.pull_entity(engine, orders, tmp_path / "landing", schema="odd")
        with pytest.raises(ConnectorError) as failure:
            pg_connector.pull_entity(engine, products, tmp_path / "landing", schema="odd")
        missing = pg_connector.pull_entity(
            engine, entity("sales", "fx_rates"), tmp_path / "landing", schema="odd"
        )
    finally:
        engine.dispose()

    assert str(failure.value) == (
        "The source table odd.products of sales.products lacks the required column category."
    )
    assert not (tmp_path / "landing" / "sales" / "products").exists()
    assert missing.mode == "missing" and "has no table odd.fx_rates" in missing.warnings[0]
    con = connect(tmp_path / "wh.duckdb")
    ensure_schema(con)
    extract_entity(con, orders, tmp_path / "landing")
    assert con.execute("select order_id from raw_sales.orders").fetchall() == [("O1",)]
    assert dict(con.execute("select file_row, reasons from ingest.quarantine").fetchall()) == {
        2: "status is not one of (placed, fulfilled, cancelled, returned)",
        3: "fulfilled_at before ordered_at",
    }
    con.close()


def test_pull_assets_feed_the_same_raw_assets_in_dagster(
    source_db, sales_rows, api, tmp_path, monkeypatch
):
    """Sources chosen by configuration: sales from PostgreSQL, crm from the REST API."""
    create_sales_tables(source_db, "public", sales_rows)
    api.records.update({e.name: [] for e in ENTITIES if e.system == "crm"})
    api.records["accounts"] = [account(i, f"2026-10-0{i}T10:00:00Z") for i in range(1, 6)]
    api.faults[("accounts", 1)] = ["500"]
    monkeypatch.setenv("KPI_SALES_POSTGRES_DSN", source_db)
    monkeypatch.setenv("KPI_CRM_API_URL", api.url)
    monkeypatch.setenv("KPI_CRM_API_TOKEN", TOKEN)
    landing, warehouse = tmp_path / "landing", tmp_path / "wh.duckdb"
    settings = Settings(
        landing_dir=landing,
        warehouse_path=warehouse,
        published_path=tmp_path / "published.duckdb",
        as_of=None,
        broken_delivery_min_rows=100,
        broken_delivery_invalid_share=0.2,
        sources={"crm": "rest", "sales": "postgres", "ops": "files"},
    )
    pulls = connector_assets.build_defs(settings)
    extracts = ingestion_assets.build_defs(settings)
    assets = [*pulls.assets, *extracts.assets]
    raw_orders = next(a for a in extracts.assets if a.key.path == ["raw", "sales", "orders"])
    assert raw_orders.asset_deps[raw_orders.key] == {dg.AssetKey(["landing", "sales", "orders"])}

    result = dg.materialize(
        assets,
        selection=dg.AssetSelection.groups("sales", "crm"),
        resources={
            **pulls.resources,
            "warehouse": WarehouseResource(path=str(warehouse), published_path=str(warehouse)),
            "landing": LandingZoneResource(path=str(landing)),
        },
    )

    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"landing/sales/orders", "raw/sales/orders", "landing/crm/accounts"} <= materialized
    pulled = result.asset_materializations_for_node("landing__crm__accounts")[0].metadata
    assert pulled["rows_delivered"].value == 5
    for ent in SALES:
        assert raw_rows(warehouse, ent) == set(sales_rows[ent.name][1]), ent.name
    assert len(raw_rows(warehouse, ACCOUNTS)) == 5
