"""``kpi-warehouse docs`` serves the dbt docs and the Data Docs over HTTP on loopback.

The real command runs on an ephemeral port against Data Docs built by a real validation;
real requests fetch both sites. Links in the pipeline's metadata start at KPI_DOCS_URL.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import duckdb
import pytest

from expectations.rules import Rule
from expectations.runner import validate
from orchestration.docs_server import data_docs_url

CLI = [sys.executable, "-m", "orchestration.cli"]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("docs_server")
    warehouse = root / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("create table t as select range as id, range % 10 as v from range(100)")
    con.close()
    rule = Rule(
        suite="sales.orders",
        table="t",
        name="big_values",
        kind="test",
        severity="warn",
        description="No value above 8.",
        summary="{records} records on {days}",
        sql="select date '2025-01-01' as day, count(*) as records, min(id::varchar) as example "
        "from {batch} where v > 8 group by 1",
    )
    run = validate(warehouse, [rule], root / "gx", run_name="served")
    env = {**os.environ, "KPI_GX_DIR": str(root / "gx"), "KPI_WAREHOUSE_PATH": str(warehouse)}
    server = subprocess.Popen(
        [*CLI, "docs", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = server.stdout.readline()
        assert line.startswith("serving the docs at http://127.0.0.1:"), server.stderr.read()
        base = line.split()[4].rstrip("/")
        yield {"base": base, "run": run, "gx": root / "gx"}
    finally:
        # SIGTERM, then SIGKILL: a server the kernel has not stopped within 30 s (it was
        # seen once, on a loaded CI machine) must not fail the tests that used it.
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=30)
        server.kill()
        server.wait(timeout=30)


def test_the_index_links_both_sites(served):
    status, body = _get(served["base"] + "/")
    assert status == 200
    assert b'href="/dbt/"' in body and b'href="/quality/"' in body


def test_the_dbt_docs_are_served_under_dbt(served):
    status, body = _get(served["base"] + "/dbt/")
    assert status == 200 and b"dbt" in body
    status, body = _get(served["base"] + "/dbt/manifest.json")
    assert status == 200
    nodes = json.loads(body)["nodes"]
    assert any(node.endswith(".kpi_values") for node in nodes)
    status, _ = _get(served["base"] + "/dbt/catalog.json")
    assert status == 200


def test_the_data_docs_are_served_under_quality_with_their_assets(served):
    status, body = _get(served["base"] + "/quality/index.html")
    assert status == 200 and b"raw.sales.orders" in body
    (outcome,) = served["run"].outcomes
    page = Path(outcome.docs_page).relative_to(served["gx"] / "data_docs").as_posix()
    status, body = _get(f"{served['base']}/quality/{page}")
    assert status == 200 and b"1 day with unexpected records (10 records)" in body
    status, body = _get(served["base"] + "/quality/static/vendor/jquery/jquery.min.js")
    assert status == 200 and b"jQuery" in body[:200]


def test_nothing_outside_the_two_sites_is_served(served):
    for path in ("/pyproject.toml", "/dbt/../../pyproject.toml", "/quality/%2e%2e/validations/"):
        status, _ = _get(served["base"] + path)
        assert status == 404, path


def test_data_docs_links_start_at_kpi_docs_url(tmp_path, monkeypatch):
    page = tmp_path / "data_docs" / "validations" / "raw" / "sales" / "orders" / "r 1" / "p.html"
    monkeypatch.setenv("KPI_DOCS_URL", "https://docs.example.internal/kpi/")
    assert data_docs_url(tmp_path, page) == (
        "https://docs.example.internal/kpi/quality/validations/raw/sales/orders/r%201/p.html"
    )
    assert data_docs_url(tmp_path) == "https://docs.example.internal/kpi/quality/index.html"
    monkeypatch.delenv("KPI_DOCS_URL")
    assert data_docs_url(tmp_path) == "http://127.0.0.1:8080/quality/index.html"
