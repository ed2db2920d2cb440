"""The MetricFlow semantic layer answers, and its answers equal the governed table.

One warehouse is built by the real command line on generated data; MetricFlow (the
open-source engine, the same one ``mf`` runs) compiles every query against the dbt
project's semantic manifest, and its SQL runs on that warehouse. Every expressible KPI is
compared with ``kpi.kpi_values`` at every grain, for ``all`` and for every slice: the
values must be equal, not close.

How exactness is checked: ``kpi_values`` holds doubles cast from the exact sums of the
``fct_kpi_*`` models (DECIMAL money, integer counts and microseconds). MetricFlow sums the
same DECIMAL and integer columns, so its sums are compared with the fct_kpi_* sums as
DECIMAL/integers, and its values with ``kpi_values.value`` after DuckDB casts both sides
the same way (DECIMAL -> DOUBLE); a ratio's numerator and denominator are compared too.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from orchestration.kpis import semantic
from tests.conftest import BIN, DBT_DIR, dbt, dbt_target_path

pytestmark = pytest.mark.slow

GRAINS = ("day", "week", "month", "quarter", "year")
# The kpi_values numerator of a duration KPI is the exact integer sum converted once.
DURATION_DIVISORS = {
    kpi_id: spec.us_per_unit for kpi_id, spec in semantic.KPI_METRICS.items() if spec.us_per_unit
}
# Money KPIs: the fct_kpi_* models keep the exact DECIMAL sums.
DECIMAL_NUMERATORS = {"revenue", "average_order_value", "gross_margin_rate", "cost_per_lead"}
DECIMAL_DENOMINATORS = {"gross_margin_rate"}

_EXPLAIN = """
import json, pathlib, sys
from dbt_metricflow.cli.cli_configuration import CLIConfiguration
from metricflow.engine.metricflow_engine import MetricFlowQueryRequest

cfg = CLIConfiguration()
project = pathlib.Path(sys.argv[1])
cfg.setup(dbt_profiles_path=project, dbt_project_path=project, configure_file_logging=False)
out = []
for metrics, group_by in json.load(sys.stdin):
    request = MetricFlowQueryRequest.create(metric_names=metrics, group_by_names=group_by)
    out.append(cfg.mf.explain(mf_request=request).sql_statement.without_descriptions.sql)
json.dump(out, sys.stdout)
"""


def _env(warehouse: Path) -> dict[str, str]:
    return {
        **os.environ,
        "KPI_WAREHOUSE_PATH": str(warehouse),
        "DBT_PROFILES_DIR": str(DBT_DIR),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def explain(warehouse: Path, queries: list[tuple[list[str], list[str]]]) -> list[str]:
    """MetricFlow's SQL for each (metrics, group_by) query.

    In a child process: the dbt adapter MetricFlow opens holds the DuckDB file with a
    configuration this process's read-only connection cannot share.
    """
    result = subprocess.run(
        [sys.executable, "-c", _EXPLAIN, str(DBT_DIR)],
        input=json.dumps(queries),
        capture_output=True,
        text=True,
        cwd=DBT_DIR,
        env=_env(warehouse),
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def dagster_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("mf_dagster_home")
    (home / "dagster.yaml").write_text("")
    return home


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory, dagster_home) -> Path:
    from orchestration.demo.generator import generate

    landing = tmp_path_factory.mktemp("mf_landing")
    generate(landing, scale=0.02, seed=5)
    path = tmp_path_factory.mktemp("mf_wh") / "warehouse.duckdb"
    # A persistent instance keeps the run's materializations for the metadata test, which
    # also reads the built column types.
    result = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "run"]
        + ["--landing-dir", str(landing), "--warehouse", str(path)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "DAGSTER_HOME": str(dagster_home), "KPI_DBT_FETCH_METADATA": "all"},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    # MetricFlow reads target/semantic_manifest.json, which `dbt parse` writes (into this
    # test process's own target folder: it is moved into place whole).
    dbt(["parse"], path)
    parsed = DBT_DIR / dbt_target_path() / "semantic_manifest.json"
    staged = DBT_DIR / "target" / f"semantic_manifest.json.{os.getpid()}.tmp"
    shutil.copyfile(parsed, staged)
    os.replace(staged, DBT_DIR / "target" / "semantic_manifest.json")
    return path


@pytest.fixture(scope="module")
def registry() -> dict[str, dict]:
    return semantic.load_registry()


def _queries(registry) -> list[dict]:
    """One query per expressible KPI, grain and slice (``all`` included)."""
    queries = []
    for kpi_id, spec in semantic.KPI_METRICS.items():
        metrics = [kpi_id] + ([spec.numerator, spec.denominator] if spec.denominator else [])
        slices = {"all": None, **semantic.group_by_names(kpi_id, registry)}
        for grain in GRAINS:
            for dimension, group_by in slices.items():
                queries.append(
                    {
                        "kpi_id": kpi_id,
                        "grain": grain,
                        "dimension": dimension,
                        "group_by": group_by,
                        "metrics": metrics,
                        "request": (
                            metrics,
                            [f"metric_time__{grain}"] + ([group_by] if group_by else []),
                        ),
                    }
                )
    return queries


def _comparison_sql(q: dict, mf_sql: str) -> str:
    kpi_id, grain, dimension = q["kpi_id"], q["grain"], q["dimension"]
    spec = semantic.KPI_METRICS[kpi_id]
    slice_value = q["group_by"] or "'all'"
    checks = [f"kv.value is not distinct from cast(mf.{kpi_id} as double)"]
    if spec.denominator:
        num, den = f"mf.{spec.numerator}", f"mf.{spec.denominator}"
        if spec.us_per_unit:
            checks.append(f"kv.numerator = cast({num} as double) / {spec.us_per_unit}")
        else:
            checks.append(f"kv.numerator = cast({num} as double)")
        checks.append(f"kv.denominator = cast({den} as double)")
        if kpi_id in DECIMAL_NUMERATORS:
            checks.append(f"{num} = coalesce(fct.numerator, 0)")
        if kpi_id in DECIMAL_DENOMINATORS:
            checks.append(f"{den} = coalesce(fct.denominator, 0)")
    else:
        checks.append(f"mf.{kpi_id} = coalesce(fct.numerator, 0)")
    equal = " and ".join(f"coalesce({c}, false)" for c in checks)
    # A sum joins MetricFlow's time spine (a period without records reads 0, as in
    # kpi_values); grouped by a slice, those filler rows have no slice value.
    filler = (
        f"where not ({q['group_by']} is null and {kpi_id} = 0)"
        if q["group_by"] and not spec.denominator
        else ""
    )
    return f"""
        with mf as ({mf_sql}),
        mf_keyed as (
            select cast(metric_time__{grain} as date) as period_start,
                   {slice_value} as dimension_value, *
            from mf
            {filler}
        ),
        kv as (
            select * from kpi.kpi_values
            where kpi_id = '{kpi_id}' and grain = '{grain}' and dimension = '{dimension}'
        ),
        fct as (
            select * from marts.fct_kpi_{kpi_id}
            where grain = '{grain}' and dimension = '{dimension}'
        )
        select
            count(*) filter (where mf.period_start is not null and kv.period_start is not null
                             and kv.value is not null and kv.value <> 0) as compared,
            count(*) filter (where mf.period_start is null
                             and (kv.numerator <> 0 or coalesce(kv.denominator, 0) <> 0))
                as missing_in_metricflow,
            count(*) filter (where mf.period_start is not null and kv.period_start is null)
                as missing_in_kpi_values,
            count(*) filter (where mf.period_start is not null and kv.period_start is not null
                             and not ({equal})) as different,
            min(kv.period_start) filter (where mf.period_start is not null
                                         and kv.period_start is not null
                                         and not ({equal})) as first_different
        from mf_keyed as mf
        full outer join kv
            on mf.period_start = kv.period_start and mf.dimension_value = kv.dimension_value
        left join fct
            on fct.period_start = coalesce(mf.period_start, kv.period_start)
            and fct.dimension_value = coalesce(mf.dimension_value, kv.dimension_value)
    """


def test_every_expressible_kpi_equals_kpi_values_at_every_grain_and_slice(warehouse, registry):
    queries = _queries(registry)
    sqls = explain(warehouse, [q["request"] for q in queries])
    problems = []
    compared_total = 0
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        for q, mf_sql in zip(queries, sqls, strict=True):
            compared, missing_mf, missing_kv, different, first = con.execute(
                _comparison_sql(q, mf_sql)
            ).fetchone()
            label = f"{q['kpi_id']} {q['grain']} {q['dimension']}"
            if missing_mf or missing_kv or different:
                problems.append(
                    f"{label}: {different} different (first {first}), {missing_mf} missing in "
                    f"MetricFlow, {missing_kv} missing in kpi_values"
                )
            if q["grain"] in ("month", "year") and not compared:
                problems.append(f"{label}: nothing to compare")
            compared_total += compared
    finally:
        con.close()
    assert not problems, "\n".join(problems)
    assert compared_total > 5000


def test_every_kpi_is_either_a_metric_or_documented_as_served_from_kpi_values(registry):
    assert set(semantic.KPI_METRICS) | set(semantic.NOT_EXPRESSIBLE) == set(registry)
    assert not set(semantic.KPI_METRICS) & set(semantic.NOT_EXPRESSIBLE)
    readme = (DBT_DIR.parent / "README.md").read_text()
    section = readme.split("## Governed metrics (MetricFlow)", 1)[1].split("\n## ", 1)[0]
    for kpi_id in registry:
        assert f"`{kpi_id}`" in section, kpi_id


def test_a_two_dimension_query_equals_sql_written_independently(warehouse):
    (revenue_sql, win_rate_sql) = explain(
        warehouse,
        [
            (["revenue"], ["metric_time__month", "order__region", "order__channel"]),
            (
                ["win_rate"],
                [
                    "metric_time__quarter",
                    "closed_opportunity__segment",
                    "closed_opportunity__region",
                ],
            ),
        ],
    )
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        revenue_diff = con.execute(
            f"""
            with mf as ({revenue_sql}),
            expected as (
                select
                    date_trunc('month', ordered_at) as month,
                    coalesce(region, 'unknown') as region,
                    coalesce(channel, 'unknown') as channel,
                    sum(revenue_usd) as revenue
                from marts.fct_orders
                where status in ('placed', 'fulfilled') and usd_per_unit is not null
                group by all
            )
            select count(*) filter (where mf.revenue is distinct from expected.revenue),
                   count(*) filter (where expected.revenue is not null)
            from mf full outer join expected
                on mf.metric_time__month = expected.month
                and mf.order__region = expected.region
                and mf.order__channel = expected.channel
            -- MetricFlow has no row for a combination without any order.
            where mf.revenue <> 0 or expected.revenue is not null
            """
        ).fetchone()
        win_rate_diff = con.execute(
            f"""
            with mf as ({win_rate_sql}),
            expected as (
                select
                    date_trunc('quarter', o.closed_at) as quarter,
                    coalesce(a.segment, 'unknown') as segment,
                    coalesce(a.region, 'unknown') as region,
                    cast(count(*) filter (where o.stage = 'closed_won') as double)
                        / count(*) as win_rate
                from intermediate.int_opportunities__as_of as o
                left join intermediate.int_accounts__as_of as a on o.account_id = a.account_id
                where o.stage in ('closed_won', 'closed_lost') and o.closed_at is not null
                group by all
            )
            select count(*) filter (where mf.win_rate is distinct from expected.win_rate),
                   count(*) filter (where expected.win_rate is not null)
            from mf full outer join expected
                on mf.metric_time__quarter = expected.quarter
                and mf.closed_opportunity__segment = expected.segment
                and mf.closed_opportunity__region = expected.region
            """
        ).fetchone()
    finally:
        con.close()
    assert revenue_diff[0] == 0 and revenue_diff[1] > 50, revenue_diff
    assert win_rate_diff[0] == 0 and win_rate_diff[1] > 10, win_rate_diff


def test_any_combination_of_dimensions_adds_up_to_the_company(warehouse):
    """Each KPI's sums grouped by every dimension of its fact at once add up, per month,
    exactly to its ``all`` row."""
    queries, kpis = [], []
    for spec in semantic.KPI_METRICS.values():
        model = next(m for m in semantic.SEMANTIC_MODELS if m.name == spec.semantic_model)
        group_by = [f"{model.entity}__{d}" for d in model.dimensions]
        sums = [spec.numerator] + ([spec.denominator] if spec.denominator else [])
        queries.append((sums, ["metric_time__month", *group_by]))
        queries.append((sums, ["metric_time__month"]))
        kpis.append(sums)
    sqls = explain(warehouse, queries)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        for i, sums in enumerate(kpis):
            detailed, total = sqls[2 * i], sqls[2 * i + 1]
            totals = ", ".join(f"sum({s}) as {s}" for s in sums)
            differences = con.execute(
                f"""
                with detailed as (
                    select metric_time__month, {totals} from ({detailed}) group by 1
                ), total as ({total})
                select count(*), count(*) filter (where {
                    " or ".join(f"detailed.{s} is distinct from total.{s}" for s in sums)
                })
                from detailed full outer join total using (metric_time__month)
                """
            ).fetchone()
            assert differences[0] > 12 and differences[1] == 0, (sums, differences)
    finally:
        con.close()


def test_mf_query_prints_the_monthly_revenue_of_the_governed_table(warehouse, tmp_path):
    out = tmp_path / "revenue.csv"
    result = subprocess.run(
        [str(BIN / "mf"), "query", "--metrics", "revenue", "--group-by", "metric_time__month"]
        + ["--order", "metric_time__month", "--csv", str(out), "--quiet"],
        capture_output=True,
        text=True,
        cwd=DBT_DIR,
        env=_env(warehouse),
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    with out.open() as f:
        printed = {
            row["metric_time__month"][:10]: Decimal(row["revenue"]) for row in csv.DictReader(f)
        }
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        governed = {
            str(period): Decimal(numerator)
            for period, numerator in con.execute(
                "select v.period_start, coalesce(f.numerator, 0) "
                "from kpi.kpi_values as v left join marts.fct_kpi_revenue as f "
                "using (grain, period_start, dimension, dimension_value) "
                "where v.kpi_id = 'revenue' and v.grain = 'month' and v.dimension = 'all'"
            ).fetchall()
        }
    finally:
        con.close()
    assert len(governed) > 12
    assert printed == governed


def test_a_run_records_the_row_counts_of_the_dbt_tables(warehouse, dagster_home):
    import dagster as dg

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:

        def latest(*path: str) -> dict:
            event = instance.get_latest_materialization_event(dg.AssetKey(list(path)))
            assert event is not None, path
            return event.asset_materialization.metadata

        kpi_values = latest("kpi", "kpi_values")
        orders = latest("marts", "fct_orders")
        view = latest("semantic", "sem_orders")
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute("select count(*) from kpi.kpi_values").fetchone()[0]
        order_rows = con.execute("select count(*) from marts.fct_orders").fetchone()[0]
    finally:
        con.close()
    assert kpi_values["dagster/row_count"].value == rows > 0
    assert orders["dagster/row_count"].value == order_rows > 0
    # A view is not counted: that would run its SQL.
    assert "dagster/row_count" not in view
    built = {c.name: c.type for c in kpi_values["dagster/column_schema"].schema.columns}
    assert built["kpi_id"] == "VARCHAR"
    assert built["value"] == "DOUBLE"
    assert built["period_start"] == "DATE"
