"""The extract against the landing contract (docs/landing-contract.md).

Every test writes tiny hand-made deliveries and loads them into a fresh DuckDB file, so
each contract rule is checked against exact rows: which are loaded, which are
quarantined and why, and that every delivered row is accounted for.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from expectations.contract import ENTITIES, Column, Entity, entity
from orchestration.ingestion.extract import (
    DeliveryError,
    ExtractResult,
    connect,
    ensure_schema,
    extract_entity,
    raw_table,
)
from tests.conftest import dbt

UPDATED = "2026-10-10T00:00:00Z"

# One valid delivered row per entity, as CSV text.
VALID: dict[str, dict[str, str]] = {
    "crm.accounts": {
        "account_id": "A1",
        "account_name": "Acme",
        "industry": "Retail",
        "segment": "smb",
        "region": "EU",
        "owner_id": "U1",
        "created_at": "2026-01-01T00:00:00Z",
        "churned_at": "",
        "updated_at": UPDATED,
    },
    "crm.leads": {
        "lead_id": "L1",
        "created_at": "2026-01-01T00:00:00Z",
        "source": "web",
        "region": "EU",
        "owner_id": "U1",
        "status": "converted",
        "converted_at": "2026-02-01T00:00:00Z",
        "account_id": "A1",
        "updated_at": UPDATED,
    },
    "crm.opportunities": {
        "opportunity_id": "P1",
        "account_id": "A1",
        "owner_id": "U1",
        "created_at": "2026-01-01T00:00:00Z",
        "stage": "closed_won",
        "amount": "1000.50",
        "currency": "EUR",
        "closed_at": "2026-02-01T00:00:00Z",
        "updated_at": UPDATED,
    },
    "crm.tickets": {
        "ticket_id": "T1",
        "account_id": "A1",
        "created_at": "2026-01-01T00:00:00Z",
        "priority": "high",
        "channel": "email",
        "assignee_id": "U2",
        "first_response_at": "2026-01-01T01:00:00Z",
        "resolved_at": "2026-01-02T00:00:00Z",
        "satisfaction_score": "5",
        "updated_at": UPDATED,
    },
    "crm.sla_policies": {
        "priority": "high",
        "first_response_hours": "4",
        "resolution_hours": "24",
    },
    "crm.marketing_spend": {
        "spend_date": "2026-10-01",
        "channel": "paid_search",
        "region": "EU",
        "amount": "250.00",
        "currency": "EUR",
    },
    "sales.products": {
        "product_id": "PR1",
        "product_name": "Widget",
        "category": "Tools",
        "unit_cost": "2.5",
        "list_price": "4.99",
        "updated_at": UPDATED,
    },
    "sales.orders": {
        "order_id": "O1",
        "account_id": "A1",
        "ordered_at": "2026-10-01T09:00:00Z",
        "status": "fulfilled",
        "channel": "online",
        "region": "EU",
        "sales_rep_id": "U3",
        "currency": "EUR",
        "fulfilled_at": "2026-10-02T09:00:00Z",
        "updated_at": UPDATED,
    },
    "sales.order_lines": {
        "order_id": "O1",
        "line_number": "1",
        "product_id": "PR1",
        "quantity": "3",
        "unit_price": "4.99",
        "discount_amount": "0.5",
    },
    "sales.fx_rates": {"rate_date": "2026-10-01", "currency": "EUR", "usd_per_unit": "1.085"},
    "sales.sales_targets": {
        "target_month": "2026-10-01",
        "region": "EU",
        "revenue_target": "100000",
    },
    "ops.shipments": {
        "shipment_id": "S1",
        "order_id": "O1",
        "carrier": "DHL",
        "shipped_at": "2026-10-02T09:00:00Z",
        "promised_at": "2026-10-05T00:00:00Z",
        "delivered_at": "2026-10-04T12:00:00Z",
        "updated_at": UPDATED,
    },
    "ops.production_runs": {
        "run_id": "R1",
        "plant": "North",
        "product_id": "PR1",
        "started_at": "2026-10-01T06:00:00Z",
        "ended_at": "2026-10-01T14:00:00Z",
        "units_produced": "10",
        "units_defective": "1",
        "updated_at": UPDATED,
    },
    "ops.services": {
        "service_id": "SV1",
        "service_name": "Checkout",
        "tier": "tier_1",
        "availability_target": "0.999",
    },
    "ops.incidents": {
        "incident_id": "I1",
        "service_id": "SV1",
        "severity": "sev1",
        "is_outage": "true",
        "started_at": "2026-10-03T10:00:00Z",
        "resolved_at": "2026-10-03T11:30:00Z",
        "updated_at": UPDATED,
    },
    "ops.employees": {
        "employee_id": "E1",
        "full_name": "Ada Lovelace",
        "department": "Engineering",
        "team": "Platform",
        "region": "EU",
        "manager_id": "E0",
        "hired_at": "2024-03-01",
        "terminated_at": "",
        "updated_at": UPDATED,
    },
    "ops.attendance": {
        "employee_id": "E1",
        "work_date": "2026-10-01",
        "scheduled_hours": "8",
        "check_in_at": "2026-10-01T08:00:00Z",
        "check_out_at": "2026-10-01T16:30:00Z",
    },
}

SEGMENTS = "segment is not one of (smb, mid_market, enterprise)"


def ent(qualified: str) -> Entity:
    return entity(*qualified.split("."))


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def rows_of(qualified: str, *changes: dict[str, str]) -> str:
    """CSV text of the entity's valid row, once per ``changes`` (overrides of it)."""
    header = list(VALID[qualified])
    return csv_text(header, [[{**VALID[qualified], **c}[h] for h in header] for c in changes])


def expected_value(column: Column, text: str | None):
    """What the contract says a delivered text becomes once typed."""
    if text is None or text == "":
        return None
    value = text.strip()
    if column.type == "ts":
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
        return parsed
    if column.type == "date":
        return date.fromisoformat(value)
    if column.type == "decimal":
        return Decimal(value)
    if column.type == "integer":
        return int(value)
    if column.type == "boolean":
        return value.lower() in ("true", "1")
    return value if column.type == "enum" else text


@dataclass
class Warehouse:
    path: Path
    landing: Path
    con: duckdb.DuckDBPyConnection

    def folder(self, qualified: str) -> Path:
        folder = self.landing.joinpath(*qualified.split("."))
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def write(self, qualified: str, name: str, content: str | bytes) -> Path:
        path = self.folder(qualified) / name
        if isinstance(content, str):
            content = content.encode("utf-8")
        path.write_bytes(content)
        return path

    def write_parquet(self, qualified: str, name: str, table: pa.Table) -> Path:
        path = self.folder(qualified) / name
        pq.write_table(table, path)
        return path

    def load(self, qualified: str) -> ExtractResult:
        result = extract_entity(self.con, ent(qualified), self.landing, run_id="test")
        assert_accounting(self.con)
        return result

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        return self.con.execute(sql, params or []).fetchall()

    def raw(self, qualified: str, columns: str) -> list[tuple]:
        return self.query(
            f"select {columns} from {raw_table(ent(qualified))} order by _delivery_file, _file_row"
        )

    def quarantine(self, qualified: str) -> list[tuple]:
        """(delivery_file, file_row, reasons, record as a dict) of the entity."""
        system, name = qualified.split(".")
        rows = self.query(
            "select delivery_file, file_row, reasons, record from ingest.quarantine "
            "where system = ? and entity = ? order by delivery_file, file_row",
            [system, name],
        )
        return [(f, r, reasons, json.loads(record)) for f, r, reasons, record in rows]

    def snapshot(self, qualified: str) -> dict[str, list[tuple]]:
        tables = (raw_table(ent(qualified)), "ingest.delivery_files", "ingest.load_log")
        snap = {t: sorted(self.query(f"select * from {t}"), key=repr) for t in tables}
        snap["quarantine"] = sorted(self.query("select * from ingest.quarantine"), key=repr)
        return snap


def assert_accounting(con: duckdb.DuckDBPyConnection) -> None:
    """Every delivered row is loaded or quarantined, and the bookkeeping says so."""
    files = con.execute(
        "select system, entity, delivery_file, rows_delivered, rows_loaded, rows_quarantined "
        "from ingest.delivery_files"
    ).fetchall()
    for system, name, file, delivered, loaded, quarantined in files:
        assert delivered == loaded + quarantined, file
        in_raw = con.execute(
            f"select count(*) from raw_{system}.{name} where _delivery_file = ?", [file]
        ).fetchone()[0]
        in_quarantine = con.execute(
            "select count(*) from ingest.quarantine "
            "where system = ? and entity = ? and delivery_file = ?",
            [system, name, file],
        ).fetchone()[0]
        assert (in_raw, in_quarantine) == (loaded, quarantined), file
    known = {(s, e, f) for s, e, f, *_ in files}
    for e in ENTITIES:
        in_raw = con.execute(f"select distinct _delivery_file from {raw_table(e)}").fetchall()
        assert {(e.system, e.name, f) for (f,) in in_raw} <= known
    orphans = con.execute("select distinct system, entity, delivery_file from ingest.quarantine")
    assert set(orphans.fetchall()) <= known


@pytest.fixture
def wh(tmp_path) -> Iterator[Warehouse]:
    path = tmp_path / "warehouse.duckdb"
    con = connect(path)
    ensure_schema(con)
    warehouse = Warehouse(path, tmp_path / "landing", con)
    yield warehouse
    warehouse.con.close()


# --- valid rows -------------------------------------------------------------------------


@pytest.mark.parametrize("qualified", sorted(VALID))
def test_valid_row_of_every_entity_loads_typed(wh, qualified):
    e = ent(qualified)
    assert sorted(VALID) == sorted(x.qualified_name for x in ENTITIES)
    assert set(VALID[qualified]) == {c.name for c in e.columns}
    wh.write(qualified, "2026-10-30.csv", rows_of(qualified, {}))

    result = wh.load(qualified)

    columns = ", ".join(f'"{c.name}"' for c in e.columns)
    expected = tuple(expected_value(c, VALID[qualified][c.name]) for c in e.columns)
    assert wh.raw(qualified, columns) == [expected]
    assert wh.raw(qualified, "_delivery_file, _file_row, _extra") == [("2026-10-30.csv", 1, None)]
    assert wh.quarantine(qualified) == []
    assert (result.rows_in_table, result.rows_quarantined_total, result.warnings) == (1, 0, [])


def test_timestamps_are_converted_to_utc(wh):
    stamps = [
        ("2026-10-30T12:00:00+02:00", datetime(2026, 10, 30, 10, 0)),
        ("2026-10-30T02:00:00-08:00", datetime(2026, 10, 30, 10, 0)),
        ("2026-10-31T01:00:00+02:00", datetime(2026, 10, 30, 23, 0)),
        ("2026-10-30T12:00:00Z", datetime(2026, 10, 30, 12, 0)),
        ("2026-10-30T12:00:00", datetime(2026, 10, 30, 12, 0)),
        ("2026-10-30 12:00:00", datetime(2026, 10, 30, 12, 0)),
        ("2026-10-30T12:00:00.123456Z", datetime(2026, 10, 30, 12, 0, 0, 123456)),
        ("2026-10-30T12:00:00.5", datetime(2026, 10, 30, 12, 0, 0, 500000)),
        ("2026-10-30T14:00:00.250+02:00", datetime(2026, 10, 30, 12, 0, 0, 250000)),
    ]
    wh.write(
        "crm.accounts",
        "2026-10-30.csv",
        rows_of(
            "crm.accounts",
            *({"account_id": f"A{i}", "updated_at": s} for i, (s, _) in enumerate(stamps)),
        ),
    )

    wh.load("crm.accounts")

    assert wh.raw("crm.accounts", "updated_at") == [(utc,) for _, utc in stamps]


def test_booleans_integers_decimals_and_trimmed_enums(wh):
    flags = [("true", True), ("FALSE", False), ("1", True), ("0", False), ("True", True)]
    wh.write(
        "ops.incidents",
        "2026-10-30.csv",
        rows_of(
            "ops.incidents",
            *({"incident_id": f"I{i}", "is_outage": t} for i, (t, _) in enumerate(flags)),
        ),
    )
    wh.write(
        "crm.accounts",
        "2026-10-30.csv",
        rows_of(
            "crm.accounts",
            {"segment": " smb ", "account_name": " Acme "},
            {"account_id": "A2", "segment": "mid_market  "},
        ),
    )
    wh.write(
        "sales.order_lines",
        "2026-10-30.csv",
        rows_of(
            "sales.order_lines",
            {"line_number": "1", "quantity": "12", "unit_price": "12.5", "discount_amount": ""},
            {"line_number": "2", "quantity": "1", "unit_price": "0.0001", "discount_amount": "0"},
        ),
    )

    wh.load("ops.incidents")
    wh.load("crm.accounts")
    wh.load("sales.order_lines")

    assert wh.raw("ops.incidents", "is_outage") == [(b,) for _, b in flags]
    # Enums are compared and kept trimmed; other text is kept as delivered.
    assert wh.raw("crm.accounts", "segment, account_name") == [
        ("smb", " Acme "),
        ("mid_market", "Acme"),
    ]
    assert wh.raw("sales.order_lines", "line_number, quantity, unit_price, discount_amount") == [
        (1, 12, Decimal("12.5"), None),
        (2, 1, Decimal("0.0001"), Decimal("0")),
    ]
    for qualified in ("ops.incidents", "crm.accounts", "sales.order_lines"):
        assert wh.quarantine(qualified) == []


@pytest.mark.parametrize(
    ("qualified", "changes"),
    [
        ("crm.accounts", {"churned_at": "2026-01-01T00:00:00Z"}),  # equal to created_at
        ("crm.opportunities", {"stage": "proposal", "closed_at": ""}),
        ("crm.opportunities", {"amount": "0"}),
        ("crm.tickets", {"satisfaction_score": "1"}),
        ("crm.tickets", {"satisfaction_score": ""}),
        ("ops.services", {"availability_target": "1"}),
        ("ops.services", {"availability_target": "0.0001"}),
        ("ops.production_runs", {"units_defective": "10"}),
        ("ops.production_runs", {"units_defective": "0"}),
        ("ops.attendance", {"check_in_at": "", "check_out_at": "2026-10-01T07:00:00Z"}),
        ("ops.incidents", {"resolved_at": ""}),
        ("sales.order_lines", {"discount_amount": ""}),
        ("sales.sales_targets", {"target_month": "2026-02-01", "revenue_target": "0"}),
    ],
    ids=lambda v: v if isinstance(v, str) else ",".join(f"{k}={x}" for k, x in v.items()),
)
def test_boundary_values_that_are_valid(wh, qualified, changes):
    wh.write(qualified, "2026-10-30.csv", rows_of(qualified, changes))

    result = wh.load(qualified)

    assert (result.rows_in_table, wh.quarantine(qualified)) == (1, [])


# --- invalid rows ---------------------------------------------------------------------


INVALID = [
    # null primary key, whole or in part
    ("crm.accounts", {"account_id": ""}, "account_id is null (primary key)"),
    ("sales.order_lines", {"line_number": ""}, "line_number is null (primary key)"),
    ("sales.order_lines", {"order_id": ""}, "order_id is null (primary key)"),
    ("crm.marketing_spend", {"region": ""}, "region is null (primary key)"),
    ("sales.fx_rates", {"rate_date": ""}, "rate_date is null (primary key)"),
    # null required column
    ("crm.accounts", {"account_name": ""}, "account_name is required"),
    ("crm.accounts", {"segment": ""}, "segment is required"),
    ("crm.opportunities", {"amount": ""}, "amount is required"),
    ("ops.incidents", {"is_outage": ""}, "is_outage is required"),
    ("ops.employees", {"hired_at": ""}, "hired_at is required"),
    # values that do not parse as their type
    ("crm.accounts", {"created_at": "not-a-date"}, "created_at is not a valid ts"),
    ("crm.accounts", {"updated_at": "31/10/2026 14:00"}, "updated_at is not a valid ts"),
    ("crm.accounts", {"updated_at": "2026-02-30T10:00:00Z"}, "updated_at is not a valid ts"),
    # DuckDB itself would read these as timestamps; ISO 8601 has no such values.
    ("crm.accounts", {"updated_at": "infinity"}, "updated_at is not a valid ts"),
    ("crm.accounts", {"updated_at": "epoch"}, "updated_at is not a valid ts"),
    (
        "crm.accounts",
        {"updated_at": "2026-10-30 12:00 Europe/Paris"},
        "updated_at is not a valid ts",
    ),
    ("ops.employees", {"hired_at": "31.10.2026"}, "hired_at is not a valid date"),
    ("ops.employees", {"hired_at": "2026-02-30"}, "hired_at is not a valid date"),
    ("crm.marketing_spend", {"spend_date": "2026/10/01"}, "spend_date is not a valid date"),
    ("crm.opportunities", {"amount": "12,5"}, "amount is not a valid decimal"),
    ("crm.opportunities", {"amount": "ten"}, "amount is not a valid decimal"),
    ("crm.opportunities", {"amount": "1_000"}, "amount is not a valid decimal"),
    ("crm.opportunities", {"amount": "NaN"}, "amount is not a valid decimal"),
    ("sales.order_lines", {"quantity": "3.5"}, "quantity is not a valid integer"),
    ("sales.order_lines", {"line_number": "one"}, "line_number is not a valid integer"),
    ("ops.incidents", {"is_outage": "yes"}, "is_outage is not a valid boolean"),
    # optional columns must parse too when present
    ("crm.accounts", {"churned_at": "yesterday"}, "churned_at is not a valid ts"),
    ("crm.tickets", {"satisfaction_score": "great"}, "satisfaction_score is not a valid integer"),
    ("sales.order_lines", {"discount_amount": "n/a"}, "discount_amount is not a valid decimal"),
    ("ops.employees", {"terminated_at": "soon"}, "terminated_at is not a valid date"),
    # enums: outside the list, or the wrong case
    ("crm.accounts", {"segment": "SMB"}, SEGMENTS),
    ("crm.accounts", {"segment": "retail"}, SEGMENTS),
    (
        "crm.sla_policies",
        {"priority": "Urgent"},
        "priority is not one of (low, normal, high, urgent)",
    ),
    (
        "crm.marketing_spend",
        {"channel": "tv"},
        "channel is not one of (web, referral, event, paid_search, outbound)",
    ),
    # entity rules
    ("crm.accounts", {"churned_at": "2025-12-31T23:59:59Z"}, "churned_at before created_at"),
    ("crm.leads", {"converted_at": "2025-12-01T00:00:00Z"}, "converted_at before created_at"),
    ("crm.opportunities", {"closed_at": ""}, "closed stage without closed_at"),
    (
        "crm.opportunities",
        {"stage": "closed_lost", "closed_at": ""},
        "closed stage without closed_at",
    ),
    ("crm.opportunities", {"amount": "-0.01"}, "amount negative"),
    ("crm.tickets", {"satisfaction_score": "7"}, "satisfaction_score outside 1 to 5"),
    ("crm.tickets", {"satisfaction_score": "0"}, "satisfaction_score outside 1 to 5"),
    ("crm.tickets", {"resolved_at": "2025-12-31T00:00:00Z"}, "resolved_at before created_at"),
    ("crm.sla_policies", {"resolution_hours": "0"}, "resolution_hours not positive"),
    ("crm.marketing_spend", {"amount": "-5"}, "amount negative"),
    ("sales.products", {"unit_cost": "-1"}, "unit_cost negative"),
    ("sales.orders", {"fulfilled_at": "2026-09-30T00:00:00Z"}, "fulfilled_at before ordered_at"),
    ("sales.order_lines", {"quantity": "0"}, "quantity not positive"),
    ("sales.order_lines", {"unit_price": "-4.99"}, "unit_price negative"),
    ("sales.order_lines", {"discount_amount": "-0.5"}, "discount_amount negative"),
    ("sales.fx_rates", {"usd_per_unit": "0"}, "usd_per_unit not positive"),
    (
        "sales.sales_targets",
        {"target_month": "2026-10-15"},
        "target_month not the first day of a month",
    ),
    ("sales.sales_targets", {"revenue_target": "-1"}, "revenue_target negative"),
    ("ops.shipments", {"delivered_at": "2026-10-01T00:00:00Z"}, "delivered_at before shipped_at"),
    ("ops.production_runs", {"ended_at": "2026-10-01T05:00:00Z"}, "ended_at before started_at"),
    ("ops.production_runs", {"units_defective": "-1"}, "units_defective negative"),
    (
        "ops.production_runs",
        {"units_defective": "11"},
        "units_defective above units_produced",
    ),
    ("ops.services", {"availability_target": "0"}, "availability_target outside (0, 1]"),
    ("ops.services", {"availability_target": "1.5"}, "availability_target outside (0, 1]"),
    ("ops.incidents", {"resolved_at": "2026-10-03T09:59:59Z"}, "resolved_at before started_at"),
    ("ops.attendance", {"scheduled_hours": "-8"}, "scheduled_hours negative"),
    (
        "ops.attendance",
        {"check_out_at": "2026-10-01T07:00:00Z"},
        "check_out_at before check_in_at",
    ),
    # several defects at once: every reason, in column order, then the rules
    (
        "crm.accounts",
        {"account_name": "", "segment": "SMB", "churned_at": "2025-01-01T00:00:00Z"},
        f"account_name is required; {SEGMENTS}; churned_at before created_at",
    ),
]


@pytest.mark.parametrize(
    ("qualified", "changes", "reasons"),
    INVALID,
    ids=[f"{q}:{','.join(f'{k}={v}' for k, v in c.items())}" for q, c, _ in INVALID],
)
def test_invalid_row_is_quarantined_with_its_reasons(wh, qualified, changes, reasons):
    e = ent(qualified)
    wh.write(qualified, "2026-10-30.csv", rows_of(qualified, {}, changes))

    result = wh.load(qualified)

    assert wh.raw(qualified, "_delivery_file, _file_row") == [("2026-10-30.csv", 1)]
    delivered = {**VALID[qualified], **changes}
    record = {c.name: (delivered[c.name] or None) for c in e.columns}
    assert wh.quarantine(qualified) == [("2026-10-30.csv", 2, reasons, record)]
    [account] = result.files_loaded
    assert (account.rows_delivered, account.rows_loaded, account.rows_quarantined) == (2, 1, 1)
    assert (result.rows_in_table, result.rows_quarantined_total) == (1, 1)


# --- CSV details -----------------------------------------------------------------------


def test_csv_quoting_empty_fields_and_non_ascii_text(wh):
    # CRLF line ends as RFC 4180 writes them; a quoted field holds a comma, doubled
    # quotes and a line break.
    header = "account_id,account_name,industry,segment,region,owner_id,created_at,churned_at"
    when = "2026-01-01T00:00:00Z"
    content = (
        f"{header},updated_at\r\n"
        f'A1,"Smith, ""Jr"" & Co",,smb,EU,,{when},,{UPDATED}\r\n'
        f'A2,"Line one\r\nLine two","",enterprise,"EU",U9,{when},,{UPDATED}\r\n'
        f"A3,Café Müller — 東京 ✓,Bäckerei,mid_market,DACH,,{when},,{UPDATED}\r\n"
    )
    wh.write("crm.accounts", "2026-10-30.csv", content)

    wh.load("crm.accounts")

    assert wh.raw("crm.accounts", "account_id, account_name, industry, region, owner_id") == [
        ("A1", 'Smith, "Jr" & Co', None, "EU", None),
        ("A2", "Line one\r\nLine two", None, "EU", "U9"),
        ("A3", "Café Müller — 東京 ✓", "Bäckerei", "DACH", None),
    ]
    assert wh.raw("crm.accounts", "_file_row, updated_at") == [
        (1, datetime(2026, 10, 10)),
        (2, datetime(2026, 10, 10)),
        (3, datetime(2026, 10, 10)),
    ]


def test_csv_columns_in_any_order_any_case_with_extras_and_missing_optionals(wh):
    # No industry, owner_id or churned_at column; two unknown columns; mixed-case names.
    content = (
        "Updated_At,legacy_code,SEGMENT,Account_Name,region,created_at,ACCOUNT_ID,Notes\n"
        '2026-10-01T00:00:00Z,X-17,smb,Acme,EU,2026-01-01T00:00:00Z,A1,"keep, me"\n'
        "2026-10-01T00:00:00Z,,enterprise,Globex,US,2026-01-01T00:00:00Z,A2,plain\n"
        "2026-10-01T00:00:00Z,X-19,SMB,Initech,US,2026-01-01T00:00:00Z,A3,bad segment\n"
    )
    wh.write("crm.accounts", "2026-10-30.csv", content)

    result = wh.load("crm.accounts")

    assert wh.raw(
        "crm.accounts",
        "account_id, account_name, segment, region, industry, owner_id, churned_at, "
        "created_at, updated_at",
    ) == [
        ("A1", "Acme", "smb", "EU", None, None, None, datetime(2026, 1, 1), datetime(2026, 10, 1)),
        (
            "A2",
            "Globex",
            "enterprise",
            "US",
            None,
            None,
            None,
            datetime(2026, 1, 1),
            datetime(2026, 10, 1),
        ),
    ]
    extras = [json.loads(x) for (x,) in wh.raw("crm.accounts", "_extra")]
    assert extras == [
        {"legacy_code": "X-17", "Notes": "keep, me"},
        {"legacy_code": None, "Notes": "plain"},
    ]
    # The quarantined record keeps the extra columns too, as delivered.
    [(_, row, reasons, record)] = wh.quarantine("crm.accounts")
    assert (row, reasons) == (3, SEGMENTS)
    assert record == {
        "account_id": "A3",
        "account_name": "Initech",
        "industry": None,
        "segment": "SMB",
        "region": "US",
        "owner_id": None,
        "created_at": "2026-01-01T00:00:00Z",
        "churned_at": None,
        "updated_at": "2026-10-01T00:00:00Z",
        "legacy_code": "X-19",
        "Notes": "bad segment",
    }
    assert result.warnings == []


def test_csv_with_byte_order_mark_and_header_only(wh):
    wh.write("crm.accounts", "2026-10-30.csv", "\ufeff" + rows_of("crm.accounts", {}))
    wh.write("crm.accounts", "2026-10-31.csv", rows_of("crm.accounts"))

    result = wh.load("crm.accounts")

    assert wh.raw("crm.accounts", "account_id, _delivery_file") == [("A1", "2026-10-30.csv")]
    assert [(a.delivery_file, a.rows_delivered) for a in result.files_loaded] == [
        ("2026-10-30.csv", 1),
        ("2026-10-31.csv", 0),
    ]


def test_csv_with_an_unnamed_trailing_column(wh):
    # Spreadsheet exports often end every line with a comma.
    content = rows_of("crm.accounts", {}, {"account_id": "A2"}).replace("\n", ",\n")
    wh.write("crm.accounts", "2026-10-30.csv", content)

    result = wh.load("crm.accounts")

    assert wh.raw("crm.accounts", "account_id, _extra") == [("A1", None), ("A2", None)]
    assert result.rows_quarantined_total == 0


def test_csv_lines_with_the_wrong_number_of_fields_are_accounted_for(wh):
    header = ",".join(VALID["crm.accounts"])
    good = ",".join(VALID["crm.accounts"].values())
    wh.write("crm.accounts", "2026-10-30.csv", f"{header}\n{good}\n{good},surplus\n")
    wh.write("crm.accounts", "2026-10-31.csv", f"{header}\nA9,short\n{good}\n")

    result = wh.load("crm.accounts")

    accounts = {a.delivery_file: (a.rows_delivered, a.rows_loaded) for a in result.files_loaded}
    assert accounts == {"2026-10-30.csv": (2, 1), "2026-10-31.csv": (2, 1)}
    quarantined = wh.quarantine("crm.accounts")
    assert [(f, row) for f, row, *_ in quarantined] == [
        ("2026-10-30.csv", 2),
        ("2026-10-31.csv", 1),
    ]
    # The record keeps the delivered line as it was, the reasons say what is wrong with it.
    assert [list(record.values()) for *_, record in quarantined] == [
        [f"{good},surplus"],
        ["A9,short"],
    ]
    assert "too many columns" in quarantined[0][2]
    assert "missing columns" in quarantined[1][2]


# --- Parquet ---------------------------------------------------------------------------


def test_parquet_typed_and_string_columns_read_like_csv(wh):
    csv_rows = (
        "incident_id,service_id,severity,is_outage,started_at,resolved_at,updated_at\n"
        "I1,SV1,sev1,true,2026-10-03T12:00:00+02:00,2026-10-03T11:30:00,2026-10-04T00:00:00Z\n"
        "I2,SV2,sev3,false,2026-10-05T08:15:30.5Z,,2026-10-06T00:00:00Z\n"
    )
    typed = pa.table(
        {
            "incident_id": ["I1", "I2"],
            "service_id": ["SV1", "SV2"],
            "severity": ["sev1", "sev3"],
            "is_outage": pa.array([True, False]),
            # Zoned, naive and nanosecond timestamps all mean UTC instants.
            "started_at": pa.array(
                [datetime(2026, 10, 3, 10, 0), datetime(2026, 10, 5, 8, 15, 30, 500000)],
                pa.timestamp("us"),
            )
            .cast(pa.timestamp("us", tz="UTC"))
            .cast(pa.timestamp("us", tz="Europe/Paris")),
            "resolved_at": pa.array([datetime(2026, 10, 3, 11, 30), None], pa.timestamp("ms")),
            "updated_at": pa.array(
                [datetime(2026, 10, 4), datetime(2026, 10, 6)], pa.timestamp("ns")
            ),
        }
    )
    strings = pa.table(
        {
            "incident_id": ["I1", "I2"],
            "service_id": ["SV1", "SV2"],
            "severity": ["sev1", "sev3"],
            "is_outage": ["TRUE", "0"],
            "started_at": ["2026-10-03T12:00:00+02:00", "2026-10-05T08:15:30.5Z"],
            "resolved_at": ["2026-10-03T11:30:00", None],
            "updated_at": ["2026-10-04T00:00:00Z", "2026-10-06T00:00:00Z"],
        }
    )
    wh.write("ops.incidents", "a.csv", csv_rows)
    wh.write_parquet("ops.incidents", "b.parquet", typed)
    wh.write_parquet("ops.incidents", "c.parquet", strings)

    wh.load("ops.incidents")

    columns = "incident_id, service_id, severity, is_outage, started_at, resolved_at, updated_at"
    by_file = {
        f: wh.query(
            f"select {columns} from raw_ops.incidents where _delivery_file = ? order by _file_row",
            [f],
        )
        for f in ("a.csv", "b.parquet", "c.parquet")
    }
    assert by_file["a.csv"] == [
        (
            "I1",
            "SV1",
            "sev1",
            True,
            datetime(2026, 10, 3, 10, 0),
            datetime(2026, 10, 3, 11, 30),
            datetime(2026, 10, 4),
        ),
        (
            "I2",
            "SV2",
            "sev3",
            False,
            datetime(2026, 10, 5, 8, 15, 30, 500000),
            None,
            datetime(2026, 10, 6),
        ),
    ]
    assert by_file["b.parquet"] == by_file["a.csv"]
    assert by_file["c.parquet"] == by_file["a.csv"]
    assert wh.quarantine("ops.incidents") == []


def test_parquet_numbers_extras_and_invalid_values(wh):
    typed = pa.table(
        {
            "order_id": ["O1", "O1", "O1", "O1"],
            "line_number": pa.array([1, 2, 3, 4], pa.int64()),
            "product_id": ["PR1", "PR2", "PR3", "PR4"],
            # A float column: whole values are integers, 3.5 is not.
            "quantity": pa.array([3.0, 3.5, 2.0, 0.0], pa.float64()),
            "unit_price": pa.array([4.99, 1.5, 0.25, 1.0], pa.float64()),
            "discount_amount": pa.array(
                [Decimal("0.5000"), None, Decimal("0.1250"), None], pa.decimal128(18, 4)
            ),
            "batch": pa.array([7, 7, None, 7], pa.int32()),
        }
    )
    wh.write_parquet("sales.order_lines", "2026-10-30.parquet", typed)
    wh.write(
        "sales.order_lines",
        "2026-10-30.csv",
        "order_id,line_number,product_id,quantity,unit_price,discount_amount,batch\n"
        "O1,1,PR1,3,4.99,0.5,7\n"
        "O1,3,PR3,2,0.25,0.125,\n",
    )

    result = wh.load("sales.order_lines")

    columns = "line_number, product_id, quantity, unit_price, discount_amount"
    parquet_rows = wh.query(
        f"select {columns}, _extra from raw_sales.order_lines "
        "where _delivery_file = '2026-10-30.parquet' order by _file_row"
    )
    csv_rows = wh.query(
        f"select {columns}, _extra from raw_sales.order_lines "
        "where _delivery_file = '2026-10-30.csv' order by _file_row"
    )
    assert parquet_rows == [
        (1, "PR1", 3, Decimal("4.99"), Decimal("0.5"), '{"batch":"7"}'),
        (3, "PR3", 2, Decimal("0.25"), Decimal("0.125"), '{"batch":null}'),
    ]
    assert csv_rows == parquet_rows
    assert [(f, row, reasons) for f, row, reasons, _ in wh.quarantine("sales.order_lines")] == [
        ("2026-10-30.parquet", 2, "quantity is not a valid integer"),
        ("2026-10-30.parquet", 4, "quantity not positive"),
    ]
    record = wh.quarantine("sales.order_lines")[0][3]
    assert record["quantity"] == "3.5"
    assert record["order_id"] == "O1"
    assert [(a.delivery_file, a.rows_delivered, a.rows_loaded) for a in result.files_loaded] == [
        ("2026-10-30.csv", 2, 2),
        ("2026-10-30.parquet", 4, 2),
    ]


def test_parquet_dates_and_decimals(wh):
    q = "sales.fx_rates"
    wh.write(
        q, "a.csv", "rate_date,currency,usd_per_unit\n2026-10-01,EUR,1.085\n2026-10-02,GBP,1.27\n"
    )
    wh.write_parquet(
        q,
        "b.parquet",
        pa.table(
            {
                "rate_date": pa.array([date(2026, 10, 1), date(2026, 10, 2)], pa.date32()),
                "currency": ["EUR", "GBP"],
                "usd_per_unit": pa.array([Decimal("1.085"), Decimal("1.27")], pa.decimal128(9, 4)),
            }
        ),
    )

    wh.load(q)

    rows = wh.raw(q, "_delivery_file, rate_date, currency, usd_per_unit")
    assert [r[1:] for r in rows if r[0] == "b.parquet"] == [r[1:] for r in rows if r[0] == "a.csv"]
    assert [r[1:] for r in rows if r[0] == "a.csv"] == [
        (date(2026, 10, 1), "EUR", Decimal("1.085")),
        (date(2026, 10, 2), "GBP", Decimal("1.27")),
    ]


# --- accounting ------------------------------------------------------------------------


def test_accounting_per_file(wh):
    q = "crm.tickets"
    wh.write(q, "2026-10-30.csv", rows_of(q, {}, {"ticket_id": "T2"}, {"satisfaction_score": "9"}))
    wh.write(q, "2026-10-31.csv", rows_of(q, {"ticket_id": ""}, {"priority": "p1"}))
    wh.write_parquet(
        q,
        "2026-11-01.parquet",
        pa.table({k: [v, v, v] for k, v in VALID[q].items()}).set_column(
            0, "ticket_id", pa.array(["T3", "T4", "T5"])
        ),
    )

    result = wh.load(q)

    expected = [
        ("2026-10-30.csv", 3, 2, 1),
        ("2026-10-31.csv", 2, 0, 2),
        ("2026-11-01.parquet", 3, 3, 0),
    ]
    assert [
        (a.delivery_file, a.rows_delivered, a.rows_loaded, a.rows_quarantined)
        for a in result.files_loaded
    ] == expected
    assert (
        wh.query(
            "select delivery_file, rows_delivered, rows_loaded, rows_quarantined "
            "from ingest.delivery_files order by delivery_file"
        )
        == expected
    )
    assert (result.files_seen, result.rows_in_table, result.rows_quarantined_total) == (3, 5, 3)
    assert wh.query(
        "select delivery_file, action, rows_delivered, rows_loaded, rows_quarantined, run_id "
        "from ingest.load_log order by delivery_file"
    ) == [(f, "loaded", d, v, i, "test") for f, d, v, i in expected]


# --- unreadable deliveries -------------------------------------------------------------


def _assert_one_sentence(message: str, *parts: str) -> None:
    assert "\n" not in message
    assert message.endswith(".")
    for part in parts:
        assert part in message


def test_missing_required_column_fails_and_changes_nothing(wh):
    q = "crm.accounts"
    wh.write(q, "2026-10-30.csv", rows_of(q, {}, {"account_id": "A2", "segment": "SMB"}))
    wh.load(q)
    before = wh.snapshot(q)
    assert len(before[raw_table(ent(q))]) == 1

    # A changed earlier file is unloaded first; the broken file must undo that too.
    wh.write(q, "2026-10-30.csv", rows_of(q, {"account_id": "A7"}))
    lacking = [c for c in VALID[q] if c != "region"]
    wh.write(q, "2026-10-31.csv", csv_text(lacking, [[VALID[q][c] for c in lacking]]))

    with pytest.raises(DeliveryError) as raised:
        wh.load(q)

    _assert_one_sentence(str(raised.value), "2026-10-31.csv", "region")
    assert wh.snapshot(q) == before


def test_missing_key_column_in_parquet_fails(wh):
    q = "sales.order_lines"
    wh.write(q, "2026-10-30.csv", rows_of(q, {}))
    wh.load(q)
    before = wh.snapshot(q)
    table = pa.table({k: [v] for k, v in VALID[q].items() if k != "line_number"})
    wh.write_parquet(q, "2026-10-31.parquet", table)

    with pytest.raises(DeliveryError) as raised:
        wh.load(q)

    _assert_one_sentence(str(raised.value), "2026-10-31.parquet", "line_number")
    assert wh.snapshot(q) == before


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("2026-10-31.txt", "account_id\nA1\n"),
        ("2026-10-31.json", '[{"account_id": "A1"}]'),
        ("2026-10-31.parquet", b"PAR1 this is not a parquet file PAR1"),
        ("2026-10-31.csv", b""),
        # Latin-1 in the header: not even the column names can be read.
        ("2026-10-31.csv", "account_id,Straße\nA1,x\n".encode("latin-1")),
    ],
    ids=["txt", "json", "corrupt-parquet", "empty-csv", "not-utf8-csv"],
)
def test_unreadable_delivery_fails_and_changes_nothing(wh, name, content):
    q = "crm.accounts"
    wh.write(q, "2026-10-30.csv", rows_of(q, {}))
    wh.load(q)
    before = wh.snapshot(q)
    wh.write(q, name, content)

    with pytest.raises(DeliveryError) as raised:
        wh.load(q)

    _assert_one_sentence(str(raised.value), name)
    assert wh.snapshot(q) == before


def test_hidden_files_are_not_deliveries(wh):
    q = "crm.accounts"
    wh.write(q, "2026-10-30.csv", rows_of(q, {}))
    wh.write(q, ".2026-10-30.csv.swp", "junk")

    result = wh.load(q)

    assert (result.files_seen, result.rows_in_table) == (1, 1)


# --- empty and missing entities ----------------------------------------------------------


def test_missing_entity_folder_is_an_empty_entity(wh):
    wh.landing.mkdir()

    result = wh.load("crm.leads")

    assert len(result.warnings) == 1
    assert "crm.leads" in result.warnings[0]
    assert (result.files_seen, result.rows_in_table, result.changed) == (0, 0, False)


def test_empty_entity_folder_is_an_empty_entity(wh):
    wh.folder("ops.services")

    result = wh.load("ops.services")

    assert len(result.warnings) == 1
    assert "ops.services" in result.warnings[0]
    assert wh.raw("ops.services", "*") == []


# --- incremental and idempotent loads ----------------------------------------------------


def _counts(wh: Warehouse, qualified: str) -> tuple[int, int, int, int]:
    return wh.query(
        f"select (select count(*) from {raw_table(ent(qualified))}), "
        "(select count(*) from ingest.quarantine), (select count(*) from ingest.delivery_files), "
        "(select count(*) from ingest.load_log)"
    )[0]


def test_loading_twice_changes_nothing(wh):
    q = "crm.accounts"
    first = wh.write(q, "2026-10-30.csv", rows_of(q, {}, {"account_id": "A2", "segment": "x"}))
    wh.load(q)
    before = wh.snapshot(q)
    first.touch()  # a newer modification time alone is not a change

    result = wh.load(q)

    assert (result.changed, result.files_loaded, result.files_unloaded) == (False, [], [])
    assert (result.rows_in_table, result.rows_quarantined_total) == (1, 1)
    assert wh.snapshot(q) == before


def test_new_delivery_loads_only_itself(wh):
    q = "crm.accounts"
    wh.write(q, "2026-10-30.csv", rows_of(q, {}, {"account_id": "A2"}))
    wh.load(q)
    earlier = wh.raw(q, "account_id, _loaded_at")
    wh.write(q, "2026-10-31.csv", rows_of(q, {"account_id": "A3"}, {"account_id": ""}))

    result = wh.load(q)

    assert [a.delivery_file for a in result.files_loaded] == ["2026-10-31.csv"]
    assert result.files_unloaded == []
    assert wh.raw(q, "account_id, _loaded_at")[:2] == earlier
    assert wh.raw(q, "account_id, _delivery_file") == [
        ("A1", "2026-10-30.csv"),
        ("A2", "2026-10-30.csv"),
        ("A3", "2026-10-31.csv"),
    ]
    assert _counts(wh, q) == (3, 1, 2, 2)


def test_changed_delivery_is_reloaded(wh):
    q = "crm.accounts"
    wh.write(q, "2026-10-30.csv", rows_of(q, {}, {"account_id": "A2", "segment": "bad"}))
    wh.write(q, "2026-10-31.csv", rows_of(q, {"account_id": "B1"}))
    wh.load(q)
    wh.write(q, "2026-10-30.csv", rows_of(q, {"account_id": "A9"}))

    result = wh.load(q)

    assert result.files_unloaded == ["2026-10-30.csv"]
    assert [a.delivery_file for a in result.files_loaded] == ["2026-10-30.csv"]
    assert wh.raw(q, "account_id, _delivery_file") == [
        ("A9", "2026-10-30.csv"),
        ("B1", "2026-10-31.csv"),
    ]
    assert wh.quarantine(q) == []
    assert wh.query("select action from ingest.load_log order by logged_at, action desc") == [
        ("loaded",),
        ("loaded",),
        ("unloaded",),
        ("loaded",),
    ]


def test_deleted_delivery_is_unloaded(wh):
    q = "crm.accounts"
    gone = wh.write(q, "2026-10-30.csv", rows_of(q, {}, {"account_id": "A2", "segment": "bad"}))
    wh.write(q, "2026-10-31.csv", rows_of(q, {"account_id": "B1"}))
    wh.load(q)
    gone.unlink()

    result = wh.load(q)

    assert (result.files_unloaded, result.files_loaded) == (["2026-10-30.csv"], [])
    assert wh.raw(q, "account_id") == [("B1",)]
    assert wh.quarantine(q) == []
    assert wh.query("select delivery_file from ingest.delivery_files") == [("2026-10-31.csv",)]
    assert _counts(wh, q) == (1, 0, 1, 3)

    (wh.folder(q) / "2026-10-31.csv").unlink()
    result = wh.load(q)

    assert result.files_unloaded == ["2026-10-31.csv"]
    assert len(result.warnings) == 1
    assert _counts(wh, q) == (0, 0, 0, 4)


# --- deduplication, through the staging models -------------------------------------------


@pytest.mark.slow  # dbt builds the staging models
def test_staging_keeps_one_row_per_key_in_contract_order(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    con = connect(path)
    ensure_schema(con)
    wh = Warehouse(path, tmp_path / "landing", con)

    def account(key: str, name: str, updated_at: str, **changes: str) -> dict[str, str]:
        return {"account_id": key, "account_name": name, "updated_at": updated_at, **changes}

    early, late = "2026-10-01T00:00:00Z", "2026-10-05T00:00:00Z"
    q = "crm.accounts"
    wh.write(
        q,
        "2026-10-30.csv",
        rows_of(
            q,
            account("K1", "K1 greatest updated_at", late),
            account("K2", "K2 earlier delivery", early),
            account("K5", "K5 valid", early),
            account("K6", "K6 later in UTC", "2026-10-05T11:00:00Z"),
            account("K7", "K7 earlier delivery", "2026-10-05T12:00:00+02:00"),
        ),
    )
    wh.write(
        q,
        "2026-10-31.csv",
        rows_of(
            q,
            account("K1", "K1 later delivery", early),
            account("K2", "K2 later delivery", early),
            account("K3", "K3 first row", early),
            account("K3", "K3 second row", early),
            account("K3", "K3 third row, older", "2026-09-01T00:00:00Z"),
            account("K5", "K5 invalid", late, segment="SMB"),
            account("K6", "K6 later-looking local time", "2026-10-05T12:00:00+02:00"),
            account("K7", "K7 later delivery", "2026-10-05T10:00:00Z"),
        ),
    )
    # Byte order: upper case sorts before lower case, so a.csv is the later delivery.
    wh.write(q, "B.csv", rows_of(q, account("K4", "K4 from B", early)))
    wh.write(q, "a.csv", rows_of(q, account("K4", "K4 from a", early)))

    q = "sales.order_lines"

    def line(order: str, number: str, quantity: str) -> dict[str, str]:
        return {"order_id": order, "line_number": number, "quantity": quantity}

    wh.write(
        q,
        "2026-10-30.csv",
        rows_of(
            q,
            line("O1", "1", "1"),
            line("O1", "2", "5"),
            line("O1", "3", "7"),
            line("O2", "1", "9"),
        ),
    )
    wh.write(
        q,
        "2026-10-31.csv",
        rows_of(
            q,
            line("O1", "01", "2"),
            line("O1", "2", "6"),
            line("O1", "2", "8"),
            line("O1", "3", "0"),
        ),
    )
    wh.write(q, "B.csv", rows_of(q, line("O3", "1", "1")))
    wh.write(q, "a.csv", rows_of(q, line("O3", "1", "2")))

    q = "crm.sla_policies"
    wh.write(
        q,
        "2026-10-30.csv",
        "priority,first_response_hours,resolution_hours\nhigh,4,24\nurgent,1,8\n",
    )
    wh.write_parquet(
        q,
        "2026-10-31.parquet",
        pa.table(
            {
                "priority": ["high", "urgent"],
                "first_response_hours": [8.0, 0.0],
                "resolution_hours": [48.0, 8.0],
            }
        ),
    )

    for qualified in ("crm.accounts", "sales.order_lines", "crm.sla_policies"):
        wh.load(qualified)
    con.close()
    dbt(["run", "--select", "staging"], path)
    con = connect(path, read_only=True)
    try:
        accounts = con.execute(
            "select account_id, account_name, _delivery_file from staging.stg_crm__accounts "
            "order by account_id"
        ).fetchall()
        lines = con.execute(
            "select order_id, line_number, quantity, _delivery_file "
            "from staging.stg_sales__order_lines order by order_id, line_number"
        ).fetchall()
        policies = con.execute(
            "select priority, first_response_hours, resolution_hours, _delivery_file "
            "from staging.stg_crm__sla_policies order by priority"
        ).fetchall()
    finally:
        con.close()

    assert accounts == [
        ("K1", "K1 greatest updated_at", "2026-10-30.csv"),
        ("K2", "K2 later delivery", "2026-10-31.csv"),
        ("K3", "K3 second row", "2026-10-31.csv"),
        ("K4", "K4 from a", "a.csv"),
        ("K5", "K5 valid", "2026-10-30.csv"),
        ("K6", "K6 later in UTC", "2026-10-30.csv"),
        ("K7", "K7 later delivery", "2026-10-31.csv"),
    ]
    assert lines == [
        ("O1", 1, 2, "2026-10-31.csv"),
        ("O1", 2, 8, "2026-10-31.csv"),
        ("O1", 3, 7, "2026-10-30.csv"),
        ("O2", 1, 9, "2026-10-30.csv"),
        ("O3", 1, 2, "a.csv"),
    ]
    assert policies == [
        ("high", Decimal("8"), Decimal("48"), "2026-10-31.parquet"),
        ("urgent", Decimal("1"), Decimal("8"), "2026-10-30.csv"),
    ]


def test_warehouse_connections_bound_duckdb_memory(tmp_path, monkeypatch):
    def limit(con) -> str:
        return con.execute("select current_setting('memory_limit')").fetchone()[0]

    con = connect(tmp_path / "default.duckdb")
    assert limit(con) == "953.6 MiB"  # the 1GB default (DuckDB reports binary units)
    con.close()

    monkeypatch.setenv("KPI_DUCKDB_MEMORY_LIMIT", "2GB")
    con = connect(tmp_path / "configured.duckdb")
    assert limit(con) == "1.8 GiB"
    con.close()

    monkeypatch.setenv("KPI_DUCKDB_MEMORY_LIMIT", "lots")
    with pytest.raises(ValueError, match="KPI_DUCKDB_MEMORY_LIMIT is 'lots'"):
        connect(tmp_path / "bad.duckdb")
    assert not (tmp_path / "bad.duckdb").exists()
